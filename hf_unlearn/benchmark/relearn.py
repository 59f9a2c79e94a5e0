"""Relearning in the benchmark (`--relearn_steps N`): how many fine-tuning steps on part of the forget set bring the
forget accuracy back, for each method's model and for the gold model of the same request and seed.

Each run (not tuning trials) gets `record["relearning"]` from `relearning_record`: both curves of
`hf_unlearn.experiment.relearning.relearning_curve` (same split of the forget set, same seed), `steps_to_recover` and
`gold_steps_to_recover` (the first step at which the probe accuracy reaches the original model's forget accuracy
minus `RECOVER_TOLERANCE`; `None` when it does not within the steps run) and `relearn_auc_gap` (mean probe accuracy
over the steps, model minus gold). A method whose knowledge comes back within a few steps while gold's does not has
hidden, not removed, it.

`relearning_summary` aggregates them per group and method with the benchmark's group interval (a bootstrap over
requests, then seeds; `hf_unlearn.benchmark.evidence`). A run that did not recover counts as `steps + 1`: the mean
is then a lower bound, and the number of such runs is reported beside it.
"""

from __future__ import annotations

import numpy as np

from hf_unlearn.benchmark.evidence import hierarchical_bootstrap

RECOVER_TOLERANCE = 0.05
_GOLD_CURVES: dict = {}  # per process: the gold model's curve per (gold folder, seed, steps); shared by every method


def steps_to_recover(curve: list[float], target: float) -> int | None:
    """The first step (0 = before any) whose probe accuracy is at least `target`; `None` if none is."""
    return next((step for step, accuracy in enumerate(curve) if accuracy >= target), None)


def relearning_record(model, gold, extractor, forget, steps: int, seed: int, original_forget_accuracy: float) -> dict:
    """The relearning figures of one run (see the module docstring).

    Args:
        model: the unlearned model (left unchanged: a copy is fine-tuned).
        gold: the gold model's `ReferenceModel` (anything with `load()` and `path`), or `None`.
        extractor: the feature extractor; forget (`datasets.Dataset`): the request's forget rows.
        steps (`int`), seed (`int`): relearning steps and seed (split, batch order, training).
        original_forget_accuracy (`float`): the original model's forget accuracy, the accuracy to recover.
    """
    from hf_unlearn.experiment.relearning import relearning_curve

    target = max(0.0, float(original_forget_accuracy) - RECOVER_TOLERANCE)
    curve = relearning_curve(model, extractor, forget, steps=steps, seed=seed)
    record = {"steps": steps, "target": target, "relearn_curve": curve, "relearn_auc": float(np.mean(curve))}
    record["steps_to_recover"] = steps_to_recover(curve, target)
    if gold is not None:
        key = (str(gold.path), seed, steps, len(forget))
        if key not in _GOLD_CURVES:
            _GOLD_CURVES[key] = relearning_curve(gold.load(), extractor, forget, steps=steps, seed=seed)
        gold_curve = _GOLD_CURVES[key]
        record.update(
            gold_relearn_curve=gold_curve,
            gold_relearn_auc=float(np.mean(gold_curve)),
            relearn_auc_gap=float(np.mean(curve) - np.mean(gold_curve)),
            gold_steps_to_recover=steps_to_recover(gold_curve, target),
        )
    return record


def _censored(record: dict, key: str) -> float:
    value = record.get(key)
    return float(record["steps"] + 1) if value is None else float(value)


def relearning_summary(runs: list[dict]) -> dict:
    """`{group: {method: {figure: {"mean", "interval", "not_recovered", "n"}}}}` over the runs that carry
    `record["relearning"]`; figures: `steps_to_recover`, `gold_steps_to_recover`, `relearn_auc_gap`. Empty when no
    run has relearning figures."""
    values: dict = {}
    for run in runs:
        record = run["record"].get("relearning")
        if not record:
            continue
        per_method = values.setdefault(run["group"], {}).setdefault(run["method"], {})
        for key in ("steps_to_recover", "gold_steps_to_recover", "relearn_auc_gap"):
            if key == "relearn_auc_gap" and record.get(key) is None:
                continue
            if key == "gold_steps_to_recover" and "gold_relearn_curve" not in record:
                continue
            value = record.get(key) if key == "relearn_auc_gap" else _censored(record, key)
            cell = per_method.setdefault(key, {"requests": {}, "not_recovered": 0})
            cell["requests"].setdefault(run["request"], []).append(float(value))
            cell["not_recovered"] += key != "relearn_auc_gap" and record.get(key) is None
    out: dict = {}
    for group, methods in values.items():
        for method, figures in methods.items():
            for key, cell in figures.items():
                flat = [v for seeds in cell["requests"].values() for v in seeds]
                out.setdefault(group, {}).setdefault(method, {})[key] = {
                    "mean": float(np.mean([np.mean(seeds) for seeds in cell["requests"].values()])),
                    "interval": hierarchical_bootstrap(list(cell["requests"].values())),
                    "not_recovered": int(cell["not_recovered"]),
                    "n": len(flat),
                }
    return out


def _cell(cell: dict | None, signed: bool = False) -> str:
    if not cell:
        return "–"
    text = f"{cell['mean']:+.3f}" if signed else f"{cell['mean']:.1f}"
    if cell.get("interval"):
        low, high = cell["interval"]
        text += f" [{low:+.3f}, {high:+.3f}]" if signed else f" [{low:.1f}, {high:.1f}]"
    if not signed and cell.get("not_recovered"):
        text += f" ({cell['not_recovered']} of {cell['n']} not recovered: ≥)"
    return text


def relearning_markdown(summary: dict) -> str:
    """The report's relearning section: per group, steps to recover for each method against gold's, and the gap of
    the mean probe accuracy, with their 90 % intervals. Empty without relearning figures."""
    if not summary:
        return ""
    parts = [
        "## Relearning\n",
        "Steps of fine-tuning on part of the forget set until the rest is recognised again (the original model's "
        f"forget accuracy minus {RECOVER_TOLERANCE}), for each method's model and for the gold model of the same "
        "request and seed; mean [90 % interval, a bootstrap over requests, then seeds]. A run that did not recover "
        "within the steps counts as steps + 1, so its mean is a lower bound (≥). Fewer steps than gold's: knowledge "
        "hidden, not removed.\n",
    ]
    for group, methods in summary.items():
        lines = [
            f"### {group}\n",
            "| Method | n | Steps to recover | Gold's steps | Mean probe accuracy − gold's |",
            "|---|---|---|---|---|",
        ]
        for method, figures in methods.items():
            n = max(cell["n"] for cell in figures.values())
            lines.append(
                f"| {method} | {n} | {_cell(figures.get('steps_to_recover'))} | "
                f"{_cell(figures.get('gold_steps_to_recover'))} | {_cell(figures.get('relearn_auc_gap'), True)} |"
            )
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)
