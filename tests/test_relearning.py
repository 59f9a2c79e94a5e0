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
