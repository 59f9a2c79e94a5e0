"""Saving an unlearning run: checkpoints that hold the method's state, and the final model with what goes with it.
Plain functions of the trainer, called from its saving overrides (`hf_unlearn.trainer.trainer`):

- Every checkpoint gets the method's state (`unlearning_state.safetensors` for its tensors, `unlearning_state.json` for
  the rest, with the method, the forget set's content digest and the hyperparameters the run depends on), then, last,
  the `unlearning_checkpoint_complete` marker: a checkpoint without it was interrupted while being written.
  The state is never pickled: a checkpoint someone else wrote (downloaded to resume, or to continue a sequence of
  requests) cannot run code when it is read. An `unlearning_state.pt` of older versions is refused, not unpickled.
- Resuming reads that state back and refuses a checkpoint of another method, another forget set or other
  hyperparameters, naming the difference (`max_steps` and `num_train_epochs` may change: they say how long, not how);
  `resume_from_checkpoint=True` takes the last complete checkpoint, skipping incomplete ones.
- The final model gets `unlearning_config.json` (the method, its paper and hyperparameters, the request's public
  record), `unlearning_results.json` (the last `evaluate()`), the model card and this run's line in the audit log.
  `save_merged_model` writes a PEFT model with its adapter merged, and `push_to_hub` uploads the saved folder.

No write goes to the original model's folder, or to a folder inside it that holds the original's files
([`~hf_unlearn.checks.check_write_path`]): every public write (`save_model`, checkpoints, `save_state`,
`save_metrics`, `create_model_card`, `push_to_hub`, `save_merged_model`) checks its folder first.
"""

from __future__ import annotations

import json
import logging
import os
import re

import numpy as np
import torch
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from hf_unlearn.checks import check_checkpoint_folder, check_same_data, check_same_model
from hf_unlearn.files import (
    MODEL_CARD_NAME,
    RECORDED_TRAINING_FIELDS,
    UNLEARNING_CONFIG_NAME,
    UNLEARNING_RESULTS_NAME,
    UNLEARNING_STATE_NAME,
)
from hf_unlearn.hub.audit import unlearning_record
from hf_unlearn.hub.card import prepare_folder_for_push, trainer_model_card
from hf_unlearn.hub.speaker_labels import forgotten_labels_removed
from hf_unlearn.hub.stopped_runs import check_save_of_stopped_run, stopped_run
from hf_unlearn.hub.write_targets import incomplete_until_saved
from hf_unlearn.peft_utils import save_merged

logger = logging.getLogger(__name__)

STATE_TENSORS_NAME = "unlearning_state.safetensors"  # the tensors of `method_state()`
STATE_JSON_NAME = "unlearning_state.json"  # the rest of it, and what the checkpoint was written for
CHECKPOINT_COMPLETE_NAME = "unlearning_checkpoint_complete"  # written last: the checkpoint is whole
# Fields that may differ between a checkpoint and its resumed run: how long to train, not how.
RESUMABLE_CHANGES = ("max_steps", "num_train_epochs")
# Unlearning fields that are data plumbing or monitoring, not hyperparameters of the run.
NOT_HYPERPARAMETERS = (
    "method",
    "audio_column",
    "label_column",
    "speaker_column",
    "divergence_guard",
    "guard_interval",
    "guard_monitor_size",
    "guard_retain_floor",
    "stop_at_gold",
    "save_stopped_runs",
    "remove_forgotten_labels",
)
OPTIMIZER_FIELDS = ("adam_beta1", "adam_beta2", "adam_epsilon", "warmup_ratio", "lr_scheduler_kwargs", "optim_args")


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def run_hyperparameters(trainer) -> dict:
    """The settings a checkpoint must share with the run that resumes it: the method's fields and the training
    fields that shape the optimisation."""
    args = trainer.args
    method = {k: v for k, v in args.method_fields().items() if k not in NOT_HYPERPARAMETERS}
    names = [n for n in (*RECORDED_TRAINING_FIELDS, *OPTIMIZER_FIELDS) if n not in RESUMABLE_CHANGES]
    return _jsonable({**method, **{name: getattr(args, name, None) for name in names}})


def encode_state(state, root: str = "state") -> tuple[object, dict[str, torch.Tensor]]:
    """Splits a method state into JSON and tensors: each tensor (or NumPy array) is replaced by a reference to its
    entry in the tensor file (names start with `root`)."""
    tensors: dict[str, torch.Tensor] = {}

    def encode(value, path: str):
        if isinstance(value, (torch.Tensor, np.ndarray)):
            kind = "tensor" if isinstance(value, torch.Tensor) else "ndarray"
            tensor = value.detach().cpu() if kind == "tensor" else torch.from_numpy(np.ascontiguousarray(value))
            tensors[path] = tensor.clone().contiguous()
            return {f"__{kind}__": path}
        if isinstance(value, dict):
            return {
                "__dict__": [
                    [encode(k, f"{path}/k{i}"), encode(v, f"{path}/{i}")] for i, (k, v) in enumerate(value.items())
                ]
            }
        if isinstance(value, (list, tuple)):
            return {"__list__": [encode(item, f"{path}/{i}") for i, item in enumerate(value)]}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, np.generic):
            return value.item()
        raise TypeError(f"method_state() holds a {type(value).__name__} at {path!r}: use tensors, numbers, strings.")

    return encode(state, root), tensors


def decode_state(encoded, tensors: dict[str, torch.Tensor]):
    """The inverse of [`encode_state`]."""
    if isinstance(encoded, dict):
        if "__tensor__" in encoded:
            return tensors[encoded["__tensor__"]]
        if "__ndarray__" in encoded:
            return tensors[encoded["__ndarray__"]].numpy()
        if "__dict__" in encoded:
            return {decode_state(k, tensors): decode_state(v, tensors) for k, v in encoded["__dict__"]}
        if "__list__" in encoded:
            return [decode_state(item, tensors) for item in encoded["__list__"]]
    return encoded


def read_method_state(checkpoint) -> dict:
    """The `method_state()` saved in `checkpoint` (JSON and safetensors: reading it runs no code)."""
    from safetensors.torch import load_file

    with open(os.path.join(checkpoint, STATE_JSON_NAME)) as handle:
        encoded = json.load(handle)["state"]
    return decode_state(encoded, load_file(os.path.join(checkpoint, STATE_TENSORS_NAME)))


def is_complete_checkpoint(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, CHECKPOINT_COMPLETE_NAME))


def last_complete_checkpoint(output_dir: str) -> str | None:
    """The checkpoint of `output_dir` with the highest step that was written whole; incomplete ones are skipped
    (with a warning)."""
    if not os.path.isdir(output_dir):
        return None
    pattern = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
    steps = [(int(m.group(1)), name) for name in os.listdir(output_dir) if (m := pattern.match(name))]
    for _, name in sorted(steps, reverse=True):
        folder = os.path.join(output_dir, name)
        if os.path.isdir(folder) and is_complete_checkpoint(folder):
            return folder
        logger.warning("Skipping %s: it was not completely written (no %s).", folder, CHECKPOINT_COMPLETE_NAME)
    return None


def write_checkpoint_state(trainer, folder: str) -> None:
    """After `Trainer._save_checkpoint`: the method's state, what the checkpoint was written for, then, last, the
    completeness marker (a checkpoint without it was interrupted while being written)."""
    from safetensors.torch import save_file

    encoded, tensors = encode_state(trainer.method_state())
    # The stopping rule's checks and the weights of its best check so far: a resumed run ends where this one would.
    stopping, stopping_tensors = encode_state(trainer.stopping.state() if trainer.stopping else None, "stopping")
    save_file({**tensors, **stopping_tensors}, os.path.join(folder, STATE_TENSORS_NAME))
    written_for = {
        "method": trainer.method_key,
        "forget_digest": trainer.forget_digest,
        "retain_digest": trainer.retain_digest,  # a resume on changed data is refused
        "hyperparameters": run_hyperparameters(trainer),
        "guard": trainer.guard.state() if trainer.guard is not None else None,
        "stopping": stopping,
        "state": encoded,
    }
    _write_json(os.path.join(folder, STATE_JSON_NAME), written_for)
    _write_json(os.path.join(folder, CHECKPOINT_COMPLETE_NAME), {"global_step": trainer.state.global_step})


def resolve_checkpoint(checkpoint, output_dir: str):
    """`resume_from_checkpoint` as `Trainer` should see it: `True` means the last *complete* checkpoint of
    `output_dir`, so that `Trainer` never picks a partial one."""
    if checkpoint is True:
        found = last_complete_checkpoint(output_dir)
        if found is None:
            raise ValueError(
                f"resume_from_checkpoint=True found no complete checkpoint in {output_dir!r} (one holds "
                f"{CHECKPOINT_COMPLETE_NAME}): pass the checkpoint folder, or train from the start."
            )
        return found
    return checkpoint


def read_resume_state(trainer, checkpoint) -> dict | None:
    """The method state saved in `checkpoint` (a folder, or `True` for the last complete one in `output_dir`), after
    checking that the checkpoint is whole, readable and written for this run (method, forget set, hyperparameters).
    Hands the guard its saved state."""
    if checkpoint is None or checkpoint is False:
        return None
    checkpoint = os.fspath(resolve_checkpoint(checkpoint, trainer.args.output_dir))
    check_checkpoint_folder(checkpoint)
    check_same_model(
        checkpoint, trainer.accelerator.unwrap_model(trainer.model).config, "checkpoint", "model to resume"
    )
    path = os.path.join(checkpoint, STATE_JSON_NAME)
    if not os.path.isfile(path):
        if os.path.isfile(os.path.join(checkpoint, UNLEARNING_STATE_NAME)):
            raise ValueError(
                f"{checkpoint!r} holds its method state as a pickle ({UNLEARNING_STATE_NAME}, from an older "
                "hf-unlearn or another source); pickles can run code when read, so it is not read. Resume from "
                f"a checkpoint written by this version ({STATE_JSON_NAME} + {STATE_TENSORS_NAME})."
            )
        raise ValueError(
            f"{checkpoint!r} has no {STATE_JSON_NAME}: it was not written by an UnlearningTrainer, so the "
            "method's state (phase, masks, noise) cannot be resumed. Resume from a checkpoint of this run."
        )
    if not is_complete_checkpoint(checkpoint):
        raise ValueError(
            f"{checkpoint!r} was not completely written (no {CHECKPOINT_COMPLETE_NAME}; the run was probably "
            "interrupted while saving it): resume from an earlier checkpoint."
        )
    with open(path) as handle:
        written_for = json.load(handle)
    check_checkpoint_matches(trainer, checkpoint, written_for)
    if trainer.guard is not None:
        trainer.guard.resumed_state = written_for.get("guard")
    if trainer.stopping is not None and written_for.get("stopping") is not None:
        from safetensors.torch import load_file

        tensors = load_file(os.path.join(checkpoint, STATE_TENSORS_NAME))
        trainer.stopping.resumed_state = decode_state(written_for["stopping"], tensors)
    return read_method_state(checkpoint)


def check_checkpoint_matches(trainer, checkpoint: str, written_for: dict) -> None:
    """Refuses a checkpoint of another method, another forget set or other hyperparameters, naming the difference."""
    if written_for.get("method") != trainer.method_key:
        raise ValueError(
            f"{checkpoint!r} is a checkpoint of method {written_for.get('method')!r}, not {trainer.method_key!r}: "
            "its state (masks, phase, noise) means nothing to this method. Resume it with "
            f"method={written_for.get('method')!r}, or start {trainer.method_key!r} from the original model."
        )
    if written_for.get("forget_digest") != trainer.forget_digest:
        raise ValueError(
            f"{checkpoint!r} was written for another forget set (content digest differs): resuming it would "
            "mix two requests. Pass the forget set of that run, or start from the original model."
        )
    check_same_data(checkpoint, written_for, "retain", trainer.retain_digest)
    saved, now = written_for.get("hyperparameters") or {}, run_hyperparameters(trainer)
    changed = {k: (saved.get(k), now.get(k)) for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k)}
    if changed:
        listed = "; ".join(f"{k}: checkpoint {a!r}, this run {b!r}" for k, (a, b) in changed.items())
        raise ValueError(
            f"{checkpoint!r} was trained with other hyperparameters ({listed}): the restored optimizer and "
            "scheduler would keep the checkpoint's, while this run's would be recorded. Use the checkpoint's "
            f"values to resume, or start from the original model ({', '.join(RESUMABLE_CHANGES)} may change)."
        )


def save_final_model(trainer, output_dir: str | None, final: bool, save) -> None:
    """`save()` (the stock `Trainer.save_model`) around what a final save (not a checkpoint; a push's internal save
    is final) adds: a run that stopped as a failure is refused (`hub.stopped_runs`), the forgotten speakers' labels
    are left out of the saved model (`hub.speaker_labels`), this run's line goes to the audit log, and a save that
    fails midway leaves the folder marked incomplete, so loading it is refused (`hub.write_targets`)."""
    output_dir = output_dir if output_dir is not None else trainer.args.output_dir
    if final:
        check_save_of_stopped_run(trainer, output_dir)
    with incomplete_until_saved(output_dir, trainer.args.should_save):
        with forgotten_labels_removed(trainer, final):
            save()
        if final and trainer.args.should_save:
            trainer.audit_log.on_save(trainer, output_dir)


def write_run_files(trainer, output_dir: str, pushing: bool) -> None:
    """After `Trainer._save` of a final model: `unlearning_config.json`, `unlearning_results.json`, the model card
    and the local receipt of the request digest's salt; before a push, local paths are stripped from the folder."""
    _write_json(os.path.join(output_dir, UNLEARNING_CONFIG_NAME), unlearning_record(trainer))
    write_results(trainer, output_dir)
    if pushing:  # no local path may reach the Hub
        for change in prepare_folder_for_push(output_dir):
            logger.info("Before the push: %s.", change)
    save_model_card(trainer, output_dir)
    receipt = trainer.forget_request.save_receipt(trainer.method_key)
    if receipt:
        logger.info("Salt of the forget-request digest kept locally in %s (never pushed).", receipt)


def write_results(trainer, output_dir: str) -> None:
    """`unlearning_results.json`: the last `evaluate()` with the original's and the gold model's results."""
    stopped = stopped_run(trainer)  # a stopped run saved on request says so (hf_unlearn.hub.stopped_runs)
    if trainer.last_eval_results is not None or stopped is not None:
        unlearned = {**(trainer.last_eval_results or {}), "unlearning_time": trainer.unlearning_time}
        results = {"method": trainer.method_key, "unlearned": unlearned, "stopped": stopped}
        if trainer.stopping is not None:  # where the stopping rule ended the run, against which target
            results["stopping"] = trainer.stopping.record()
        results.update(original=trainer.original_results, gold=trainer.gold_results)
        _write_json(os.path.join(output_dir, UNLEARNING_RESULTS_NAME), results)


def save_model_card(trainer, output_dir: str, merged: bool = False) -> None:
    """The unlearning model card (`README.md`, see `hf_unlearn.hub.card`) in `output_dir`."""
    trainer.check_write_path(output_dir, "model card folder")
    os.makedirs(output_dir, exist_ok=True)
    trainer_model_card(trainer, merged=merged).save(os.path.join(output_dir, MODEL_CARD_NAME))


def save_merged_model(trainer, output_dir: str) -> None:
    """The PEFT model with its adapter merged (see [`~hf_unlearn.peft_utils.save_merged`]), as a complete folder:
    results, card (library transformers) and the audit log. Refuses the original model's folder."""
    trainer.check_write_path(output_dir, "merged-model folder")
    check_save_of_stopped_run(trainer, output_dir)
    save_merged(trainer, output_dir)
    if trainer.args.should_save:
        write_results(trainer, output_dir)
        save_model_card(trainer, output_dir, merged=True)
        trainer.audit_log.on_save(trainer, output_dir)


def _write_json(path: str, value) -> None:
    with open(path, "w") as handle:
        json.dump(value, handle, indent=2)
