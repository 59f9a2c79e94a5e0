"""Closed-form checks of the loss functions in `hf_unlearn.losses`."""

from __future__ import annotations

import math

import pytest
import torch

from hf_unlearn.losses import kl_with_temperature, l1_penalty, npo_loss


def test_kl_with_temperature_by_hand():
    student = torch.tensor([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0]])
    teacher = torch.tensor([[0.0, 1.0, 1.0], [2.0, 0.0, -1.0]])
    temperature = 2.0
    expected = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist()):
        q = [math.exp(v / temperature) for v in s_row]
        p = [math.exp(v / temperature) for v in t_row]
        q = [v / sum(q) for v in q]
        p = [v / sum(p) for v in p]
        expected += sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q))
    expected = temperature**2 * expected / len(student)
    assert kl_with_temperature(student, teacher, temperature).item() == pytest.approx(expected, rel=1e-5)


def test_kl_with_temperature_zero_for_equal_logits_and_shift_invariant():
    logits = torch.randn(5, 4)
    assert kl_with_temperature(logits, logits + 3.0, 4.0).item() == pytest.approx(0.0, abs=1e-6)


def test_npo_loss_at_known_log_probabilities():
    beta = 0.1
    logp = torch.tensor([-0.5, -2.0, -1.0])
    assert npo_loss(logp, logp, beta).item() == pytest.approx(2 / beta * math.log(2), rel=1e-6)
    # One sample with log ratio d: -2/beta * log sigmoid(-beta d).
    d = 3.0
    expected = -2 / beta * math.log(1 / (1 + math.exp(beta * d)))
    assert npo_loss(torch.tensor([d - 1.0]), torch.tensor([-1.0]), beta).item() == pytest.approx(expected, rel=1e-6)
    # Bounded below by 0: far below the reference, the loss vanishes.
    assert npo_loss(torch.tensor([-1e4]), torch.tensor([0.0]), beta).item() == pytest.approx(0.0, abs=1e-6)


def test_l1_penalty():
    parameters = [torch.tensor([1.0, -2.0]), torch.tensor([[0.5, -0.5], [0.0, 3.0]])]
    assert l1_penalty(parameters).item() == pytest.approx(7.0)
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    l1_penalty([weight]).backward()
    torch.testing.assert_close(weight.grad, torch.tensor([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError):
        l1_penalty([])
