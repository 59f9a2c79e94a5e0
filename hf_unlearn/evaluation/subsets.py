"""Performance on one split (forget, retain, test, ...) and its difference from the gold model.

The gold model is the original architecture retrained from scratch without the forget set. Forgetting is judged by
how close a model comes to it, not by how low its forget accuracy falls: a gold model still classifies most unseen
forget samples correctly when they resemble the retain data.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
from sklearn.metrics import f1_score

__all__ = ["gaps_to_gold", "subset_metrics"]


def subset_metrics(predictions, labels) -> dict[str, float]:
    r"""Accuracy and macro-F1 of the predictions on one split.

    $$\mathrm{Acc} = \frac{1}{N} \sum_i [\hat y_i = y_i], \qquad
    \mathrm{F1}_{\mathrm{macro}} = \frac{1}{|\mathcal C|} \sum_{c \in \mathcal C}
    \frac{2\,TP_c}{2\,TP_c + FP_c + FN_c}$$

    The classes $\mathcal C$ are those present in `labels` (scikit-learn `f1_score(average="macro", labels=C,
    zero_division=0)`), not every class of the task: forget sets made of one speaker or one intent hold a handful of
    classes, and averaging over absent classes would pull F1 towards 0 for reasons that have nothing to do with the
    model. A prediction of a class absent from `labels` still counts, as a false negative of its true class.

    Classes that appear only among the predictions are left out on purpose: on a one-class split (a class request's
    forget set) counting them makes F1 measure how many *distinct* wrong classes the model picks, not how much it got
    wrong (99 % accuracy could score 0.5). Over the label classes only, a one-class split has
    $\mathrm{F1} = 2\,\mathrm{Acc} / (1 + \mathrm{Acc})$, a monotone function of accuracy; accuracy is still the
    figure to report there.

    Args:
        predictions (`array-like` of shape `(num_samples,)`):
            Predicted class of each sample.
        labels (`array-like` of shape `(num_samples,)`):
            True class of each sample.

    Returns:
        `dict[str, float]`: `{"accuracy": ..., "f1": ...}`, both in `[0, 1]`, higher is better on retain and test
        splits; on the forget split the target is the gold model's value.

    Raises:
        `ValueError`: on an empty split or when `predictions` and `labels` differ in length.
    """
    predictions = np.asarray(predictions).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions and labels differ in length: {predictions.size} vs {labels.size}.")
    if labels.size == 0:
        raise ValueError("Cannot score an empty split: predictions and labels are empty.")
    classes = np.unique(labels)
    return {
        "accuracy": float(np.mean(predictions == labels)),
        "f1": float(f1_score(labels, predictions, average="macro", labels=classes, zero_division=0)),
    }


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def gaps_to_gold(results: dict, gold_results: dict) -> dict[str, float]:
    r"""Differences from the gold model for every numeric key the two result dicts share.

    $$\Delta_k = r_k - r^{\mathrm{gold}}_k$$

    Zero is the target for every gap: a forget accuracy above the gold model's means the model still remembers the
    forget set, one below it means the model over-forgets (it now behaves unlike a model that never saw the data, which
    is itself a membership signal).

    Args:
        results (`dict`):
            Metrics of the model under evaluation (e.g. `{"forget_f1": 0.4, "mia": 0.55}`).
        gold_results (`dict`):
            The same metrics for the gold (retrained) model.

    Returns:
        `dict[str, float]`: `{f"{key}_minus_gold": results[key] - gold_results[key]}` for each key present in both
        with a real-number (not bool) value in each. Keys where either value is NaN or infinite are left out rather
        than producing a NaN gap.
    """
    gaps = {}
    for key, value in results.items():
        if key not in gold_results:
            continue
        gold_value = gold_results[key]
        if not (_is_number(value) and _is_number(gold_value)):
            continue
        if not (math.isfinite(value) and math.isfinite(gold_value)):
            continue
        gaps[f"{key}_minus_gold"] = float(value) - float(gold_value)
    return gaps
