"""What the benchmark's figures can resolve: intervals per run and per group, decisions by equivalence, the gold floor.

- **Per run** (`run_intervals`): each gap to gold gets the interval of `hf_unlearn.evaluation.intervals` (Wilson for
  accuracies, Hanley-McNeil for AUCs, from the split's row counts; the gold figure taken as fixed).
- **Per group** (`group_intervals`): the 90 % interval of the group's mean of each figure, by a two-stage bootstrap
  with the request as the unit: draw the group's requests with replacement, then, within each drawn request, its
  seeds with replacement; the statistic is the mean over drawn requests of their mean over drawn seeds. Requests are
  the unit because runs of one request share its data and its gold model: resampling runs independently would treat
  three seeds of one speaker as three speakers and give too narrow an interval. A group of one request is
  bootstrapped over its seeds only (the spread between requests is then unknown and the interval too narrow); a
  figure with a single run has none.
- **Decisions by equivalence** (`equivalence`): a target window `[low, high]` is *met* when the group's 90 %
  interval lies inside it (two one-sided tests at 5 % each; a one-sided target such as `test gap >= -0.01` is one
  test), *not met* when the interval lies wholly outside, and *cannot resolve* otherwise: the data do not decide.
- **Resolution** (`resolution`): per group and target, the median half-width of the methods' 90 % intervals, the
  smallest gap the data can tell from 0; a margin below it tests noise.
- **Attack separation** (`attack_separation`): per request, the original's LiRA AUC minus gold's with its interval:
  where the attack cannot tell the original (which trained on the forget rows) from gold, a method's LiRA figure
  says nothing about forgetting.
- **Gold floor** (`gold_floor`): per group and figure, the mean |gold_seed_i - gold_seed_j| over pairs of seeds of
  the same request, averaged over requests: how far retraining itself lands from retraining. No method can be
  reliably closer to gold than that.

Everything is recomputed from the stored runs (`runs` of the benchmark JSON), so a published summary can be
regenerated without training anything (`hf-unlearn benchmark --report_only`).
"""

from __future__ import annotations

import math

import numpy as np

from hf_unlearn.benchmark.group_summary import (
    REFERENCE_MODELS,
    SUMMARY_KEYS,
    TARGET_WINDOWS,
    TARGETS,
    unique_model_rows,
)
from hf_unlearn.evaluation.intervals import INTERVAL_LEVEL, auc_variance, normal_quantile, run_gap_intervals
from hf_unlearn.evaluation.metric_table import metric_keys

BOOTSTRAP_SAMPLES = 4000
BOOTSTRAP_SEED = 0
MET, NOT_MET, UNRESOLVED = "met", "not met", "cannot resolve"
#: The figures whose gold-to-gold spread is reported as the floor.
FLOOR_FIGURES = metric_keys("forget_accuracy", "test_accuracy", "mia_heldout", "mia")
PER_RUN_METHOD = (
    "per run: Wilson interval of the accuracy (Hanley-McNeil for an AUC) on the split's rows, minus gold's value"
)
PER_GROUP_METHOD = (
    f"per group: percentile bootstrap ({BOOTSTRAP_SAMPLES} draws) over requests, then seeds within each drawn request"
)


def hierarchical_bootstrap(
    values_by_request: list[list[float]],
    level: float = INTERVAL_LEVEL,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> list[float] | None:
    """The percentile interval of the mean over requests of their mean over seeds, drawing requests with
    replacement and then seeds with replacement within each drawn request (see the module docstring).

    Args:
        values_by_request (`list[list[float]]`): one list of finite values (one per seed) per request.
        level (`float`, *optional*): the coverage (90 %).
        samples (`int`, *optional*): bootstrap draws. seed (`int`, *optional*): the generator's seed.

    Returns:
        `[low, high]`, or `None` when there is a single value in all.
    """
    groups = [np.asarray(v, dtype=float) for v in values_by_request if len(v)]
    if sum(len(g) for g in groups) < 2:
        return None
    rng = np.random.default_rng(seed)
    sizes = np.array([len(g) for g in groups])
    table = np.full((len(groups), sizes.max()), np.nan)
    for row, values in enumerate(groups):
        table[row, : len(values)] = values
    # One request: only its seeds can be drawn.
    drawn = rng.integers(len(groups), size=(samples, len(groups))) if len(groups) > 1 else np.zeros((samples, 1), int)
    positions = np.floor(rng.random((samples, drawn.shape[1], sizes.max())) * sizes[drawn][..., None]).astype(int)
    picked = table[drawn[..., None], positions]
    used = np.arange(sizes.max())[None, None, :] < sizes[drawn][..., None]  # draw as many seeds as the request has
    means = np.where(used, picked, 0.0).sum(-1) / sizes[drawn]
    statistic = means.mean(-1)
    tail = (1 - level) / 2
    return [float(np.quantile(statistic, tail)), float(np.quantile(statistic, 1 - tail))]


def _by_request(runs: list[dict]) -> dict:
    """`{group: {model: {key: {request: [values over seeds]}}}}`; the original and gold count each (request, seed)
    once, however many methods ran on it (as `group_summary.aggregate`)."""
    grouped: dict = {}
    for run, model, row in unique_model_rows(runs):
        bucket = grouped.setdefault(run["group"], {}).setdefault(model, {})
        for key in SUMMARY_KEYS:
            value = row.get(key)
            if value is not None and math.isfinite(float(value)):
                bucket.setdefault(key, {}).setdefault(run["request"], []).append(float(value))
    return grouped


def group_intervals(runs: list[dict], level: float = INTERVAL_LEVEL) -> dict:
    """`{group: {model: {figure: [low, high]}}}`: the bootstrap interval of each group mean of `aggregate`."""
    out: dict = {}
    for group, models in _by_request(runs).items():
        for model, figures in models.items():
            for key, per_request in figures.items():
                interval = hierarchical_bootstrap(list(per_request.values()), level)
                if interval is not None:
                    out.setdefault(group, {}).setdefault(model, {})[key] = interval
    return out


def equivalence(interval, window: tuple[float, float]) -> str | None:
    """`MET` when `interval` lies inside `window`, `NOT_MET` when wholly outside it, `UNRESOLVED` otherwise; `None`
    without an interval."""
    if not interval:
        return None
    low, high = interval
    if low >= window[0] and high <= window[1]:
        return MET
    if high < window[0] or low > window[1]:
        return NOT_MET
    return UNRESOLVED


def _target_interval(intervals: dict, keys) -> list[float] | None:
    return next((intervals[k] for k in keys if intervals.get(k)), None)


def equivalence_marks(intervals: dict) -> dict:
    """`{target: MET / NOT_MET / UNRESOLVED / None}` of one model's group intervals (`{figure: [low, high]}`)."""
    return {name: equivalence(_target_interval(intervals, keys), TARGET_WINDOWS[name]) for name, keys, *_ in TARGETS}


def decisions(intervals: dict) -> dict:
    """`{group: {model: equivalence_marks}}` of `group_intervals` output (the gold row is left out)."""
    return {
        group: {model: equivalence_marks(figures) for model, figures in models.items() if model != "gold"}
        for group, models in intervals.items()
    }


def methods_meeting_by_equivalence(marks: dict) -> dict:
    """`{group: [methods whose four targets are all MET]}`."""
    return {
        group: [m for m, t in models.items() if m not in REFERENCE_MODELS and all(v == MET for v in t.values())]
        for group, models in marks.items()
    }


def resolution(intervals: dict) -> dict:
    """`{group: {target: median half-width of the methods' 90 % intervals}}`: the smallest gap the data resolve."""
    out = {}
    for group, models in intervals.items():
        out[group] = {}
        for name, keys, *_ in TARGETS:
            widths = [
                (interval[1] - interval[0]) / 2
                for model, figures in models.items()
                if model not in REFERENCE_MODELS and (interval := _target_interval(figures, keys))
            ]
            out[group][name] = float(np.median(widths)) if widths else None
    return out


def gold_floor(runs: list[dict]) -> dict:
    """`{group: {figure: mean over requests of the mean |gold_i - gold_j| over pairs of seeds}}` (requests with a
    single seed are skipped; a figure no request has twice is left out)."""
    values: dict = {}
    for run in runs:
        gold = run["record"].get("gold") or {}
        for key in FLOOR_FIGURES:
            if isinstance(gold.get(key), (int, float)):
                seeds = values.setdefault(run["group"], {}).setdefault(key, {}).setdefault(run["request"], {})
                seeds[run["seed"]] = float(gold[key])
    out = {}
    for group, figures in values.items():
        for key, per_request in figures.items():
            spreads = []
            for seeds in per_request.values():
                v = list(seeds.values())
                pairs = [abs(v[i] - v[j]) for i in range(len(v)) for j in range(i + 1, len(v))]
                if pairs:
                    spreads.append(float(np.mean(pairs)))
            if spreads:
                out.setdefault(group, {})[key] = float(np.mean(spreads))
    return out


def run_intervals(run: dict, level: float = INTERVAL_LEVEL) -> dict:
    """The per-run gap intervals of one stored run (row counts from the gold model's results and the request)."""
    record = run["record"]
    gold = record.get("gold") or {}
    sizes = {**(record.get("request") or {}), **{k: v for k, v in gold.items() if k.startswith("num_")}}
    return run_gap_intervals(record.get("unlearned") or {}, gold, sizes, level)


def evidence(runs: list[dict], level: float = INTERVAL_LEVEL) -> dict:
    """The benchmark JSON's new keys: `interval_level`, `interval_methods`, `intervals` (per group, model and
    figure), `equivalence` (per group, model and target), `targets_met_equivalence`, `resolution`, `gold_floor`,
    `attack_separation` (whether LiRA tells the original from gold, per request)."""
    intervals = group_intervals(runs, level)
    marks = decisions(intervals)
    return {
        "interval_level": level,
        "interval_methods": [PER_RUN_METHOD, PER_GROUP_METHOD],
        "intervals": intervals,
        "equivalence": marks,
        "targets_met_equivalence": methods_meeting_by_equivalence(marks),
        "resolution": resolution(intervals),
        "gold_floor": gold_floor(runs),
        "attack_separation": attack_separation(runs),
    }


# ------------------------------------------------------------------------------- membership attack: original vs gold


def attack_separation(runs: list[dict], key: str = "lira_auc", level: float = INTERVAL_LEVEL) -> dict:
    """Per group and request: does the attack tell the original from gold? `{group: {request: {"original", "gold",
    "difference", "interval", "resolved", "seeds"}}}`, means over the request's seeds.

    The interval of the difference (original - gold, averaged over seeds) treats each seed's two AUCs as independent
    Hanley-McNeil estimates on the forget rows and the held-out rows (`num_forget_test`, else `num_test`); they are
    measured on the same rows, so the interval is conservative. `resolved`: its lower end is above 0, i.e. the
    attack sees that the original trained on the forget rows where gold did not.
    """
    per_request: dict = {}
    seen = set()
    for run in runs:
        record = run["record"]
        if (run["group"], run["request"], run["seed"]) in seen:
            continue
        original, gold = record.get("original") or {}, record.get("gold") or {}
        n_forget = gold.get("num_forget")
        n_heldout = gold.get("num_forget_test") or gold.get("num_test")
        if not all(isinstance(v, (int, float)) for v in (original.get(key), gold.get(key), n_forget, n_heldout)):
            continue
        seen.add((run["group"], run["request"], run["seed"]))
        variances = [auc_variance(m[key], n_forget, n_heldout) for m in (original, gold)]
        seeds = per_request.setdefault(run["group"], {}).setdefault(run["request"], [])
        seeds.append((original[key], gold[key], sum(variances)))
    out: dict = {}
    for group, requests in per_request.items():
        for request, seeds in requests.items():
            originals, golds, variances = (np.array(column, dtype=float) for column in zip(*seeds))
            difference = float(np.mean(originals - golds))
            half = normal_quantile(level) * math.sqrt(float(np.sum(variances))) / len(seeds)
            out.setdefault(group, {})[request] = {
                "original": float(np.mean(originals)),
                "gold": float(np.mean(golds)),
                "difference": difference,
                "interval": [difference - half, difference + half],
                "resolved": difference - half > 0,
                "seeds": len(seeds),
            }
    return out


def separation_markdown(separation: dict, key: str = "lira_auc") -> str:
    """The report's section on whether the membership attack tells the original from gold, per request."""
    if not separation:
        return ""
    lines = [
        "## Can the membership attack tell the original from gold?\n",
        f"`{key}` of the original and of the gold model on each request (mean over seeds), and their difference with "
        "its 90 % interval (Hanley-McNeil per seed, the two models taken as independent: conservative). Resolved: the "
        "whole interval above 0. Where it is not, the attack cannot see that the original trained on the forget rows, "
        "so a method's figure of it says nothing about forgetting.\n",
        "| Group | Request | Seeds | Original | Gold | Original − gold [90 % interval] | Resolved |",
        "|---|---|---|---|---|---|---|",
    ]
    for group, requests in separation.items():
        for request, row in requests.items():
            low, high = row["interval"]
            lines.append(
                f"| {group} | {request} | {row['seeds']} | {row['original']:.3f} | {row['gold']:.3f} | "
                f"{row['difference']:+.3f} [{low:+.3f}, {high:+.3f}] | {'yes' if row['resolved'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"
