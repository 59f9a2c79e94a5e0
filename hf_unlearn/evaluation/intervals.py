"""Intervals of one run's figures: how far a single run's gap to gold can move with the rows it was measured on.

A run's figures are measured once, on one sample of rows (the forget set, the test split, the held-out recordings).
What a reader needs beside a gap such as `forget accuracy - gold = +0.02` is how much that number would move on
another draw of equally many rows. No per-example outputs are kept in a run's record, so the intervals here are
computed from each figure and the number of rows it was measured on:

- an accuracy (`<split>_accuracy`): the Wilson score interval of a binomial proportion with `n = num_<split>` rows;
- an attack accuracy (`mia`, `mia_heldout`): the Wilson interval with `n = 2 * n_per_class` (the attack scores as
  many members as non-members, `n_per_class` the smaller split's size);
- an attack AUC (`mia_auc`, `mia_heldout_auc`): the Hanley-McNeil (1982) normal interval with `n_per_class` members
  and as many non-members;
- the held-out AUC on every row (`mia_heldout_auc_all`): the percentile bootstrap the evaluation computed from the
  per-example losses (`bootstrap_auc`: members and non-members drawn with replacement, each side separately), stored
  as `mia_heldout_auc_all_low` / `_high`.

A gap's interval is the model's interval shifted by the gold model's value: the gold figure is taken as the fixed
target, so the interval covers the sampling of the split's rows for the model, not the gold model's own seed-to-seed
spread (the benchmark reports that as the gold floor) and not the variation between requests (the benchmark's group
intervals bootstrap over requests and seeds for that). It assumes the rows are independent draws; recordings of one
speaker are not, so these intervals are a lower bound on the real uncertainty.

Pure Python and NumPy: the benchmark, the model card and the evaluate module can all import it.
"""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = [
    "INTERVAL_LEVEL",
    "RUN_INTERVAL_KEYS",
    "auc_interval",
    "auc_variance",
    "bootstrap_auc",
    "format_interval",
    "normal_quantile",
    "run_gap_intervals",
    "run_interval_lines",
    "wilson_interval",
]

#: Level of every interval hf-unlearn reports: 90 %, the interval whose inside is the two one-sided tests (TOST) at
#: 5 % each that the benchmark's equivalence decisions use.
INTERVAL_LEVEL = 0.90

#: `{figure: (kind, (split-size keys...))}`: the figures a run's gaps get an interval for, how, and from which row
#: counts (the smallest count present is used for the attacks, whose two sides are subsampled to the smaller one).
RUN_INTERVAL_KEYS = {
    "forget_accuracy": ("proportion", ("num_forget",)),
    "test_accuracy": ("proportion", ("num_test",)),
    "forget_test_accuracy": ("proportion", ("num_forget_test",)),
    "mia_heldout": ("attack", ("num_forget", "num_forget_test")),
    "mia": ("attack", ("num_forget", "num_test")),
    "mia_heldout_auc": ("auc", ("num_forget", "num_forget_test")),
    "mia_auc": ("auc", ("num_forget", "num_test")),
    "mia_heldout_auc_all": ("bootstrap", ("num_forget", "num_forget_test")),
}
#: How each kind of interval is named in the card's lines.
METHOD_NAMES = (
    ("proportion", "Wilson for accuracies"),
    ("attack", "Wilson for attack accuracies"),
    ("auc", "Hanley-McNeil for AUCs"),
    ("bootstrap", "a bootstrap over the rows for the held-out AUC on every row"),
)
#: Draws of `bootstrap_auc`.
AUC_BOOTSTRAP_SAMPLES = 1000


#: How many binomial standard errors of the original's retain-validation accuracy a utility loss may reach before it
#: counts: the benchmark tuner's default and the stopping rule's default tolerance.
UTILITY_STANDARD_ERRORS = 2.0


def binomial_standard_error(p: float, n: int) -> float:
    """`sqrt(p (1 - p) / n)`, at least `1 / n` (one row) so a perfect score still allows one error
    (the noise the benchmark tuner and the stopping rule allow for)."""
    if not n:
        return float("inf")
    return max(math.sqrt(max(p * (1 - p), 0.0) / n), 1.0 / n)


def utility_tolerance(p: float, n: int, standard_errors: float) -> float:
    """How far below the original's accuracy `p` on `n` utility rows a model may fall and still keep utility:
    `standard_errors` binomial standard errors of `p` (each at least one row's worth). The benchmark tuner and the
    stopping rule both judge utility with it, so a setting the tuner accepts is one the rule would keep."""
    return standard_errors * binomial_standard_error(p, n)


def normal_quantile(level: float) -> float:
    """The standard normal quantile of a two-sided interval of coverage `level` (1.645 for 90 %)."""
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson_interval(proportion: float, n: int, level: float = INTERVAL_LEVEL) -> tuple[float, float]:
    """The Wilson score interval of a proportion measured on `n` independent rows, in `[0, 1]`.

    Args:
        proportion (`float`): the observed share (an accuracy), in `[0, 1]`.
        n (`int`): the number of rows it was measured on (at least 1).
        level (`float`, *optional*, defaults to `INTERVAL_LEVEL`): the two-sided coverage.

    Returns:
        `tuple[float, float]`: `(low, high)`.
    """
    if n < 1:
        raise ValueError(f"A proportion's interval needs at least one row, got n={n}.")
    z = normal_quantile(level)
    centre = (proportion + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(max(proportion * (1 - proportion), 0.0) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def auc_variance(auc: float, n_positive: int, n_negative: int) -> float:
    """The Hanley-McNeil variance of an ROC AUC from `n_positive` members and `n_negative` non-members."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = auc * (1 - auc) + (n_positive - 1) * (q1 - auc * auc) + (n_negative - 1) * (q2 - auc * auc)
    return max(variance, 0.0) / (n_positive * n_negative)


def auc_interval(auc: float, n_positive: int, n_negative: int, level: float = INTERVAL_LEVEL) -> tuple[float, float]:
    """The Hanley-McNeil normal interval of an ROC AUC from `n_positive` members and `n_negative` non-members,
    clipped to `[0, 1]` (Hanley & McNeil, "The meaning and use of the area under a ROC curve", 1982)."""
    if min(n_positive, n_negative) < 1:
        raise ValueError(f"An AUC's interval needs members and non-members, got {n_positive} and {n_negative}.")
    variance = auc_variance(auc, n_positive, n_negative)
    half = normal_quantile(level) * math.sqrt(max(variance, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)


def bootstrap_auc(
    member_scores,
    non_member_scores,
    level: float = INTERVAL_LEVEL,
    samples: int = AUC_BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The ROC AUC of membership scores (members: label 1) on every row, and its percentile bootstrap interval.

    Members and non-members are drawn with replacement, each side keeping its size (the sides are sampled
    separately: a forget set and its held-out recordings are two samples). The AUC is the Mann-Whitney statistic
    (ties count one half), so no side is subsampled to the other's size.

    Returns:
        `tuple[float, float, float]`: `(auc, low, high)`.
    """
    import numpy as np
    from scipy.stats import rankdata

    members = np.asarray(member_scores, dtype=float).reshape(-1)
    non_members = np.asarray(non_member_scores, dtype=float).reshape(-1)
    if members.size < 1 or non_members.size < 1:
        raise ValueError(f"An AUC needs members and non-members, got {members.size} and {non_members.size}.")

    def auc(m, n):  # rows of m and n are paired draws
        ranks = rankdata(np.concatenate([m, n], axis=-1), axis=-1)[..., : m.shape[-1]]
        return (ranks.sum(-1) - m.shape[-1] * (m.shape[-1] + 1) / 2) / (m.shape[-1] * n.shape[-1])

    rng = np.random.default_rng(seed)
    drawn = auc(
        members[rng.integers(members.size, size=(samples, members.size))],
        non_members[rng.integers(non_members.size, size=(samples, non_members.size))],
    )
    tail = (1 - level) / 2
    return float(auc(members, non_members)), float(np.quantile(drawn, tail)), float(np.quantile(drawn, 1 - tail))


def _figure_interval(key: str, value: float, sizes: dict, level: float, results: dict | None = None):
    kind, count_keys = RUN_INTERVAL_KEYS[key]
    if kind == "bootstrap":  # computed by the evaluation from the per-example losses
        low, high = (results or {}).get(f"{key}_low"), (results or {}).get(f"{key}_high")
        return (float(low), float(high)) if isinstance(low, (int, float)) and isinstance(high, (int, float)) else None
    counts = [int(sizes[k]) for k in count_keys if isinstance(sizes.get(k), (int, float)) and sizes[k] >= 1]
    if len(counts) < len(count_keys):
        return None
    if kind == "proportion":
        return wilson_interval(value, counts[0], level)
    if kind == "attack":
        return wilson_interval(value, 2 * min(counts), level)
    return auc_interval(value, min(counts), min(counts), level)


def run_gap_intervals(results: dict, gold: dict | None, sizes: dict, level: float = INTERVAL_LEVEL) -> dict:
    """`{"<figure>_minus_gold": [low, high]}` for each figure of `RUN_INTERVAL_KEYS` present in `results` and `gold`
    whose row counts are in `sizes` (`num_forget`, `num_test`, `num_forget_test`; e.g. the gold model's results or
    the request's record): the model's interval minus the gold model's value (see the module docstring)."""
    intervals = {}
    for key in RUN_INTERVAL_KEYS:
        value, target = results.get(key), (gold or {}).get(key)
        if not isinstance(value, (int, float)) or not isinstance(target, (int, float)):
            continue
        interval = _figure_interval(key, float(value), sizes, level, results)
        if interval is not None:
            intervals[key + "_minus_gold"] = [interval[0] - float(target), interval[1] - float(target)]
    return intervals


def format_interval(interval, decimals: int = 3) -> str:
    """`"[-0.012, +0.034]"` (signed, `–` for a missing interval)."""
    if not interval or interval[0] is None:
        return "–"
    return "[" + ", ".join(f"{v:+.{decimals}f}" for v in interval) + "]"


def run_interval_lines(results: dict, gold: dict | None, sizes: dict, level: float = INTERVAL_LEVEL) -> list[str]:
    """Markdown bullet lines for a model card: each gap to gold with its interval, the rows it rests on, and what
    the interval does not cover. Empty when no gap has an interval."""
    intervals = run_gap_intervals(results, gold, sizes, level)
    if not intervals:
        return []
    kinds = {RUN_INTERVAL_KEYS[gap[: -len("_minus_gold")]][0] for gap in intervals}
    methods = [text for kind, text in METHOD_NAMES if kind in kinds]
    lines = [
        f"Gaps to the gold model with their {level * 100:.0f} % intervals ({', '.join(methods)}; the rows taken as "
        "independent, the gold figure as fixed):",
        "",
    ]
    for gap, interval in intervals.items():
        key = gap[: -len("_minus_gold")]
        _, count_keys = RUN_INTERVAL_KEYS[key]
        # A bootstrap interval comes with the results, whether or not the run recorded its row counts.
        rows = " / ".join(f"{int(sizes[k])} {k[len('num_') :]}" for k in count_keys if sizes.get(k) is not None)
        value = float(results[key]) - float(gold[key])
        lines.append(f"- {key} − gold: {value:+.3f} {format_interval(interval)}" + (f" ({rows} rows)" if rows else ""))
    lines += [
        "",
        "A gap whose interval holds 0 is not told apart from the gold model by this run. The intervals cover the "
        "rows of this one run only: another seed of the gold model differs by more (see the benchmark's gold "
        "floor), and recordings of one speaker are not independent, so the real uncertainty is larger. A held-out "
        "MIA AUC near 0.5 with a wide interval cannot show that the forgotten rows are unrecognisable: only that "
        "this attack, on this many rows, does not see them.",
    ]
    return lines
