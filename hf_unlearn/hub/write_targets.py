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
    strategy = getattr(args, "save_strategy", "no") if args is not None else "no"
    if getattr(strategy, "value", strategy) != "no":
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
    writable, has room for [`estimated_save_bytes`] and is not being written by another run ([`lock_output_dir`])."""
    check_write_targets({"output_dir": (args.output_dir, estimated_save_bytes(model, args))})
    if getattr(args, "process_index", 0) == 0:  # one lock per run, taken by its main process
        lock_output_dir(args.output_dir)


# ------------------------------------------------------------------------------------- one run per output folder
LOCK_NAME = "_hf_unlearn_run.lock"  # "_": never pushed to the Hub (push_to_hub skips "_*")
_HELD: dict[str, str] = {}  # folder -> lock path, for the locks this process holds


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def lock_output_dir(folder) -> str | None:
    """Takes the run lock of `folder` (`_hf_unlearn_run.lock`: this process's id, host and start time), so that
    two runs (processes) never write the same output folder at once; a second run is refused, naming the first.
    A lock left by a process that is gone (same host) is taken over, with a warning. Re-entrant within a process
    (several trainers of one script or notebook may share a folder, one after the other); released when the process
    exits. Returns the lock's path."""
    import atexit
    import datetime
    import json
    import socket

    folder = os.path.abspath(os.fspath(folder))
    if folder in _HELD:
        return _HELD[folder]
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, LOCK_NAME)
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}  # fmt: skip
    for _ in range(2):
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                with open(path) as existing:
                    holder = json.load(existing)
            except (OSError, ValueError):
                holder = {}
            pid, host = holder.get("pid"), holder.get("host")
            if isinstance(pid, int) and host == me["host"] and (pid == me["pid"] or not _alive(pid)):
                if pid != me["pid"]:  # this process's own lock (a folder copied with it) is simply taken
                    logger.warning("Taking over %s: the run that held it (pid %s) is gone.", path, pid)
                os.remove(path)
                continue
            raise ValueError(
                f"Another run is writing to the output folder {folder!r} (pid {pid} on {host!r}, started "
                f"{holder.get('started')}; lock file {LOCK_NAME}): two runs in one folder overwrite each other's "
                "checkpoints and model. Choose another output_dir, or wait for that run to end (remove the lock file "
                "if it is gone)."
            ) from None
        with os.fdopen(handle, "w") as out:
            json.dump(me, out)
        _HELD[folder] = path
        atexit.register(_release, folder)
        return path
    return None


def _release(folder: str) -> None:
    path = _HELD.pop(folder, None)
    if path is not None:
        with contextlib.suppress(OSError):
            os.remove(path)
