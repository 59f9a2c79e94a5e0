"""The divergence guard: a diverging run (ascent, or descent at a learning rate far too large) stops cleanly with the
last good weights and a message saying what to change; `stop_at_gold` stops at the gold model's forget accuracy."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_trainer


@pytest.fixture(scope="module")
def splits(tone1_request):
    return tone1_request


@pytest.fixture(scope="module")
def trained(tone1_original_dir):
    return tone1_original_dir


def make(method, splits, tmp_path, gold_results=None, model_dir=None, **fields):
    model = extractor = None
    if model_dir is not None:
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        model = AutoModelForAudioClassification.from_pretrained(model_dir)
        extractor = AutoFeatureExtractor.from_pretrained(model_dir)
    # 8 steps, the guard checking after every one; logging at the config's default interval (10).
    return tiny_trainer(
        method,
        splits,
        tmp_path,
        model=model,
        extractor=extractor,
        trainer_kwargs={"gold_results": gold_results},
        **{"max_steps": 8, "guard_interval": 1, "logging_steps": 10, **fields},
    )


def weights(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_collapse_of_retain_accuracy_stops_with_last_good_weights(splits, trained, tmp_path):
    # Plain SGD ascent at lr 1 wrecks the trained tiny CNN within a few steps.
    trainer = make("gradient_ascent", splits, tmp_path, model_dir=trained, optim="sgd", learning_rate=1.0)
    snapshots = {}
    original_step_end = trainer.guard.on_step_end

    def recording_step_end(args, state, control, **kwargs):
        control = original_step_end(args, state, control, **kwargs)
        snapshots[trainer.guard.snapshot_step] = weights(trainer.model)
        return control

    trainer.guard.on_step_end = recording_step_end
    trainer.train()
    assert trainer.stop_reason is not None and "retain accuracy" in trainer.stop_reason
    assert "Lower learning_rate" in trainer.stop_reason
    assert trainer.state.global_step < 8
    kept = snapshots[trainer.stopped_at_step]
    for name, parameter in trainer.model.named_parameters():
        assert torch.equal(parameter.detach(), kept[name]), name
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_nonfinite_loss_stops_and_restores(splits, tmp_path):
    trainer = make("neggrad_plus", splits, tmp_path)
    compute_loss = trainer.compute_loss

    def poisoned(model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = compute_loss(model, inputs, return_outputs, num_items_in_batch)
        return loss * float("nan") if trainer.state.global_step == 2 else loss

    trainer.compute_loss = poisoned
    trainer.train()
    assert trainer.state.global_step == 3
    assert trainer.stopped_at_step == 2
    assert "became nan" in trainer.stop_reason
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_every_method_is_guarded_by_default_and_off_means_off(splits, tmp_path):
    assert make("neggrad_plus", splits, tmp_path, divergence_guard="off").guard is None
    assert make("finetune", splits, tmp_path, divergence_guard="off").guard is None
    assert make("finetune", splits, tmp_path).guard is not None
    assert make("random_labels", splits, tmp_path).guard is not None


@pytest.mark.parametrize("method", ["finetune", "random_labels"])
def test_descent_methods_at_a_huge_learning_rate_are_stopped(method, splits, trained, tmp_path):
    """A retain-monitor collapse is a collapse whatever the loss: descent methods at lr 10 are stopped, not saved."""
    trainer = make(method, splits, tmp_path, model_dir=trained, learning_rate=10.0)
    trainer.train()
    assert trainer.stop_reason is not None, "a run at lr 10 was neither stopped nor warned about"
    assert "learning_rate" in trainer.stop_reason
    kept = trainer.guard._accuracy(trainer.guard.retain_batch)
    assert kept >= trainer.args.guard_retain_floor * trainer.guard.original_retain_accuracy


def test_stop_at_gold(splits, tmp_path):
    # A gold forget accuracy of 1.0 is reached at the first check, whatever the model: the run stops there.
    trainer = make("neggrad_plus", splits, tmp_path, stop_at_gold=True, gold_results={"forget_accuracy": 1.0})
    trainer.train()
    assert trainer.state.global_step == 1
    assert "gold model's level" in trainer.stop_reason and "over-unlearn" in trainer.stop_reason
    with pytest.raises(ValueError, match="needs the gold model's results"):
        make("neggrad_plus", splits, tmp_path, stop_at_gold=True)


def test_stop_reason_recorded_in_unlearning_config(splits, tmp_path):
    import json

    trainer = make("neggrad_plus", splits, tmp_path, stop_at_gold=True, gold_results={"forget_accuracy": 1.0})
    trainer.train()
    trainer.save_model()
    record = json.loads((tmp_path / "out" / "unlearning_config.json").read_text())
    assert record["stop_reason"] == trainer.stop_reason


def test_scrub_is_judged_after_each_repair_pass_not_during_its_max_pass(splits, trained, tmp_path):
    trainer = make("scrub", splits, tmp_path, model_dir=trained, max_steps=-1, num_train_epochs=2)
    checked, real_check = [], trainer.guard._check

    def spy(args, state):
        checked.append(state.global_step)
        return real_check(args, state)

    trainer.guard._check = spy
    trainer.train()
    per_epoch = trainer.state.max_steps // 2
    assert trainer.guard.at_epoch_ends and per_epoch > 1
    assert checked == [per_epoch, 2 * per_epoch]  # epoch ends only (the last one once)
