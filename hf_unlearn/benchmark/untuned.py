"""The benchmark's figures over the requests that were NOT used for tuning.

Tuning reads the first `--tune_requests` requests of each kind (validation data only, first seed), and the chosen
setting then runs on every request, those included. Their test figures are not tuned on, but the setting was chosen on
them: figures over the other requests alone are the held-out view. `finish` records which requests were tuned on
(`tuning_requests`) and adds `summary_untuned` / `targets_met_untuned` next to `summary` / `targets_met` (same
layout); a group all of whose requests were tuned on has no untuned figures.
"""

from __future__ import annotations


def tuning_requests(tuning: dict) -> dict:
    """`{kind: [request names]}`: the requests each kind was tuned on (empty when nothing was tuned)."""
    return {kind: list(record.get("requests", [])) for kind, record in (tuning or {}).items()}


def untuned_runs(runs: list[dict], tuned: dict) -> list[dict]:
    """The runs whose request was not tuned on (`tuned`: `tuning_requests`). A tuned request is left out under every
    seed: under the other seeds a speaker or class request forgets the same recordings, and a sample request the same
    share, so its setting was still chosen on it."""
    return [run for run in runs if run["request"] not in tuned.get(run["group"], ())]


def untuned_figures(runs: list[dict], tuning: dict) -> dict:
    """The result keys added by `finish`: `tuning_requests`, `summary_untuned` and `targets_met_untuned`."""
    from hf_unlearn.benchmark.group_summary import aggregate, methods_meeting_targets

    tuned = tuning_requests(tuning)
    summary = aggregate(untuned_runs(runs, tuned))
    return {
        "tuning_requests": tuned,
        "summary_untuned": summary,
        "targets_met_untuned": methods_meeting_targets(summary),
    }


def untuned_lines(result: dict, heading: str = "###", tables: bool = True) -> list[str]:
    """Markdown lines per group: the requests tuned on, the methods meeting the targets over the other requests and
    (with `tables`) their gaps table."""
    from hf_unlearn.benchmark.group_summary import gaps_table

    tuned = result.get("tuning_requests") or {}
    if not tuned:
        return []
    lines = []
    for group in result["summary"]:
        names = tuned.get(group, [])
        rows = (result.get("summary_untuned") or {}).get(group)
        lines.append(f"{heading} {group}: requests not used for tuning\n")
        lines.append(f"Tuned on: {', '.join(names) if names else 'no request of this group'}.\n")
        if not rows:
            lines.append("Every request of this group was used for tuning: no untuned figures.\n")
            continue
        meeting = (result.get("targets_met_untuned") or {}).get(group) or ["none"]
        lines.append(f"Over the other requests only, methods meeting all four targets: {', '.join(meeting)}.\n")
        if tables:
            lines.append(gaps_table(rows))
    return lines


def results_block(result: dict, json_path: str) -> str:
    """The generated results block (`report_markdown.readme_block`) with, before its end marker, the figures over
    the requests tuning did not read: what `hf-unlearn benchmark --readme` writes."""
    from hf_unlearn.benchmark.report_markdown import readme_block, readme_markers, result_name

    block = readme_block(result, json_path)
    end = readme_markers(result_name(result))[1]
    untuned = "\n".join(untuned_lines(result, heading="####", tables=False))
    return block.replace(end, "\n" + untuned + "\n" + end) if untuned else block
