"""Best-run model cards per group: the method meeting the most targets (then the smallest summed distance to gold),
and its run closest to gold on the forget set."""

from __future__ import annotations

import os
import re

from hf_unlearn.benchmark.group_summary import (
    FORGET_GAP,
    MIA_GAPS,
    REFERENCE_MODELS,
    TARGETS,
    TEST_GAP,
    TIME_SHARE,
    target_marks,
)
from hf_unlearn.evaluation.intervals import format_interval, run_interval_lines


def _distance(figures: dict) -> float:
    return sum(abs((figures.get(k) or {}).get("mean") or 0.0) for k in (FORGET_GAP, TEST_GAP, MIA_GAPS[0]))


def best_method(rows: dict) -> str | None:
    """The group's best method: most targets met, then the smallest summed |gap| to gold."""
    methods = [m for m in rows if m not in REFERENCE_MODELS]
    if not methods:
        return None
    return min(methods, key=lambda m: (-sum(bool(v) for v in target_marks(rows[m]).values()), _distance(rows[m])))


EVIDENCE_HEADING = "## Uncertainty (from the benchmark)"


def evidence_section(run: dict, result: dict) -> str:
    """The section appended to a best-run card: this run's gaps with their intervals (unless its card already
    has them), and its method's group means with their 90 % intervals, decisions by equivalence and gold floor."""
    from hf_unlearn.benchmark.evidence import run_intervals

    record, group, method = run["record"], run["group"], run["method"]
    lines = [EVIDENCE_HEADING, ""]
    if run_intervals(run) and "Gaps to the gold model with their" not in run.get("card", ""):
        gold = record.get("gold") or {}
        sizes = {**(record.get("request") or {}), **{k: v for k, v in gold.items() if k.startswith("num_")}}
        lines += ["**This run.** " + line if i == 0 else line for i, line in enumerate(
            run_interval_lines(record.get("unlearned") or {}, gold, sizes)
        )]  # fmt: skip
        lines.append("")
    figures = result["summary"].get(group, {}).get(method, {})
    own = (result.get("intervals") or {}).get(group, {}).get(method, {})
    marks = (result.get("equivalence") or {}).get(group, {}).get(method, {})
    lines += [
        f"**{method} on the benchmark's {group} requests** (mean over {max(c.get('n', 0) for c in figures.values())} "
        "runs, 90 % interval by a bootstrap over requests, then seeds within each request):",
        "",
    ]
    for (name, keys, _, text), key in zip(TARGETS, (FORGET_GAP, TEST_GAP, None, TIME_SHARE)):
        key = key or next((k for k in keys if (figures.get(k) or {}).get("mean") is not None), keys[0])
        cell = figures.get(key) or {}
        if cell.get("mean") is None:
            continue
        lines.append(
            f"- {key}: {cell['mean']:+.3f} {format_interval(own.get(key))}; target {text}: "
            f"{marks.get(name) or 'no interval'}"
        )
    floor = (result.get("gold_floor") or {}).get(group, {})
    if floor.get("forget_accuracy") is not None:
        lines += [
            "",
            f"Two gold models of the same request (other seeds) differ by {floor['forget_accuracy']:.3f} in forget "
            'accuracy on average: no method is reliably closer to gold than that. "cannot resolve" means the '
            "interval straddles an edge of the target: these runs do not decide it.",
        ]
    return "\n".join(lines) + "\n"


def names_forgotten_person(run: dict, card: str) -> bool:
    """Whether the stored card of a speaker-identification run names the forgotten speaker (the class is the person):
    cards written before such requests were published as a count do. Such a card is withheld, not published; rerun
    the benchmark to write one that counts instead (`hf_unlearn.hub.speaker_labels`)."""
    if run.get("group") != "speaker_id":
        return False
    person = str(run.get("request", "")).removeprefix("speaker id").strip()
    return bool(person) and re.search(rf"(?<!\w){re.escape(person)}(?!\w)", card) is not None


def write_best_cards(
    summary: dict, runs: list[dict], folder: str, stem: str = "fsdd", result: dict | None = None
) -> list[str]:
    """Writes `<folder>/<stem>_<group>_<method>.md` per group from the best method's stored card (the run with the
    smallest |forget accuracy - gold|), with `evidence_section` appended when `result` (the benchmark JSON, with
    its interval keys) is given; returns the paths written. A speaker-identification card that names the forgotten
    speaker is withheld ([`names_forgotten_person`]) and an earlier copy of it removed."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for group, rows in summary.items():
        method = best_method(rows)
        candidates = [r for r in runs if r["group"] == group and r["method"] == method and r.get("card")]
        if not candidates:
            continue
        run = min(candidates, key=lambda r: abs(r["record"].get(FORGET_GAP) or 0.0))
        slug = group.replace(" ", "_").replace("%", "pct")
        path = os.path.join(folder, f"{stem}_{slug}_{method}.md")
        card = run["card"]
        if names_forgotten_person(run, card):  # a stored card from before speaker-ID requests were counted
            if os.path.exists(path):
                os.remove(path)
            continue
        if result is not None and "intervals" in result:
            # Before the limitations when the card has them (the stored cards do), else at the end.
            head, limits, tail = card.partition("\n## Limitations")
            card = head.rstrip("\n") + "\n\n" + evidence_section(run, result) + (limits + tail if limits else "")
        with open(path, "w") as handle:
            handle.write(card)
        paths.append(path)
    return paths
