"""Write targets, checked before any training: every folder a run will write (its output folder and checkpoints,
the reference-model and feature caches) can be created and written, and has room for what will be written there.

- [`check_writable`] refuses a folder that cannot be written: a path under a regular file, a folder not writable by
  this user (`os.access`), or one where a probe file cannot be created (a read-only file system). Nothing is created:
  the probe goes to the nearest existing folder and is removed.
- [`check_free_space`] **refuses** (not warns) a target whose file system has less free space than the estimate of
  what the run writes there ([`estimated_save_bytes`]: the model's weights once, plus weights and optimizer state for
  each checkpoint kept): a save that runs out of space midway leaves a broken folder, after all the training.
- [`incomplete_until_saved`] marks a folder while a model is saved into it (`unlearning_save_incomplete`), and
  removes the mark when the save completed: a save that failed (a full disk, a killed process) leaves the mark, and
  loading the folder (`hf_unlearn.checks.check_checkpoint_folder`, so `load_checkpoint` and resuming) refuses it,
  saying why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile

from hf_unlearn.files import INCOMPLETE_SAVE_NAME

logger = logging.getLogger(__name__)

SAVE_MARGIN_BYTES = 1 << 20  # card, configs, results, audit log: well under a megabyte
OPTIMIZER_COPIES = 2  # Adam's two moments: a checkpoint holds about three copies of the trainable weights


def _nearest_existing(path: str) -> str:
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    return existing


def check_writable(folder, what: str = "output folder") -> None:
    """Refuses `folder` (created later by the run, or already there) when it cannot be written, naming it and the
    part of the path in the way. See the module docstring."""
    path = os.fspath(folder)
    existing = _nearest_existing(path)
    if not os.path.isdir(existing):
        raise ValueError(
            f"The {what} {path!r} cannot be created: {existing!r} is a file, not a folder. Choose another {what} "
            "(or move the file away)."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"The {what} {path!r} cannot be written: {existing!r} is not writable by this user. Choose another "
            f"{what}, or make it writable."
        )
    try:
        handle, probe = tempfile.mkstemp(prefix=".hf_unlearn_write_check_", dir=existing)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise ValueError(
            f"The {what} {path!r} cannot be written: a file could not be created in {existing!r} ({error.strerror}; "
            f"a read-only file system or a full disk?). Choose another {what}."
        ) from error


def _size(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1000
    return f"{count:.1f} TB"


def check_free_space(folder, needed_bytes: int, what: str = "output folder") -> None:
    """Refuses `folder` when its file system has fewer than `needed_bytes` free (see the module docstring)."""
    path = os.fspath(folder)
    free = shutil.disk_usage(_nearest_existing(path)).free
    if free < needed_bytes:
        raise ValueError(
            f"The {what} {path!r} has {_size(free)} free, but this run needs about {_size(needed_bytes)} there "
            f"(weights, checkpoints and files next to them): free some space or choose another {what}."
        )


def model_bytes(model, trainable_only: bool = False) -> int:
    """Bytes of `model`'s parameters and buffers (of its trainable parameters alone with `trainable_only`)."""
    tensors = [p for p in model.parameters() if p.requires_grad or not trainable_only]
    if not trainable_only:
        tensors += list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def estimated_save_bytes(model, args=None) -> int:
    """What a run of `model` under `args` (a `TrainingArguments`) writes to its output folder: the weights once, and
    for each checkpoint kept (`save_total_limit`, at least one when checkpoints are saved) the weights and the
    optimizer's state; plus a margin for the small files. A lower bound when checkpoints are unlimited."""
    weights = model_bytes(model)
    checkpoints = 0
    if args is not None and str(getattr(args, "save_strategy", "no")) not in ("no", "SaveStrategy.NO"):
        checkpoints = max(1, int(getattr(args, "save_total_limit", None) or 1))
    per_checkpoint = weights + OPTIMIZER_COPIES * model_bytes(model, trainable_only=True)
    return weights + checkpoints * per_checkpoint + SAVE_MARGIN_BYTES


def check_write_targets(targets: dict) -> None:
    """Checks each target `{what: folder}` or `{what: (folder, needed_bytes)}` (`None` folders are skipped): writable,
    and with room for `needed_bytes` when given."""
    for what, target in targets.items():
        folder, needed = target if isinstance(target, tuple) else (target, None)
        if folder is None:
            continue
        check_writable(folder, what)
        if needed:
            check_free_space(folder, needed, what)


@contextlib.contextmanager
def incomplete_until_saved(folder, enabled: bool = True):
    """Marks `folder` as incomplete while the body saves into it; the mark is removed when the body completes and
    stays when it raises (the error gets a note saying so). See the module docstring."""
    if not enabled:
        yield
        return
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    marker = os.path.join(folder, INCOMPLETE_SAVE_NAME)
    with open(marker, "w") as handle:
        handle.write("A save into this folder started and has not completed.\n")
    try:
        yield
    except BaseException as error:
        note = (
            f"The save into {folder!r} failed midway: the folder is marked incomplete ({INCOMPLETE_SAVE_NAME}) and "
            "will not be loaded. Fix the cause (e.g. free disk space) and save again."
        )
        if hasattr(error, "add_note"):
            error.add_note(note)
        logger.error(note)
        raise
    os.remove(marker)


def check_trainer_write_targets(model, args) -> None:
    """The check `UnlearningTrainer` runs at construction: its `output_dir` (final save and checkpoints) is
    writable and has room for [`estimated_save_bytes`]."""
    check_write_targets({"output_dir": (args.output_dir, estimated_save_bytes(model, args))})
