"""The experiment pipeline (hf_unlearn.experiment): one cache of reference models, one original per seed shared by
the requests, gold per request, train time without evaluation, and one request run end to end."""

from __future__ import annotations

import hashlib
import json
import types

import numpy as np
import pytest
from conftest import SAMPLING_RATE

TINY_TRAINING = {
    "num_train_epochs": 3,
    "learning_rate": 3e-3,
    "per_device_train_batch_size": 8,
    "warmup_steps": 0,
    "early_stopping_patience": 2,
}


def request_after_validation(dataset, forget_class: int, seed: int = 0):
    """A class request whose validation and test rows are drawn BEFORE the request (as the pipeline assumes): the
    training rows (forget + retain) are then the same for every request of the seed."""
    from hf_unlearn.data.splits import ForgetSplits

    order = np.random.default_rng(seed).permutation(len(dataset))
    test, validation, train = order[:36], order[36:44], order[44:]
    labels = np.asarray(dataset["label"])
    forget = sorted(int(i) for i in train if labels[i] == forget_class)
    retain = sorted(int(i) for i in train if labels[i] != forget_class)
    splits = ForgetSplits(
        forget=dataset.select(forget),
        retain=dataset.select(retain),
        retain_eval=dataset.select(sorted(int(i) for i in validation if labels[i] != forget_class)),
        test=dataset.select(sorted(int(i) for i in test if labels[i] != forget_class)),
        forget_test=dataset.select(sorted(int(i) for i in test if labels[i] == forget_class)),
        kind="class",
        values=[forget_class],
        forget_indices=forget,
        retain_indices=retain,
    )
    splits.validation = dataset.select(sorted(int(i) for i in validation))  # forget- and retain-validation
    return splits


@pytest.fixture(scope="module")
def pipeline_inputs(toy_dataset):
    from hf_unlearn.experiment import ReferenceSpec, fit_extractor
    from hf_unlearn.experiment.reference_cache import original_training_rows

    requests = [request_after_validation(toy_dataset, 1), request_after_validation(toy_dataset, 2)]
    spec = ReferenceSpec(toy_dataset.features["label"].names, model_type="mfcc_cnn", training=TINY_TRAINING)
    extractor = fit_extractor(spec.new_extractor(sampling_rate=SAMPLING_RATE), original_training_rows(requests[0]))
    return requests, spec, extractor


def folder_digest(folder) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def test_defaults_per_model_type_and_settings_file():
    from hf_unlearn.experiment import method_settings, reference_defaults

    # None: a pretrained checkpoint (fine-tuned); a model type such as "wav2vec2" is trained from scratch.
    cnn, pretrained = reference_defaults("mfcc_cnn"), reference_defaults(None)
    assert cnn["learning_rate"] > pretrained["learning_rate"]
    assert reference_defaults("mfcc_cnn", learning_rate=None)["learning_rate"] == cnn["learning_rate"]
    settings = method_settings("ng+", "fsdd", "class")  # aliases resolve
    assert settings["learning_rate"] > 0 and settings["num_train_epochs"] > 0
    with pytest.raises(ValueError, match="known"):
        method_settings("scrub", "no_such_dataset")


def test_reference_spec_reads_patience_zero_as_no_early_stopping():
    from hf_unlearn.experiment import ReferenceSpec, reference_defaults

    spec = ReferenceSpec(["a", "b"], model_type="mfcc_cnn", training={"early_stopping_patience": 0})
    assert spec.training["early_stopping_patience"] is None
    unset = ReferenceSpec(["a", "b"], model_type="mfcc_cnn", training={"early_stopping_patience": None})
    assert unset.training == reference_defaults("mfcc_cnn")


def test_run_record_metrics_are_metrics_from_outputs_with_plain_floats():
    """`experiment.run` evaluates through `evaluation.metrics_from_outputs` (the trainer's path): the numbers are
    those of `unlearning_metrics` on the outputs' predictions, losses and logits, KL to gold and LiRA included."""
    from numbers import Real

    from hf_unlearn.evaluation import per_sample_cross_entropy, unlearning_metrics
    from hf_unlearn.experiment.run import _metrics

    rng = np.random.default_rng(0)
    splits = ("forget", "retain", "test", "forget_test")
    outputs = {split: (rng.normal(size=(12, 3)), rng.integers(0, 3, 12)) for split in splits}
    gold_logits = {split: rng.normal(size=(12, 3)) for split in splits}
    shadow_logits = {split: rng.normal(size=(2, 12, 3)) for split in splits}
    references = {"original": {"mia": 0.9}, "gold": {"mia": 0.5, "test_f1": 0.4, "forget_accuracy": 0.3,
                                                     "train_time": 10.0}}  # fmt: skip
    options = dict(unlearning_time=1.0, num_classes=3, gold_logits=gold_logits, shadow_logits=shadow_logits)
    metrics, losses = _metrics(outputs, **references, **options)
    expected = unlearning_metrics(
        {split: logits.argmax(-1) for split, (logits, _) in outputs.items()},
        {split: labels for split, (_, labels) in outputs.items()},
        {split: per_sample_cross_entropy(logits, labels) for split, (logits, labels) in outputs.items()},
        split_logits={split: logits for split, (logits, _) in outputs.items()},
        **references,
        **options,
    )
    assert metrics == expected and list(metrics) == list(expected)
    assert {"kl_to_gold", "lira_auc", "gum", "forget_accuracy_minus_gold"} <= set(metrics)
    assert all(type(value) is float for value in metrics.values() if isinstance(value, Real))
    assert set(losses) == set(splits)


def test_fitted_extractor_shapes_the_model(pipeline_inputs):
    requests, spec, extractor = pipeline_inputs
    assert extractor.is_fitted and extractor.normalize == "dataset"
    model = spec.build_model(extractor)
    assert model.config.num_frames == extractor.num_frames


def test_cache_one_original_per_seed_gold_per_request_and_reuse(pipeline_inputs, tmp_path, monkeypatch):
    import hf_unlearn.experiment.reference_cache as references
    from hf_unlearn.experiment import reference_models

    requests, spec, extractor = pipeline_inputs
    first = reference_models(requests[0], spec, extractor, seed=0, cache_dir=tmp_path, use_cpu=True)
    second = reference_models(requests[1], spec, extractor, seed=0, cache_dir=tmp_path, use_cpu=True)
    # One original serves both requests (same training rows); each request has its own gold model.
    assert second["original"].cached and second["original"].path == first["original"].path
    assert not second["gold"].cached and second["gold"].path != first["gold"].path
    other_seed = reference_models(requests[0], spec, extractor, seed=1, cache_dir=tmp_path, train_gold=False)
    assert other_seed["original"].path != first["original"].path and other_seed["gold"] is None

    info = first["original"].info
    for key in ("train_time", "epochs_run", "best_epoch", "dead_units_share", "extractor"):
        assert key in info, key
    assert 0.0 <= info["dead_units_share"] <= 1.0

    def must_not_train(*args, **kwargs):
        raise AssertionError("a cached reference model was trained again")

    monkeypatch.setattr(references, "train_classifier", must_not_train)
    again = reference_models(requests[0], spec, extractor, seed=0, cache_dir=tmp_path, use_cpu=True)
    assert again["original"].cached and again["gold"].cached
    assert again["original"].info == json.loads(
        (tmp_path / again["original"].path / "reference_training.json").read_text()
    )


def test_train_time_excludes_evaluation(pipeline_inputs, tmp_path, monkeypatch):
    """A fake clock that jumps 1000 s on every evaluation: the recorded train time must not see the jumps."""
    import transformers

    import hf_unlearn.experiment.reference_training as reference

    requests, spec, extractor = pipeline_inputs
    clock = {"now": 0.0}

    def perf_counter():
        clock["now"] += 1.0
        return clock["now"]

    evaluate = transformers.Trainer.evaluate

    def slow_evaluate(self, *args, **kwargs):
        clock["now"] += 1000.0
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(reference, "time", types.SimpleNamespace(perf_counter=perf_counter))
    monkeypatch.setattr(transformers.Trainer, "evaluate", slow_evaluate)
    model = spec.build_model(extractor)
    _, info = reference.train_classifier(
        model, extractor, requests[0].retain, str(tmp_path / "gold"), num_train_epochs=3, batch_size=8,
        eval_dataset=requests[0].retain_eval, early_stopping_patience=2, use_cpu=True, disable_tqdm=True,
    )  # fmt: skip
    assert info["epochs_run"] >= 2  # evaluations happened between epochs
    assert info["train_time_all_epochs"] < 1000 and info["train_time"] <= info["train_time_all_epochs"]
    assert 1 <= info["best_epoch"] <= info["epochs_run"]


def test_run_request_end_to_end_with_shadows(pipeline_inputs, tmp_path):
    from hf_unlearn.experiment import method_settings, reference_models, run_request, write_results

    requests, spec, extractor = pipeline_inputs
    splits = requests[0]
    references = reference_models(splits, spec, extractor, seed=0, shadow_models=2, cache_dir=tmp_path, use_cpu=True)
    assert len(references["shadows"]) == 2 and len({s.path for s in references["shadows"]}) == 2
    original_folder = tmp_path / references["original"].path
    before = folder_digest(original_folder)
    with pytest.raises(ValueError, match="original"):
        run_request(
            "finetune", {"num_train_epochs": 1}, splits, extractor, references, output_dir=str(original_folder)
        )

    settings = {**method_settings("finetune", "keywords"), "num_train_epochs": 1}
    out = tmp_path / "unlearned"
    record = run_request(
        "finetune", settings, splits, extractor, references, seed=0, output_dir=str(out), use_cpu=True,
        disable_tqdm=True,
    )  # fmt: skip
    assert folder_digest(original_folder) == before  # unlearning never writes into the original's folder
    for key in ("forget_accuracy", "test_accuracy", "mia_heldout", "kl_to_gold", "kl_to_gold_test", "lira_auc"):
        assert key in record["unlearned"], key
    for key in ("forget_accuracy_minus_gold", "test_accuracy_minus_gold", "time_share_of_gold", "gold_train_time"):
        assert record[key] is not None, key
    assert record["original"]["train_time"] == references["original"].train_time
    assert (out / "model.safetensors").exists() and (out / "README.md").exists()
    written = write_results(record, str(out))
    saved = json.loads((out / "results.json").read_text())
    assert "losses" not in saved["runs"][0] and set(saved["rows"]) == {"original", "gold", "finetune"}
    assert (out / "results.png").exists() and "finetune" in written["table"]


def test_agreement_warning_uses_two_binomial_standard_errors(caplog):
    from hf_unlearn.experiment import check_reference_agreement

    # SE of the difference at p = 0.99 and 0.98 on 200 rows: sqrt((0.0099 + 0.0196) / 200) = 0.0121; 0.01 < 2 SE.
    assert check_reference_agreement({"retain_accuracy": 0.99, "num_retain": 200}, {"retain_accuracy": 0.98}) is None
    message = check_reference_agreement({"retain_accuracy": 0.99, "num_retain": 200}, {"retain_accuracy": 0.90})
    assert "confounded" in message and "confounded" in caplog.text
    assert check_reference_agreement({"retain_accuracy": 0.99}, {"retain_accuracy": 0.5}) is None  # no count


def test_reference_models_refuse_a_bad_request_before_training(pipeline_inputs, tmp_path, monkeypatch):
    """The demo, the benchmark and the recipe train references through `reference_models`: a request the trainer
    would refuse (a forget recording also in the retain set) is refused there, with no model written."""
    import copy

    from datasets import concatenate_datasets

    import hf_unlearn.experiment.reference_cache as references
    from hf_unlearn.experiment import reference_models

    trained = []
    monkeypatch.setattr(references, "train_classifier", lambda *args, **kwargs: trained.append(args))
    requests, spec, extractor = pipeline_inputs
    splits = copy.copy(requests[0])
    splits.retain = concatenate_datasets([splits.retain, splits.forget.select([0])])
    with pytest.raises(ValueError, match="appear in both the forget and the retain set"):
        reference_models(splits, spec, extractor, seed=0, cache_dir=tmp_path, use_cpu=True)
    assert trained == [] and not list(tmp_path.iterdir())


def test_request_kind_reads_speaker_identification_from_the_label_column():
    """A class request on speaker labels reads the `speaker_id` settings, not the digit-class ones."""
    from argparse import Namespace

    from hf_unlearn.experiment.data import request_kind

    assert request_kind(Namespace(forget_classes=["george"], label_column="speaker")) == "speaker_id"
    assert request_kind(Namespace(forget_classes=["0"], label_column="label")) == "class"
    assert request_kind(Namespace(forget_speakers=["george"])) == "speaker"
    assert request_kind(Namespace(forget_fraction=0.05)) == "sample"


def test_borrowed_shadows_are_read_with_their_own_extractor(pipeline_inputs, tmp_path, monkeypatch):
    import dataclasses

    from hf_unlearn.experiment import evaluate_references, reference_models
    from hf_unlearn.experiment.reference_cache import ReferenceModel

    requests, spec, extractor = pipeline_inputs
    splits = requests[0]
    references = reference_models(splits, spec, extractor, seed=0, shadow_models=2, cache_dir=tmp_path, use_cpu=True)
    loaded, real = [], ReferenceModel.load_extractor

    def spy(self):
        loaded.append(self.path)
        return real(self)

    monkeypatch.setattr(ReferenceModel, "load_extractor", spy)
    borrowed = [dataclasses.replace(s, own_extractor=True) for s in references["shadows"]]
    evaluation = evaluate_references({**references, "shadows": borrowed}, splits.eval_splits(), extractor)
    assert loaded == [s.path for s in borrowed]  # the original and gold use the request's extractor
    assert evaluation["shadow_logits"]["forget"].shape[0] == 2


def test_run_request_never_saves_a_failed_run_as_a_success(pipeline_inputs, tmp_path, monkeypatch):
    """A run that stopped as a failure (here: `stopped_run` answers so, as after a non-finite loss) is refused at save
    by default (the recipe), and with `skip_failed_save=True` (the benchmark) is not saved, its record saying why."""
    import hf_unlearn.hub.stopped_runs as stopped_runs
    from hf_unlearn.experiment import reference_models, run_request

    requests, spec, extractor = pipeline_inputs
    references = reference_models(requests[0], spec, extractor, seed=0, cache_dir=tmp_path, use_cpu=True)
    failure = {"reason": "Unlearning stopped: the training loss became nan at step 1.", "at_step": 0, "failed": True}
    monkeypatch.setattr(stopped_runs, "stopped_run", lambda trainer: failure)
    settings = {"max_steps": 1}
    with pytest.raises(ValueError, match="save_stopped_runs=True"):
        run_request("finetune", settings, requests[0], extractor, references, output_dir=str(tmp_path / "a"))
    assert not (tmp_path / "a" / "model.safetensors").exists()
    run_request(
        "finetune", settings, requests[0], extractor, references, output_dir=str(tmp_path / "b"),
        skip_failed_save=True,
    )  # fmt: skip
    assert not (tmp_path / "b" / "model.safetensors").exists()


def test_weak_original_is_flagged_against_chance():
    """The bar is chance-adjusted accuracy on retain-validation: 0.84 on 6 balanced classes passes (0.81), 0.61 is
    flagged (0.53), and a constant guess of a majority label scores chance, not its raw accuracy."""
    from datasets import Dataset

    from hf_unlearn.experiment.reference_quality import chance_accuracy, weak_reference_warning

    balanced = Dataset.from_dict({"label": [i % 6 for i in range(60)]})
    assert weak_reference_warning({"retain_accuracy": 0.84, "num_classes": 6}, balanced) is None
    warning = weak_reference_warning({"retain_accuracy": 0.61, "num_classes": 6}, balanced, hint="Try X.")
    assert "0.610" in warning and "0.53" in warning and warning.endswith("Try X.")
    skewed = Dataset.from_dict({"y": [0] * 9 + [1]})
    assert chance_accuracy(skewed["y"], num_classes=2) == 0.9
    assert weak_reference_warning({"retain_accuracy": 0.9, "num_classes": 2}, skewed, "y") is not None
    assert weak_reference_warning({"num_classes": 2}, skewed, "y") is None  # nothing measured, nothing said
