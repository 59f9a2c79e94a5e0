"""SalUn: the saliency mask (closed form, ties, global ranking), the forget gradient it is computed from, masked
weights left bitwise unchanged by training, and the mask reduced across two processes.

The two-process test also checks the SuperLoss curriculum's threshold `tau` across processes (one torchrun launch for
both, to keep the suite short); tests/test_superloss.py covers the rest of the curriculum."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import tiny_trainer
from launch import TORCHRUN_TWO, run_script

from hf_unlearn import SalUnConfig, make_forget_split
from hf_unlearn.losses import superloss
from hf_unlearn.methods.salun import top_share_mask

TESTS_DIR = Path(__file__).parent


@pytest.fixture(scope="module")
def toy_splits(toy_dataset):
    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, retain_eval_size=0.1, seed=0)


def salun_trainer(splits, tmp_path, kind="cnn", **overrides):
    return tiny_trainer("salun", splits, tmp_path, kind=kind, **{"learning_rate": 1e-2, **overrides})


# ------------------------------------------------------------------------------------------------- the mask
def test_saliency_mask_keeps_the_top_share_globally():
    gradients = {"a": torch.tensor([[0.1, -5.0], [2.0, 0.0]]), "b": torch.tensor([3.0, -0.5, 1.0, 4.0])}
    # |g| sorted: 5 (a), 4 (b), 3 (b), 2 (a), 1, 0.5, 0.1, 0. Half of 8 = the top 4.
    masks = top_share_mask(gradients, 0.5)
    assert torch.equal(masks["a"], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    assert torch.equal(masks["b"], torch.tensor([1.0, 0.0, 0.0, 1.0]))
    # floor(0.3 * 8) = 2: 5 and 4, one in each tensor (the ranking is global, not per tensor).
    masks = top_share_mask(gradients, 0.3)
    assert torch.equal(masks["a"], torch.tensor([[0.0, 1.0], [0.0, 0.0]]))
    assert torch.equal(masks["b"], torch.tensor([0.0, 0.0, 0.0, 1.0]))
    assert all(torch.equal(m, torch.ones_like(m)) for m in top_share_mask(gradients, 1.0).values())
    # A share smaller than one entry keeps nothing (floor, as the authors' int(N * threshold)).
    assert all(not m.any() for m in top_share_mask(gradients, 0.1).values())


def test_saliency_mask_ties_are_broken_by_position():
    gradients = {"a": torch.tensor([1.0, -1.0, 1.0]), "b": torch.tensor([1.0, 2.0])}
    # k = floor(0.6 * 5) = 3: the 2 is kept, then the first two of the four tied 1s in (a, b) flat order.
    masks = top_share_mask(gradients, 0.6)
    assert torch.equal(masks["a"], torch.tensor([1.0, 1.0, 0.0]))
    assert torch.equal(masks["b"], torch.tensor([0.0, 1.0]))
    # Reordering the dict moves which tied entries win: position decides, nothing else.
    masks = top_share_mask({"b": gradients["b"], "a": gradients["a"]}, 0.6)
    assert torch.equal(masks["b"], torch.tensor([1.0, 1.0]))
    assert torch.equal(masks["a"], torch.tensor([1.0, 0.0, 0.0]))


@pytest.mark.parametrize("threshold", [0.05, 0.5, 0.77])
def test_saliency_mask_matches_a_stable_sort(threshold):
    generator = torch.Generator().manual_seed(0)
    # Rounded values: many exact ties, so the tie rule matters.
    gradients = {
        "w": torch.round(torch.randn(7, 5, generator=generator) * 4) / 4,
        "b": torch.round(torch.randn(5, generator=generator) * 4) / 4,
        "v": torch.zeros(3, 2),
    }
    masks = top_share_mask(gradients, threshold)
    flat = torch.cat([g.abs().flatten() for g in gradients.values()])
    keep = math.floor(threshold * flat.numel())
    order = torch.sort(flat, descending=True, stable=True).indices
    expected = torch.zeros_like(flat)
    expected[order[:keep]] = 1
    got = torch.cat([m.flatten() for m in masks.values()])
    assert int(got.sum()) == keep
    assert torch.equal(got, expected)
    for name, gradient in gradients.items():
        assert masks[name].shape == gradient.shape and masks[name].dtype == gradient.dtype


def test_saliency_mask_rejects_bad_threshold():
    with pytest.raises(ValueError, match="threshold"):
        top_share_mask({"a": torch.ones(3)}, 0.0)
    with pytest.raises(ValueError, match="threshold"):
        SalUnConfig(output_dir="x", threshold=1.5, use_cpu=True)
    assert SalUnConfig.PRESETS == {}


# ------------------------------------------------------------------------------------------ in the trainer
def test_forget_gradients_are_the_mean_forget_cross_entropy_gradient(toy_splits, tmp_path):
    trainer = salun_trainer(toy_splits, tmp_path)
    model = trainer.model
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    gradients = trainer.forget_gradients()
    # Batch-norm running statistics untouched, no gradient left behind, training mode restored.
    assert all(torch.equal(b, buffers[n]) for n, b in model.named_buffers())
    assert all(p.grad is None for p in model.parameters())
    assert model.training
    # By hand: one batch with the whole forget set, eval mode, mean cross-entropy against the true labels.
    rows = [trainer.saliency_forget[i] for i in range(len(trainer.saliency_forget))]
    batch = trainer.data_collator(rows)
    model.eval()
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    loss = torch.nn.functional.cross_entropy(logits, batch["labels"])
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    expected = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad])
    model.train()
    assert list(gradients) == names
    for name, grad in zip(names, expected):
        torch.testing.assert_close(gradients[name], grad, rtol=1e-4, atol=1e-7, msg=name)
    assert any(g.abs().sum() > 0 for g in gradients.values())


def test_masked_weights_are_unchanged_and_salient_ones_train(toy_splits, tmp_path):
    trainer = salun_trainer(toy_splits, tmp_path, max_steps=5, optim="adamw_torch")
    original = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    expected_mask = top_share_mask(trainer.forget_gradients(), 0.5)
    trainer.train()
    assert trainer.saliency_mask is not None and set(trainer.saliency_mask) == set(original)
    total = sum(m.numel() for m in trainer.saliency_mask.values())
    assert sum(int(m.sum()) for m in trainer.saliency_mask.values()) == total // 2
    changed_salient = 0
    for name, parameter in trainer.model.named_parameters():
        mask = trainer.saliency_mask[name].bool()
        assert torch.equal(mask, expected_mask[name].bool()), name  # computed once, at the original weights
        after = parameter.detach()
        assert torch.equal(after[~mask], original[name][~mask]), f"{name}: a masked weight moved"
        changed_salient += int((after[mask] != original[name][mask]).sum())
    assert changed_salient > 0.5 * (total // 2), f"only {changed_salient} of {total // 2} salient weights moved"
    # The base mechanism holds the same masks (kept on the trainer for saving).
    assert set(trainer.gradient_masks) == set(trainer.saliency_mask)


def test_salun_refuses_weight_decay(toy_splits, tmp_path):
    trainer = salun_trainer(toy_splits, tmp_path, weight_decay=0.01)
    with pytest.raises(ValueError, match="weight_decay"):
        trainer.train()


def test_salun_respects_frozen_parameters(toy_splits, tmp_path):
    """Only trainable parameters are ranked; frozen ones get no mask and stay frozen."""
    trainer = salun_trainer(toy_splits, tmp_path)
    frozen = [n for n, _ in trainer.model.named_parameters()][:2]
    for name, parameter in trainer.model.named_parameters():
        if name in frozen:
            parameter.requires_grad_(False)
    assert set(trainer.forget_gradients()).isdisjoint(frozen)


# -------------------------------------------------------------------------------------- two processes
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, sys.argv[3])
    import torch
    from conftest import build_tiny_model, make_toy_dataset
    from hf_unlearn import SalUnConfig, UnlearningTrainer, make_forget_split

    splits = make_forget_split(make_toy_dataset(), by="class", values=["tone1"], test_size=0.25,
                               retain_eval_size=0.1, seed=0)
    model, extractor = build_tiny_model("cnn")
    args = SalUnConfig(output_dir=sys.argv[2], use_cpu=True, report_to="none", per_device_eval_batch_size=5,
                       curriculum="superloss", superloss_lambda=2.0)
    trainer = UnlearningTrainer(method="salun", model=model, args=args, forget_dataset=splits.forget,
                                retain_dataset=splits.retain, processing_class=extractor)
    gradients = trainer.forget_gradients()
    trainer.before_optimizer()
    # SuperLoss: each process reduces its own batches; tau must be the mean over both processes' batches.
    rank = trainer.accelerator.process_index
    batches = [torch.tensor([0.5, 1.0, 4.0]) + rank, torch.tensor([2.0, 3.0]) * (rank + 1), torch.tensor([1.0])]
    values, taus = [], []
    for batch in batches:
        values.append(trainer.reduce(batch, "forget"))
        taus.append(trainer.curriculum_state["forget"]["tau"])
    values = trainer.accelerator.gather(torch.stack(values).reshape(1, -1)).tolist()
    if trainer.is_world_process_zero():
        with open(sys.argv[1], "w") as handle:
            json.dump({"world_size": trainer.accelerator.num_processes,
                       "gradients": {n: g.flatten().tolist() for n, g in gradients.items()},
                       "mask": {n: m.flatten().tolist() for n, m in trainer.saliency_mask.items()},
                       "superloss": {"values": values, "taus": taus, "state": trainer.curriculum_state["forget"]}},
                      handle)
    # Both ranks leave together, with the process group torn down: a rank exiting while gloo's threads still run
    # aborts ("terminate called without an active exception").
    trainer.accelerator.wait_for_everyone()
    torch.distributed.destroy_process_group()
    """
)


@pytest.mark.distributed
def test_two_processes_mask_and_superloss_tau(toy_splits, tmp_path):
    """Two processes, each with half the forget set, give the single-process gradient and mask: the per-process
    gradients are summed across processes before magnitudes are taken. And the SuperLoss threshold is the running
    mean over both processes' batches."""
    script = tmp_path / "salun_two_process.py"
    script.write_text(SCRIPT)
    out_json = tmp_path / "two.json"
    run_script(TORCHRUN_TWO, script, out_json, tmp_path / "out", TESTS_DIR)
    assert out_json.exists(), "the two-process script wrote no results"
    two = json.loads(out_json.read_text())
    assert two["world_size"] == 2

    single = salun_trainer(toy_splits, tmp_path, per_device_eval_batch_size=5)
    gradients = single.forget_gradients()
    mask = top_share_mask(gradients, 0.5)
    total = sum(m.numel() for m in mask.values())
    disagree = 0
    for name, gradient in gradients.items():
        torch.testing.assert_close(torch.tensor(two["gradients"][name]), gradient.flatten(), rtol=1e-4, atol=1e-7)
        disagree += int((torch.tensor(two["mask"][name]) != mask[name].flatten()).sum())
    assert sum(sum(m) for m in two["mask"].values()) == total // 2
    # Summation order differs between the runs, so an entry at the threshold may flip; anything more is a bug.
    assert disagree <= 2, f"{disagree} of {total} mask entries differ"

    # Rank r's batches: [0.5, 1, 4] + r, then [2, 3] * (r + 1), then [1]. First tau: the first global batch's mean
    # (14 / 6); then the cumulative mean of the earlier global batches: 14 / 6, then (14 + 15) / 10.
    superloss_result = two["superloss"]
    assert superloss_result["taus"] == pytest.approx([14 / 6, 14 / 6, 29 / 10])
    assert superloss_result["state"]["count"] == 12 and superloss_result["state"]["loss_sum"] == pytest.approx(31.0)
    for rank in range(2):
        batches = [torch.tensor([0.5, 1.0, 4.0]) + rank, torch.tensor([2.0, 3.0]) * (rank + 1), torch.tensor([1.0])]
        expected = [superloss(b, t, 2.0).mean().item() for b, t in zip(batches, superloss_result["taus"])]
        assert superloss_result["values"][rank] == pytest.approx(expected, rel=1e-6), rank
