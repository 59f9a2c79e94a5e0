"""A cheap check that the original model learned its task before anything is unlearned from it.

Unlearning figures read against a weak original say little: a model that recognises a held-out speaker half the time
"forgets" that speaker by accident, and every method looks like gold. The bar is chance-adjusted accuracy (Cohen's
kappa against the best constant guess) on retain-validation, the held-out recordings of what the request keeps:

    adjusted = (accuracy - chance) / (1 - chance),   chance = max(1 / num_classes, share of the most common label)

An original below `WEAK_REFERENCE_BAR` (0.8: it gets wrong more than a fifth of what a constant guess gets wrong) is
flagged with a warning; nothing is refused. On 6 balanced classes, accuracy 0.84 is adjusted 0.81 (passes) and 0.61
is adjusted 0.53 (flagged). No second model is trained: the check reads figures the run computes anyway.
"""

from __future__ import annotations

from collections import Counter

WEAK_REFERENCE_BAR = 0.8


def chance_accuracy(labels, num_classes: int | None = None) -> float:
    """The best constant guess's accuracy on `labels`: the most common label's share, at least 1 / `num_classes`."""
    labels = list(labels)
    majority = max(Counter(labels).values()) / len(labels) if labels else 0.0
    return max(majority, 1.0 / num_classes if num_classes else 0.0)


def chance_adjusted_accuracy(accuracy: float, chance: float) -> float:
    """`(accuracy - chance) / (1 - chance)`: 1 for a perfect model, 0 for the best constant guess."""
    return 1.0 if chance >= 1.0 else (accuracy - chance) / (1.0 - chance)


def weak_reference_warning(
    original: dict, retain_validation, label_column: str = "label", hint: str = ""
) -> str | None:
    """A warning when the original's retain-validation accuracy (`original["retain_accuracy"]`) is below the bar of
    the module docstring, else `None`.

    Args:
        original (`dict`): the original model's metrics (`retain_accuracy`, `num_classes`).
        retain_validation (`datasets.Dataset`): the rows `retain_accuracy` was measured on (their labels give chance).
        label_column (`str`): the label column of those rows.
        hint (`str`, *optional*): appended to the warning (e.g. which option may explain it).
    """
    accuracy = original.get("retain_accuracy")
    if accuracy is None or retain_validation is None or len(retain_validation) == 0:
        return None
    chance = chance_accuracy(retain_validation[label_column], original.get("num_classes"))
    adjusted = chance_adjusted_accuracy(accuracy, chance)
    if adjusted >= WEAK_REFERENCE_BAR:
        return None
    return (
        f"The original model is weak: retain-validation accuracy {accuracy:.3f} where a constant guess scores "
        f"{chance:.3f} (chance-adjusted {adjusted:.2f}, below {WEAK_REFERENCE_BAR}). Forgetting figures measured "
        "against it say little; train a stronger original first (features, --reference_epochs, the model)."
        + (f" {hint}" if hint else "")
    )
