"""Every method's training loss on real batches, against its paper's formula computed here from the models' logits.

The model is put in eval mode (batch norm on its running statistics, no dropout), so the logits computed here are the
ones `compute_loss` sees. l1-sparse and NG+ are in test_mutations_caught.py. Weights are unequal on purpose, so that
a swapped or dropped weight shows.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_trainer

from hf_unlearn import make_forget_split
from hf_unlearn.data.collator import FORGET_FLAG, RANDOM_LABELS, model_batch


@pytest.fixture(scope="module")
def toy_splits(toy_dataset):
    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, retain_eval_size=0.1, seed=0)


def batches_by_kind(trainer) -> dict:
    """The first batch of each kind the method's stream gives: "paired", "forget", "retain" or "mixed"."""
    kinds = {}
    for batch in trainer.get_train_dataloader():
        if FORGET_FLAG in batch:
            kind = "mixed"
        elif "forget" in batch and "retain" in batch:
            kind = "paired"
        else:
            kind = "forget" if "forget" in batch else "retain"
        kinds.setdefault(kind, batch)
    return kinds


def logits(model, batch) -> torch.Tensor:
    with torch.no_grad():
        return model(**model_batch(batch)).logits.float()


def ce(model, batch, labels_key="labels") -> float:
    return F.cross_entropy(logits(model, batch), batch[labels_key]).item()


def kl_rows(teacher_logits, student_logits, temperature=1.0) -> torch.Tensor:
    """Per-row KL(softmax(t / T) || softmax(s / T)), by its definition."""
    p = F.softmax(teacher_logits / temperature, dim=-1)
    return (p * (p.log() - F.log_softmax(student_logits / temperature, dim=-1))).sum(-1)


def loss_of(trainer, batch) -> float:
    with torch.no_grad():
        return trainer.compute_loss(trainer.model, batch).item()


def perturb(model, scale=0.2) -> None:
    """Moves the model away from its teacher (a copy taken at construction), so teacher terms are not 0."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))


@pytest.mark.parametrize("method", ["finetune", "cf_k", "eu_k", "reset_perturb"])
def test_retain_only_methods_minimise_retain_cross_entropy(method, toy_splits, tmp_path):
    trainer = tiny_trainer(method, toy_splits, tmp_path)
    trainer.model.eval()
    batch = batches_by_kind(trainer)["retain"]
    assert loss_of(trainer, batch) == pytest.approx(ce(trainer.model, batch["retain"]), rel=1e-5)


def test_gradient_ascent_loss_is_minus_forget_cross_entropy(toy_splits, tmp_path):
    trainer = tiny_trainer("gradient_ascent", toy_splits, tmp_path, forget_weight=0.6)
    trainer.model.eval()
    batch = batches_by_kind(trainer)["forget"]
    assert loss_of(trainer, batch) == pytest.approx(-0.6 * ce(trainer.model, batch["forget"]), rel=1e-5)


def test_npo_loss_at_the_reference_model_is_two_over_beta_log_two(toy_splits, tmp_path):
    trainer = tiny_trainer(
        "npo", toy_splits, tmp_path, beta=0.5, forget_weight=0.6, retain_weight=0.3, use_retain=True
    )
    trainer.model.eval()
    batch = batches_by_kind(trainer)["paired"]
    # The model is its own reference before the first step: log p_theta = log p_ref, so each row's term is
    # -2/beta log sigmoid(0) = 2/beta log 2.
    expected = 0.6 * 2 / 0.5 * math.log(2) + 0.3 * ce(trainer.model, batch["retain"])
    assert loss_of(trainer, batch) == pytest.approx(expected, rel=1e-5)
    # Away from the reference: -2/beta mean log sigmoid(-beta (log p_theta - log p_ref)).
    perturb(trainer.model)
    forget = batch["forget"]
    log_theta = -F.cross_entropy(logits(trainer.model, forget), forget["labels"], reduction="none")
    log_ref = -F.cross_entropy(logits(trainer.teacher, forget), forget["labels"], reduction="none")
    npo = (-2 / 0.5 * F.logsigmoid(-0.5 * (log_theta - log_ref))).mean().item()
    expected = 0.6 * npo + 0.3 * ce(trainer.model, batch["retain"])
    assert loss_of(trainer, batch) == pytest.approx(expected, rel=1e-5)


def test_random_labels_loss_uses_the_drawn_labels_on_forget_rows(toy_splits, tmp_path):
    trainer = tiny_trainer("random_labels", toy_splits, tmp_path, forget_weight=0.6, retain_weight=0.3)
    trainer.model.eval()
    batches = batches_by_kind(trainer)
    forget = batches["forget"]["forget"]
    assert not torch.equal(forget[RANDOM_LABELS], forget["labels"])  # the drawn labels are not the true ones
    expected = 0.6 * ce(trainer.model, forget, labels_key=RANDOM_LABELS)
    assert loss_of(trainer, batches["forget"]) == pytest.approx(expected, rel=1e-5)
    expected = 0.3 * ce(trainer.model, batches["retain"]["retain"])
    assert loss_of(trainer, batches["retain"]) == pytest.approx(expected, rel=1e-5)


def test_scrub_max_step_ascends_and_min_step_distils(toy_splits, tmp_path):
    trainer = tiny_trainer("scrub", toy_splits, tmp_path, gamma=0.7, alpha=0.2, temperature=2.0)
    perturb(trainer.model)
    trainer.model.eval()
    batches = batches_by_kind(trainer)
    forget = batches["forget"]["forget"]
    forget_kl = 4.0 * kl_rows(logits(trainer.teacher, forget), logits(trainer.model, forget), 2.0).mean().item()
    assert forget_kl > 0.01
    assert loss_of(trainer, batches["forget"]) == pytest.approx(-forget_kl, rel=1e-4)
    retain = batches["retain"]["retain"]
    retain_kl = 4.0 * kl_rows(logits(trainer.teacher, retain), logits(trainer.model, retain), 2.0).mean().item()
    expected = 0.7 * ce(trainer.model, retain) + 0.2 * retain_kl
    assert loss_of(trainer, batches["retain"]) == pytest.approx(expected, rel=1e-4)


def test_bad_teaching_targets_the_incompetent_teacher_on_forget_rows(toy_splits, tmp_path):
    trainer = tiny_trainer("bad_teaching", toy_splits, tmp_path, forget_weight=0.6, retain_weight=0.3)
    perturb(trainer.model)
    trainer.model.eval()
    batch = batches_by_kind(trainer)["mixed"]
    forget_rows = batch[FORGET_FLAG] == 1
    assert forget_rows.any() and (~forget_rows).any()
    student = logits(trainer.model, batch)
    competent, incompetent = logits(trainer.teacher, batch), logits(trainer.incompetent_teacher, batch)
    target = torch.where(forget_rows[:, None], incompetent, competent)
    weights = torch.where(forget_rows, 0.6, 0.3)
    expected = (weights * kl_rows(target, student)).mean().item()
    assert loss_of(trainer, batch) == pytest.approx(expected, rel=1e-4)


def test_bad_teaching_lite_retain_rows_match_the_teacher_and_forget_rows_pay(toy_splits, tmp_path):
    """BT-L's forget targets are random logits: the retain rows' term, KL(teacher || model), is exactly 0 for a model
    that is still its teacher, so only forget rows cost anything."""
    only_retain = tiny_trainer("bad_teaching_lite", toy_splits, tmp_path / "a", forget_weight=0.0, retain_weight=1.0)
    only_retain.model.eval()
    batch = batches_by_kind(only_retain)["mixed"]
    assert (batch[FORGET_FLAG] == 1).any() and (batch[FORGET_FLAG] == 0).any()
    torch.manual_seed(0)
    assert loss_of(only_retain, batch) == pytest.approx(0.0, abs=1e-6)
    only_forget = tiny_trainer("bad_teaching_lite", toy_splits, tmp_path / "b", forget_weight=1.0, retain_weight=0.0)
    only_forget.model.eval()
    torch.manual_seed(0)
    assert loss_of(only_forget, batch) > 0.05


def test_unsir_impair_loss_adds_the_noise_term_to_retain(toy_splits, tmp_path):
    trainer = tiny_trainer("unsir", toy_splits, tmp_path, forget_weight=0.6, retain_weight=0.3)
    trainer.create_optimizer()  # learns the error-maximising noise
    trainer.model.eval()
    batch = batches_by_kind(trainer)["paired"]
    assert trainer.is_impair_phase()
    retain_term = 0.3 * ce(trainer.model, batch["retain"])
    noise_term = loss_of(trainer, batch) - retain_term
    assert noise_term > 0.06  # 0.6 x the noise's cross-entropy against the forget labels, maximised by design
