"""Model cards and the privacy of the forget request, offline: metadata the Hub's parsers accept, model-index values
equal to the run's metrics, and no forget-set identity anywhere in what is published."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hub_server import validate_card_metadata

from hf_unlearn.hub.card import build_model_card, non_default_hyperparameters, results_from_card
from hf_unlearn.hub.privacy import ForgetRequest, forget_identifiers, request_digest, verify_request_digest

RESULTS = {
    "forget_accuracy": 0.61234,
    "forget_f1": 0.5,
    "retain_accuracy": 0.9,
    "retain_f1": 0.89,
    "test_accuracy": 0.87,
    "test_f1": 0.861,
    "mia": 0.55,
    "gum": 0.7123,
    "cgum": 0.4,
}
# Distinctive identities: any of them in a published file is a leak.
SPEAKERS = {"ann": "alice.zyxwright", "bob": "bartholomew.qquist", "cid": "cidney.vorlak", "dee": "deandra.pmoss"}


def identified_dataset(toy_dataset):
    """The toy data with distinctive speaker names and secret-looking file paths."""

    def rename(row, index):
        speaker = SPEAKERS[row["speaker"]]
        return {"speaker": speaker, "file": f"/secret/recordings/{speaker}/utt_{index:04d}.wav"}

    return toy_dataset.map(rename, with_indices=True)


def test_card_metadata_parses_and_round_trips():
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    card = build_model_card(
        "neggrad_plus",
        "Kurmanji et al., NeurIPS 2023",
        RESULTS,
        {"kind": "speaker", "num_forget": 10, "num_retain": 90, "forget_share": 0.1, "num_forgotten_values": 1},
        {"learning_rate": 3e-4},
        base_model="facebook/wav2vec2-base",
        model_id="user/unlearned",
        dataset_name="Fluent Speech Commands",
        dataset_id="fsc",
        original_results={"test_f1": 0.9, "mia": 0.7},
        gold_results={"test_f1": 0.88, "mia": 0.52, "train_time": 100.0},
        unlearning_time=3.0,
    )
    reloaded = ModelCard(str(card))  # parses the YAML back, as ModelCard.load does
    data = reloaded.data
    assert data.library_name == "transformers" and data.license == "apache-2.0"
    assert data.base_model == "facebook/wav2vec2-base" and data.datasets == ["fsc"]
    assert {"hf-unlearn", "machine-unlearning", "neggrad_plus", "audio-classification", "speaker-unlearning"} <= set(
        data.tags
    )
    # The Hub's model-index parser (huggingface_hub.repocard_data) reads every metric back, with the run's values.
    name, parsed = model_index_to_eval_results(data.to_dict()["model-index"])
    assert name == "unlearned"
    assert {(r.dataset_split, r.metric_type) for r in parsed} >= {
        ("forget", "accuracy"),
        ("test", "f1"),
        ("forget", "mia"),
    }
    assert results_from_card(reloaded) == {key: round(value, 4) for key, value in RESULTS.items()}
    f1 = [r for r in parsed if r.metric_type == "f1"]
    assert f1 and all(r.metric_args == {"average": "macro"} for r in f1)
    # The stand-in's validator (the Hub's documented rules) accepts it.
    assert validate_card_metadata(str(card)) == []
    text = str(card)
    for section in (
        "## The forget request",
        "## Quick start",
        "## Method",
        "## Results",
        "## Limitations",
        "## Framework versions",
        "## Citation",
    ):
        assert section in text, section
    assert 'pipeline("audio-classification", model="user/unlearned")' in text
    assert "| gold |" in text and "| original |" in text and "| `learning_rate` | 0.0003 |" in text
    assert "evidence, not proof" in text


def test_local_base_model_and_adapter_metadata(tmp_path):
    from huggingface_hub import ModelCard

    local = tmp_path / "home" / "someone" / "original"
    local.mkdir(parents=True)
    card = ModelCard(
        str(build_model_card("finetune", results={"test_f1": 0.5}, base_model=str(local), is_adapter=True))
    )
    assert card.data.base_model is None, "a local path is not a Hub id"
    assert str(local) not in str(card) and "someone" not in str(card)
    assert card.data.library_name == "peft" and "load_checkpoint" in str(card)
    assert validate_card_metadata(str(card)) == []


@pytest.mark.parametrize(
    "broken, message",
    [
        ("license: not-a-licence\n", "license"),
        (
            "model-index:\n- name: x\n  results:\n  - task: {type: audio-classification}\n"
            "    dataset: {type: d, name: d}\n",
            "metrics",
        ),
        ("base_model: /home/user/model\n", "base_model"),
        ("tags: just-a-string\n", "tags"),
    ],
)
def test_stand_in_validator_rejects_bad_metadata(broken, message):
    errors = validate_card_metadata(f"---\n{broken}---\n# card\n")
    assert errors and any(message in error for error in errors), errors


def test_request_digest_and_verification():
    ids = ["b.wav", "a.wav", "c.wav"]
    salt = "s" * 32
    digest = request_digest(ids, salt)
    assert digest == request_digest(list(reversed(ids)) + ["a.wav"], salt), "order and repeats do not matter"
    assert verify_request_digest(ids, salt, digest) and verify_request_digest(ids, salt, f"hmac-sha256:{digest}")
    assert not verify_request_digest(ids[:2], salt, digest), "one identifier fewer"
    assert not verify_request_digest(ids + ["d.wav"], salt, digest), "one identifier more"
    assert not verify_request_digest(ids, "t" * 32, digest), "another salt"
    assert request_digest(ids, salt) != request_digest(ids, "u" * 32)
    with pytest.raises(ValueError, match="salt"):
        request_digest(ids, "short")
    with pytest.raises(ValueError, match="empty"):
        request_digest([], salt)


def test_forget_identifiers_order_of_preference(toy_dataset, tmp_path):
    from datasets import Audio, Dataset

    data = identified_dataset(toy_dataset).select(range(6))
    ids, source = forget_identifiers(data)
    assert source == "column 'file'" and ids[0].endswith("utt_0000.wav")
    assert forget_identifiers(data, identifier_column="speaker")[0][0] == "alice.zyxwright"
    with pytest.raises(ValueError, match="identifier_column"):
        forget_identifiers(data, identifier_column="nope")
    # Raw audio arrays: content hashes, equal for equal audio.
    raw, source = forget_identifiers(toy_dataset.select(range(6)).remove_columns(["speaker", "take"]))
    assert source.startswith("sha256 of the float32 samples") and len(set(raw)) == 6
    assert raw == forget_identifiers(toy_dataset.select(range(6)))[0]
    # An Audio column (decode=False is used, nothing decoded): the file paths.
    import soundfile

    paths = []
    for i, row in enumerate(toy_dataset.select(range(3))):
        paths.append(str(tmp_path / f"clip{i}.wav"))
        soundfile.write(paths[-1], np.asarray(row["audio"]["array"]), 16000)
    audio = Dataset.from_dict({"audio": paths, "label": [0, 1, 2]}).cast_column("audio", Audio(decode=False))
    ids, source = forget_identifiers(audio)
    assert ids == paths and "audio file paths" in source
    # Featurized rows only: the model input's hash.
    features = Dataset.from_dict({"input_values": [[0.0, 1.0], [1.0, 0.0]], "labels": [0, 1]})
    ids, source = forget_identifiers(features)
    assert "model input" in source and len(set(ids)) == 2
    with pytest.raises(ValueError, match="identifier_column"):
        forget_identifiers(Dataset.from_dict({"labels": [0, 1]}))


def test_public_record_names_classes_only():
    speaker = ForgetRequest(kind="speaker", values=["alice.zyxwright"], counts={"num_forget": 5, "num_retain": 45})
    speaker.identifiers, speaker.identifier_source = ["x/1.wav", "x/2.wav"], "column 'file'"
    record = speaker.public_record()
    assert "alice.zyxwright" not in json.dumps(record) and "x/1.wav" not in json.dumps(record)
    assert record["num_forgotten_values"] == 1 and record["forget_share"] == pytest.approx(0.1)
    assert verify_request_digest(["x/2.wav", "x/1.wav"], speaker.salt, record["digest"])
    published = ForgetRequest(kind="speaker", values=["alice.zyxwright"], publish_values=True).public_record()
    assert published["forgotten_values"] == ["alice.zyxwright"]
    classes = ForgetRequest(kind="class", values=[2, "yes"]).public_record(id2label={2: "tone2"})
    assert classes["forgotten_classes"] == ["tone2", "yes"]
    with pytest.raises(ValueError, match="kind"):
        ForgetRequest(kind="person")
    with pytest.raises(ValueError, match="Unknown forget_request fields"):
        ForgetRequest.coerce({"kind": "class", "speakers": ["x"]})


def test_non_default_hyperparameters(tmp_path):
    from hf_unlearn import NegGradPlusConfig

    args = NegGradPlusConfig(output_dir=str(tmp_path), learning_rate=1e-4, forget_weight=0.5, use_cpu=True)
    changed = non_default_hyperparameters(args)
    assert changed == {"learning_rate": 1e-4, "forget_weight": 0.5}
    assert non_default_hyperparameters(NegGradPlusConfig(output_dir=str(tmp_path))) == {}


@pytest.mark.parametrize("method", ["scrub", "finetune", "reset_perturb"])
def test_card_cites_the_method_paper_and_unslu_bench(method):
    from hf_unlearn import get_trainer_class
    from hf_unlearn.papers import UNSLU_BENCH

    paper = get_trainer_class(method).paper
    text = str(build_model_card(method, paper=paper))
    citation = text[text.index("## Citation") :]
    assert str(paper) in citation
    assert paper.bibtex in citation
    assert citation.count(UNSLU_BENCH.bibtex) == 1  # FT's paper is UnSLU-BENCH itself: cited once
    if paper is not UNSLU_BENCH:
        assert citation.index(paper.bibtex) < citation.index(UNSLU_BENCH.bibtex)


def test_every_method_has_a_complete_paper_record():
    from hf_unlearn import list_methods
    from hf_unlearn.papers import Paper

    for info in list_methods():
        assert isinstance(info.paper, Paper), f"{info.key} has no Paper record"
        assert info.paper.title and info.paper.authors and info.paper.bibtex.startswith("@"), info.key
        assert info.summary, f"{info.key} has no summary"


# ------------------------------------------------------------------------------------ what the card opens with
GOLD = {"forget_accuracy": 0.838, "mia_heldout": 0.52, "test_accuracy": 0.85}


def _opening(card) -> str:
    """The card's first sentence (the line after the title)."""
    body = str(card).split("\n# ", 1)[1].splitlines()
    return next(line for line in body[1:] if line.strip()).split(". ")[0]


@pytest.mark.parametrize(
    "forget_accuracy, mia_heldout, expected",
    [
        (
            0.989,
            0.71,
            "The forgotten recordings are still recognised: forget accuracy 0.989 vs 0.838 and held-out MIA "
            "0.710 vs 0.520 for a model retrained without them",
        ),
        (
            0.85,
            0.53,
            "The forgotten recordings are no longer recognised beyond what a retrained model does: forget "
            "accuracy 0.850 vs 0.838 and held-out MIA 0.530 vs 0.520",
        ),
        (
            0.30,
            0.50,
            "The forgotten recordings are recognised less than by a model retrained without them (forget "
            "accuracy 0.300 vs 0.838; held-out MIA 0.500 vs 0.520: within",
        ),
        (  # the verdict names the figure that decides it, not one that says the opposite
            0.86,
            0.40,
            "The forgotten recordings are recognised less than by a model retrained without them (held-out MIA "
            "0.400 vs 0.520; forget accuracy 0.860 vs 0.838: within",
        ),
    ],
)
def test_card_opens_with_the_outcome_against_gold(forget_accuracy, mia_heldout, expected):
    results = {**RESULTS, "forget_accuracy": forget_accuracy, "mia_heldout": mia_heldout}
    card = build_model_card("neggrad_plus", results=results, gold_results=GOLD, request={"kind": "sample"})
    assert _opening(card).startswith(expected)
    assert "was removed" not in str(card)


def test_card_says_when_the_original_already_scored_like_gold():
    """A request where the original is within the tolerance of gold on the deciding figures: a run that changed
    nothing would read as a success, so the opening says the figures cannot show forgetting; an original that was
    recognising the data does not get that sentence."""
    results = {**RESULTS, "forget_accuracy": 0.85, "mia_heldout": 0.53}
    like_gold = {"forget_accuracy": 0.86, "mia_heldout": 0.50, "test_accuracy": 0.85}
    card = str(build_model_card("neggrad_plus", results=results, gold_results=GOLD, original_results=like_gold))
    assert (
        "The original model already was (forget accuracy 0.860 and held-out MIA 0.500): on this request a model that "
        "forgot nothing scores like the retrained one, so these figures cannot show that anything was forgotten."
    ) in card
    recognising = {**like_gold, "forget_accuracy": 0.99}
    card = str(build_model_card("neggrad_plus", results=results, gold_results=GOLD, original_results=recognising))
    assert "no longer recognised beyond what a retrained model does" in card
    assert "cannot show" not in card


def test_card_without_gold_or_kind_says_so():
    card = str(build_model_card("neggrad_plus", results=RESULTS, request={"kind": "speaker"}))
    assert _opening(card).startswith(
        "Whether the forgotten speakers' recordings are still recognised was not compared with a retrained model "
        "(no gold model): forget accuracy 0.612"
    )
    assert "Kind: **speaker** unlearning" in card
    unstated = str(build_model_card("neggrad_plus", results=RESULTS))
    assert "unspecified" not in unstated and "Kind: not stated" in unstated


def test_undefined_gum_is_n_a_with_its_reason():
    results = {**RESULTS, "gum": None, "cgum": None, "gum_undefined_reason": "gold's MIA is not below the original's"}
    card = build_model_card("neggrad_plus", results=results, gold_results=GOLD, request={"kind": "class"})
    row = next(line for line in card.text.splitlines() if line.startswith("| neggrad_plus |"))
    assert "n/a" in row and "gold's MIA is not below the original's" in card.text
    assert "gum" not in {r.metric_type for r in card.data.eval_results}


def test_dataset_named_from_hub_metadata_or_as_given():
    import datasets

    from hf_unlearn.hub.card import dataset_metadata

    info = datasets.DatasetInfo(
        dataset_name="speech_commands",
        builder_name="parquet",
        config_name="v0.02",
        download_checksums={"hf://datasets/google/speech_commands@0123abc/v0.02/train.parquet": {}},
    )
    hub_data = datasets.Dataset.from_dict({"label": [0, 1]}, info=info)
    assert dataset_metadata(hub_data) == {
        "dataset_name": "speech_commands (v0.02)",
        "dataset_id": "google/speech_commands",
    }
    assert dataset_metadata(datasets.Dataset.from_dict({"label": [0]})) == {}
    local = datasets.Dataset.from_dict(
        {"label": [0]}, info=datasets.DatasetInfo(dataset_name="json", builder_name="json")
    )
    assert dataset_metadata(local) == {}
    card = build_model_card("neggrad_plus", results=RESULTS, dataset_name="FSDD subset")
    assert {(r.dataset_name, r.dataset_type) for r in card.data.eval_results} == {("FSDD subset", "FSDD subset")}
    card = build_model_card("neggrad_plus", results=RESULTS, **dataset_metadata(hub_data))
    assert {r.dataset_type for r in card.data.eval_results} == {"google/speech_commands"}
    assert card.data.datasets == ["google/speech_commands"]
