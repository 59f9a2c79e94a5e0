"""Pure loss functions on tensors. Each docstring states the equation it computes.

Conventions: `logits` is (N, C), `labels` is (N,) of class ids; "per-sample" functions return (N,) and the caller
reduces, so that weighting schemes (e.g. a curriculum) can act per sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def per_sample_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each sample: `l_i = -log softmax(z_i)[y_i]`."""
    return F.cross_entropy(logits.float(), labels.long(), reduction="none")


def weighted_sum(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """`L = sum_k w_k * L_k` over the terms that have a weight (missing weights count as 1)."""
    total = None
    for name, value in terms.items():
        part = weights.get(name, 1.0) * value
        total = part if total is None else total + part
    if total is None:
        raise ValueError("weighted_sum needs at least one loss term.")
    return total


def draw_random_labels(
    labels: torch.Tensor, num_classes: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draws, for each sample, a label uniformly among the `C - 1` classes other than its true one.

    `y'_i = (y_i + 1 + u_i) mod C` with `u_i ~ U{0, ..., C - 2}`: never returns the true label.
    """
    if num_classes < 2:
        raise ValueError(f"Random labels need at least 2 classes, got num_classes={num_classes}.")
    offsets = torch.randint(0, num_classes - 1, labels.shape, generator=generator, device="cpu").to(labels.device)
    return (labels.long() + 1 + offsets) % num_classes


def kl_with_temperature(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Distillation KL at temperature `T`, batch mean (Hinton et al. 2015; SCRUB, Bad Teaching):

    `L = T^2 * 1/N * sum_i KL(softmax(t_i / T) || softmax(s_i / T))`
    `  = T^2 * 1/N * sum_i sum_c p_ic (log p_ic - log q_ic)`, with `p = softmax(t / T)`, `q = softmax(s / T)`.

    The `T^2` factor keeps gradient magnitudes comparable across temperatures. The teacher side carries no gradient
    only if the caller computed `teacher_logits` under `torch.no_grad()`.
    """
    log_q = F.log_softmax(student_logits.float() / temperature, dim=-1)
    log_p = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    return temperature**2 * F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")


def npo_loss(logp_theta: torch.Tensor, logp_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """Negative Preference Optimization loss (Zhang et al. 2024, eq. 3), batch mean:

    `L = -2/beta * 1/N * sum_i log sigmoid(-beta * (log p_theta(y_i|x_i) - log p_ref(y_i|x_i)))`.

    At `logp_theta == logp_ref` it equals `2/beta * log 2`; it tends to 0 as `logp_theta -> -inf` (bounded below,
    unlike gradient ascent), and to `2 * (logp_theta - logp_ref)` as `beta -> 0`.
    """
    log_ratio = logp_theta.float() - logp_ref.float()
    return -2.0 / beta * F.logsigmoid(-beta * log_ratio).mean()


def l1_penalty(parameters) -> torch.Tensor:
    """L1 norm of a set of parameters: `||w||_1 = sum_j |w_j|` over every tensor in `parameters`."""
    norms = [parameter.abs().sum() for parameter in parameters]
    if not norms:
        raise ValueError("l1_penalty needs at least one parameter.")
    return torch.stack([norm.float() for norm in norms]).sum()
