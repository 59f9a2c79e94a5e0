"""The audit log of unlearning requests: `unlearning_log.jsonl` next to every unlearned model.

Each unlearning run that saves its model appends one JSON line: when it ran, the method, the request's public record
(kind, counts, shares and the salted digest of the forget set, see `hf_unlearn.hub.privacy`; never who or what was
forgotten, except class names for class requests), the metrics before (the original's results, when given) and after
(the last `evaluate()` over forget/retain/test splits), whether the divergence guard stopped the run, where the
stopping rule ended it (mode, target, its source, the step kept; `hf_unlearn.trainer.stopping`), and the library
versions. Requests applied one after another (each run starting from the previous run's saved model) build one log:
a run copies the log found in the folder its model was loaded from, then appends its own line, so the newest model
carries the history of every request it served. The original checkpoint's folder is only read, never written.
"""

from __future__ import annotations

import datetime
import json
import os
import uuid

from hf_unlearn.evaluation.metric_table import logged_metrics
from hf_unlearn.files import AUDIT_LOG_NAME, RECORDED_TRAINING_FIELDS
from hf_unlearn.hub.card import is_hub_id
from hf_unlearn.hub.stopped_runs import stopped_run
from hf_unlearn.peft_utils import peft_record
from hf_unlearn.version import __version__

# Metrics copied into the log (the rest stay in unlearning_results.json): those the metric table marks `logged`.
LOGGED_METRICS = logged_metrics()


def read_log(folder: str | None) -> list[dict]:
    """The entries of `folder`'s audit log (empty when it has none or `folder` is not a local folder)."""
    if not folder or not os.path.isdir(folder):
        return []
    path = os.path.join(folder, AUDIT_LOG_NAME)
    if not os.path.isfile(path):
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _metrics(results: dict | None) -> dict | None:
    if not results:
        return None
    picked = {}
    for key in LOGGED_METRICS:
        for candidate in (key, f"eval_{key}"):
            if results.get(candidate) is not None:
                picked[key] = float(results[candidate])
                break
    return picked or None


def _versions() -> dict:
    import datasets
    import torch
    import transformers

    return {
        "hf_unlearn": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
    }


def _jsonable(values: dict) -> dict:
    return {
        key: (value if isinstance(value, (int, float, str, bool, type(None), list, dict)) else str(value))
        for key, value in values.items()
    }


def unlearning_record(trainer) -> dict:
    """What `unlearning_config.json` holds: the method, its paper, its hyperparameters and the request's public record
    (kind, counts, salted digest; see `hf_unlearn.hub.privacy`)."""
    training = {name: getattr(trainer.args, name) for name in RECORDED_TRAINING_FIELDS}
    base_model = getattr(trainer.model, "name_or_path", None)
    return {
        "method": trainer.method_key,
        "trainer_class": type(trainer).__name__,
        "paper": str(trainer.paper) if trainer.paper is not None else "",
        "hf_unlearn_version": __version__,
        # A Hub id only: a local path can name the user, or hash the request (the demo's cache folders do).
        "base_model": base_model if is_hub_id(base_model) else None,
        "base_model_is_local": bool(base_model) and not is_hub_id(base_model),
        "config": _jsonable(trainer.args.method_fields()),
        "training": _jsonable(training),
        "request": trainer.forget_request.public_record(
            trainer.num_forget, trainer.num_retain, getattr(getattr(trainer.model, "config", None), "id2label", None)
        ),
        "unlearning_time": trainer.unlearning_time,
        "stop_reason": trainer.stop_reason,
        "stopping": stopping_summary(trainer),
        "peft": peft_record(trainer.accelerator.unwrap_model(trainer.model)),
    }


def stopping_summary(trainer) -> dict | None:
    """The stopping rule's record without its per-check trajectory (`None` when the rule was off): the mode, the
    target and where it came from, the step the run ended on."""
    rule = getattr(trainer, "stopping", None)
    return None if rule is None else {k: v for k, v in rule.record().items() if k != "checks"}


def make_entry(trainer, run_id: str) -> dict:
    """This run's log line (see the module docstring)."""
    record = unlearning_record(trainer)
    stopped = stopped_run(trainer)
    return {
        "run_id": run_id,
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "method": trainer.method_key,
        "request": record.get("request"),
        "metrics_before": _metrics(trainer.original_results),
        "metrics_after": _metrics(trainer.last_eval_results),
        "unlearning_time": trainer.unlearning_time,
        "stop_reason": stopped["reason"] if stopped else None,
        "stopped_as_failure": bool(stopped and stopped["failed"]),
        "stopping": stopping_summary(trainer),
        "versions": _versions(),
    }


def write_log(output_dir: str, history: list[dict], entry: dict) -> str:
    """Writes `history` (the source model's log) plus `entry` to `output_dir`; saving twice in one run rewrites the
    run's line instead of adding another. Returns the log's path."""
    entries = [e for e in history if e.get("run_id") != entry["run_id"]] + [entry]
    path = os.path.join(output_dir, AUDIT_LOG_NAME)
    with open(path, "w") as handle:
        for item in entries:
            handle.write(json.dumps(item, sort_keys=True) + "\n")
    return path


def new_run_id() -> str:
    return uuid.uuid4().hex


class AuditLog:
    """The save hook of a run's audit log: the history found in the folder the model was loaded from (if any) and
    this run's id, so that every final save writes the history plus this run's line (see the module docstring)."""

    def __init__(self, source_folder: str | None):
        self.history = read_log(source_folder)
        self.run_id = new_run_id()

    def on_save(self, trainer, output_dir: str) -> str:
        """Writes the log next to the model `trainer` saved in `output_dir`; returns its path."""
        return write_log(output_dir, self.history, make_entry(trainer, self.run_id))
