"""Loss-based membership-inference attack (MIA) of the NeurIPS 2023 Machine Unlearning challenge, used by UnSLU-BENCH.

The attacker sees only the per-sample cross-entropy of the model. Forget samples (which the original model was trained
on) are members, label 1; test samples (never trained on) are non-members, label 0. A logistic regression on the
1-D loss is cross-validated on a class-balanced set, and its mean accuracy is the MIA score.

References:
    - Triantafillou et al., "Are we making progress in unlearning? Findings from the first NeurIPS unlearning
      competition", 2024 (starter kit `simple_mia`).
    - Koudounas et al., "'Alexa, can you forget me?' Machine Unlearning Benchmark on Spoken Language Understanding"
      (UnSLU-BENCH), Interspeech 2025.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit, cross_val_score

from .signals import check_finite

__all__ = ["MIN_SAMPLES_PER_CLASS", "MIAResult", "mia"]

#: With 10 stratified splits and scikit-learn's default `test_size=0.1`, each test fold holds `ceil(0.1 * 2n)`
#: samples and must contain both classes, so `n` (samples per class) must be at least 6.
MIN_SAMPLES_PER_CLASS = 6


@dataclass(frozen=True)
class MIAResult:
    """Outcome of `mia`.

    Args:
        accuracy (`float`):
            Mean cross-validated accuracy of the attacker, in `[0, 1]`. The headline MIA score; `float(result)` returns
            it.
        auc (`float`):
            ROC-AUC of `-loss` as a membership score on the balanced samples, in `[0, 1]` (threshold-free).
        forgetting_score (`float`):
            `|0.5 - accuracy|`, in `[0, 0.5]`: the attacker's distance from chance.
        n_per_class (`int`):
            Number of members and of non-members the attack used (the size of the smaller input set).
        fold_accuracies (`tuple[float, ...]`):
            Accuracy of each of the 10 cross-validation folds, for a spread.
    """

    accuracy: float
    auc: float
    forgetting_score: float
    n_per_class: int
    fold_accuracies: tuple[float, ...] = ()

    def __float__(self) -> float:
        return float(self.accuracy)


def mia(forget_losses, test_losses, seed: int = 42) -> MIAResult:
    r"""Membership-inference attack on per-sample losses (NeurIPS 2023 unlearning challenge / UnSLU-BENCH).

    1. Members are the forget samples (label 1), non-members the test samples (label 0).
    2. The larger set is subsampled at random, without replacement, to the size $n$ of the smaller one
       (`numpy.random.default_rng(seed)`), so that chance is exactly 0.5.
    3. `LogisticRegression()` with default settings is fitted on the 1-D loss `x.reshape(-1, 1)`, scored by
       `cross_val_score(..., cv=StratifiedShuffleSplit(n_splits=10, random_state=0), scoring="accuracy")`.
    4. The MIA score is the mean fold accuracy. Also reported:

    $$\mathrm{AUC} = P\big(-\ell_{\mathrm{member}} > -\ell_{\mathrm{non\text{-}member}}\big), \qquad
    \mathrm{forgetting\ score} = |0.5 - \mathrm{MIA}|$$

    An MIA of 0.5 means the attacker is at chance, but 0.5 is *not* the target of unlearning. The target is the MIA of
    the gold model (retrained without the forget set): forget samples that resemble the training data keep a lower
    loss than test samples even for the gold model, so its MIA is usually above 0.5, and pushing the forget loss
    further up to reach 0.5 makes the forget set stand out again (the Streisand effect). Compare with the gold value,
    as GUM and CGUM do.

    Args:
        forget_losses (`array-like` of shape `(num_forget,)`):
            Per-sample cross-entropy of the model on the forget set (see `per_sample_cross_entropy`).
        test_losses (`array-like` of shape `(num_test,)`):
            Per-sample cross-entropy of the model on the test set.
        seed (`int`, *optional*, defaults to 42):
            Seed of the subsampling of the larger set. The cross-validation splits always use `random_state=0`, as in
            the challenge's starter kit.

    Returns:
        [`MIAResult`]: accuracy (the MIA score), AUC, forgetting score and the number of samples per class.

    Raises:
        `ValueError`: if a loss is NaN or infinite, or if the smaller set has fewer than `MIN_SAMPLES_PER_CLASS` (6)
        samples (each of the 10 stratified test folds, 10% of the data, needs at least one member and one non-member).
    """
    forget = check_finite(forget_losses, "forget losses").reshape(-1)
    test = check_finite(test_losses, "test losses").reshape(-1)
    n = min(forget.size, test.size)
    if n < MIN_SAMPLES_PER_CLASS:
        raise ValueError(
            f"The membership-inference attack needs at least {MIN_SAMPLES_PER_CLASS} forget and "
            f"{MIN_SAMPLES_PER_CLASS} test losses; got {forget.size} forget and {test.size} test. "
            "StratifiedShuffleSplit(n_splits=10) holds out 10% of the balanced samples per split, and each held-out "
            "fold must contain both classes."
        )
    rng = np.random.default_rng(seed)
    if forget.size > n:
        forget = rng.choice(forget, size=n, replace=False)
    if test.size > n:
        test = rng.choice(test, size=n, replace=False)

    # Non-members first, then members: the order of the starter kit, which StratifiedShuffleSplit's indices depend on.
    samples = np.concatenate([test, forget]).reshape(-1, 1)
    members = np.concatenate([np.zeros(n, dtype=int), np.ones(n, dtype=int)])
    cv = StratifiedShuffleSplit(n_splits=10, random_state=0)
    fold_accuracies = cross_val_score(LogisticRegression(), samples, members, cv=cv, scoring="accuracy")
    accuracy = float(np.mean(fold_accuracies))
    # Members are expected to have the lower loss, so -loss is the membership score; AUC < 0.5 means the forget
    # losses are now *higher* than the test losses.
    auc = float(roc_auc_score(members, -samples.ravel()))
    return MIAResult(
        accuracy=accuracy,
        auc=auc,
        forgetting_score=abs(0.5 - accuracy),
        n_per_class=int(n),
        fold_accuracies=tuple(float(a) for a in fold_accuracies),
    )
