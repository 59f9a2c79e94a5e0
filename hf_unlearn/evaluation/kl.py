r"""KL divergence from the gold model's predictive distribution: how far a model's outputs are from retraining.

Accuracy and the MIA look at one number per example; the gold model's whole predictive distribution is the target
of unlearning (the idea behind KLOM-style evaluations, which compare an unlearned model's outputs with those of
models retrained without the forget set). 0 means the model predicts exactly like the gold model.
"""

from __future__ import annotations

import numpy as np

from .signals import log_softmax

__all__ = ["kl_divergence", "mean_kl_to_gold"]


def kl_divergence(reference_logits, model_logits) -> np.ndarray:
    r"""Per-sample $\mathrm{KL}(p \,\|\, q)$ of the softmaxes of `reference_logits` ($p$) and `model_logits` ($q$).

    $$\mathrm{KL}_i(p \,\|\, q) = \sum_k p_{ik} \,(\log p_{ik} - \log q_{ik}) \ge 0$$

    Computed from log-softmaxes in float64; a class with $p_{ik} = 0$ (underflow) contributes 0.

    Args:
        reference_logits (`array-like` of shape `(num_samples, num_classes)`):
            Logits of the reference model (the gold model), $p$.
        model_logits (`array-like` of shape `(num_samples, num_classes)`):
            Logits of the model under evaluation, $q$.

    Returns:
        `np.ndarray` of shape `(num_samples,)`: KL in nats, >= 0.

    Raises:
        `ValueError`: on non-finite logits or shapes that differ.
    """
    log_p, log_q = log_softmax(reference_logits), log_softmax(model_logits)
    if log_p.shape != log_q.shape:
        raise ValueError(
            f"The gold and model logits must have the same shape (same examples, same classes, same order); got "
            f"{log_p.shape} and {log_q.shape}."
        )
    # Clipped at 0: the sum is >= 0 in exact arithmetic, rounding can leave -1e-17.
    return np.maximum((np.exp(log_p) * (log_p - log_q)).sum(axis=1), 0.0)


def mean_kl_to_gold(gold_logits, model_logits) -> float:
    r"""Mean over examples of $\mathrm{KL}(\text{gold} \,\|\, \text{model})$ (see `kl_divergence`).

    KL(gold || model) weighs each class by the gold model's probability: it is large where the gold model is
    confident and the model is not (or is confident elsewhere). Lower is better, 0 at the gold model itself.

    Args:
        gold_logits (`array-like` of shape `(num_samples, num_classes)`):
            Logits of the gold model (retrained without the forget set) on the examples.
        model_logits (`array-like` of shape `(num_samples, num_classes)`):
            Logits of the model under evaluation on the same examples, in the same order.

    Returns:
        `float`: the mean KL in nats, >= 0.

    Raises:
        `ValueError`: on non-finite logits, shapes that differ, or no examples.
    """
    divergences = kl_divergence(gold_logits, model_logits)
    if divergences.size == 0:
        raise ValueError("Cannot average the KL to gold over an empty split.")
    return float(divergences.mean())
