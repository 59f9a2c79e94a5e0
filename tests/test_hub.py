"""Hub integration over HTTP, with the real `huggingface_hub` client against the stand-in of `hub_server.py`: push an
unlearned model (and an adapter) with its card, config and results, load it back by repo id, read the card's
model-index, load an UnSLU-style checkpoint and a gold model, and publish the demo with `--push_to_hub`.

`conftest.py` points `HF_ENDPOINT`, `HF_TOKEN` and `HF_HOME` at the stand-in before huggingface_hub is imported.
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest
import torch
from conftest import build_tiny_model, tiny_wav2vec2_kwargs
from test_card import SPEAKERS, identified_dataset

from hf_unlearn import UnlearningConfig, UnlearningTrainer, make_forget_split
from hf_unlearn.experiment.reference_training import load_gold_model
from hf_unlearn.hub.card import results_from_card
from hf_unlearn.hub.loading import load_checkpoint, read_unlearning_metadata, verify_published_request
from hf_unlearn.hub.privacy import load_receipt, verify_request_digest

CARD_KEYS = ("forget_accuracy", "forget_f1", "retain_accuracy", "retain_f1", "test_accuracy", "test_f1", "mia")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from hub_server import ENV_PORT, HubStandIn, configured_too_late

    if configured_too_late():
        pytest.fail("huggingface_hub was imported before conftest.py pointed HF_ENDPOINT at the Hub stand-in.")
    from huggingface_hub import constants

    stand_in = HubStandIn(str(tmp_path_factory.mktemp("hub")), int(os.environ[ENV_PORT])).start()
    offline, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, False  # the stand-in is "online"
    yield stand_in
    constants.HF_HUB_OFFLINE = offline
    stand_in.stop()
    assert not stand_in.unhandled, f"requests the stand-in could not serve: {stand_in.unhandled}"


def small_args(tmp_path, **overrides):
    values = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        max_steps=2,
        learning_rate=1e-3,
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    return UnlearningConfig(**{**values, **overrides})


def logits_of(model, extractor, dataset) -> torch.Tensor:
    from hf_unlearn.data import featurize

    features = featurize(dataset, extractor).with_format("numpy")
    name = extractor.model_input_names[0]
    inputs = torch.as_tensor(np.stack(features[name]), dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        return model(**{name: inputs}).logits


def leaks(texts: dict[str, str], secrets) -> list[tuple[str, str]]:
    return [(name, secret) for name, text in texts.items() for secret in secrets if secret in text]


def test_push_full_model_with_gold_and_load_back(hub, toy_dataset, tmp_path):
    from huggingface_hub import HfApi, ModelCard
    from transformers import AutoModelForAudioClassification

    from hf_unlearn.experiment.reference_training import REFERENCE_INFO_NAME, evaluate_model

    api = HfApi()
    data = identified_dataset(toy_dataset)
    splits = make_forget_split(data, by="speaker", values=["bartholomew.qquist"], test_size=0.25, seed=0)
    eval_splits = splits.eval_splits()

    # A gold model published with its training time (as hf_unlearn.experiment.reference_training.train_classifier
    # writes it).
    gold_model, gold_extractor = build_tiny_model("cnn", seed=1)
    gold_dir = tmp_path / "gold"
    gold_model.save_pretrained(gold_dir)
    gold_extractor.save_pretrained(gold_dir)
    (gold_dir / REFERENCE_INFO_NAME).write_text(json.dumps({"train_time": 12.5}))
    api.create_repo("user/gold-cnn")
    api.upload_folder(repo_id="user/gold-cnn", folder_path=str(gold_dir))
    gold = load_gold_model("user/gold-cnn", eval_dataset=eval_splits, use_cpu=True)
    assert gold.results["train_time"] == 12.5 and {"test_f1", "mia", "forget_accuracy"} <= set(gold.results)

    model, extractor = build_tiny_model("cnn")
    original_results, _ = evaluate_model(model, extractor, eval_splits, use_cpu=True)
    trainer = UnlearningTrainer(
        method="neggrad_plus",
        model=model,
        args=small_args(tmp_path, hub_model_id="user/cnn-unlearned"),
        forget_dataset=splits.forget,
        retain_dataset=splits.retain,
        eval_dataset=eval_splits,
        processing_class=extractor,
        original_results=original_results,
        gold_results=gold.results,
        forget_request=splits,
    )
    trainer.train()
    metrics = trainer.evaluate()
    commit = trainer.push_to_hub()
    assert commit.oid and trainer.hub_model_id == "user/cnn-unlearned"

    files = set(hub.repo_files("user/cnn-unlearned"))
    assert {
        "README.md",
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "unlearning_config.json",
        "unlearning_results.json",
        "unlearning_log.jsonl",  # push_to_hub's own save writes the audit log too
    } <= files
    texts = {name: hub.read("user/cnn-unlearned", name).decode("latin-1") for name in files}
    assert not leaks(texts, [str(tmp_path)]), "a local path was pushed"
    assert json.loads(texts["unlearning_results.json"])["original"] == original_results
    assert json.loads(texts["unlearning_log.jsonl"].splitlines()[-1])["metrics_before"]
    forgotten_files = list(splits.forget["file"])
    assert not leaks(texts, [*SPEAKERS.values(), "/secret/recordings", *forgotten_files])
    record = json.loads(texts["unlearning_config.json"])["request"]
    assert record["kind"] == "speaker" and record["num_forget"] == len(splits.forget)
    assert record["num_forgotten_values"] == 1 and record["identifier_source"] == "column 'file'"
    # The salt is in a local receipt, neither pushed nor in the output folder; with it the owner proves the request.
    receipt = load_receipt(record["digest"])
    assert not leaks(texts, [receipt["salt"]]), "the salt must stay local"
    out = tmp_path / "out"
    assert not leaks({n: (out / n).read_bytes().decode("latin-1") for n in os.listdir(out)}, [receipt["salt"]])
    assert verify_request_digest(forgotten_files, receipt["salt"], record["digest"])
    assert not verify_request_digest(forgotten_files[1:], receipt["salt"], record["digest"])

    # The card, read back from the Hub: its model-index holds the run's metrics.
    card = ModelCard.load("user/cnn-unlearned")
    # An undefined GUM/CGUM (None in the results, the reason in `gum_undefined_reason`) is neither returned by
    # evaluate() nor in the model-index.
    undefined = bool(trainer.last_eval_results.get("gum_undefined_reason"))
    assert ("eval_gum" in metrics) is ("eval_cgum" in metrics) is (not undefined)
    expected = {
        key: round(metrics[f"eval_{key}"], 4) + 0.0 for key in (*CARD_KEYS, "gum", "cgum") if f"eval_{key}" in metrics
    }
    assert results_from_card(card) == expected
    assert card.data.library_name == "transformers" and "neggrad_plus" in card.data.tags
    assert 'model="user/cnn-unlearned"' in card.text and "| gold |" in card.text and "| original |" in card.text
    assert "import hf_unlearn" in card.text, "the CNN's architecture is registered by hf-unlearn"
    assert "| `max_steps` | 2 |" in card.text and "| `learning_rate` | 0.001 |" in card.text
    assert "speaker-unlearning" in card.data.tags and card.data.base_model is None
    card.validate()  # POST /api/validate-yaml

    # Loaded back by repo id: same weights, same predictions, same metadata.
    loaded = load_checkpoint("user/cnn-unlearned")
    assert loaded.unlearning_record["method"] == "neggrad_plus" and not loaded.is_adapter
    assert loaded.results == {**trainer.last_eval_results, "unlearning_time": trainer.unlearning_time}
    reference = logits_of(trainer.model, extractor, splits.test)
    torch.testing.assert_close(logits_of(loaded.model, loaded.feature_extractor, splits.test), reference)
    plain = AutoModelForAudioClassification.from_pretrained("user/cnn-unlearned")
    torch.testing.assert_close(logits_of(plain, extractor, splits.test), reference)
    assert read_unlearning_metadata("user/cnn-unlearned")["card_data"]["license"] == "apache-2.0"

    # The owner proves which request was served; any other set of recordings fails.
    assert verify_published_request("user/cnn-unlearned", forgotten_files)
    assert not verify_published_request("user/cnn-unlearned", forgotten_files[:-1])
    assert not verify_published_request("user/cnn-unlearned", list(splits.retain["file"]))


def test_push_and_load_adapter(hub, toy_dataset, tmp_path):
    from huggingface_hub import ModelCard

    from hf_unlearn import lora_config_for

    base_model, extractor = build_tiny_model("wav2vec2")
    base_model.push_to_hub("user/w2v2-base")
    extractor.push_to_hub("user/w2v2-base")
    base = load_checkpoint("user/w2v2-base")
    assert base.unlearning_record is None and base.model.name_or_path == "user/w2v2-base"

    splits = make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, seed=0)
    trainer = UnlearningTrainer(
        method="neggrad_plus",
        model=base.model,
        args=small_args(tmp_path, hub_model_id="user/w2v2-lora", learning_rate=1e-2),
        forget_dataset=splits.forget,
        retain_dataset=splits.retain,
        processing_class=base.feature_extractor,
        peft_config=lora_config_for(base.model),
        forget_request=splits,
    )
    trainer.train()
    trainer.push_to_hub()

    files = set(hub.repo_files("user/w2v2-lora"))
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md", "unlearning_config.json"} <= files
    assert "model.safetensors" not in files, "an adapter repo holds the adapter, not the full weights"
    card = ModelCard.load("user/w2v2-lora")
    assert card.data.library_name == "peft" and card.data.base_model == "user/w2v2-base"
    assert "Forgotten classes: tone1" in card.text, "class requests may name the class"
    assert json.loads(hub.read("user/w2v2-lora", "unlearning_config.json"))["peft"]["peft_type"] == "LORA"

    reference = logits_of(trainer.model, base.feature_extractor, splits.test)
    loaded = load_checkpoint("user/w2v2-lora")
    assert loaded.is_adapter and loaded.base_model == "user/w2v2-base"
    torch.testing.assert_close(logits_of(loaded.model, loaded.feature_extractor, splits.test), reference)
    merged = load_checkpoint("user/w2v2-lora", merge_adapter=True)
    assert not merged.is_adapter
    torch.testing.assert_close(
        logits_of(merged.model, merged.feature_extractor, splits.test), reference, rtol=1e-4, atol=1e-5
    )
    # The adapter changed the model: the base alone (get_peft_model wrapped base.model in place) predicts otherwise.
    with trainer.model.disable_adapter():
        assert not torch.allclose(logits_of(trainer.model, extractor, splits.test), reference)


def test_pushed_adapter_folder_is_complete_and_holds_no_local_path(hub, toy_dataset, tmp_path):
    """An adapter on a local base, trained from a bare LoraConfig, with the original's results given to evaluate():
    the pushed folder has the audit log and the original row, and no file names the local folders."""
    from huggingface_hub import ModelCard
    from peft import LoraConfig
    from transformers import AutoModelForAudioClassification

    from hf_unlearn.experiment.reference_training import evaluate_model

    model, extractor = build_tiny_model("wav2vec2")
    model.save_pretrained(tmp_path / "base")
    extractor.save_pretrained(tmp_path / "base")
    model = AutoModelForAudioClassification.from_pretrained(tmp_path / "base")
    splits = make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, seed=0)
    eval_splits = splits.eval_splits()
    original_results, _ = evaluate_model(model, extractor, eval_splits, use_cpu=True)
    trainer = UnlearningTrainer(
        method="neggrad_plus",
        model=model,
        args=small_args(tmp_path, hub_model_id="user/w2v2-local-lora", learning_rate=1e-2),
        forget_dataset=splits.forget,
        retain_dataset=splits.retain,
        processing_class=extractor,
        peft_config=LoraConfig(r=4),
        forget_request=splits,
    )
    trainer.train()
    trainer.evaluate(eval_splits, original_results=original_results)
    trainer.create_model_card(dataset="FSDD subset")
    trainer.push_to_hub()

    files = set(hub.repo_files("user/w2v2-local-lora"))
    assert {"adapter_config.json", "unlearning_log.jsonl", "unlearning_results.json", "README.md"} <= files
    texts = {name: hub.read("user/w2v2-local-lora", name).decode("latin-1") for name in files}
    assert not leaks(texts, [str(tmp_path), os.path.basename(str(tmp_path))]), "a local path was pushed"
    assert json.loads(texts["adapter_config.json"])["base_model_name_or_path"] is None
    assert json.loads(texts["unlearning_results.json"])["original"] == original_results
    entry = json.loads(texts["unlearning_log.jsonl"].splitlines()[-1])
    assert entry["metrics_before"]["forget_accuracy"] == original_results["forget_accuracy"]
    card = ModelCard.load("user/w2v2-local-lora")
    assert "| original |" in card.text and "Kind: **class** unlearning" in card.text
    assert card.text.split("\n# ")[1].splitlines()[2].startswith("Whether the forgotten class's recordings")
    # The data named as given, with no invented dataset type; the adapter loads with the base given explicitly.
    assert {(r.dataset_name, r.dataset_type) for r in card.data.eval_results} == {("FSDD subset", "FSDD subset")}
    loaded = load_checkpoint("user/w2v2-local-lora", base_model=str(tmp_path / "base"))
    assert loaded.is_adapter


INTENTS = ["activate_lights", "deactivate_lights", "increase_volume", "decrease_volume"]


def test_unslu_style_checkpoint_loads_and_unlearns(hub, toy_dataset, tmp_path):
    """A checkpoint laid out like the UnSLU-BENCH ones: Wav2Vec2ForSequenceClassification with intent labels, a
    feature extractor, no hf-unlearn metadata."""
    from datasets import ClassLabel
    from huggingface_hub import ModelCard
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    torch.manual_seed(0)
    config = Wav2Vec2Config(
        **tiny_wav2vec2_kwargs(len(INTENTS)),
        id2label=dict(enumerate(INTENTS)),
        label2id={name: i for i, name in enumerate(INTENTS)},
    )
    Wav2Vec2ForSequenceClassification(config).push_to_hub("unslu/wav2vec2-fsc-tiny")
    Wav2Vec2FeatureExtractor(sampling_rate=16000, return_attention_mask=True).push_to_hub("unslu/wav2vec2-fsc-tiny")

    loaded = load_checkpoint("unslu/wav2vec2-fsc-tiny")
    assert loaded.unlearning_record is None and loaded.results is None
    assert type(loaded.model).__name__ == "Wav2Vec2ForSequenceClassification"
    assert loaded.model.config.id2label[0] == "activate_lights"

    data = toy_dataset.cast_column("label", ClassLabel(names=INTENTS))
    splits = make_forget_split(data, by="speaker", values=["cid"], test_size=0.25, seed=0)
    trainer = UnlearningTrainer(
        method="neggrad_plus",
        model=loaded.model,
        args=small_args(tmp_path),
        forget_dataset=splits.forget,
        retain_dataset=splits.retain,
        eval_dataset=splits.eval_splits(),
        processing_class=loaded.feature_extractor,
        forget_request=splits,
    )
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    changed = [n for n, p in trainer.model.named_parameters() if not torch.equal(before[n], p.detach())]
    assert changed, "two unlearning steps changed no weight"
    metrics = trainer.evaluate()
    assert 0 <= metrics["eval_forget_accuracy"] <= 1 and "eval_mia" in metrics
    trainer.save_model()
    record = json.loads((tmp_path / "out" / "unlearning_config.json").read_text())
    assert record["base_model"] == "unslu/wav2vec2-fsc-tiny" and record["request"]["kind"] == "speaker"
    card = ModelCard.load(str(tmp_path / "out" / "README.md"))
    assert card.data.base_model == "unslu/wav2vec2-fsc-tiny" and "import hf_unlearn" not in card.text
    assert "cid" not in json.dumps(record["request"])


def test_remote_code_is_refused_and_bad_cards_rejected(hub, tmp_path):
    from huggingface_hub import HfApi, ModelCard

    api = HfApi()
    api.create_repo("user/custom-code")
    config = {"model_type": "my-speech", "auto_map": {"AutoModelForAudioClassification": "modeling.MyModel"}}
    api.upload_file(
        path_or_fileobj=json.dumps(config).encode(), path_in_repo="config.json", repo_id="user/custom-code"
    )
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        load_checkpoint("user/custom-code")
    with pytest.raises(ValueError, match="neither config.json nor adapter_config.json"):
        load_checkpoint(str(tmp_path))
    # The Hub's metadata validation (the stand-in's route) is what the client consults before committing a card.
    with pytest.raises(ValueError, match="license"):
        ModelCard("---\nlicense: not-a-licence\n---\n# A card\n").validate()
    with pytest.raises(ValueError, match="Invalid metadata"):
        api.upload_file(path_or_fileobj=b"---\ntags: 3\n---\n", path_in_repo="README.md", repo_id="user/custom-code")


def test_demo_push_to_hub(hub, tmp_path, monkeypatch, capsys):
    """End to end: `hf-unlearn demo --push_to_hub --hub_model_id user/name` publishes a card whose
    model-index matches the printed metrics, and the model loaded back predicts the same."""
    pytest.importorskip("espeakng_loader")
    from huggingface_hub import ModelCard
    from transformers import pipeline

    from hf_unlearn.cli.main import main
    from hf_unlearn.evaluation.report import TABLE_COLUMNS

    monkeypatch.setenv("HF_UNLEARN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    argv = ["demo", "--forget", "speaker:en-us+f1", "--output_dir", str(out), "--num_keywords", "2"]
    argv += ["--num_voices", "3", "--original_epochs", "3", "--quiet", "--push_to_hub", "--hub_model_id", "user/demo"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Pushed the unlearned model" in printed

    # The printed row of the unlearned model, column by column.
    header = next(line for line in printed.splitlines() if line.startswith("| Model |"))
    row = next(line for line in printed.splitlines() if line.startswith("| neggrad_plus |"))
    cells = dict(
        zip([c.strip() for c in header.strip("|").split("|")], [c.strip() for c in row.strip("|").split("|")])
    )
    card = ModelCard.load("user/demo")
    published = results_from_card(card)
    results = json.loads((out / "results.json").read_text())["rows"]["neggrad_plus"]
    for title, keys, _, _ in TABLE_COLUMNS:
        key = keys[0]
        if key in published:
            assert abs(published[key] - float(cells[title])) <= 0.0005 + 1e-9, (key, published[key], cells[title])
            assert published[key] == round(results[key], 4) + 0.0
    assert set(CARD_KEYS) <= set(published)
    # GUM/CGUM are published when defined; otherwise the results say why (the gold model's MIA is not below the
    # original's) and the card leaves them out.
    assert ({"gum", "cgum"} <= set(published)) is not bool(results.get("gum_undefined_reason"))

    # Nothing pushed names the forgotten voice.
    files = hub.repo_files("user/demo")
    assert {"README.md", "unlearning_config.json", "results.json", "model.safetensors"} <= set(files)
    texts = {name: hub.read("user/demo", name).decode("latin-1") for name in files}
    assert not leaks(texts, ["en-us+f1", "en_us_f1"])

    # Loaded back from the Hub: the same predictions as the saved model.
    clips = sorted(glob.glob(str(tmp_path / "cache" / "keywords" / "**" / "*.wav"), recursive=True))[:8]
    assert clips
    import soundfile

    audio = [soundfile.read(clip, dtype="float32")[0] for clip in clips]
    local = pipeline("audio-classification", model=str(out))
    remote = pipeline("audio-classification", model="user/demo")
    for clip in audio:
        assert local(clip, top_k=3) == remote(clip, top_k=3)
    loaded = load_checkpoint("user/demo")
    for name, tensor in local.model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], tensor, rtol=0, atol=0)
