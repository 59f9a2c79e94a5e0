"""The demo's settings tuner (`hf_unlearn.cli.demo_settings`): validation splits only, resume, one choice per
method and request kind."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("espeakng_loader")


def test_demo_tuner_reads_validation_only_resumes_and_chooses_per_kind(tmp_path, monkeypatch, class_baselines):
    import hf_unlearn.experiment
    from hf_unlearn.benchmark import tuning
    from hf_unlearn.cli.demo_settings import DemoTuningArguments, tune_demo

    evaluated, reference_evaluations = [], []
    real_run, real_evaluate = hf_unlearn.experiment.run_request, hf_unlearn.experiment.evaluate_references

    def spy_run(method, settings, splits, *rest, **options):
        # What the trial hands to the run: the splits it may evaluate (tuning views empty test and forget_test).
        evaluated.append((sorted(splits.eval_splits()), len(splits.test), splits.forget_test))
        return real_run(method, settings, splits, *rest, **options)

    def spy_evaluate(references, eval_splits, *rest, **options):
        reference_evaluations.append(sorted(eval_splits))
        return real_evaluate(references, eval_splits, *rest, **options)

    monkeypatch.setattr(hf_unlearn.experiment, "run_request", spy_run)
    monkeypatch.setattr(hf_unlearn.experiment, "evaluate_references", spy_evaluate)
    args = DemoTuningArguments(
        output_dir=str(tmp_path / "trials"), cache_dir=str(tmp_path / "cache"), methods=["finetune", "neggrad_plus"],
        forget_speakers=["en-us+f1"], forget_classes=["yes"], forget_fractions=[0.1], tune_learning_rates=[1e-4, 1e-3],
        tune_epochs=[1.0],
        max_steps=2, num_keywords=3, num_voices=3, reference_epochs=3, write_settings=False,
    )  # fmt: skip
    chosen = tune_demo(args, log=lambda *_: None)

    assert set(chosen) == {"speaker", "class", "sample"}
    assert all(set(per_kind) == {"finetune", "neggrad_plus"} for per_kind in chosen.values())
    assert all(choice["learning_rate"] in (1e-4, 1e-3) for kind in chosen.values() for choice in kind.values())
    # 2 methods x 2 settings x 3 requests, each on forget, retain-validation and (speaker and class requests)
    # forget-validation alone; test and forget_test are emptied.
    assert len(evaluated) == 12
    assert sorted(splits for splits, _, _ in evaluated).count(["forget", "forget_validation", "retain"]) == 8
    assert sorted(splits for splits, _, _ in evaluated).count(["forget", "retain"]) == 4
    assert all(test_rows == 0 and forget_test is None for _, test_rows, forget_test in evaluated)
    # The reference models are evaluated once per request, on the same splits, not once per trial.
    assert len(reference_evaluations) == 3
    assert all("test" not in splits and "forget_test" not in splits for splits in reference_evaluations)
    stored = [json.loads(path.read_text()) for path in (tmp_path / "trials").glob("*.json")]
    assert len(stored) == 12
    for trial in stored:
        assert "error" not in trial, trial
        assert set(trial["view"]) == set(tuning.VALIDATION_KEYS)
        assert (trial["view"]["num_forget_validation"] > 0) == (trial["kind"] != "sample"), trial
    # The class trials' utility baseline is the original that never names the class (the benchmark tuner's).
    baselines = [t["view"]["original_retain_validation_accuracy"] for t in stored if t["kind"] == "class"]
    assert len(class_baselines) == 4 and sorted(baselines) == sorted(class_baselines)

    # A rerun reads the stored trials instead of running them again.
    evaluated.clear()
    reference_evaluations.clear()
    assert tune_demo(args, log=lambda *_: None) == chosen
    assert evaluated == [] and reference_evaluations == []
