"""Per-run rows, mean / std / n per group and model, the four targets, and the Markdown tables (report and README)."""

from __future__ import annotations

import math
import re

import numpy as np

# Figures carried into the summary (mean, std, n); the rest of each run's record stays in `runs`.
SUMMARY_KEYS = (
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
    "forget_accuracy_minus_gold",
    "test_accuracy_minus_gold",
    "mia_heldout_minus_gold",
    "mia_minus_gold",
    "unlearning_time",
    "gold_train_time",
    "time_share_of_gold",
)

# (name, keys (the first present is used), test, text): each a mean over a group's runs.
TARGETS = (
    ("forget", ("forget_accuracy_minus_gold",), lambda v: abs(v) <= 0.02, "|forget acc - gold| <= 0.02"),
    ("test", ("test_accuracy_minus_gold",), lambda v: v >= -0.01, "test acc - gold >= -0.01"),
    # Sample requests have no held-out recordings of the forgotten rows; their MIA is the population attack's.
    ("mia", ("mia_heldout_minus_gold", "mia_minus_gold"), lambda v: abs(v) <= 0.03, "|held-out MIA - gold| <= 0.03"),
    ("time", ("time_share_of_gold",), lambda v: v <= 0.05, "time <= 5 % of gold's retraining"),
)
REFERENCE_MODELS = ("original", "gold")
README_START, README_END = "<!-- fsdd-results:start -->", "<!-- fsdd-results:end -->"


def run_rows(run: dict) -> dict:
    """`{model: {figure: value}}` of one stored run: the unlearned model's metrics with the record's gaps and times,
    and the original's and gold's metrics (numbers only)."""
    record = run["record"]
    row = {k: v for k, v in record.get("unlearned", {}).items() if _number(v)}
    row.update({k: v for k, v in record.items() if _number(v) and k != "seed"})
    rows = {name: {k: v for k, v in record.get(name, {}).items() if _number(v)} for name in REFERENCE_MODELS}
    rows[run["method"]] = row
    return rows


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def mean_std(values) -> dict:
    """`{"mean", "std", "n"}` of the finite values (sample std, ddof=1; `None` for a single value)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return {"mean": None, "std": None, "n": 0}
    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else None
    return {"mean": float(np.mean(finite)), "std": std, "n": len(finite)}


def aggregate(runs: list[dict]) -> dict:
    """`{group: {model: {figure: {"mean", "std", "n"}}}}` over the runs. The original and gold rows count each
    (request, seed) once, however many methods ran on it."""
    grouped: dict = {}
    seen = set()
    for run in runs:
        for model, row in run_rows(run).items():
            if model in REFERENCE_MODELS:
                if (run["group"], run["request"], run["seed"], model) in seen:
                    continue
                seen.add((run["group"], run["request"], run["seed"], model))
            bucket = grouped.setdefault(run["group"], {}).setdefault(model, {})
            for key in SUMMARY_KEYS:
                if row.get(key) is not None:
                    bucket.setdefault(key, []).append(row[key])
    summary = {}
    for group, models in grouped.items():
        ordered = [m for m in REFERENCE_MODELS if m in models] + [m for m in models if m not in REFERENCE_MODELS]
        summary[group] = {m: {k: mean_std(v) for k, v in models[m].items()} for m in ordered}
    return summary


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
    mia = original.get("mia_heldout_minus_gold") or original.get("mia_minus_gold")
    return [
        "**The original model itself (no unlearning) is within the forget, test and MIA targets here** (forget acc "
        f"− gold {_cell(original.get('forget_accuracy_minus_gold'), signed=True)}, MIA − gold "
        f"{_cell(mia, signed=True)}): on this group the targets cannot tell forgetting from doing nothing, so "
        "meeting them shows nothing."
    ]


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


def gaps_table(rows: dict) -> str:
    """Markdown table of one group: gaps to gold, time share, KL to gold and which targets the means meet."""
    header = (
        "| Method | n | Forget acc − gold | Test acc − gold | Held-out MIA − gold | Time / gold | KL to gold "
        "| Targets |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for model, figures in rows.items():
        if model == "gold":
            continue
        marks = target_marks(figures)
        targets = " ".join("–" if v is None else ("✓" if v else "✗") for v in marks.values())
        mia = figures.get("mia_heldout_minus_gold") or figures.get("mia_minus_gold")
        n = max((c.get("n", 0) for c in figures.values()), default=0)
        name = "original (no unlearning)" if model == "original" else model
        lines.append(
            f"| {name} | {n} | {_cell(figures.get('forget_accuracy_minus_gold'), signed=True)} | "
            f"{_cell(figures.get('test_accuracy_minus_gold'), signed=True)} | {_cell(mia, signed=True)} | "
            f"{_cell(figures.get('time_share_of_gold'), decimals=1, percent=True)} | "
            f"{_cell(figures.get('kl_to_gold'))} | {targets} |"
        )
    caption = (
        "Mean ± std over the group's runs; closest to 0 is better for the gaps; the original's row is what doing "
        "nothing scores (sample requests have no held-out "
        "recordings of the forgotten rows: their MIA column is the population MIA against test). Targets: "
        + "; ".join(text for *_, text in TARGETS)
    )
    return "\n".join(lines) + "\n\n" + caption + ".\n"


def markdown_report(result: dict) -> str:
    """The whole Markdown report of a benchmark result (the dict written to `<name>.json`)."""
    name = (result.get("arguments") or {}).get("name") or "fsdd"
    title = "FSDD" if name == "fsdd" else name
    parts = [f"# {title} benchmark\n\n`{result['command']}`: {result['date']}, {len(result['runs'])} run(s).\n"]
    if result.get("errors"):
        parts.append(f"**{len(result['errors'])} run(s) failed**: see `errors` in the JSON.\n")
    for group, rows in result["summary"].items():
        meeting = result["targets_met"].get(group) or ["none"]
        parts.append(f"## {group}\n\nMethods meeting all four targets: {', '.join(meeting)}.\n")
        parts += [line + "\n" for line in do_nothing_lines(rows)]
        parts.append(gaps_table(rows))
    return "\n".join(parts)


def protocol_lines(result: dict) -> list[str]:
    """A few lines saying what was tuned on what, by which criterion, with how many trials (from the JSON)."""
    args, kinds = result["arguments"], result.get("tuning", {}).get("kinds", {})
    if not kinds:
        return ["Settings: the shipped per-method settings (no tuning in this run)."]
    trials = sum(len(e.get("trials", [])) for k in kinds.values() for e in k["methods"].values())
    requests = "; ".join(f"{kind}: {', '.join(k['requests'])}" for kind, k in kinds.items())
    return [
        f"Protocol: each method's learning rate ({args['tune_learning_rates']}) and length (epochs "
        f"{args['tune_epochs']}) are tuned jointly per request kind on validation data only, on {requests} "
        f"(seed {args['seeds'][0]}; {trials} trials in all), and the choice is applied to every request and seed. "
        "Criterion: the smallest |forget-validation accuracy - gold's| (sample requests: |forget accuracy - "
        "retain-validation accuracy|) plus twice the retain-validation accuracy lost beyond "
        f"{args['tune_standard_errors']:g} binomial standard errors of the original's, the fewest epochs among "
        "near-ties. Test and forget_test never reach the tuner (`hf_unlearn.benchmark.tuning`).",
        "",
    ]


def readme_block(result: dict, json_path: str = "recipes/results/fsdd.json") -> str:
    """The README's results block (between `README_START` and `README_END`), generated from the JSON: the command,
    the protocol, and per group the gaps table with the methods that meet all four targets and those that do not."""
    lines = [
        README_START,
        f"<!-- generated from {json_path} by hf_unlearn.benchmark.group_summary.readme_block; do not edit by hand -->",
        f"Command: `{result['command']}` ({result['date']}, seeds {result['arguments']['seeds']}).",
        "",
        *protocol_lines(result),
    ]
    for group, rows in result["summary"].items():
        meeting = result["targets_met"].get(group) or []
        missing = [m for m in rows if m not in REFERENCE_MODELS and m not in meeting]
        lines.append(
            f"**{group}**: all four targets met by {', '.join(meeting) or 'no method'}; "
            f"not met by {', '.join(missing) or 'none'}."
        )
        for line in do_nothing_lines(rows):
            lines += ["", line]
        lines += ["", gaps_table(rows)]
    return "\n".join(lines).rstrip() + "\n" + README_END


def update_readme(path: str, block: str) -> bool:
    """Replaces the block between the markers in the file at `path` (appends it when absent); returns whether the
    file changed."""
    with open(path) as handle:
        text = handle.read()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.DOTALL)
    new = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    if new != text:
        with open(path, "w") as handle:
            handle.write(new)
    return new != text
