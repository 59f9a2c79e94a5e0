"""The divergence guard: stops an unlearning run cleanly before it destroys the model, keeping the last good weights.

Gradient ascent is unbounded: NG, NG+, SCRUB's max steps and NPO can drive the loss to infinity or wreck the
retain set within a few steps of a too-large learning rate; so can plain descent (fine-tuning, random labels) at a
learning rate far too large. A collapse of the retain accuracy is a collapse whatever the loss, so
[`DivergenceGuard`] (a `TrainerCallback`) is added by `UnlearningTrainer` for every method by default
(`divergence_guard="auto"`: every method with retain rows to watch; an ascent method without them is refused;
`"always"`: every method, refusing a run without retain rows; `"off"`: none). It checks after every optimizer step:

- the training loss is finite (NaN or inf stops at once);
- every `guard_interval` steps (at every epoch end instead for a method whose epochs end with a repair pass over the
  retain set, `repairs_each_epoch`: SCRUB's max pass may lower retain accuracy on the way, and its min pass is
  there to restore it), the accuracy on a fixed monitor batch of retain rows is at least `guard_retain_floor`
  times the original model's accuracy on that batch (measured before the first step, and kept in checkpoints so that
  a resumed run judges by the same standard; a model at or below chance there has nothing to lose and is not held to
  it);
- with `stop_at_gold=True` and gold results given, the accuracy on a monitor batch of forget rows has not reached the
  gold model's forget accuracy (unlearning past gold is over-unlearning: the Streisand effect of a forget set that is
  now easier to spot than data the model never saw).

When a check fails, the weights (trainable parameters and buffers) of the last check that passed are put back, the
run stops, and `trainer.stop_reason` holds a message saying what happened and what to change; it is logged as a
warning and recorded in `unlearning_config.json`. The snapshot is a CPU copy of the trainable parameters and buffers,
taken at each passed check (for a PEFT model, only the adapter). Every process evaluates the same monitor rows with the
same (synchronised) weights, so all processes decide alike.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from transformers import TrainerCallback

logger = logging.getLogger(__name__)


class DivergenceGuard(TrainerCallback):
    """See the module docstring. `trainer` is the `UnlearningTrainer` being guarded."""

    def __init__(self, trainer, retain_rows, forget_rows=None, gold_forget_accuracy: float | None = None):
        self.trainer = trainer
        self.retain_batch = self._collate(retain_rows)
        self.forget_batch = self._collate(forget_rows) if forget_rows is not None else None
        self.gold_forget_accuracy = gold_forget_accuracy
        self.original_retain_accuracy = None
        self.snapshot = None
        self.snapshot_step = 0
        self.nonfinite_loss = None
        self.resumed_state = None  # the checkpoint's `state()`, set when resuming (`hf_unlearn.trainer.saving`)
        self.at_epoch_ends = bool(getattr(trainer, "repairs_each_epoch", False))
        # Whether the next stop is a failure (a non-finite loss, a retain collapse) or a success (gold reached):
        # a failed run is not saved as an unlearned model unless asked (`hf_unlearn.hub.stopped_runs`).
        self.stop_is_failure = True

    @classmethod
    def from_trainer(
        cls, trainer, forget, retain, forget_dataset, retain_dataset, featurize
    ) -> DivergenceGuard | None:
        """The guard of `trainer`'s run, or `None` when `args.divergence_guard` and `args.stop_at_gold` ask for none.

        Args:
            trainer ([`UnlearningTrainer`]): the trainer, with its `args`, `ascends` and `gold_results` set.
            forget, retain (`datasets.Dataset` or `None`): the featurized sides the method trains on.
            forget_dataset, retain_dataset (`datasets.Dataset` or `None`): the sets as given, for the monitor rows of a
                side the method does not train on (e.g. NG's retain accuracy must still be watched).
            featurize (`Callable[[Dataset, str], Dataset]`): turns raw rows into checked model inputs.
        """
        args = trainer.args
        gold_forget = gold_forget_accuracy(trainer.gold_results)
        if args.stop_at_gold and gold_forget is None:
            raise ValueError(
                "stop_at_gold=True needs the gold model's results: pass gold_results=<dict or JSON path> holding "
                "forget_accuracy (e.g. from experiment.reference_training.evaluate_model on the gold model)."
            )
        wanted = args.divergence_guard != "off"
        if not (wanted or args.stop_at_gold):
            return None
        has_retain_rows = retain is not None or (retain_dataset is not None and len(retain_dataset) > 0)
        if args.divergence_guard == "auto" and not has_retain_rows and not trainer.ascends and not args.stop_at_gold:
            return None  # nothing to watch, and a descent-only method without retain rows is not the usual danger
        if retain is None and retain_dataset is not None and len(retain_dataset):
            retain = featurize(monitor_rows(retain_dataset, args.guard_monitor_size, args.seed), "retain monitor")
        if args.stop_at_gold and forget is None:
            rows = monitor_rows(forget_dataset, args.guard_monitor_size, args.seed)
            if rows is None:
                raise ValueError("stop_at_gold=True compares forget accuracy with gold's: pass forget_dataset.")
            forget = featurize(rows, "forget monitor")
        if retain is None:
            raise ValueError(
                f"The divergence guard of {trainer.method_key!r} watches retain accuracy: pass "
                "retain_dataset=<Dataset> (it is not trained on by this method), or set divergence_guard='off'."
            )
        return cls(
            trainer,
            monitor_rows(retain, args.guard_monitor_size, args.seed),
            monitor_rows(forget, args.guard_monitor_size, args.seed) if args.stop_at_gold else None,
            gold_forget if args.stop_at_gold else None,
        )

    def _collate(self, rows):
        return self.trainer.data_collator([dict(row) for row in rows])

    @torch.no_grad()
    def _accuracy(self, batch) -> float:
        model = self.trainer.model
        was_training = model.training
        model.eval()
        try:
            batch = self.trainer._prepare_inputs(batch)
            logits = self.trainer.task.logits(model, batch)
            return float((self.trainer.task.predictions(logits) == batch["labels"]).float().mean())
        finally:
            model.train(was_training)

    def _take_snapshot(self, step: int) -> None:
        self.snapshot, self.snapshot_step = snapshot_weights(self.trainer.model), step

    def _restore_snapshot(self) -> None:
        restore_weights(self.trainer.model, self.snapshot)

    def record_loss(self, loss: torch.Tensor) -> None:
        """Called by the trainer with each micro-batch loss (the check itself happens at the step's end)."""
        if self.nonfinite_loss is None and not torch.isfinite(loss.detach()).all():
            self.nonfinite_loss = float(loss.detach().float().mean())

    def state(self) -> dict:
        """What a checkpoint keeps of the guard: the original's monitor accuracy, the baseline of every check (a
        resumed run measuring it on resumed weights would judge by another standard than the uninterrupted run)."""
        return {"original_retain_accuracy": self.original_retain_accuracy}

    def on_train_begin(self, args, state, control, **kwargs):
        resumed, self.resumed_state = self.resumed_state, None
        if resumed and resumed.get("original_retain_accuracy") is not None:
            self.original_retain_accuracy = float(resumed["original_retain_accuracy"])
        else:
            self.original_retain_accuracy = self._accuracy(self.retain_batch)
        self._take_snapshot(state.global_step)
        self.nonfinite_loss = None

    def _has_retain_skill(self) -> bool:
        """A model at or below chance on the monitor batch has no retain accuracy to lose: nothing to guard."""
        num_labels = getattr(self.trainer, "num_labels", None)
        chance = 1.0 / num_labels if num_labels else 0.0
        return self.original_retain_accuracy > chance

    def _check(self, args, state) -> str | None:
        """The reason to stop after this step's retain (and stop-at-gold) checks, or `None`; a passed check takes a
        snapshot."""
        reason = None
        retain_accuracy = self._accuracy(self.retain_batch)
        floor = args.guard_retain_floor * self.original_retain_accuracy
        if self._has_retain_skill() and not retain_accuracy >= floor:
            reason = (
                f"retain accuracy on the monitor batch fell to {retain_accuracy:.3f} at step {state.global_step}, "
                f"below guard_retain_floor={args.guard_retain_floor} x the original's "
                f"{self.original_retain_accuracy:.3f}. Lower learning_rate (now {args.learning_rate:g}), train "
                "for fewer steps, or raise the retain weight of the loss."
            )
        elif self.forget_batch is not None and self.gold_forget_accuracy is not None:
            forget_accuracy = self._accuracy(self.forget_batch)
            if forget_accuracy <= self.gold_forget_accuracy:
                reason = (
                    f"forget accuracy on the monitor batch reached the gold model's level ({forget_accuracy:.3f} "
                    f"<= {self.gold_forget_accuracy:.3f}) at step {state.global_step} (stop_at_gold=True): "
                    "unlearning further would over-unlearn."
                )
                # Reaching gold is success: keep these weights rather than the previous check's.
                self._take_snapshot(state.global_step)
                self.stop_is_failure = False
        if reason is None:
            self._take_snapshot(state.global_step)
        return reason

    def _stop(self, reason: str, control) -> None:
        self._restore_snapshot()
        self.trainer.stop_reason = f"Unlearning stopped: {reason} Kept the weights of step {self.snapshot_step}."
        self.trainer.stopped_at_step = self.snapshot_step
        self.trainer.stop_is_failure = self.stop_is_failure
        logger.warning(self.trainer.stop_reason)
        control.should_training_stop = True

    def on_step_end(self, args, state, control, **kwargs):
        reason = None
        if self.nonfinite_loss is not None:
            reason = (
                f"the training loss became {self.nonfinite_loss} at step {state.global_step}. Lower learning_rate "
                f"(now {args.learning_rate:g}), keep max_grad_norm clipping on, or train for fewer steps."
            )
        elif state.global_step == state.max_steps or (
            not self.at_epoch_ends and state.global_step % args.guard_interval == 0
        ):
            reason = self._check(args, state)
        if reason is not None:
            self._stop(reason, control)
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.at_epoch_ends and state.global_step < state.max_steps and not control.should_training_stop:
            reason = self._check(args, state)
            if reason is not None:
                self._stop(reason, control)
        return control


def snapshot_weights(model) -> dict:
    """A CPU copy of `model`'s trainable parameters and buffers (for a PEFT model, the adapter's): what the guard and
    the stopping rule keep of a step, enough to put its weights back bitwise."""
    return {
        "trainable": {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad},
        "buffers": {n: b.detach().cpu().clone() for n, b in model.named_buffers()},
    }


@torch.no_grad()
def restore_weights(model, snapshot: dict) -> None:
    """Copies a [`snapshot_weights`] copy back into `model`, in place (parameters keep their identity, so the
    optimizer and any wrapper still hold them)."""
    for name, parameter in model.named_parameters():
        if name in snapshot["trainable"]:
            parameter.copy_(snapshot["trainable"][name].to(parameter.device))
    for name, buffer in model.named_buffers():
        if name in snapshot["buffers"]:
            buffer.copy_(snapshot["buffers"][name].to(buffer.device))


def monitor_rows(dataset, size: int, seed: int):
    """A fixed, seeded choice of `size` rows of a featurized dataset (all of them when it is smaller)."""
    if dataset is None or len(dataset) == 0:
        return None
    if len(dataset) <= size:
        return dataset
    indices = np.sort(np.random.default_rng(seed).choice(len(dataset), size=size, replace=False))
    return dataset.select(indices.tolist())


def gold_forget_accuracy(gold_results) -> float | None:
    """The gold model's forget accuracy from its results dict (`forget_accuracy` or `eval_forget_accuracy`)."""
    if not gold_results:
        return None
    for key in ("forget_accuracy", "eval_forget_accuracy"):
        value = gold_results.get(key)
        if value is not None and not math.isnan(float(value)):
            return float(value)
    return None
