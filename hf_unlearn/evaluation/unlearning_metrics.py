"""`unlearning_metrics`: split metrics, the MIAs, LiRA, KL to gold, GUM/CGUM and the gaps to gold in one flat dict.

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

from .gum import cgum, gum, gum_undefined_reason, speedup
from .intervals import bootstrap_auc
from .kl import mean_kl_to_gold
from .lira import lira
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


def _attack(split_losses: dict, members: str, non_members: str, keys: tuple[str, str], seed: int) -> dict:
    """The loss-based MIA of split `members` against split `non_members`, or {} with a warning on tiny splits."""
    n_members, n_non_members = np.size(split_losses[members]), np.size(split_losses[non_members])
    if min(n_members, n_non_members) < MIN_SAMPLES_PER_CLASS:
        # Periodic evaluation on tiny splits (smoke tests, debugging) should not crash a training run; the keys (and
        # GUM/CGUM, which need `mia`) are left out and the warning says why.
        warnings.warn(
            f"MIA skipped ({members} vs {non_members}): it needs at least {MIN_SAMPLES_PER_CLASS} losses on each "
            f"side, got {n_members} and {n_non_members}. {', '.join(keys)} are left out.",
            stacklevel=3,
        )
        return {}
    attack = mia(split_losses[members], split_losses[non_members], seed=seed)
    return {keys[0]: attack.accuracy, keys[1]: attack.auc}


INTERVAL_END_SUFFIXES = ("_low", "_high")


def _heldout_auc(forget_losses, heldout_losses, seed: int) -> dict:
    """`mia_heldout_auc_all` (AUC of `-loss`, every forget row against every held-out row) with its bootstrap
    interval; {} when a side is empty."""
    if np.size(forget_losses) < 1 or np.size(heldout_losses) < 1:
        return {}
    auc, low, high = bootstrap_auc(-np.asarray(forget_losses), -np.asarray(heldout_losses), seed=seed)
    return {"mia_heldout_auc_all": auc, "mia_heldout_auc_all_low": low, "mia_heldout_auc_all_high": high}


def unlearning_metrics(
    split_predictions: dict,
    split_labels: dict,
    split_losses: dict | None = None,
    original: dict | str | os.PathLike | None = None,
    gold: dict | str | os.PathLike | None = None,
    unlearning_time: float | None = None,
    num_classes: int | None = None,
    mia_seed: int = 42,
    split_logits: dict | None = None,
    gold_logits: dict | None = None,
    shadow_logits: dict | None = None,
) -> dict[str, float | str | None]:
    r"""Computes the evaluation of one unlearned model (UnSLU-BENCH and per-example checks) in a flat dict.

    Keys are present only when their inputs are; a missing input never yields a NaN value. A figure whose inputs are
    present but whose precondition fails is `None`, with the reason in a `*_undefined_reason` key.

    - `<split>_accuracy`, `<split>_f1` (for each split with predictions and labels): see `subset_metrics`
      (macro-F1 over the classes of the split's labels). Test and retain: higher is better; forget: closest to gold.
    - `mia`, `mia_auc`, `forgetting_score` (needs forget and test losses): see `mia`;
      `forgetting_score = |0.5 - mia|`. Closest to gold is better.
    - `mia_heldout`, `mia_heldout_auc` (needs forget and `forget_test` losses): the same attack, with the held-out
      recordings of the same request (`forget_test`) as non-members. Unlike `mia`, the non-members come from the same
      speakers or class, so a gold model that never learnt them does not score high merely by not knowing the
      request's data. Closest to gold is better (about 0.5 for the gold model on a large split).
    - `mia_heldout_auc_all`, `mia_heldout_auc_all_low`, `mia_heldout_auc_all_high` (same inputs): the threshold-free
      AUC of `-loss` on every forget and held-out row (no subsampling to the smaller side) and its 90 % bootstrap
      interval (`intervals.bootstrap_auc`, seeded with `mia_seed`). Closest to gold is better.
    - `lira_auc`, `lira_tpr_at_1fpr`, `lira_tpr_at_5fpr` (needs `split_logits` and `shadow_logits` on forget and on
      the held-out split, `forget_test` when given, else `test`): offline LiRA (see `lira`). AUC closest to gold
      (about 0.5) is better; the TPRs: closest to gold (about 0.01 and 0.05).
    - `kl_to_gold` (forget) and `kl_to_gold_<split>` (every other split, e.g. `kl_to_gold_test`), when `split_logits`
      and `gold_logits` both hold the split: mean KL(gold || model) in nats, see `mean_kl_to_gold`. Lower is better.
    - `gum`, `gum_U`, `gum_E`, `gum_T` (needs `test_f1`, `mia`, `gold["test_f1"]`, `gold["mia"]`,
      `gold["train_time"]`, `original["mia"]` and `unlearning_time`): see `gum` (time term clipped to [0, 1]).
      Higher is better.
    - `cgum`, `cgum_U`, `cgum_E`, `cgum_T` (as GUM, plus `num_classes`): see `cgum`. Higher is better.
    - `gum_undefined_reason` (a string): present when the gold model's MIA is at or above the original's; `gum`,
      `gum_E`, `cgum` and `cgum_E` are then `None` (see `gum_undefined_reason`), `*_U` and `*_T` are kept.
    - `speedup` $= t_{gold} / t_{unl}$ (needs `unlearning_time` and `gold["train_time"]`). Higher is better.
    - `time_share_of_gold` $= t_{unl} / t_{gold}$ (same inputs). Lower is better.
    - `<key>_minus_gold` $= r_k - r^{gold}_k$ for each split metric, MIA and LiRA key present both here and in
      `gold`, e.g. `forget_f1_minus_gold`, `mia_minus_gold`, `mia_heldout_minus_gold`. Closest to 0 is better.

    Args:
        split_predictions (`dict[str, array-like]`):
            Predicted class per sample, keyed by split name (`"forget"`, `"forget_test"`, `"retain"`, `"test"`, or
            any other split, which gets its own `<split>_accuracy` / `<split>_f1`).
        split_labels (`dict[str, array-like]`):
            True class per sample, keyed like `split_predictions`. Splits present in only one of the two are skipped.
        split_losses (`dict[str, array-like]`, *optional*):
            Per-sample cross-entropy keyed by split name. `mia` uses `"forget"` (members) and `"test"` (non-members),
            `mia_heldout` uses `"forget"` and `"forget_test"`; each needs at least 6 of each side, and with fewer its
            keys (and, for `mia`, GUM/CGUM) are left out with a warning instead of raising, so that evaluation on tiny
            splits does not stop a training run.
        original (`dict` or `str` or `os.PathLike`, *optional*):
            Metrics of the original model (trained on the full data), or a path to a JSON file holding them. Uses
            `"mia"`.
        gold (`dict` or `str` or `os.PathLike`, *optional*):
            Metrics of the gold model (retrained without the forget set), or a path to a JSON file holding them. Uses
            `"test_f1"`, `"mia"`, `"train_time"` (seconds; `"train_runtime"` from `Trainer.train()` is accepted
            too), optionally `"num_classes"` and any split metric for the gaps. Keys written by `Trainer.evaluate()`
            with an `eval_` prefix are accepted.
        unlearning_time (`float`, *optional*):
            Time of the unlearning run, in seconds. It must be measured like the gold model's `train_time` (the
            training loop alone: no evaluation, checkpointing or early-stopping patience epochs in either), or the
            time terms and the speed-up compare different things.
        num_classes (`int`, *optional*):
            Number of classes of the task, for CGUM. Falls back to `gold["num_classes"]`, then
            `original["num_classes"]`; CGUM is left out when none is known.
        mia_seed (`int`, *optional*, defaults to 42):
            Seed of the MIAs' subsampling of the larger of their two sets.
        split_logits (`dict[str, array-like]`, *optional*):
            Logits `(num_samples, num_classes)` of the model under evaluation, keyed by split, rows in the order of
            `split_labels`. Needed by LiRA and the KL to gold.
        gold_logits (`dict[str, array-like]`, *optional*):
            Logits of the gold model on the same splits, same rows.
        shadow_logits (`dict[str, array-like]`, *optional*):
            Logits `(num_shadows, num_samples, num_classes)` of K >= 2 shadow models trained without the forget set
            (e.g. gold models with other seeds), on `"forget"` and on the held-out split (`"forget_test"` or
            `"test"`).

    Returns:
        `dict`: the keys listed above whose inputs were given; values are floats, `None` for an undefined figure, and a
        string for `gum_undefined_reason`.

    Raises:
        `ValueError`: propagated from the metric functions (empty split, non-finite losses or logits, shapes that do
        not match, out-of-range reference values) or on a malformed `original` / `gold`.
    """
    original = _load_reference(original, "original")
    gold = _load_reference(gold, "gold")
    split_losses = split_losses or {}
    split_logits = split_logits or {}

    results: dict = {}
    for split, predictions in split_predictions.items():
        if split not in split_labels:
            continue
        for name, value in subset_metrics(predictions, split_labels[split]).items():
            results[f"{split}_{name}"] = value

    if "forget" in split_losses and "test" in split_losses:
        results.update(_attack(split_losses, "forget", "test", ("mia", "mia_auc"), mia_seed))
        if "mia" in results:
            results["forgetting_score"] = abs(0.5 - results["mia"])
    if "forget" in split_losses and "forget_test" in split_losses:
        results.update(_attack(split_losses, "forget", "forget_test", ("mia_heldout", "mia_heldout_auc"), mia_seed))
        results.update(_heldout_auc(split_losses["forget"], split_losses["forget_test"], mia_seed))

    if shadow_logits:
        heldout = "forget_test" if "forget_test" in shadow_logits else "test"
        needed = [(name, split) for name in ("forget", heldout) for split in (split_logits, split_labels)]
        missing = {name for name, split in needed if name not in split}
        missing |= {name for name in ("forget", heldout) if name not in shadow_logits}
        if missing:
            raise ValueError(
                f"LiRA needs the model's logits and labels and the shadow logits on 'forget' and on a held-out split "
                f"('forget_test' or 'test'); missing for {sorted(missing)}. Pass split_logits and shadow_logits for "
                "those splits."
            )
        attack = lira(
            split_logits["forget"],
            split_logits[heldout],
            shadow_logits["forget"],
            shadow_logits[heldout],
            forget_labels=np.asarray(split_labels["forget"]),
            heldout_labels=np.asarray(split_labels[heldout]),
        )
        results.update(lira_auc=attack.auc, lira_tpr_at_1fpr=attack.tpr_at_1fpr, lira_tpr_at_5fpr=attack.tpr_at_5fpr)

    for split in gold_logits or {}:
        if split in split_logits:
            key = "kl_to_gold" if split == "forget" else f"kl_to_gold_{split}"
            results[key] = mean_kl_to_gold(gold_logits[split], split_logits[split])

    # Gaps first, computed over the model's own metrics only (not GUM/CGUM/time, which have no gold counterpart).
    # An interval's ends are not figures of their own: the gap is taken of the estimate only.
    own = {key: value for key, value in results.items() if not key.endswith(INTERVAL_END_SUFFIXES)}
    gaps = gaps_to_gold(own, gold) if gold is not None else {}

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
        undefined = gum_undefined_reason(gold_mia, original_mia)
        for prefix, result in [("gum", gum(*arguments))] + (
            [("cgum", cgum(*arguments, num_classes=num_classes))] if num_classes is not None else []
        ):
            # Undefined: the score and its efficacy term are None; U and T stay, they do not depend on the MIAs.
            results[prefix] = None if undefined else result.value
            results[f"{prefix}_U"] = result.U
            results[f"{prefix}_E"] = None if undefined else result.E
            results[f"{prefix}_T"] = result.T
        if undefined:
            results["gum_undefined_reason"] = undefined

    if unlearning_time is not None and gold_time is not None:
        results["speedup"] = speedup(unlearning_time, gold_time)
        results["time_share_of_gold"] = float(unlearning_time) / gold_time

    results.update(gaps)
    return results
