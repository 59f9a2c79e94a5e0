"""The benchmark's documents from its result (the dict written to `<name>.json`): the Markdown report
(`<name>.md`) and the README's generated results block, both assembled from `group_summary`'s tables and lines."""

from __future__ import annotations

import re

from hf_unlearn.benchmark.group_summary import (
    REFERENCE_MODELS,
    do_nothing_lines,
    evidence_lines,
    floor_lines,
    gaps_table,
    group_evidence,
    target_error_lines,
)
from hf_unlearn.evaluation.intervals import UTILITY_STANDARD_ERRORS


def readme_markers(name: str = "fsdd") -> tuple[str, str]:
    """The markers around a benchmark's generated block in a README: one pair per benchmark name, so the blocks of
    several datasets live in one file."""
    return f"<!-- {name}-results:start -->", f"<!-- {name}-results:end -->"


def result_name(result: dict) -> str:
    return (result.get("arguments") or {}).get("name") or "fsdd"


README_START, README_END = readme_markers()  # FSDD's


def markdown_report(result: dict) -> str:
    """The whole Markdown report of a benchmark result (the dict written to `<name>.json`)."""
    name = result_name(result)
    title = "FSDD" if name == "fsdd" else name
    parts = [f"# {title} benchmark\n\n`{result['command']}`: {result['date']}, {len(result['runs'])} run(s).\n"]
    parts += [line + "\n" for line in report_lines(result)]
    if result.get("errors"):
        parts.append(f"**{len(result['errors'])} run(s) failed**: see `errors` in the JSON.\n")
    for group, rows in result["summary"].items():
        meeting = result["targets_met"].get(group) or ["none"]
        parts.append(f"## {group}\n\nMethods meeting all four targets: {', '.join(meeting)}.\n")
        parts += [line + "\n" for line in floor_lines(result, group) + target_error_lines(result, group)]
        parts += [line + "\n" for line in do_nothing_lines(rows)]
        parts += [line + "\n" for line in evidence_lines(result, group)]
        parts.append(gaps_table(rows, group_evidence(result, group)))
    return "\n".join(parts)


def report_lines(result: dict) -> list[str]:
    """The line saying that the summary was re-aggregated from the stored runs (`--report_only`), if it was."""
    report = result.get("report")
    if not report:
        return []
    return [
        f"Summary re-aggregated from the stored runs, nothing retrained: `{report['command']}` ({report['date']})."
    ]


def protocol_lines(result: dict) -> list[str]:
    """A few lines saying what was tuned on what, by which criterion, with how many trials (from the JSON)."""
    args, kinds = result["arguments"], result.get("tuning", {}).get("kinds", {})
    if not kinds:
        return ["Settings: the shipped per-method settings (no tuning in this run)."]
    trials = sum(len(e.get("trials", [])) for k in kinds.values() for e in k["methods"].values())
    requests = "; ".join(f"{kind}: {', '.join(k['requests'])}" for kind, k in kinds.items())
    length = f"length (epochs {args['tune_epochs']})"
    if args.get("stopping"):
        length = (
            f"stopping target ({args.get('tune_targets')}; the length from the stopping rule, capped at "
            f"{args.get('stop_max_epochs')} epochs; utility tolerance "
        )
        if args.get("stop_retain_tolerance") is not None:
            length += f"{args['stop_retain_tolerance']})"
        else:
            tolerances = args.get("tune_stop_standard_errors") or [UTILITY_STANDARD_ERRORS]
            length += f"{tolerances} binomial standard errors)"
    return [
        f"Protocol: each method's learning rate ({args['tune_learning_rates']}) and {length} "
        f"are tuned jointly per request kind on validation data only, on {requests} "
        f"(seed {args['seeds'][0]}; {trials} trials in all), and the choice is applied to every request and seed. "
        "Criterion: the smallest |forget-validation accuracy - gold's| (sample requests: |forget accuracy - "
        "retain-validation accuracy|) plus twice the retain-validation accuracy lost beyond "
        f"{args['tune_standard_errors']:g} binomial standard errors of the original's, the fewest epochs among "
        "near-ties. Test and forget_test never reach the tuner (`hf_unlearn.benchmark.tuning`).",
        "",
    ]


def readme_block(result: dict, json_path: str = "recipes/results/fsdd.json") -> str:
    """The README's results block (between the benchmark's `readme_markers`), generated from the JSON: the command,
    the protocol, and per group the gaps table with the methods that meet all four targets and those that do not."""
    start, end = readme_markers(result_name(result))
    lines = [
        start,
        f"<!-- generated from {json_path} by hf_unlearn.benchmark.report_markdown; do not edit by hand -->",
        f"Command: `{result['command']}` ({result['date']}, seeds {result['arguments']['seeds']}).",
        "",
        *[line for line in report_lines(result) for line in (line, "")],
        *protocol_lines(result),
    ]
    for group, rows in result["summary"].items():
        meeting = result["targets_met"].get(group) or []
        missing = [m for m in rows if m not in REFERENCE_MODELS and m not in meeting]
        lines.append(
            f"**{group}**: all four targets met{' (judged on the mean)' if 'intervals' in result else ''} by "
            f"{', '.join(meeting) or 'no method'}; "
            f"not met by {', '.join(missing) or 'none'}."
        )
        for line in do_nothing_lines(rows) + evidence_lines(result, group):
            lines += ["", line]
        lines += ["", gaps_table(rows, group_evidence(result, group))]
    return "\n".join(lines).rstrip() + "\n" + end


def update_readme(path: str, block: str) -> bool:
    """Replaces the block between the block's own markers in the file at `path` (appends it when absent); returns
    whether the file changed."""
    with open(path) as handle:
        text = handle.read()
    start, end = block.splitlines()[0], block.splitlines()[-1]
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    new = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    if new != text:
        with open(path, "w") as handle:
            handle.write(new)
    return new != text
