"""Best-run model cards per group: the method meeting the most targets (then the smallest summed distance to gold),
and its run closest to gold on the forget set."""

from __future__ import annotations

import os

from hf_unlearn.benchmark.group_summary import FORGET_GAP, MIA_GAPS, REFERENCE_MODELS, TEST_GAP, target_marks


def _distance(figures: dict) -> float:
    return sum(abs((figures.get(k) or {}).get("mean") or 0.0) for k in (FORGET_GAP, TEST_GAP, MIA_GAPS[0]))


def best_method(rows: dict) -> str | None:
    """The group's best method: most targets met, then the smallest summed |gap| to gold."""
    methods = [m for m in rows if m not in REFERENCE_MODELS]
    if not methods:
        return None
    return min(methods, key=lambda m: (-sum(bool(v) for v in target_marks(rows[m]).values()), _distance(rows[m])))


def write_best_cards(summary: dict, runs: list[dict], folder: str, stem: str = "fsdd") -> list[str]:
    """Writes `<folder>/<stem>_<group>_<method>.md` per group from the best method's stored card (the run with the
    smallest |forget accuracy - gold|); returns the paths written."""
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
        with open(path, "w") as handle:
            handle.write(run["card"])
        paths.append(path)
    return paths
