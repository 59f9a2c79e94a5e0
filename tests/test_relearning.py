"""The relearning check: a model that still holds the forget class scores high at once; the gold model (never trained
on it) starts at zero. Both models are left unchanged."""

from __future__ import annotations

import pytest
import torch
from conftest import train_toy_model

from hf_unlearn.experiment.relearning import relearning_check, relearning_curve


@pytest.fixture(scope="module")
def models(class_request, original_dir, tmp_path_factory):
    """The session's original (trained on forget + retain) and a gold model trained here on retain only."""
    from transformers import AutoModelForAudioClassification

    original = AutoModelForAudioClassification.from_pretrained(original_dir)
    gold, extractor = train_toy_model(class_request.retain, tmp_path_factory.mktemp("gold"))
    return class_request, {"original": original, "gold": gold}, extractor


def test_original_relearns_faster_than_gold(models):
    splits, trained, extractor = models
    before = {n: p.detach().clone() for n, p in trained["original"].named_parameters()}
    result = relearning_check(trained["original"], trained["gold"], extractor, splits.forget, steps=3, seed=0)
    assert len(result["relearn_curve"]) == 4 and len(result["gold_relearn_curve"]) == 4
    assert result["relearn_curve"][0] >= 0.9 and result["gold_relearn_curve"][0] == 0.0
    assert result["relearn_auc_gap"] > 0.3
    for name, parameter in trained["original"].named_parameters():
        assert torch.equal(parameter.detach(), before[name]), "the probed model was modified"


def test_relearning_is_seeded_and_checks_its_input(models):
    splits, trained, extractor = models
    first = relearning_curve(trained["gold"], extractor, splits.forget, steps=2, seed=1)
    assert first == relearning_curve(trained["gold"], extractor, splits.forget, steps=2, seed=1)
    with pytest.raises(ValueError, match="too few to split"):
        relearning_curve(trained["gold"], extractor, splits.forget.select([0]), steps=2)
    with pytest.raises(ValueError, match="relearn_fraction"):
        relearning_curve(trained["gold"], extractor, splits.forget, relearn_fraction=1.5)


def test_benchmark_reports_steps_to_recover_against_gold(models):
    """A tiny synthetic benchmark: the original posing as a method (it hid nothing) recovers at once, the gold model
    posing as one does not; the loop's hook, the per-group summary and the report's section say so."""
    from types import SimpleNamespace

    from hf_unlearn.benchmark import loop
    from hf_unlearn.benchmark.relearn import relearning_markdown, relearning_summary, steps_to_recover

    splits, trained, extractor = models
    assert steps_to_recover([0.0, 0.5, 0.96], 0.95) == 2 and steps_to_recover([0.0, 0.1], 0.95) is None
    gold = SimpleNamespace(path="gold-folder", load=lambda: trained["gold"])
    args = SimpleNamespace(relearn_steps=2)
    runs = []
    for method in ("hides", "removes"):
        for request, seed in (("a", 0), ("a", 1), ("b", 0)):
            trainer = SimpleNamespace(model=trained["original" if method == "hides" else "gold"])
            trainer.accelerator = SimpleNamespace(unwrap_model=lambda model: model)
            record = {"original": {"forget_accuracy": 1.0}}
            job = {"seed": seed}
            record = loop._with_relearning(record, trainer, args, job, splits, {"gold": gold}, extractor)
            runs.append({"group": "class", "request": request, "seed": seed, "method": method, "record": record})
    first = runs[0]["record"]["relearning"]
    assert first["steps_to_recover"] == 0 and first["target"] == pytest.approx(0.95)
    assert len(first["gold_relearn_curve"]) == 3 and first["relearn_auc_gap"] > 0.3
    summary = relearning_summary(runs)["class"]
    assert summary["hides"]["steps_to_recover"]["mean"] == 0.0 and summary["hides"]["steps_to_recover"]["n"] == 3
    removed = summary["removes"]["steps_to_recover"]
    assert removed["mean"] > 0 and removed["mean"] == summary["removes"]["gold_steps_to_recover"]["mean"]
    assert summary["removes"]["relearn_auc_gap"]["mean"] == pytest.approx(0.0)
    assert summary["hides"]["relearn_auc_gap"]["interval"][0] > 0.3  # hidden, not removed, on every draw
    text = relearning_markdown(relearning_summary(runs))
    assert "## Relearning" in text and "| hides | 3 | 0.0 [0.0, 0.0] |" in text
