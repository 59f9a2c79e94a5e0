"""UnSLU-style results table (Markdown) and figure (PNG) from the dicts returned by `unlearning_metrics`.

`rows` is always `{model_name: metrics}`, e.g. `{"original": {...}, "gold": {...}, "neggrad_plus": {...}}`, in the
order the rows should appear. A metric value may be a number, a `(mean, std)` tuple or a `{"mean": ..., "std": ...}`
dict (several seeds), or missing.
"""

from __future__ import annotations

import math
import os
from numbers import Real

from .metric_table import metric

__all__ = [
    "MISSING",
    "ONE_CLASS_KINDS",
    "OPTIONAL_COLUMNS",
    "TABLE_CAPTION",
    "TABLE_COLUMNS",
    "UNDEFINED",
    "forget_metric_for",
    "results_figure",
    "results_table",
]

#: Shown in a cell whose metric is absent.
MISSING = "–"

#: Shown in a cell whose metric is present but undefined (`None`: GUM when gold's MIA is not below the original's).
UNDEFINED = "n/a"

#: Request kinds whose forget set holds one class: accuracy is their forget figure, macro-F1 is not shown.
ONE_CLASS_KINDS = ("class", "speaker-class", "speaker_class", "speaker_id")


def _column(key: str) -> tuple:
    """(header, keys tried in order, decimals, suffix) of the column of `key`, read from the metric table."""
    spec = metric(key)
    return spec.label, spec.read_from, spec.decimals, spec.suffix


#: (header, metric keys tried in order, decimals, suffix) of each column after the model name.
_TABLE_KEYS = ("test_f1", "test_accuracy", "forget_f1", "forget_accuracy", "mia", "gum", "cgum", "unlearning_time")
_TABLE_KEYS += ("speedup",)
TABLE_COLUMNS = tuple(_column(key) for key in _TABLE_KEYS)

#: Shown after "Forget Acc" when some row has it: accuracy on held-out recordings of what is forgotten (speakers,
#: classes), the forgetting that generalises beyond the forget set's own recordings.
FORGET_TEST_COLUMN = (
    *_column("forget_test_accuracy"),
    "Forget-test Acc (held-out recordings of what is forgotten): closest to gold",
)

#: Columns shown only when some row has the key, inserted after "MIA": (header, keys, decimals, suffix, caption).
OPTIONAL_COLUMNS = tuple((*_column(key), metric(key).caption) for key in ("mia_heldout", "lira_auc", "kl_to_gold"))
# The columns the optional ones follow, and the one left out when accuracy is the forget figure.
_OPTIONAL_AFTER, _FORGET_F1 = metric("mia").read_from, metric("forget_f1").read_from
_FORGET_ACCURACY = metric("forget_accuracy").read_from

#: The line under the table: the direction of every column, since "lower" is not the goal for forget metrics.
TABLE_CAPTION = (
    "F1/Acc test: higher is better; forget: closest to gold is better; MIA: closest to gold is better; "
    "GUM/CGUM: higher is better; Time: lower is better; Speed-up (gold retraining time / unlearning time): "
    "higher is better."
)


def forget_metric_for(request_kind: str | None) -> str:
    """The forget figure of a request kind: `"accuracy"` for one-class forget sets (class requests), else `"f1"`.

    On a one-class forget set macro-F1 says little (see `subset_metrics`), while accuracy is exactly the share of the
    forgotten class still recognised.

    Args:
        request_kind (`str`, *optional*):
            `"sample"`, `"speaker"`, `"class"` (or `"speaker-class"`); `None` when unknown.

    Returns:
        `str`: `"accuracy"` or `"f1"`.
    """
    return "accuracy" if request_kind in ONE_CLASS_KINDS else "f1"


def _mean_std(value) -> tuple[float, float | None] | None:
    """Splits a cell value into (mean, std or None); None when the value is missing."""
    if value is None:
        return None
    if isinstance(value, dict):
        return float(value["mean"]), (None if value.get("std") is None else float(value["std"]))
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"A (mean, std) value must have two entries; got {value!r}.")
        return float(value[0]), float(value[1])
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value), None
    raise ValueError(f"Cannot render {value!r} in the results table: expected a number, (mean, std) or a dict.")


def _format_number(value: float, decimals: int, suffix: str) -> str:
    if math.isinf(value):
        return ("∞" if value > 0 else "-∞") + suffix
    text = f"{value:.{decimals}f}"
    # A value that rounds to zero prints as 0, not "-0.000" (GUM's formula can return -1e-12).
    if float(text) == 0:
        text = f"{0:.{decimals}f}"
    return f"{text}{suffix}"


def format_cell(value, decimals: int = 3, suffix: str = "") -> str:
    """Renders one table cell: `MISSING` for None, `"0.812"` for a number, `"0.812 ± 0.010"` for a mean and std.

    Args:
        value (`float`, `tuple[float, float]`, `dict` or `None`):
            A number, a `(mean, std)` pair or a `{"mean": ..., "std": ...}` dict.
        decimals (`int`, *optional*, defaults to 3):
            Decimals of the mean and of the std.
        suffix (`str`, *optional*, defaults to `""`):
            Appended to the mean (e.g. `"×"` for the speed-up).

    Returns:
        `str`: the cell text.
    """
    parsed = _mean_std(value)
    if parsed is None:
        return MISSING
    mean, std = parsed
    text = _format_number(mean, decimals, suffix)
    if std is not None:
        text += f" ± {std:.{decimals}f}"
    return text


def _columns(rows: dict[str, dict], forget_metric: str) -> tuple[list[tuple], list[str]]:
    """The columns to show and the captions of the optional ones that are shown."""
    columns, captions = [], []
    for column in TABLE_COLUMNS:
        if forget_metric == "accuracy" and column[1] == _FORGET_F1:
            continue
        columns.append(column)
        if column[1] == _FORGET_ACCURACY and any(FORGET_TEST_COLUMN[1][0] in metrics for metrics in rows.values()):
            columns.append(tuple(FORGET_TEST_COLUMN[:4]))
            captions.append(FORGET_TEST_COLUMN[4])
        if column[1] == _OPTIONAL_AFTER:
            for *optional, caption in OPTIONAL_COLUMNS:
                if any(key in metrics for metrics in rows.values() for key in optional[1]):
                    columns.append(tuple(optional))
                    captions.append(caption)
    return columns, captions


def _cell(metrics: dict, keys: tuple[str, ...], decimals: int, suffix: str) -> str:
    """The first key with a value; `UNDEFINED` when the keys present are all None, `MISSING` when none is present."""
    value = next((metrics[key] for key in keys if metrics.get(key) is not None), None)
    if value is None and any(key in metrics for key in keys):
        return UNDEFINED
    return format_cell(value, decimals, suffix)


def results_table(rows: dict[str, dict], request_kind: str | None = None, forget_metric: str | None = None) -> str:
    r"""UnSLU-style Markdown table, one row per model, with the direction of every column in a caption below it.

    Columns: Model, Test F1, Test Acc, Forget F1, Forget Acc, MIA, GUM, CGUM, Time (s), Speed-up. After Forget Acc
    comes "Forget-test Acc" when some row has `forget_test_accuracy` (held-out recordings of what is forgotten). After
    MIA come "MIA held-out", "LiRA AUC" and "KL to gold" when some row has `mia_heldout`, `lira_auc` or `kl_to_gold`.
    For a one-class forget set (`request_kind="class"`, or `forget_metric="accuracy"`) the Forget F1 column is left
    out: accuracy is the forget figure there. Scores have 3 decimals, the time 1 decimal and the speed-up 1 decimal
    with a `×` suffix (an infinite speed-up, from a zero unlearning time, shows as `∞×`). The time cell reads the first
    present key of `time`, `unlearning_time`, `train_time`, `train_runtime`, so the gold and original rows can show
    their training time. Missing values show as `–`; values present but `None` (undefined, e.g. GUM when the gold
    model's MIA is not below the original's) show as `n/a`, and each distinct `*_undefined_reason` of the rows is given
    once in a note under the caption. A `(mean, std)` tuple or `{"mean", "std"}` dict renders as `0.812 ± 0.010`.

    Args:
        rows (`dict[str, dict]`):
            Metrics per model name, in display order.
        request_kind (`str`, *optional*):
            Kind of the forget request (`"sample"`, `"speaker"`, `"class"`); chooses the forget figure (see
            `forget_metric_for`).
        forget_metric (`str`, *optional*):
            `"f1"` or `"accuracy"`; overrides `request_kind`.

    Returns:
        `str`: the Markdown table, a blank line and the caption line (and note lines), ending with a newline.

    Raises:
        `ValueError`: on a `forget_metric` other than `"f1"` or `"accuracy"`.

    Example:

    ```python
    >>> table = results_table({"gold": {"test_f1": 0.8, "mia": (0.55, 0.01)}, "fast": {"speedup": 12.0}})
    >>> print("\n".join(table.splitlines()[:4]))
    | Model | Test F1 | Test Acc | Forget F1 | Forget Acc | MIA | GUM | CGUM | Time (s) | Speed-up |
    |---|---|---|---|---|---|---|---|---|---|
    | gold | 0.800 | – | – | – | 0.550 ± 0.010 | – | – | – | – |
    | fast | – | – | – | – | – | – | – | – | 12.0× |
    >>> rows = {"noop": {"forget_accuracy": 1.0, "mia_heldout": 0.9, "gum": None, "gum_undefined_reason": "why"}}
    >>> lines = results_table(rows, request_kind="class").splitlines()
    >>> print("\n".join(lines[:3] + lines[-1:]))
    | Model | Test F1 | Test Acc | Forget Acc | MIA | MIA held-out | GUM | CGUM | Time (s) | Speed-up |
    |---|---|---|---|---|---|---|---|---|---|
    | noop | – | – | 1.000 | – | 0.900 | n/a | – | – | – |
    n/a (noop): why

    ```
    """
    if forget_metric is None:
        forget_metric = forget_metric_for(request_kind)
    if forget_metric not in ("f1", "accuracy"):
        raise ValueError(f"forget_metric must be 'f1' or 'accuracy'; got {forget_metric!r}.")
    columns, captions = _columns(rows, forget_metric)
    header = ["Model"] + [column[0] for column in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    reasons: dict[str, list[str]] = {}
    for name, metrics in rows.items():
        cells = [str(name).replace("|", "\\|")]
        for _, keys, decimals, suffix in columns:
            cells.append(_cell(metrics, keys, decimals, suffix))
        lines.append("| " + " | ".join(cells) + " |")
        for key, reason in metrics.items():
            if key.endswith("_undefined_reason") and reason:
                reasons.setdefault(str(reason), []).append(str(name))
    caption = TABLE_CAPTION + "".join(f" {text}." for text in captions)
    notes = "".join(f"{UNDEFINED} ({', '.join(names)}): {reason}\n" for reason, names in reasons.items())
    return "\n".join(lines) + "\n\n" + caption + "\n" + notes


def _split_names(rows: dict[str, dict]) -> list[str]:
    """Splits that have an accuracy in some row: forget, forget_test, retain, test first, then the others in order of
    appearance."""
    found = []
    for metrics in rows.values():
        for key in metrics:
            if key.endswith("_accuracy") and key[: -len("_accuracy")] not in found:
                found.append(key[: -len("_accuracy")])
    preferred = [split for split in ("forget", "forget_test", "retain", "test") if split in found]
    return preferred + [split for split in found if split not in preferred]


#: Splits whose accuracy should be close to the gold model's (what is forgotten), not as high as possible.
FORGET_SPLITS = ("forget", "forget_test", "forget_validation")


def _direction(split: str) -> str:
    """The reading of a split's accuracy, in two short lines (an x tick label of the figure)."""
    return "(closest to\ngold is better)" if split in FORGET_SPLITS else "(higher is\nbetter)"


def results_figure(rows: dict[str, dict], losses: dict[str, dict] | None = None, *, path: str | os.PathLike) -> str:
    """Saves a PNG: accuracy per split and model (left) and, when `losses` is given, the loss histograms (right).

    Left: grouped bars, one group per split (forget, forget_test, retain, test, then any other `<split>_accuracy`), one
    bar per model with its value written on it, and the std as an error bar for `(mean, std)` values. Right, one panel
    per model in `losses`: histograms of the per-sample cross-entropy on the forget set (members) and the test set
    (non-members), which is all the membership-inference attack sees; the more they overlap, the closer the MIA is to
    0.5. Compare each model's panel with the gold model's, not with perfect overlap.

    Matplotlib is imported here, not at module import, and the figure is drawn on a `Figure` with the Agg canvas
    rather than through `pyplot`, so the caller's backend and open figures are left alone.

    Args:
        rows (`dict[str, dict]`):
            Metrics per model name, as for `results_table`.
        losses (`dict[str, dict[str, array-like]]`, *optional*):
            `{model_name: {"forget": losses, "test": losses}}`.
        path (`str` or `os.PathLike`):
            Where to write the PNG (keyword-only).

    Returns:
        `str`: `path`.
    """
    path = os.fspath(path)
    draw_results_figure(rows, losses).savefig(path, format="png", dpi=120)
    return path


def draw_results_figure(rows: dict[str, dict], losses: dict[str, dict] | None = None):
    """The `matplotlib.figure.Figure` that [`results_figure`] saves (Agg canvas, no `pyplot`)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    losses = losses or {}
    splits = _split_names(rows)
    models = list(rows)
    n_loss_panels = len(losses)
    n_grid_rows = max(1, n_loss_panels)
    figure = Figure(figsize=(12 if n_loss_panels else 7, max(4.5, 2.6 * n_grid_rows)), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(n_grid_rows, 2 if n_loss_panels else 1)

    bars = figure.add_subplot(grid[:, 0])
    width = 0.8 / max(1, len(models))
    positions = np.arange(len(splits))
    for index, model in enumerate(models):
        means, stds = [], []
        for split in splits:
            parsed = _mean_std(rows[model].get(f"{split}_accuracy"))
            means.append(np.nan if parsed is None else parsed[0])
            # NaN draws no error bar (a zero would still draw its caps).
            stds.append(np.nan if parsed is None or parsed[1] is None else parsed[1])
        offsets = positions - 0.4 + width * (index + 0.5)
        container = bars.bar(
            offsets, means, width, yerr=None if np.isnan(stds).all() else stds, label=model, capsize=2
        )
        # The value on every bar: a bar of height 0 (a forgotten split) is otherwise no bar at all.
        bars.bar_label(container, fmt="%.2f", fontsize="x-small", padding=2)
    # Split name, then its direction on lines of their own, so that neighbouring labels never run into each other.
    bars.set_xticks(positions, [f"{split}\n{_direction(split)}" for split in splits], fontsize="small")
    bars.set_xlim(-0.55, len(splits) - 0.45)
    bars.set_ylim(0, 1.12)
    bars.set_ylabel("accuracy")
    bars.set_title("Accuracy per split")
    if models:
        bars.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=min(len(models), 4))

    # Loss panels in the table's row order (original, gold, method), whatever order the losses came in.
    panel_order = [model for model in models if model in losses] + [model for model in losses if model not in rows]
    for index, (model, model_losses) in enumerate((model, losses[model]) for model in panel_order):
        axis = figure.add_subplot(grid[index, 1])
        forget = np.asarray(model_losses["forget"], dtype=float).ravel()
        test = np.asarray(model_losses["test"], dtype=float).ravel()
        edges = np.histogram_bin_edges(np.concatenate([forget, test]), bins=30)
        axis.hist(test, bins=edges, alpha=0.6, density=True, label=f"test, non-members (n={test.size})")
        axis.hist(forget, bins=edges, alpha=0.6, density=True, label=f"forget, members (n={forget.size})")
        mia_value = _mean_std(rows.get(model, {}).get(metric("mia").key))
        suffix = "" if mia_value is None else f", MIA {mia_value[0]:.3f}"
        axis.set_title(
            f"{model}: per-sample loss the MIA sees{suffix}\n(overlap closest to gold is better)", fontsize="small"
        )
        axis.set_xlabel("cross-entropy (nats)")
        axis.set_ylabel("density")
        axis.legend(fontsize="x-small")
    return figure
