"""The benchmark figure: per group, each method's forget gap (x) against its test gap (y), both to gold, with error
bars (the 90 % interval of the group mean when `intervals` are given, else the std over the group's runs), the target
region shaded, the gold floor (how far two gold models of one request differ) as dotted lines, one colour and marker
per method, the original model (what doing nothing scores) as a black cross, the legend outside."""

from __future__ import annotations

from hf_unlearn.benchmark.group_summary import FORGET_GAP, REFERENCE_MODELS, TEST_GAP

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h", "p", "d", "8")
FORGET_TARGET, TEST_TARGET = 0.02, -0.01


def _style(index: int):
    """A distinct (colour, marker) for method `index`: tab20 colours, markers cycled independently."""
    import matplotlib

    colours = matplotlib.colormaps["tab20"].colors
    return colours[(2 * index) % 20 if index < 10 else (2 * index + 1) % 20], MARKERS[index % len(MARKERS)]


def _error(cell: dict, interval) -> float | list:
    """The error bar of one mean: the distances to the interval's ends (as a 2x1 list), else the std."""
    if interval:
        return [[max(cell["mean"] - interval[0], 0.0)], [max(interval[1] - cell["mean"], 0.0)]]
    return cell.get("std") or 0


def gaps_figure(
    summary: dict, path: str, intervals: dict | None = None, floor: dict | None = None, resolution: dict | None = None
) -> str:
    """Draws one panel per group of `summary` (`{group: {model: {figure: {"mean", "std"}}}}`) to `path`; with
    `intervals` (`{group: {model: {figure: [low, high]}}}`) the error bars are those intervals, with `floor`
    (`{group: {"forget_accuracy": spread}}`) the gold floor is drawn at +/- the spread on the forget axis, and with
    `resolution` (`{group: {"forget": half-width}}`) each panel's title gives the smallest forget gap it resolves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(summary)
    methods = list(dict.fromkeys(m for rows in summary.values() for m in rows if m not in REFERENCE_MODELS))
    columns = min(2, len(groups))
    rows = -(-len(groups) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns + 2.4, 4.0 * rows), squeeze=False)
    axes = axes.ravel()
    for axis in axes[len(groups) :]:
        axis.set_visible(False)
    for axis, group in zip(axes, groups):
        axis.fill_between([-FORGET_TARGET, FORGET_TARGET], TEST_TARGET, 1.0, color="0.85", zorder=0, label="_target")
        axis.axvline(0, color="0.5", lw=0.6)
        axis.axhline(0, color="0.5", lw=0.6)
        spread = ((floor or {}).get(group) or {}).get("forget_accuracy")
        if spread:  # how far two gold models of one request differ: no method is reliably closer
            for side in (-spread, spread):
                axis.axvline(side, color="0.3", lw=0.8, ls=":", label="gold floor (forget)")
        xs, ys = [0.0], [0.0]
        original = summary[group].get("original", {})
        ox, oy = original.get(FORGET_GAP), original.get(TEST_GAP)
        if ox and oy and ox.get("mean") is not None and oy.get("mean") is not None:  # what doing nothing scores
            axis.plot(ox["mean"], oy["mean"], "x", color="black", ms=10, mew=2, label="original (no unlearning)")
            xs.append(ox["mean"])
            ys.append(oy["mean"])
        for index, method in enumerate(methods):
            figures = summary[group].get(method, {})
            x, y = figures.get(FORGET_GAP), figures.get(TEST_GAP)
            if not x or not y or x.get("mean") is None or y.get("mean") is None:
                continue
            colour, marker = _style(index)
            own = ((intervals or {}).get(group) or {}).get(method) or {}
            axis.errorbar(
                x["mean"],
                y["mean"],
                xerr=_error(x, own.get(FORGET_GAP)),
                yerr=_error(y, own.get(TEST_GAP)),
                fmt=marker,
                color=colour,
                markersize=7,
                markeredgecolor="black",
                markeredgewidth=0.5,
                alpha=0.85,
                capsize=2,
                label=method,
            )
            xs += [x["mean"], *(own.get(FORGET_GAP) or [])]
            ys += [y["mean"], *(own.get(TEST_GAP) or [])]
        pad_x = max(0.05, 0.1 * (max(xs) - min(xs)))
        pad_y = max(0.03, 0.1 * (max(ys) - min(ys)))
        axis.set_xlim(min(xs + [-FORGET_TARGET]) - pad_x, max(xs + [FORGET_TARGET]) + pad_x)
        axis.set_ylim(min(ys + [TEST_TARGET]) - pad_y, max(ys + [0.0]) + pad_y)
        notes = []
        if ((resolution or {}).get(group) or {}).get("forget") is not None:
            notes.append(f"resolves ±{resolution[group]['forget']:.3f}")
        if spread is not None:
            notes.append(f"gold floor {spread:.3f}")
        axis.set_title(f"{group} (forget gap: {', '.join(notes)})" if notes else group, fontsize=10)
        axis.set_xlabel("forget accuracy − gold (0 is best)")
        axis.set_ylabel("test accuracy − gold (≥ −0.01: target)")
    handles = {}
    for axis in axes:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    figure.legend(handles.values(), handles.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    bars = "mean and 90 % interval over requests and seeds" if intervals else "mean ± std over runs"
    figure.suptitle(f"Distance to gold per method ({bars}; grey: target region)")
    figure.tight_layout()
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path
