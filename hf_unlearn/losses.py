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
