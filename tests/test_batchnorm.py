"""Batch-norm running statistics during unlearning, for every method (the MFCC CNN has batch norm).

By default a forward pass on forget data (forget rows, UNSIR's noise, mixed forget + retain batches) and a teacher
pass leave `running_mean`, `running_var` and `num_batches_tracked` untouched; only retain passes move them (in the
trained modules only, for the methods that freeze the rest: CF-k, EU-k). Checked on
one training step at learning rate 0 (weights unchanged): the statistics after the step equal those of the weights the
step started from after one train-mode forward of the step's retain rows alone (unchanged when the step has none).
"""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import build_tiny_model, tiny_trainer
from torch.nn.modules.batchnorm import _BatchNorm

from hf_unlearn import list_methods, make_forget_split
from hf_unlearn.data.collator import FORGET_FLAG, model_batch
from hf_unlearn.trainer.batchnorm import frozen_batch_norm, recalibrate_batch_norm


@pytest.fixture(scope="module")
def toy_splits(toy_dataset):
    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, retain_eval_size=0.1, seed=0)


def bn_state(model) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{buffer}": getattr(module, buffer).detach().clone()
        for name, module in model.named_modules()
        if isinstance(module, _BatchNorm)
        for buffer in ("running_mean", "running_var", "num_batches_tracked")
    }


def step_and_expected(method, splits, tmp_path, **fields):
    """Runs one optimizer step of `method` at lr 0 and returns (statistics after it, expected statistics)."""
    model, extractor = build_tiny_model("cnn")
    assert bn_state(model), "the test model must have batch norm"
    trainer = tiny_trainer(
        method,
        splits,
        tmp_path,
        model=model,
        extractor=extractor,
        max_steps=1,
        learning_rate=0.0,
        divergence_guard="off",
        **fields,
    )
    seen = {}
    compute_loss = trainer.compute_loss

    def spy(model, inputs, *args, **kwargs):
        # The weights the step starts from (after any reset a method does before training) and its batch.
        seen["model"], seen["inputs"] = copy.deepcopy(model), inputs
        return compute_loss(model, inputs, *args, **kwargs)

    trainer.compute_loss = spy
    trainer.train()
    expected_model, inputs = seen["model"], seen["inputs"]
    retain = inputs.get("retain") if FORGET_FLAG not in inputs else None
    if retain is not None:
        expected_model.train()
        # CF-k and EU-k train the last blocks only; the frozen ones keep the original's statistics.
        for name, module in expected_model.named_children():
            if name not in getattr(trainer, "trainable_module_names", [name]):
                module.eval()
        with torch.no_grad():
            trainer.task.logits(expected_model, model_batch(retain))
    return bn_state(trainer.model), bn_state(expected_model), inputs


METHODS = sorted(info.key for info in list_methods())


@pytest.mark.parametrize("method", METHODS)
def test_only_retain_passes_move_batch_norm_statistics(method, toy_splits, tmp_path):
    after, expected, _ = step_and_expected(method, toy_splits, tmp_path)
    for name, value in expected.items():
        torch.testing.assert_close(after[name], value, rtol=0, atol=0, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("method", ["gradient_ascent", "bad_teaching_lite", "neggrad_plus"])
def test_forget_bn_update_lets_forget_passes_move_them(method, toy_splits, tmp_path):
    """The opt-out: with `forget_bn_update=True` the forget-side pass moves the statistics (so the default test above
    can tell the mechanism from its absence)."""
    after, expected, _ = step_and_expected(method, toy_splits, tmp_path, forget_bn_update=True)
    assert any(not torch.equal(after[name], value) for name, value in expected.items())


def test_frozen_batch_norm_normalises_with_batch_statistics_and_restores():
    model, _ = build_tiny_model("cnn")
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    model.train()
    inputs = torch.randn(4, model.config.n_mfcc, model.config.num_frames)
    before = bn_state(model)
    reference = copy.deepcopy(model)
    with frozen_batch_norm(model):
        frozen_out = model(input_features=inputs).logits
    assert all(layer.track_running_stats for layer in layers)
    assert all(torch.equal(before[n], v) for n, v in bn_state(model).items())
    # Same output as an ordinary train-mode forward (batch statistics), which does move the running ones.
    torch.testing.assert_close(frozen_out, reference(input_features=inputs).logits)
    assert any(not torch.equal(before[n], v) for n, v in bn_state(reference).items())


def test_recalibrate_bn_after_training(toy_splits, tmp_path):
    """`recalibrate_bn=True`: after train() the statistics are the cumulative average over the retain set."""
    model, extractor = build_tiny_model("cnn")
    trainer = tiny_trainer(
        "gradient_ascent",
        toy_splits,
        tmp_path,
        model=model,
        extractor=extractor,
        max_steps=1,
        learning_rate=0.0,
        divergence_guard="off",
        recalibrate_bn=True,
        per_device_train_batch_size=len(toy_splits.retain),
    )
    trainer.train()
    # Expected: reset statistics, one train-mode pass over the whole retain set in one batch with momentum None.
    reference = copy.deepcopy(trainer.model)
    rows = trainer.retain_for_bn
    batch = trainer.data_collator([dict(rows[i]) for i in range(len(rows))])
    assert recalibrate_batch_norm(reference, [batch], trainer.task.logits) > 0
    after = bn_state(trainer.model)
    for name, value in bn_state(reference).items():
        torch.testing.assert_close(after[name], value)
    assert all(v.item() == 1 for n, v in after.items() if n.endswith("num_batches_tracked"))
    assert all(m.momentum is not None for m in trainer.model.modules() if isinstance(m, _BatchNorm))
