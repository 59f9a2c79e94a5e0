"""The SuperLoss curriculum: closed-form checks of the confidence and the loss, the running threshold kept by
`UnlearningTrainer.reduce`, training with it, and the config's validation. The threshold across two processes is
checked in tests/test_salun.py (one torchrun launch for both)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import tiny_trainer

from hf_unlearn import UnlearningConfig, make_forget_split
from hf_unlearn.losses import superloss, superloss_confidence


# ------------------------------------------------------------------------------------------- closed form
def test_confidence_at_known_lambert_w_values():
    lam, tau = 3.0, 1.5
    # sigma* = exp(-W(0.5 * (l - tau) / lam)): W(0) = 0, W(e) = 1, W(2 e^2) = 2, W(-1/e) = -1 (the clamp's floor).
    losses = torch.tensor(
        [tau, tau + 2 * math.e * lam, tau + 4 * math.e**2 * lam, tau - 2 * lam / math.e, tau - 100.0],
        dtype=torch.float64,
    )
    expected = [1.0, math.exp(-1), math.exp(-2), math.e, math.e]
    assert superloss_confidence(losses, tau, lam).tolist() == pytest.approx(expected, rel=1e-9)


def test_confidence_satisfies_the_lambert_w_equation():
    """sigma = exp(-W(y)) means W(y) = -log sigma, and W(y) exp(W(y)) = y: -log(sigma) / sigma = y."""
    lam, tau = 10.0, 2.0
    losses = torch.linspace(-5.0, 60.0, 101, dtype=torch.float64)
    sigma = superloss_confidence(losses, tau, lam)
    y = 0.5 * torch.clamp((losses - tau) / lam, min=-2 / math.e)
    torch.testing.assert_close(-torch.log(sigma) / sigma, y, rtol=1e-9, atol=1e-12)


def test_confidence_decreases_with_the_loss_and_keeps_dtype_and_device():
    lam, tau = 10.0, 1.0
    losses = torch.linspace(tau - 2 * lam / math.e + 1e-3, 50.0, 200)
    sigma = superloss_confidence(losses, tau, lam)
    assert sigma.dtype == losses.dtype and sigma.device == losses.device
    assert bool((sigma[1:] < sigma[:-1]).all())
    assert float(sigma.max()) <= math.e and float(sigma.min()) > 0
    # Larger lambda: weights closer to 1.
    assert float((superloss_confidence(losses, tau, 1000.0) - 1).abs().max()) < float((sigma - 1).abs().max())
    with pytest.raises(ValueError, match="lambda"):
        superloss_confidence(losses, tau, 0.0)


def test_superloss_value_gradient_and_minimality():
    lam, tau = 2.0, 1.0
    # At l = tau: 0. At l - tau = 2 e lam: 2 e lam * e^-1 + lam * 1 = 3 lam.
    losses = torch.tensor([tau, tau + 2 * math.e * lam], dtype=torch.float64, requires_grad=True)
    values = superloss(losses, tau, lam)
    assert values.tolist() == pytest.approx([0.0, 3 * lam], rel=1e-9)
    # sigma* is a constant: dSL/dl = sigma*.
    (grad,) = torch.autograd.grad(values.sum(), losses)
    torch.testing.assert_close(grad, superloss_confidence(losses, tau, lam))
    # sigma* minimises (l - tau) sigma + lam (log sigma)^2 over sigma > 0 (checked on a grid).
    grid = np.exp(np.linspace(-6, 2, 4001))
    for loss in (0.1, 1.0, 2.5, 30.0):
        objective = (loss - tau) * grid + lam * np.log(grid) ** 2
        best = float(superloss(torch.tensor([loss], dtype=torch.float64), tau, lam))
        assert best <= objective.min() + 1e-9 and best == pytest.approx(objective.min(), abs=1e-4)


# ------------------------------------------------------------------------------------------- in the trainer
@pytest.fixture(scope="module")
def toy_splits(toy_dataset):
    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, retain_eval_size=0.1, seed=0)


def make_trainer(splits, tmp_path, method="neggrad_plus", **overrides):
    return tiny_trainer(method, splits, tmp_path, config_class=UnlearningConfig, **overrides)


def test_reduce_without_curriculum_is_the_plain_mean(toy_splits, tmp_path):
    trainer = make_trainer(toy_splits, tmp_path)
    losses = torch.tensor([0.5, 2.0, 7.0])
    assert trainer.reduce(losses, "forget").item() == pytest.approx(losses.mean().item())
    assert trainer.curriculum_state == {}


def test_reduce_keeps_a_running_threshold_per_side(toy_splits, tmp_path):
    trainer = make_trainer(toy_splits, tmp_path, curriculum="superloss", superloss_lambda=4.0)
    first, second = torch.tensor([0.5, 2.0, 7.0]), torch.tensor([1.0, 3.0])
    # First batch: tau = its own mean (9.5 / 3).
    assert trainer.reduce(first, "forget").item() == pytest.approx(superloss(first, 9.5 / 3, 4.0).mean().item())
    # Next batch: tau = the mean of everything before it (still 9.5 / 3), then the state holds both batches.
    assert trainer.reduce(second, "forget").item() == pytest.approx(superloss(second, 9.5 / 3, 4.0).mean().item())
    assert trainer.curriculum_state["forget"]["count"] == 5
    assert trainer.curriculum_state["forget"]["loss_sum"] == pytest.approx(13.5)
    # The retain side keeps its own threshold.
    trainer.reduce(torch.tensor([10.0]), "retain")
    assert trainer.curriculum_state["retain"]["tau"] == pytest.approx(10.0)
    assert trainer.curriculum_state["forget"]["tau"] == pytest.approx(9.5 / 3)
    trainer.reduce(torch.tensor([0.0]), "forget")
    assert trainer.curriculum_state["forget"]["tau"] == pytest.approx(13.5 / 5)


def test_curriculum_sides_selects_what_is_reweighted(toy_splits, tmp_path):
    trainer = make_trainer(toy_splits, tmp_path, curriculum="superloss", curriculum_sides=["forget"])
    losses = torch.tensor([0.5, 2.0, 7.0])
    assert trainer.reduce(losses, "retain").item() == pytest.approx(losses.mean().item())
    assert "retain" not in trainer.curriculum_state
    assert trainer.reduce(losses, "forget").item() != pytest.approx(losses.mean().item())


@pytest.mark.parametrize("method", ["neggrad_plus", "finetune"])
def test_methods_train_with_superloss(method, toy_splits, tmp_path):
    trainer = make_trainer(toy_splits, tmp_path, method=method, curriculum="superloss")
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 3
    for entry in logged:
        for key, value in entry.items():
            if key == "loss" or key.startswith("loss/"):
                assert math.isfinite(value), (key, value)
    # Every training sample went through the curriculum: 3 steps x 4 samples per side used by the method.
    sides = {"neggrad_plus": {"forget", "retain"}, "finetune": {"retain"}}[method]
    assert set(trainer.curriculum_state) == sides
    assert all(trainer.curriculum_state[side]["count"] == 12 for side in sides)
    assert any(not torch.equal(p.detach(), before[n]) for n, p in trainer.model.named_parameters())


def test_superloss_changes_the_update(toy_splits, tmp_path):
    """Same data, same seed: the curriculum's re-weighting gives a different first update than the plain mean."""
    results = []
    for curriculum in (None, "superloss"):
        trainer = make_trainer(
            toy_splits,
            tmp_path / str(curriculum),
            curriculum=curriculum,
            max_steps=1,
            superloss_lambda=0.5,
            optim="sgd",
            learning_rate=0.1,
        )
        trainer.train()
        results.append({n: p.detach().clone() for n, p in trainer.model.named_parameters()})
    assert any(not torch.allclose(results[0][n], results[1][n]) for n in results[0])


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"curriculum": "self_paced"}, "curriculum"),
        ({"superloss_lambda": 0.0}, "superloss_lambda"),
        ({"curriculum_sides": ["test"]}, "curriculum_sides"),
        ({"curriculum_sides": []}, "curriculum_sides"),
        ({"curriculum_sides": ["forget", "forget"]}, "curriculum_sides"),
    ],
)
def test_curriculum_config_validation(fields, message):
    with pytest.raises(ValueError, match=message):
        UnlearningConfig(output_dir="x", use_cpu=True, **fields)


def test_curriculum_config_defaults():
    config = UnlearningConfig(output_dir="x", use_cpu=True)
    assert config.curriculum is None and config.superloss_lambda == 10.0
    assert config.curriculum_sides == ["forget", "retain"]
    assert UnlearningConfig(output_dir="x", use_cpu=True, curriculum_sides="forget").curriculum_sides == ["forget"]
    assert {"curriculum", "superloss_lambda", "curriculum_sides"} <= set(config.method_fields())


# ------------------------------------------------------------------------------------------- every method
# The curriculum states each method's per-sample loss terms must reach (`UnlearningTrainer.reweight`): every term it
# has goes through the curriculum, KL terms and NPO's included (MU-Bench passes SCRUB's, Bad Teaching's and NPO's
# through its SuperLoss). No method refuses `curriculum="superloss"`; a method that could not honour it would have to
# refuse it at construction, with the reason, and appear here as `None`.
CURRICULUM_TERMS = {
    "bad_teaching": {"forget", "retain"},
    "bad_teaching_lite": {"forget", "retain"},
    "cf_k": {"retain"},
    "eu_k": {"retain"},
    "finetune": {"retain"},
    "gradient_ascent": {"forget"},
    "l1_sparse": {"retain"},  # the L1 penalty is not a per-sample loss: it stays as it is
    "neggrad_plus": {"forget", "retain"},
    "npo": {"forget", "retain"},
    "random_labels": {"forget", "retain"},
    "reset_perturb": {"retain"},
    "salun": {"forget", "retain"},
    "scrub": {"forget_kl", "retain_kl", "retain"},
    "unsir": {"forget", "retain"},
}


def test_every_method_has_a_curriculum_case():
    from hf_unlearn import list_methods

    assert {info.key for info in list_methods()} == set(CURRICULUM_TERMS)


def _batches_of_each_kind(trainer) -> list[dict]:
    """The first batch of each kind the method's stream gives (paired, forget-only, retain-only, mixed)."""
    kinds = {}
    for batch in trainer.get_train_dataloader():
        kinds.setdefault(tuple(sorted(key for key in ("forget", "retain", "forget_flag") if key in batch)), batch)
    return list(kinds.values())


@pytest.mark.parametrize("method", sorted(CURRICULUM_TERMS))
def test_curriculum_covers_every_loss_term(method, toy_splits, tmp_path):
    losses = {}
    for curriculum in (None, "superloss"):
        trainer = tiny_trainer(
            method,
            toy_splits,
            tmp_path / str(curriculum),
            curriculum=curriculum,
            superloss_lambda=0.5,
            divergence_guard="off",
        )
        trainer.create_optimizer()  # runs the method's before_optimizer (UNSIR's noise, SalUn's mask, ...)
        trainer.model.train()
        values = []
        for batch in _batches_of_each_kind(trainer):
            torch.manual_seed(0)  # BT-L's noise logits
            values.append(float(trainer.compute_loss(trainer.model, trainer._prepare_inputs(batch)).detach()))
        losses[curriculum] = values
        if curriculum is not None:
            assert set(trainer.curriculum_state) == CURRICULUM_TERMS[method]
            assert all(state["count"] > 0 for state in trainer.curriculum_state.values())
    assert any(a != pytest.approx(b, rel=1e-6) for a, b in zip(losses[None], losses["superloss"])), losses
