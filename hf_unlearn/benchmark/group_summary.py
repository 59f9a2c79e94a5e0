"""Per-run rows, mean / std / n per group and model, the four targets, and the Markdown tables (report and README)."""

from __future__ import annotations

import math

import numpy as np

from hf_unlearn.evaluation.intervals import format_interval
from hf_unlearn.evaluation.metric_table import gap_key, metric_keys

# Figures carried into the summary (mean, std, n); the rest of each run's record stays in `runs`.
SUMMARY_KEYS = metric_keys(
    "forget_accuracy",
    "test_accuracy",
    "forget_test_accuracy",
    "retain_accuracy",
    "forget_f1",
    "test_f1",
    "mia",
    "mia_heldout",
    "kl_to_gold",
    "lira_auc",
    "lira_tpr_at_1fpr",
    "lira_tpr_at_5fpr",
    "gum",
    "cgum",
    gap_key("forget_accuracy"),
    gap_key("test_accuracy"),
    gap_key("mia_heldout"),
    gap_key("mia"),
    "unlearning_time",
    "gold_train_time",
    "time_share_of_gold",
)
# The figures the targets and the gaps table read. Sample requests have no held-out recordings of the forgotten rows:
# their MIA gap is the population attack's.
FORGET_GAP, TEST_GAP = gap_key("forget_accuracy"), gap_key("test_accuracy")
MIA_GAPS = (gap_key("mia_heldout"), gap_key("mia"))
TIME_SHARE, KL_TO_GOLD = metric_keys("time_share_of_gold", "kl_to_gold")
# Figures the benchmark derives from a run's record (not evaluation outputs): the unsigned forget gap, the step the
# stopping rule kept, whether it reached its target (1/0), whether it kept the original (step 0, 1/0) and its target's
# own error (target forget accuracy - gold's on the forget rows).
DERIVED_KEYS = ("abs_forget_accuracy_minus_gold", "stopped_at_step", "stop_reached", "stop_kept_original")
DERIVED_KEYS += ("stop_target_minus_gold",)

# (name, keys (the first present is used), test, text): each a mean over a group's runs.
TARGETS = (
    ("forget", (FORGET_GAP,), lambda v: abs(v) <= 0.02, "|forget acc - gold| <= 0.02"),
    ("test", (TEST_GAP,), lambda v: v >= -0.01, "test acc - gold >= -0.01"),
    ("mia", MIA_GAPS, lambda v: abs(v) <= 0.03, "|held-out MIA - gold| <= 0.03"),
    ("time", (TIME_SHARE,), lambda v: v <= 0.05, "time <= 5 % of gold's retraining"),
)
# The window of each target for the decisions by equivalence (`hf_unlearn.benchmark.evidence`): same names as
# TARGETS, an open side is infinite (`tests/test_evidence.py` checks the two agree).
TARGET_WINDOWS = {"forget": (-0.02, 0.02), "test": (-0.01, math.inf), "mia": (-0.03, 0.03), "time": (-math.inf, 0.05)}
REFERENCE_MODELS = ("original", "gold")
# The stopping rule's acceptance, read by the check (`stopping_acceptance`) and the report's text alike: mean |forget
# acc - gold| within the gold-seed floor + STOP_MARGIN, |mean forget gap| <= STOP_MEAN_GAP, mean test acc - gold >=
# STOP_TEST_GAP, mean time <= STOP_TIME_SHARE of gold's retraining.
STOP_MARGIN, STOP_MEAN_GAP, STOP_TEST_GAP, STOP_TIME_SHARE = 0.02, 0.03, -0.01, 0.10


def run_rows(run: dict) -> dict:
    """`{model: {figure: value}}` of one stored run: the unlearned model's metrics with the record's gaps and times,
    and the original's and gold's metrics (numbers only)."""
    record = run["record"]
    row = {k: v for k, v in record.get("unlearned", {}).items() if _number(v)}
    row.update({k: v for k, v in record.items() if _number(v) and k != "seed"})
    if _number(row.get("forget_accuracy_minus_gold")):
        row["abs_forget_accuracy_minus_gold"] = abs(row["forget_accuracy_minus_gold"])
    stopping = record.get("stopping") or {}
    if _number(stopping.get("stopped_at_step")):
        row["stopped_at_step"] = stopping["stopped_at_step"]
        row["stop_kept_original"] = float(stopping["stopped_at_step"] == 0)
    if stopping:
        row["stop_reached"] = float(stopping.get("target_reached_at_step") is not None)
    target_error = stop_target_error(record)
    if target_error is not None:
        row["stop_target_minus_gold"] = target_error
    rows = {name: {k: v for k, v in record.get(name, {}).items() if _number(v)} for name in REFERENCE_MODELS}
    rows[run["method"]] = row
    return rows


def stop_target_error(record: dict) -> float | None:
    """The stopping target's own error against gold: the forget accuracy the rule aimed at minus gold's on the
    forget rows (what a perfect stop would still miss by); `None` without a stopping record or gold figure."""
    target = (record.get("stopping") or {}).get("target_forget_accuracy")
    gold = (record.get("gold") or {}).get("forget_accuracy")
    return target - gold if _number(target) and _number(gold) else None


def target_error_lines(result: dict, group: str) -> list[str]:
    """One line per stopping mode: each request's target error (`stop_target_error`, mean over its seeds; every
    method of a (request, seed, mode) shares the target, so each counts once), the mean |error|, and what that leaves
    of the acceptance's floor + `STOP_MARGIN` for landing: a rule that landed exactly on its target every time would
    still be the mean |error| from gold, so a target less precise than the acceptance cannot meet it."""
    per_mode: dict = {}
    for run in result.get("runs", []):
        record = run.get("record") or {}
        error = stop_target_error(record)
        if run.get("group") != group or error is None:
            continue
        mode = record["stopping"].get("mode")
        per_mode.setdefault(mode, {}).setdefault(run["request"], {})[run["seed"]] = error
    lines = []
    for mode, requests in per_mode.items():
        means = {request: float(np.mean(list(seeds.values()))) for request, seeds in requests.items()}
        cells = "; ".join(f"{request} {value:+.3f}" for request, value in means.items())
        overall = float(np.mean([abs(v) for seeds in requests.values() for v in seeds.values()]))
        lines.append(
            f"Stopping target `{mode}`, its own error against gold (target forget accuracy − gold's on the forget "
            f"rows, mean over seeds): {cells}; mean |error| {overall:.3f}{_landing_room(result, group, overall)}."
        )
    return lines


def _landing_room(result: dict, group: str, target_error: float) -> str:
    """What the target's mean |error| leaves of floor + `STOP_MARGIN` (empty without a floor)."""
    floor = (result.get("stopping_floor") or {}).get(group)
    if floor is None:
        return ""
    bound = floor + STOP_MARGIN
    if target_error < bound:
        return f" (floor + {STOP_MARGIN} = {bound:.3f}: {bound - target_error:.3f} left for landing on the target)"
    return f" (floor + {STOP_MARGIN} = {bound:.3f}: a rule landing exactly on this target would not meet it)"


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def mean_std(values) -> dict:
    """`{"mean", "std", "n"}` of the finite values (sample std, ddof=1; `None` for a single value)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return {"mean": None, "std": None, "n": 0}
    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else None
    return {"mean": float(np.mean(finite)), "std": std, "n": len(finite)}


def unique_model_rows(runs: list[dict]):
    """`(run, model, row)` of every run (`run_rows`), the original's and gold's once per (group, request, seed)."""
    seen = set()
    for run in runs:
        for model, row in run_rows(run).items():
            identity = (run["group"], run["request"], run["seed"], model)
            if model in REFERENCE_MODELS and identity in seen:
                continue
            seen.add(identity)
            yield run, model, row


def aggregate(runs: list[dict]) -> dict:
    """`{group: {model: {figure: {"mean", "std", "n"}}}}` over the runs. The original and gold rows count each
    (request, seed) once, however many methods ran on it."""
    grouped: dict = {}
    for run, model, row in unique_model_rows(runs):
        bucket = grouped.setdefault(run["group"], {}).setdefault(model, {})
        for key in (*SUMMARY_KEYS, *DERIVED_KEYS):
            if row.get(key) is not None:
                bucket.setdefault(key, []).append(row[key])
    summary = {}
    for group, models in grouped.items():
        ordered = [m for m in REFERENCE_MODELS if m in models] + [m for m in models if m not in REFERENCE_MODELS]
        summary[group] = {m: {k: mean_std(v) for k, v in models[m].items()} for m in ordered}
    return summary


def stopping_acceptance(summary: dict, floors: dict) -> dict:
    """`{group: [methods]}` within reach of gold as the stopping rule aims: mean |forget acc - gold| <= floor +
    `STOP_MARGIN`, |mean forget gap| <= `STOP_MEAN_GAP`, mean test acc - gold >= `STOP_TEST_GAP`, mean time <=
    `STOP_TIME_SHARE` of gold's."""
    out = {}
    for group, rows in summary.items():
        floor = floors.get(group)
        mean = lambda figures, key: (figures.get(key) or {}).get("mean")  # noqa: E731
        out[group] = [
            method
            for method, figures in rows.items()
            if method not in REFERENCE_MODELS
            and floor is not None
            and None not in [mean(figures, k) for k in ("abs_forget_accuracy_minus_gold", "test_accuracy_minus_gold")]
            and mean(figures, "abs_forget_accuracy_minus_gold") <= floor + STOP_MARGIN
            and abs(mean(figures, "forget_accuracy_minus_gold")) <= STOP_MEAN_GAP
            and mean(figures, "test_accuracy_minus_gold") >= STOP_TEST_GAP
            and (mean(figures, "time_share_of_gold") or 0.0) <= STOP_TIME_SHARE
        ]
    return out


def target_marks(figures: dict) -> dict:
    """`{target name: True / False / None (figure missing)}` of one model's summary row."""
    marks = {}
    for name, keys, test, _ in TARGETS:
        value = next((figures[k]["mean"] for k in keys if (figures.get(k) or {}).get("mean") is not None), None)
        marks[name] = None if value is None else bool(test(value))
    return marks


def methods_meeting_targets(summary: dict) -> dict:
    """`{group: [methods whose means meet all four targets]}`."""
    return {
        group: [m for m, f in rows.items() if m not in REFERENCE_MODELS and all(target_marks(f).values())]
        for group, rows in summary.items()
    }


def original_meets_targets(rows: dict) -> bool:
    """Whether the original model itself (no unlearning) meets a group's forget, test and MIA targets: there the
    targets cannot tell forgetting from doing nothing (e.g. FSDD sample requests, whose forgotten recordings the gold
    model recognises almost as well as the original), and meeting them shows nothing."""
    marks = target_marks(rows.get("original") or {})
    marks.pop("time", None)  # the original spends no unlearning time
    return bool(marks) and all(v is True for v in marks.values())


def original_within_targets(summary: dict) -> dict:
    """`{group: original_meets_targets(rows)}`."""
    return {group: original_meets_targets(rows) for group, rows in summary.items()}


def do_nothing_lines(rows: dict) -> list[str]:
    """The warning of a group whose original meets the forget, test and MIA targets (none otherwise)."""
    if not original_meets_targets(rows):
        return []
    original = rows["original"]
    mia = original.get(MIA_GAPS[0]) or original.get(MIA_GAPS[1])
    return [
        "**The original model itself (no unlearning) is within the forget, test and MIA targets here** (forget acc "
        f"− gold {_cell(original.get(FORGET_GAP), signed=True)}, MIA − gold "
        f"{_cell(mia, signed=True)}): on this group the targets cannot tell forgetting from doing nothing, so "
        "meeting them shows nothing."
    ]


# The captions under the gaps table: of the means (with their std), and of the means with their intervals.
MEAN_CAPTION = (
    "Mean ± std over the group's runs; closest to 0 is better for the gaps; the original's row is what doing "
    "nothing scores (sample requests have no held-out "
    "recordings of the forgotten rows: their MIA column is the population MIA against test). Targets: "
    + "; ".join(text for *_, text in TARGETS)
)
INTERVAL_CAPTION = (
    "Mean [90 % interval] over the group's runs, the interval a bootstrap over requests, then seeds within each "
    "drawn request (`hf_unlearn.benchmark.evidence`); closest to 0 is better for the gaps; the original's row is "
    "what doing nothing scores (sample requests have no held-out recordings of the forgotten rows: their MIA "
    "column is the population MIA against test). Targets, in order: "
    + "; ".join(text for *_, text in TARGETS)
    + ". Targets (mean): the mean inside the window (the earlier convention, for comparison). Targets (90 % "
    "interval): ✓ the whole interval inside the window (two one-sided tests at 5 %), ✗ wholly outside it, "
    "? cannot resolve (the interval straddles an edge of the window)"
)


def _cell(cell: dict | None, decimals: int = 3, signed: bool = False, percent: bool = False) -> str:
    if not cell or cell.get("mean") is None:
        return "–"
    scale = 100 if percent else 1
    text = f"{cell['mean'] * scale:{'+' if signed else ''}.{decimals}f}"
    if float(text) == 0:
        text = f"{0:.{decimals}f}"
    if cell.get("std") is not None:
        text += f" ± {cell['std'] * scale:.{decimals}f}"
    return text + (" %" if percent else "")


def gaps_table(rows: dict, evidence: dict | None = None) -> str:
    """Markdown table of one group: gaps to gold, time share, KL to gold and which targets the means meet. With
    `evidence` (`{"intervals": {model: {figure: [low, high]}}, "equivalence": {model: {target: state}}}`, one group
    of `evidence.evidence`), each cell shows the mean with its 90 % interval instead of the std, and a second targets
    column gives the decision by equivalence."""
    intervals = (evidence or {}).get("intervals") or {}
    decisions = (evidence or {}).get("equivalence") or {}
    header = "| Method | n | Forget acc − gold | Test acc − gold | Held-out MIA − gold | Time / gold | KL to gold "
    header += "| Targets |" if evidence is None else "| Targets (mean) | Targets (90 % interval) |"
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    for model, figures in rows.items():
        if model == "gold":
            continue
        own = intervals.get(model) or {}

        def cell(key: str, **style) -> str:
            if evidence is None:
                return _cell(figures.get(key), **style)
            return _interval_cell(figures.get(key), own.get(key), **style)

        if evidence is None:
            mia = MIA_GAPS[0] if figures.get(MIA_GAPS[0]) else MIA_GAPS[1]
        else:
            mia = next((k for k in MIA_GAPS if (figures.get(k) or {}).get("mean") is not None), MIA_GAPS[0])
        marks = " ".join("–" if v is None else ("✓" if v else "✗") for v in target_marks(figures).values())
        if evidence is not None:
            states = decisions.get(model) or {}
            marks += " | " + " ".join(DECISION_MARKS[states.get(name)] for name, *_ in TARGETS)
        n = max((c.get("n", 0) for c in figures.values()), default=0)
        name = "original (no unlearning)" if model == "original" else model
        lines.append(
            f"| {name} | {n} | {cell(FORGET_GAP, signed=True)} | {cell(TEST_GAP, signed=True)} | "
            f"{cell(mia, signed=True)} | {cell(TIME_SHARE, decimals=1, percent=True, signed=False)} | "
            f"{cell(KL_TO_GOLD, signed=False)} | {marks} |"
        )
    return "\n".join(lines) + "\n\n" + (MEAN_CAPTION if evidence is None else INTERVAL_CAPTION) + ".\n"


# ---------------------------------------------------------------------------------- intervals and equivalence
# The decisions of `hf_unlearn.benchmark.evidence` as table symbols.
DECISION_MARKS = {"met": "✓", "not met": "✗", "cannot resolve": "?", None: "–"}


def _interval_cell(cell: dict | None, interval, decimals: int = 3, percent: bool = False, signed: bool = True) -> str:
    """`mean [low, high]` (percent: both scaled by 100)."""
    if not cell or cell.get("mean") is None:
        return "–"
    scale = 100 if percent else 1
    text = _cell({"mean": cell["mean"]}, decimals, signed, percent)
    if not interval:
        return text
    low, high = (v * scale for v in interval)
    bounds = f"[{low:.{decimals}f}, {high:.{decimals}f}]" if percent or not signed else format_interval(interval)
    return text.replace(" %", "") + f" {bounds}" + (" %" if percent else "")


def _two_sided(name: str) -> bool:
    return all(math.isfinite(edge) for edge in TARGET_WINDOWS[name])


def _margin(name: str) -> float:
    return min(abs(edge) for edge in TARGET_WINDOWS[name] if math.isfinite(edge))


def group_evidence(result: dict, group: str) -> dict | None:
    """One group's slice of the result's interval keys (`None` for a result written before they existed)."""
    if "intervals" not in result:
        return None
    return {
        key: (result.get(key) or {}).get(group) or {}
        for key in ("intervals", "equivalence", "resolution", "gold_floor", "targets_met_equivalence")
    }


def evidence_lines(result: dict, group: str) -> list[str]:
    """The group's decision by equivalence, its gold floor and the smallest gap its data resolve (Markdown)."""
    evidence = group_evidence(result, group)
    if evidence is None:
        return []
    met = evidence["targets_met_equivalence"] or []
    lines = [
        "All four targets met by equivalence (each target's whole 90 % interval inside its window): "
        f"{', '.join(met) or 'none'}."
    ]
    floor = evidence["gold_floor"]
    if floor:
        names = {"forget_accuracy": "forget acc", "test_accuracy": "test acc", "mia_heldout": "held-out MIA",
                 "mia": "MIA"}  # fmt: skip
        lines.append(
            "Gold floor (mean |gold seed i − gold seed j| over the requests; no method is reliably closer to gold): "
            + ", ".join(f"{names[k]} {v:.3f}" for k, v in floor.items())
            + "."
        )
    resolved = {name: width for name, width in evidence["resolution"].items() if width is not None}
    if resolved:
        text = ", ".join(
            f"{name} {width * 100:.1f} %" if name == "time" else f"{name} {width:.3f}"
            for name, width in resolved.items()
        )
        # A two-sided window narrower than the interval cannot hold it: that target cannot be met on these data.
        coarse = [name for name, width in resolved.items() if _two_sided(name) and width > _margin(name)]
        lines.append(
            f"Smallest gap the data resolve (median half-width of the methods' 90 % intervals): {text}."
            + (
                f" Wider than the margin of {', '.join(coarse)}: a typical interval cannot fit in that window here."
                if coarse
                else ""
            )
        )
    return lines


def floor_lines(result: dict, group: str) -> list[str]:
    """The group's floor (two gold seeds' mean forget-accuracy distance), the mean |forget acc - gold| and stop step
    of each method, how often its runs reached the target or kept the original (no admissible step kept utility),
    and the methods within reach of gold by the stopping rule's acceptance."""
    floor = (result.get("stopping_floor") or {}).get(group)
    if floor is None:
        return []
    rows = result["summary"][group]
    cells = [
        f"{m} {_cell(f.get('abs_forget_accuracy_minus_gold'))}"
        + (f" (step {f['stopped_at_step']['mean']:.0f})" if (f.get("stopped_at_step") or {}).get("mean") else "")
        for m, f in rows.items()
        if m not in REFERENCE_MODELS
    ]
    within = (result.get("stopping_acceptance") or {}).get(group) or ["none"]
    share = lambda f, key: f"{(f.get(key) or {}).get('mean', 0.0):.0%}"  # noqa: E731
    reach = [
        f"{m} {share(f, 'stop_reached')} / {share(f, 'stop_kept_original')}"
        for m, f in rows.items()
        if m not in REFERENCE_MODELS and f.get("stop_reached")
    ]
    return [
        f"Floor (mean |forget acc of gold seed i - gold seed j|): {floor:.3f}. Mean |forget acc − gold| (mean "
        f"stop step): {'; '.join(cells)}. Within floor + {STOP_MARGIN} with |mean gap| <= {STOP_MEAN_GAP}, test − "
        f"gold >= {STOP_TEST_GAP} and time <= {STOP_TIME_SHARE * 100:.0f} % of gold's: {', '.join(within)}."
    ] + (
        [
            "Runs that reached the stopping target / that ended on the original (no admissible check kept utility): "
            + "; ".join(reach)
            + ". A method that never reaches it has no stopping point on these requests."
        ]
        if reach
        else []
    )
