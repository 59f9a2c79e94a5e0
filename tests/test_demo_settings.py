"""The demo's settings tuner (`hf_unlearn.benchmark.demo_settings`): validation splits only, resume, one choice per
method and request kind."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("espeakng_loader")


def test_demo_tuner_reads_validation_only_resumes_and_chooses_per_kind(tmp_path, monkeypatch):
    from hf_unlearn.benchmark import demo_settings, tuning
    from hf_unlearn.benchmark.demo_settings import DemoTuningArguments, tune_demo

    evaluated = []
    real_trial = demo_settings.trial

    def spy(method, settings, splits, extractor, references, seed):
        # What the trial hands to the run: the splits it may evaluate (tuning views empty test and forget_test).
        from hf_unlearn.benchmark.loop import evaluation_view, validation_splits

        view = evaluation_view(
            splits, {"forget": splits.forget, "retain": splits.retain_eval, **validation_splits(splits)}
        )
        evaluated.append((sorted(view.eval_splits()), len(view.test), view.forget_test))
        return real_trial(method, settings, splits, extractor, references, seed)

    monkeypatch.setattr(demo_settings, "trial", spy)
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
    stored = [json.loads(path.read_text()) for path in (tmp_path / "trials").glob("*.json")]
    assert len(stored) == 12
    for trial in stored:
        assert "error" not in trial, trial
        assert set(trial["view"]) == set(tuning.VALIDATION_KEYS)
        assert (trial["view"]["num_forget_validation"] > 0) == (trial["kind"] != "sample"), trial

    # A rerun reads the stored trials instead of running them again.
    evaluated.clear()
    assert tune_demo(args, log=lambda *_: None) == chosen
    assert evaluated == []
