"""Writing results: `results.json`, `results.md` (the table) and `results.png` (the figure) for one run or a list of
runs. Model cards are written by the trainer when it saves (see `hf_unlearn.hub.card`)."""

from __future__ import annotations

import json
import os

from hf_unlearn.evaluation import results_figure, results_table


def rows_of(record: dict) -> dict:
    """`{"original": ..., "gold": ..., <method>: ...}`: the table rows of one run record."""
    rows = {"original": record["original"]}
    if record.get("gold"):
        rows["gold"] = record["gold"]
    rows[record["method"]] = record["unlearned"]
    return rows


def write_results(records, output_dir: str, extra: dict | None = None, figure: bool = True) -> dict:
    """Writes `results.json`, `results.md` and (with `figure`) `results.png` to `output_dir`.

    Args:
        records (`dict` or `list[dict]`): one `run_request` record, or several (one table row per method; the
            original and gold rows of the first record).
        output_dir (`str`): the folder (created).
        extra (`dict`, *optional*): more JSON fields (arguments, versions, wall time ...).
        figure (`bool`): also draw the figure (per-sample losses of the first record's references and every run).

    Returns:
        `dict`: what was written to `results.json` (`rows`, `runs` without their losses, `request`, and `extra`).
    """
    records = [records] if isinstance(records, dict) else list(records)
    if not records:
        raise ValueError("write_results needs at least one run record.")
    rows, losses = {}, {}
    for record in records:
        rows.update(rows_of(record))
        losses.update(record.get("losses") or {})
    runs = [{key: value for key, value in record.items() if key != "losses"} for record in records]
    kind = records[0]["request"].get("kind")
    table = results_table(rows, request_kind=kind)
    written = {"rows": rows, "request": records[0]["request"], "runs": runs}
    if len(runs) == 1:
        written["method"] = runs[0]["method"]
    written.update(extra or {})
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "results.json"), "w") as handle:
        json.dump(written, handle, indent=2, default=str)
    with open(os.path.join(output_dir, "results.md"), "w") as handle:
        handle.write(table + "\n")
    if figure:
        results_figure(rows, losses or None, path=os.path.join(output_dir, "results.png"))
    written["table"] = table
    return written


def redacted_arguments(values: dict, classes_are_people: bool = False) -> dict:
    """Arguments safe to publish: forgotten speakers are counted, never named (also forgotten classes that are
    people: speaker identification, `classes_are_people`); tokens are hidden."""
    values = dict(values)
    if values.get("forget_speakers"):
        values["forget_speakers"] = f"<{len(values['forget_speakers'])} speaker(s)>"
    if classes_are_people and values.get("forget_classes"):
        values["forget_classes"] = f"<{len(values['forget_classes'])} speaker(s)>"
    for secret in ("token", "hub_token"):
        if values.get(secret):
            values[secret] = "<redacted>"
    return values
