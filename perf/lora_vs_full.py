"""LoRA next to full-weight unlearning, from two benchmark results (a script; reads JSON, trains nothing).

`hf-unlearn benchmark ... --lora_r 8` and the same command without `--lora_r` write two results (`<name>.json`);
this prints one table per group with, for every method in either, the full-weight and the LoRA figures side by side
(a mode a method did not run in, e.g. SalUn, which refuses adapters, shows "not run"):
mean forget and test gaps to gold (± std over the runs), the time share of gold's retraining, the adapter's
trainable share (from the runs' `peft` records) and whether the method meets the LoRA targets: mean |forget acc -
gold| <= 0.02, mean test acc - gold >= -0.01, mean time <= `--time_share` of gold's (default 10 %).

Usage:

    python perf/lora_vs_full.py path/to/full/<name>.json path/to/lora/<name>.json [--time_share 0.10]
"""

from __future__ import annotations

import argparse
import json
import statistics

from hf_unlearn.benchmark.group_summary import FORGET_GAP, REFERENCE_MODELS, TEST_GAP, TIME_SHARE, aggregate


def trainable_shares(runs: list[dict]) -> dict:
    """`{(group, method): mean trainable share}` of the runs that carry an adapter record."""
    shares: dict = {}
    for run in runs:
        peft = (run.get("record") or {}).get("peft")
        if peft and peft.get("total_parameters"):
            share = peft["trainable_parameters"] / peft["total_parameters"]
            shares.setdefault((run["group"], run["method"]), []).append(share)
    return {key: statistics.mean(values) for key, values in shares.items()}


def meets(figures: dict, time_share: float) -> bool | None:
    """The LoRA targets on a method's summary row (None when a figure is missing)."""
    values = [(figures.get(key) or {}).get("mean") for key in (FORGET_GAP, TEST_GAP, TIME_SHARE)]
    if None in values:
        return None
    forget, test, time = values
    return abs(forget) <= 0.02 and test >= -0.01 and time <= time_share


def _cell(cell: dict | None, percent: bool = False) -> str:
    if not cell or cell.get("mean") is None:
        return "–"
    scale, sign = (100, "") if percent else (1, "+")
    text = f"{scale * cell['mean']:{sign}.{1 if percent else 3}f}"
    if cell.get("std") is not None:
        text += f" ± {scale * cell['std']:.{1 if percent else 3}f}"
    return text + (" %" if percent else "")


def comparison_table(full: dict, lora: dict, time_share: float = 0.10) -> str:
    """Markdown: per group, two rows (full, LoRA) per method present in either result."""
    full_summary, lora_summary = aggregate(full["runs"]), aggregate(lora["runs"])
    shares = trainable_shares(lora["runs"])
    lines = []
    for group, rows in full_summary.items():
        other = lora_summary.get(group, {})
        methods = [m for m in {**rows, **other} if m not in REFERENCE_MODELS]
        lines += [
            f"### {group}",
            "",
            "| method | mode | n | forget acc − gold | test acc − gold | time / gold | trainable | targets |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for method in methods:
            for mode, figures in (("full", rows.get(method)), ("LoRA", other.get(method))):
                if figures is None:
                    lines.append(f"| {method} | {mode} | 0 | not run | | | | |")
                    continue
                share = shares.get((group, method)) if mode == "LoRA" else 1.0
                ok = meets(figures, time_share)
                mark = "–" if ok is None else "✓" if ok else "✗"
                lines.append(
                    f"| {method} | {mode} | {(figures.get(FORGET_GAP) or {}).get('n', 0)} | "
                    f"{_cell(figures.get(FORGET_GAP))} | {_cell(figures.get(TEST_GAP))} | "
                    f"{_cell(figures.get(TIME_SHARE), percent=True)} | "
                    f"{'–' if share is None else f'{100 * share:.1f} %'} | {mark} |"
                )
        lines.append("")
    targets = f"|forget acc − gold| <= 0.02, test acc − gold >= -0.01, time <= {100 * time_share:.0f} % of gold's"
    lines.append(f"Means ± std over the runs of each result; targets (on the means): {targets}.")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("full", help="The full-weight benchmark result (<name>.json).")
    parser.add_argument("lora", help="The LoRA benchmark result (<name>.json, run with --lora_r).")
    parser.add_argument("--time_share", type=float, default=0.10, help="Time target, a share of gold's retraining.")
    options = parser.parse_args(argv)
    with open(options.full) as handle:
        full = json.load(handle)
    with open(options.lora) as handle:
        lora = json.load(handle)
    print(f"Full weights: `{full['command']}`\n\nLoRA: `{lora['command']}`\n")
    print(comparison_table(full, lora, options.time_share))


if __name__ == "__main__":
    main()
