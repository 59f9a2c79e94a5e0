r"""Offline likelihood-ratio attack (LiRA): a per-example membership-inference attack for unlearning audits.

The population attack of `hf_unlearn.evaluation.mia` fits one threshold to all losses. Per-example attacks calibrate
each example against models that never saw it, which makes them far stronger; they are what recent unlearning audits
use.

References:
    - Carlini et al., "Membership Inference Attacks From First Principles", IEEE S&P 2022 (LiRA; the offline variant
      uses only OUT shadow models, with a global variance when there are few of them).
    - Hayes et al., "Inexact Unlearning Needs More Careful Evaluations to Avoid a False Sense of Privacy", SaTML 2025
      (U-LiRA: LiRA applied to unlearned models).

Here the OUT shadow models are models trained *without* the forget set (e.g. gold models with other seeds), so they
are OUT for both the forget examples and the held-out examples. An unlearned model that truly forgot looks like one
more shadow model on the forget set, and the attack cannot tell forget examples from held-out ones (AUC near 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr
from sklearn.metrics import roc_auc_score, roc_curve

from .signals import check_finite

__all__ = ["GLOBAL_VARIANCE_BELOW", "LiRAResult", "lira", "lira_scores", "logit_scaled_confidence", "tpr_at_fpr"]

#: With fewer shadow models than this, one variance pooled over all examples replaces the per-example ones (Carlini
#: et al. 2022 find the global variance better below about 64 shadow models, where per-example estimates are noisy).
GLOBAL_VARIANCE_BELOW = 64

#: Floor on the fitted standard deviation, so that identical shadow values do not divide by zero.
MIN_STD = 1e-6


def logit_scaled_confidence(logits, labels) -> np.ndarray:
    r"""Logit-scaled confidence of each example on its true label (the LiRA statistic).

    $$\phi_i = \log\frac{p_{i,y_i}}{1 - p_{i,y_i}} = z_{i,y_i} - \log\sum_{k \ne y_i} e^{z_{ik}}$$

    The right-hand form is exact and stable: it needs neither $p$ nor $1 - p$, which round to 1 and 0 for confident
    predictions. The scaling makes the confidence roughly Gaussian across models, which the attack assumes.

    Args:
        logits (`array-like` of shape `(..., num_samples, num_classes)`):
            Unnormalised scores; leading axes (e.g. one per shadow model) are kept.
        labels (`array-like` of shape `(num_samples,)`):
            True class index of each example.

    Returns:
        `np.ndarray` of shape `(..., num_samples)`: $\phi$ (float64; higher means more confident on the true label).

    Raises:
        `ValueError`: on non-finite logits, fewer than 2 classes, or labels that do not match the logits.
    """
    z = check_finite(logits, "logits")
    if z.ndim < 2 or z.shape[-1] < 2:
        raise ValueError(f"logits must have shape (..., num_samples, num_classes >= 2); got shape {z.shape}.")
    labels = np.asarray(labels)
    if labels.shape != (z.shape[-2],) or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(
            f"labels must be {z.shape[-2]} integer class indices to match logits of shape {z.shape}; got "
            f"shape {labels.shape} and dtype {labels.dtype}."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= z.shape[-1]):
        raise ValueError(f"labels must lie in [0, {z.shape[-1]}); got values from {labels.min()} to {labels.max()}.")
    index = np.broadcast_to(labels[:, None], z.shape[:-1] + (1,))
    true_logit = np.take_along_axis(z, index, axis=-1)[..., 0]
    others = z.copy()
    np.put_along_axis(others, index, -np.inf, axis=-1)
    peak = others.max(axis=-1, keepdims=True)
    log_rest = peak[..., 0] + np.log(np.exp(others - peak).sum(axis=-1))
    return true_logit - log_rest


def lira_scores(target_phi, shadow_phi, global_variance: bool | None = None) -> np.ndarray:
    r"""Offline LiRA membership score of each example: how unlikely its confidence is under the OUT distribution.

    For example $i$, a Gaussian $\mathcal N(\mu_i, \sigma_i^2)$ is fitted to the $K$ shadow values $\phi_{ik}$
    (mean and unbiased variance). With `global_variance`, $\sigma_i^2$ is replaced by the mean of the per-example
    variances. The score is one-sided, since a member is more confident than the models that never saw it:

    $$s_i = -\log \Pr_{Z \sim \mathcal N(\mu_i, \sigma_i^2)}\big[Z > \phi_i^{target}\big]
    = -\log \Phi\Big(-\frac{\phi_i^{target} - \mu_i}{\sigma_i}\Big) \ge 0$$

    which ranks examples exactly like Carlini et al.'s offline $\Lambda_i = 1 - \Pr[Z > \phi_i]$ but does not saturate
    at 1 for very confident examples (ties would blur the low-FPR end of the ROC curve). Higher means more "member".

    Args:
        target_phi (`array-like` of shape `(num_samples,)`):
            $\phi$ of the model under test (see `logit_scaled_confidence`).
        shadow_phi (`array-like` of shape `(num_shadows, num_samples)`):
            $\phi$ of each OUT shadow model on the same examples.
        global_variance (`bool`, *optional*):
            Pool the variance over examples. Defaults to True when there are fewer than `GLOBAL_VARIANCE_BELOW` (64)
            shadow models.

    Returns:
        `np.ndarray` of shape `(num_samples,)`: the scores.

    Raises:
        `ValueError`: on non-finite values, mismatched shapes or fewer than 2 shadow models.
    """
    target = check_finite(target_phi, "target confidences").reshape(-1)
    shadow = check_finite(shadow_phi, "shadow confidences")
    if shadow.ndim != 2 or shadow.shape[1] != target.size:
        raise ValueError(
            f"shadow confidences must have shape (num_shadows, {target.size}) to match the target's; got "
            f"{shadow.shape}."
        )
    if shadow.shape[0] < 2:
        raise ValueError(
            f"LiRA needs at least 2 shadow models to fit a variance; got {shadow.shape[0]}. Train more models "
            "without the forget set (e.g. gold models with other seeds)."
        )
    if global_variance is None:
        global_variance = shadow.shape[0] < GLOBAL_VARIANCE_BELOW
    mean = shadow.mean(axis=0)
    variance = shadow.var(axis=0, ddof=1)
    if global_variance:
        variance = np.full_like(variance, variance.mean())
    std = np.maximum(np.sqrt(variance), MIN_STD)
    return -log_ndtr(-(target - mean) / std)


def tpr_at_fpr(members, scores, fpr: float) -> float:
    """Highest true-positive rate of a threshold on `scores` whose false-positive rate is at most `fpr`.

    Args:
        members (`array-like` of shape `(num_samples,)`):
            1 for members, 0 for non-members.
        scores (`array-like` of shape `(num_samples,)`):
            Membership scores, higher meaning more "member".
        fpr (`float`):
            The false-positive-rate budget, in [0, 1].

    Returns:
        `float`: the TPR in [0, 1] (from scikit-learn's `roc_curve`, whose first point has FPR 0).
    """
    false_positive_rates, true_positive_rates, _ = roc_curve(members, scores)
    return float(true_positive_rates[false_positive_rates <= fpr].max())


@dataclass(frozen=True)
class LiRAResult:
    """Outcome of `lira`.

    Args:
        auc (`float`):
            ROC-AUC of telling forget examples (positives) from held-out examples by the LiRA score, in [0, 1].
            `float(result)` returns it.
        tpr_at_1fpr (`float`):
            True-positive rate at a false-positive rate of at most 1 %.
        tpr_at_5fpr (`float`):
            True-positive rate at a false-positive rate of at most 5 %.
        forget_scores (`np.ndarray`):
            Score of each forget example.
        heldout_scores (`np.ndarray`):
            Score of each held-out example.
        global_variance (`bool`):
            Whether the pooled variance was used.
    """

    auc: float
    tpr_at_1fpr: float
    tpr_at_5fpr: float
    forget_scores: np.ndarray
    heldout_scores: np.ndarray
    global_variance: bool

    def __float__(self) -> float:
        return float(self.auc)


def lira(
    forget_target,
    heldout_target,
    forget_shadow,
    heldout_shadow,
    forget_labels=None,
    heldout_labels=None,
    global_variance: bool | None = None,
) -> LiRAResult:
    r"""Offline LiRA (U-LiRA style) of the model under test on its forget set against held-out examples.

    Each example gets the score of `lira_scores`, calibrated on $K$ shadow models trained without the forget set.
    Forget examples are the positives and held-out examples (never trained on by any model) the negatives:

    - `auc`: ROC-AUC of the scores. About 0.5 when the model treats its forget examples like unseen ones (the gold
      model's expected value, since the shadows are OUT for both); near 1 when it still remembers them.
    - `tpr_at_1fpr`, `tpr_at_5fpr`: share of forget examples flagged at a threshold that flags at most 1 % / 5 % of
      held-out examples (chance: 0.01 / 0.05). The low-FPR end is what matters for privacy: a few examples
      recognised with certainty are a leak even when the AUC is moderate. With fewer than 100 held-out examples,
      1 % FPR means no false positive at all.

    Inputs are logits when labels are given, otherwise already the logit-scaled confidences $\phi$:

    Args:
        forget_target (`array-like`):
            The model under test on the forget examples: logits `(n_forget, num_classes)`, or $\phi$ `(n_forget,)`.
        heldout_target (`array-like`):
            The same on the held-out examples: `(n_heldout, num_classes)` or `(n_heldout,)`.
        forget_shadow (`array-like`):
            The shadow models on the forget examples: `(num_shadows, n_forget, num_classes)` or
            `(num_shadows, n_forget)`.
        heldout_shadow (`array-like`):
            The shadow models on the held-out examples: `(num_shadows, n_heldout, num_classes)` or
            `(num_shadows, n_heldout)`.
        forget_labels (`array-like` of shape `(n_forget,)`, *optional*):
            True classes of the forget examples; give them (and `heldout_labels`) to pass logits.
        heldout_labels (`array-like` of shape `(n_heldout,)`, *optional*):
            True classes of the held-out examples.
        global_variance (`bool`, *optional*):
            See `lira_scores`; by default pooled when there are fewer than 64 shadow models.

    Returns:
        [`LiRAResult`]: AUC, TPR at 1 % and 5 % FPR, and the per-example scores.

    Raises:
        `ValueError`: on shapes that do not match, only one of the two label arrays, fewer than 2 shadow models, or
        an empty forget or held-out set.
    """
    if (forget_labels is None) != (heldout_labels is None):
        raise ValueError("Give both forget_labels and heldout_labels (to pass logits) or neither (to pass phi).")
    if forget_labels is not None:
        forget_target = logit_scaled_confidence(forget_target, forget_labels)
        heldout_target = logit_scaled_confidence(heldout_target, heldout_labels)
        forget_shadow = logit_scaled_confidence(forget_shadow, forget_labels)
        heldout_shadow = logit_scaled_confidence(heldout_shadow, heldout_labels)
    forget_target, heldout_target = np.asarray(forget_target), np.asarray(heldout_target)
    if forget_target.ndim != 1 or heldout_target.ndim != 1:
        raise ValueError(
            f"Without labels the targets must be 1-D phi arrays; got shapes {forget_target.shape} and "
            f"{heldout_target.shape}. Pass forget_labels and heldout_labels to give logits."
        )
    if forget_target.size == 0 or heldout_target.size == 0:
        raise ValueError("LiRA needs at least one forget and one held-out example.")
    forget_shadow, heldout_shadow = np.asarray(forget_shadow), np.asarray(heldout_shadow)
    given = [(forget_shadow.ndim, forget_shadow.shape[-1:]), (heldout_shadow.ndim, heldout_shadow.shape[-1:])]
    if (
        given != [(2, forget_target.shape), (2, heldout_target.shape)]
        or len({forget_shadow.shape[0], heldout_shadow.shape[0]}) != 1
    ):
        raise ValueError(
            "The shadow values must have shape (num_shadows, num_samples) (or logits with a class axis), with the "
            f"same shadow models on both sets and the targets' examples; got {forget_shadow.shape} and "
            f"{heldout_shadow.shape} for targets of shape {forget_target.shape} and {heldout_target.shape}."
        )
    if global_variance is None:
        global_variance = forget_shadow.shape[0] < GLOBAL_VARIANCE_BELOW
    # Scored together, so that a pooled variance is one pool over both sets: separate pools would calibrate forget
    # and held-out examples differently and create a gap that is not membership.
    scores = lira_scores(
        np.concatenate([forget_target, heldout_target]),
        np.concatenate([forget_shadow, heldout_shadow], axis=1),
        global_variance,
    )
    forget_scores, heldout_scores = scores[: forget_target.size], scores[forget_target.size :]
    members = np.concatenate([np.ones(forget_scores.size, dtype=int), np.zeros(heldout_scores.size, dtype=int)])
    return LiRAResult(
        auc=float(roc_auc_score(members, scores)),
        tpr_at_1fpr=tpr_at_fpr(members, scores, 0.01),
        tpr_at_5fpr=tpr_at_fpr(members, scores, 0.05),
        forget_scores=forget_scores,
        heldout_scores=heldout_scores,
        global_variance=bool(global_variance),
    )
