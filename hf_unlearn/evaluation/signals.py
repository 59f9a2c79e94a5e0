"""Per-sample signals computed from classifier logits: cross-entropy, confidence and entropy.

These are the quantities a membership-inference attacker looks at (see `hf_unlearn.evaluation.mia`). They are plain
NumPy functions so that the same numbers come out of `UnlearningTrainer.evaluate()` (which gathers logits with
`predict`) and out of the evaluate module, without torch.

All functions take `logits` of shape `(num_samples, num_classes)` and work in float64 with a max-shifted
log-softmax, so that large logits neither overflow nor lose the small differences the attack relies on.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_finite", "confidence", "entropy", "log_softmax", "per_sample_cross_entropy"]


def check_finite(values, name: str) -> np.ndarray:
    """Converts `values` to a float64 array and raises if any entry is NaN or infinite.

    A NaN that reaches the attack or an average would give a silent NaN metric (or a silently wrong one after
    scikit-learn drops it), so it is refused here with a count that helps find the cause (usually a diverged run).

    Args:
        values (`array-like`):
            The numbers to check.
        name (`str`):
            What the numbers are, used in the error message (e.g. `"forget losses"`).

    Returns:
        `np.ndarray`: `values` as a float64 array.

    Raises:
        `ValueError`: if an entry is NaN or +/-inf, naming how many.
    """
    array = np.asarray(values, dtype=np.float64)
    not_finite = ~np.isfinite(array)
    if not_finite.any():
        n_nan = int(np.isnan(array).sum())
        n_inf = int(not_finite.sum()) - n_nan
        raise ValueError(
            f"{name} contain non-finite values: {n_nan} NaN and {n_inf} inf out of {array.size} entries. "
            "A diverged model or a bad loss reduction is the usual cause; fix the values rather than dropping them."
        )
    return array


def _as_logits(logits) -> np.ndarray:
    array = check_finite(logits, "logits")
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(f"logits must have shape (num_samples, num_classes); got shape {array.shape}.")
    return array


def log_softmax(logits) -> np.ndarray:
    r"""Numerically stable log-softmax over the last axis.

    $$\log p_{ic} = z_{ic} - m_i - \log \sum_k e^{z_{ik} - m_i}, \qquad m_i = \max_k z_{ik}$$

    Subtracting the row maximum $m_i$ makes every exponent $\le 0$, so nothing overflows and the largest term of the
    sum is exactly 1.

    Args:
        logits (`array-like` of shape `(num_samples, num_classes)`):
            Unnormalised scores.

    Returns:
        `np.ndarray` of shape `(num_samples, num_classes)`: log-probabilities (float64).
    """
    z = _as_logits(logits)
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def per_sample_cross_entropy(logits, labels) -> np.ndarray:
    r"""Cross-entropy of each sample with its label, in nats.

    $$\ell_i = -\log p_{i, y_i} = \log \sum_k e^{z_{ik}} - z_{i, y_i}$$

    This is the signal of the membership-inference attack: samples the model was trained on tend to have a lower loss.

    Args:
        logits (`array-like` of shape `(num_samples, num_classes)`):
            Unnormalised scores.
        labels (`array-like` of shape `(num_samples,)`):
            Integer class indices in `[0, num_classes)`. The ignore index `-100` is refused: this function needs one
            label per sample (aggregate token-level losses per utterance before calling it).

    Returns:
        `np.ndarray` of shape `(num_samples,)`: the per-sample losses (float64, >= 0).

    Raises:
        `ValueError`: on non-finite logits, a label outside `[0, num_classes)` (including `-100`) or mismatched
        lengths.
    """
    log_probs = log_softmax(logits)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != log_probs.shape[0]:
        raise ValueError(
            f"labels must have shape ({log_probs.shape[0]},) to match the logits; got shape {labels.shape}."
        )
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices; got dtype {labels.dtype}.")
    num_classes = log_probs.shape[1]
    invalid = (labels < 0) | (labels >= num_classes)
    if invalid.any():
        n_ignore = int((labels == -100).sum())
        hint = f" ({n_ignore} are the ignore index -100, which has no per-sample loss here)" if n_ignore else ""
        raise ValueError(
            f"{int(invalid.sum())} of {labels.size} labels are outside [0, {num_classes}){hint}. "
            "Per-sample signals need one valid class index per sample."
        )
    return -log_probs[np.arange(labels.size), labels]


def confidence(logits) -> np.ndarray:
    r"""Maximum softmax probability of each sample.

    $$c_i = \max_k p_{ik}, \qquad p_{ik} = \frac{e^{z_{ik}}}{\sum_j e^{z_{ij}}}$$

    Args:
        logits (`array-like` of shape `(num_samples, num_classes)`):
            Unnormalised scores.

    Returns:
        `np.ndarray` of shape `(num_samples,)`: values in `[1 / num_classes, 1]`.
    """
    return np.exp(log_softmax(logits).max(axis=1))


def entropy(logits) -> np.ndarray:
    r"""Shannon entropy of each sample's predictive distribution, in nats.

    $$H_i = -\sum_k p_{ik} \log p_{ik}$$

    Computed from the log-softmax, so a probability that underflows to 0 contributes $0 \cdot \log 0 = 0$ instead of
    NaN.

    Args:
        logits (`array-like` of shape `(num_samples, num_classes)`):
            Unnormalised scores.

    Returns:
        `np.ndarray` of shape `(num_samples,)`: values in `[0, log(num_classes)]`.
    """
    log_probs = log_softmax(logits)
    # exp(log p) * log p is 0 * (-large) = -0.0 when p underflows, never NaN, because log p stays finite.
    return np.maximum(-(np.exp(log_probs) * log_probs).sum(axis=1), 0.0)
