"""`unlearning_metrics`: every split metric, the MIA, GUM/CGUM and the gaps to the gold model in one flat dict.

This is the single entry point shared by `UnlearningTrainer.evaluate()` and the `unlearning` evaluate module, so that
both log the same keys computed the same way.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from numbers import Real

import numpy as np

from .gum import cgum, gum, speedup
from .mia import MIN_SAMPLES_PER_CLASS, mia
from .subsets import gaps_to_gold, subset_metrics

__all__ = ["unlearning_metrics"]


def _load_reference(reference, name: str) -> dict | None:
    """Reads the `original` / `gold` argument: a dict, a path to a JSON file holding one, or None."""
    if reference is None:
        return None
    if isinstance(reference, (str, os.PathLike)):
        with open(reference, encoding="utf-8") as handle:
            reference = json.load(handle)
    if not isinstance(reference, dict):
        raise ValueError(f"{name} must be a dict of metrics or a path to a JSON file holding one; got {reference!r}.")
    # Trainer.evaluate() prefixes its keys with "eval_"; accept such a dump as-is when the bare key is absent.
    resolved = dict(reference)
    for key, value in reference.items():
        if key.startswith("eval_") and key[len("eval_") :] not in reference:
            resolved[key[len("eval_") :]] = value
    return resolved


def _number(reference: dict | None, name: str, *keys: str) -> float | None:
    """The first of `keys` present in `reference`, checked to be a finite real number; None when none is present."""
    if reference is None:
        return None
    for key in keys:
        if key in reference and reference[key] is not None:
            value = reference[key]
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                raise ValueError(f"{name}[{key!r}] must be a finite number; got {value!r}.")
            return float(value)
    return None


def unlearning_metrics(
    split_predictions: dict,
    split_labels: dict,
    split_losses: dict | None = None,
    original: dict | str | os.PathLike | None = None,
    gold: dict | str | os.PathLike | None = None,
    unlearning_time: float | None = None,
    num_classes: int | None = None,
    mia_seed: int = 42,
) -> dict[str, float]:
    r"""Computes the UnSLU-BENCH evaluation of one model in a flat dict.

    Keys are present only when their inputs are; a missing input never yields a NaN value.

    - `<split>_accuracy`, `<split>_f1` (for each split with predictions and labels): see `subset_metrics`
      (macro-F1 over the classes present). Test and retain: higher is better; forget: closest to gold is better.
    - `mia`, `mia_auc`, `forgetting_score` (needs forget and test losses): see `mia`;
      `forgetting_score = |0.5 - mia|`. Closest to gold is better.
    - `gum`, `gum_U`, `gum_E`, `gum_T` (needs `test_f1`, `mia`, `gold["test_f1"]`, `gold["mia"]`,
      `gold["train_time"]`, `original["mia"]` and `unlearning_time`): see `gum`. Higher is better.
    - `cgum`, `cgum_U`, `cgum_E`, `cgum_T` (as GUM, plus `num_classes`): see `cgum`. Higher is better.
    - `speedup` $= t_{gold} / t_{unl}$ (needs `unlearning_time` and `gold["train_time"]`). Higher is better.
    - `time_share_of_gold` $= t_{unl} / t_{gold}$ (same inputs). Lower is better.
    - `<key>_minus_gold` $= r_k - r^{gold}_k$ for each split metric and MIA key (`mia`, `mia_auc`,
      `forgetting_score`) present both here and in `gold`, e.g. `forget_f1_minus_gold`, `test_f1_minus_gold`,
      `mia_minus_gold`. Closest to 0 is better.

    Args:
        split_predictions (`dict[str, array-like]`):
            Predicted class per sample, keyed by split name (`"forget"`, `"retain"`, `"test"`, or any other split,
            which gets its own `<split>_accuracy` / `<split>_f1`).
        split_labels (`dict[str, array-like]`):
            True class per sample, keyed like `split_predictions`. Splits present in only one of the two are skipped.
        split_losses (`dict[str, array-like]`, *optional*):
            Per-sample cross-entropy keyed by split name. The MIA uses `"forget"` (members) and `"test"`
            (non-members) and needs at least 6 of each; with fewer, the MIA keys (and GUM/CGUM) are left out with a
            warning instead of raising, so that evaluation on tiny splits does not stop a training run.
        original (`dict` or `str` or `os.PathLike`, *optional*):
            Metrics of the original model (trained on the full data), or a path to a JSON file holding them. Uses
            `"mia"`.
        gold (`dict` or `str` or `os.PathLike`, *optional*):
            Metrics of the gold model (retrained without the forget set), or a path to a JSON file holding them. Uses
            `"test_f1"`, `"mia"`, `"train_time"` (seconds; `"train_runtime"` from `Trainer.train()` is accepted
            too), optionally `"num_classes"` and any split metric for the gaps. Keys written by `Trainer.evaluate()`
            with an `eval_` prefix are accepted.
        unlearning_time (`float`, *optional*):
            Wall-clock time of the unlearning run, in seconds.
        num_classes (`int`, *optional*):
            Number of classes of the task, for CGUM. Falls back to `gold["num_classes"]`, then
            `original["num_classes"]`; CGUM is left out when none is known.
        mia_seed (`int`, *optional*, defaults to 42):
            Seed of the MIA's subsampling of the larger of the forget and test sets.

    Returns:
        `dict[str, float]`: the keys listed above whose inputs were given.

    Raises:
        `ValueError`: propagated from the metric functions (empty split, non-finite losses, out-of-range reference
        values) or on a malformed `original` / `gold`.
    """
    original = _load_reference(original, "original")
    gold = _load_reference(gold, "gold")
    split_losses = split_losses or {}

    results: dict[str, float] = {}
    for split, predictions in split_predictions.items():
        if split not in split_labels:
            continue
        for name, value in subset_metrics(predictions, split_labels[split]).items():
            results[f"{split}_{name}"] = value

    if "forget" in split_losses and "test" in split_losses:
        n_forget, n_test = np.size(split_losses["forget"]), np.size(split_losses["test"])
        if min(n_forget, n_test) < MIN_SAMPLES_PER_CLASS:
            # Periodic evaluation on tiny splits (smoke tests, debugging) should not crash a training run; the MIA
            # keys (and GUM/CGUM, which need them) are left out and the warning says why.
            warnings.warn(
                f"MIA skipped: it needs at least {MIN_SAMPLES_PER_CLASS} forget and {MIN_SAMPLES_PER_CLASS} test "
                f"losses, got {n_forget} and {n_test}. mia, mia_auc, forgetting_score, GUM and CGUM are left out.",
                stacklevel=2,
            )
        else:
            attack = mia(split_losses["forget"], split_losses["test"], seed=mia_seed)
            results["mia"] = attack.accuracy
            results["mia_auc"] = attack.auc
            results["forgetting_score"] = attack.forgetting_score

    # Gaps first, computed over the model's own metrics only (not GUM/CGUM/time, which have no gold counterpart).
    gaps = gaps_to_gold(results, gold) if gold is not None else {}

    gold_f1 = _number(gold, "gold", "test_f1")
    gold_mia = _number(gold, "gold", "mia")
    gold_time = _number(gold, "gold", "train_time", "train_runtime")
    original_mia = _number(original, "original", "mia")
    if num_classes is None:
        for reference in (gold, original):
            if reference is not None and reference.get("num_classes") is not None:
                num_classes = reference["num_classes"]
                break

    test_f1, model_mia = results.get("test_f1"), results.get("mia")
    have_gum_inputs = None not in (test_f1, model_mia, gold_f1, gold_mia, gold_time, original_mia, unlearning_time)
    if have_gum_inputs:
        arguments = (test_f1, gold_f1, model_mia, gold_mia, original_mia, unlearning_time, gold_time)
        for prefix, result in [("gum", gum(*arguments))] + (
            [("cgum", cgum(*arguments, num_classes=num_classes))] if num_classes is not None else []
        ):
            results[prefix] = result.value
            results[f"{prefix}_U"] = result.U
            results[f"{prefix}_E"] = result.E
            results[f"{prefix}_T"] = result.T

    if unlearning_time is not None and gold_time is not None:
        results["speedup"] = speedup(unlearning_time, gold_time)
        results["time_share_of_gold"] = float(unlearning_time) / gold_time

    results.update(gaps)
    return results
