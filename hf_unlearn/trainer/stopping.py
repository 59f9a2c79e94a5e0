"""The stopping rule: ends an unlearning run where its forgetting matches a target, not after a fixed length.

A length in epochs does not carry over between requests and datasets (an epoch is 13 steps on one, 63 on another),
and outcomes jump between neighbouring points of a learning-rate x epochs grid. [`StoppingRule`] (a
`TrainerCallback`, added by `UnlearningTrainer` when `args.stop_target` is set) measures instead, every
`stop_interval` optimizer steps (a fraction of an epoch below 1) at the steps the method admits as ends
([`UnlearningTrainer.stopping_point`]: SCRUB in its min passes, random labels and SalUn in their retain passes, UNSIR
in its repair phase, reset-perturb in its repair stage), with the model in eval mode (no dropout, no batch-norm
statistics written):

- the **forget figures**: accuracy, and the mean probability the model gives the true label (its confidence), over
  the forget rows (at most `stop_monitor_size` of them, seeded) pooled with the forget-validation rows when given;
- the **utility**: accuracy on retain-validation rows (the retain monitor rows when none are given), kept when it is
  at least the original's (for a class request: the original's when it never names the forgotten classes) minus
  `stop_retain_tolerance` (default: `stop_retain_standard_errors`, 2, binomial standard errors of the original's
  accuracy on those rows, each at least one row's worth: a smaller loss cannot be told from noise).

The run stops at the first check whose forget accuracy is at or below the target's (methods that repair,
`stops_in_repair`, whose forget accuracy climbs back during the steps they admit: at the first check that kept utility
and landed on the target within the measurement's noise, climbed through it since the previous check, or sits below
it without climbing; `StoppingRule._repair_done`), and ends on the check closest to the target among
the checks that kept utility, the original (step 0) included: the closest forget accuracy, and
among checks whose accuracies are within the measurement's noise of each other (one binomial standard error of the
target over the measured rows) the closest confidence, when a target confidence is known. Accuracy comes first:
methods that flatten their outputs (Bad Teaching's incompetent teacher) lose confidence long before accuracy, and a
sum of the two gaps would pick an early check that matches the confidence but not the recognition. That check's
weights (trainable parameters and buffers) are put back bitwise. The run's own length (`num_train_epochs` /
`max_steps`) caps it.

Why confidence beside accuracy: a mean loss is unbounded, so a few rows driven to a huge loss (gradient ascent does
that) can bring the mean to a retrained model's while the other rows stay recognised; the mean true-label
probability is bounded in [0, 1] like accuracy, moves by at most 1/n per row, and separates a model that is barely
right from one that is sure.

Targets (`stop_target`):

- `"reference"`: figures of a model that never saw the request, given as `stop_target_accuracy` (and
  `stop_target_confidence`), with `stop_target_source` saying where they come from: a fold-out reference model's
  figures on the request's rows (`hf_unlearn.experiment.fold_out`), or, in the benchmark, the gold model's figures on
  forget-validation rows.
- `"unseen"` (gold-free): the original's own figures, measured before the method's set-up and first step, on rows
  of the same kind it never trained on (`stopping_splits["unseen"]`): recordings of held-out speakers for a speaker
  request, held-out recordings for a sample request; for a class request, the share of unseen rows of the other
  classes that the model assigns to the forgotten class(es) (and the mean probability it gives them), the rate at
  which a model that never learnt a class still names it.

What the rule reads: the forget rows the method trains on, and the rows of `stopping_splits` (`"forget_validation"`,
`"retain_validation"`, `"unseen"`); nothing else. Several processes: each measures its share of every monitor set
and the counts are summed across processes, so every process sees the same figures and stops at the same step.
A checkpoint holds the rule's state (the original's figures, the checks so far, the best check's weights), so a
resumed run stops where the uninterrupted one does.
"""

from __future__ import annotations

import logging
import math

import torch
from transformers import TrainerCallback

from hf_unlearn.evaluation.intervals import binomial_standard_error, utility_tolerance
from hf_unlearn.trainer.guard import monitor_rows, restore_weights, snapshot_weights

logger = logging.getLogger(__name__)

STOPPING_SPLITS = ("forget_validation", "retain_validation", "unseen")


class StoppingRule(TrainerCallback):
    """See the module docstring. Built by [`StoppingRule.from_trainer`]."""

    def __init__(self, trainer, forget_rows: list, utility_rows, unseen_rows=None, forgotten_classes=None):
        self.trainer = trainer
        args = trainer.args
        self.mode = args.stop_target
        self.forget_batches = [batch for rows in forget_rows for batch in self._batches(rows)]
        self.utility_batches = self._batches(utility_rows)
        self.utility_rows = max(len(utility_rows), 1)
        self.tolerance = None
        self.unseen_batches = self._batches(unseen_rows) if unseen_rows is not None else None
        self.forgotten_classes = forgotten_classes  # class requests: the classes forgotten
        self.target_accuracy = args.stop_target_accuracy
        self.target_confidence = args.stop_target_confidence
        self.source = args.stop_target_source
        self.original_utility = None
        self.measured_before_setup = False  # set by `measure_original`, read (and cleared) at the train's start
        self.checks: list[dict] = []
        self.best = None  # ((accuracy gap, confidence gap), step, weights)
        self.forget_rows = sum(len(rows) for rows in forget_rows)
        self.reached_at = None
        self.interval = None
        self.resumed_state = None  # `state()` of a checkpoint, handed over by `hf_unlearn.trainer.saving`

    @classmethod
    def from_trainer(cls, trainer, forget, retain, forget_dataset, retain_dataset, stopping_splits, featurize):
        """The rule of `trainer`'s run, or `None` when `args.stop_target` is unset. `forget`/`retain` are the
        featurized training sides (or `None`), `forget_dataset`/`retain_dataset` the sets as given, `stopping_splits`
        the trainer's `stopping_splits` argument, `featurize` the trainer's `RequestFeaturizer`."""
        args, splits = trainer.args, dict(stopping_splits or {})
        unknown = sorted(set(splits) - set(STOPPING_SPLITS))
        if unknown:
            raise ValueError(f"stopping_splits has unknown key(s) {unknown}: use {', '.join(STOPPING_SPLITS)}.")
        if args.stop_target is None:
            if splits:
                logger.warning("stopping_splits given without stop_target: the stopping rule is off.")
            return None
        size, seed = args.stop_monitor_size, args.seed
        if forget is None:
            forget = featurize(monitor_rows(forget_dataset, size, seed), "forget monitor") if forget_dataset else None
        if forget is None:
            raise ValueError("The stopping rule measures the forget rows: pass forget_dataset.")
        forget = monitor_rows(forget, size, seed)
        measured = [forget]
        if splits.get("forget_validation") is not None and len(splits["forget_validation"]):
            measured.append(featurize(monitor_rows(splits["forget_validation"], size, seed), "forget_validation"))
        utility = splits.get("retain_validation")
        utility = utility if utility is not None else (retain if retain is not None else retain_dataset)
        if utility is None or not len(utility):
            raise ValueError("The stopping rule judges utility: pass stopping_splits['retain_validation'] rows.")
        name = "retain_validation" if splits.get("retain_validation") is not None else "retain monitor"
        utility = monitor_rows(utility, size, seed)
        utility = utility if "labels" in utility.column_names else featurize(utility, name)
        unseen, classes = None, None
        if trainer.forget_request is not None and trainer.forget_request.kind == "class":
            classes = sorted({int(label) for label in forget["labels"]})
        if args.stop_target == "unseen":
            if splits.get("unseen") is None or not len(splits["unseen"]):
                raise ValueError(
                    "stop_target='unseen' measures the original on rows it never trained on: pass "
                    "stopping_splits={'unseen': <held-out speakers / recordings of the same kind>}."
                )
            unseen = featurize(monitor_rows(splits["unseen"], size, seed), "unseen")
            if classes is not None:
                unseen = unseen.filter(lambda label: int(label) not in classes, input_columns="labels")
                if not len(unseen):
                    raise ValueError("stop_target='unseen' for a class request needs unseen rows of other classes.")
        elif args.stop_target_accuracy is None:
            raise ValueError(
                "stop_target='reference' needs stop_target_accuracy: the accuracy a model that never saw the request "
                "gives on its rows (e.g. a fold-out reference model's, hf_unlearn.experiment.fold_out)."
            )
        return cls(trainer, measured, utility, unseen, classes)

    # ------------------------------------------------------------------------------------------- measuring
    def _batches(self, rows) -> list:
        """This process's share of `rows`, collated in batches of `per_device_eval_batch_size`."""
        accelerator = self.trainer.accelerator
        mine = [dict(rows[i]) for i in range(accelerator.process_index, len(rows), accelerator.num_processes)]
        size = self.trainer.args.per_device_eval_batch_size
        return [self.trainer.data_collator(mine[i : i + size]) for i in range(0, len(mine), size)]

    @torch.no_grad()
    def _figures(self, batches, classes=None, excluded=None) -> tuple[float, float]:
        """(accuracy, mean true-label probability) over every process's share of a monitor set, in eval mode; with
        `classes`, a row counts as a hit when the model names one of them (probability: their sum); with `excluded`,
        accuracy is that of the model's top class among the others (a model that never names them)."""
        model, trainer = self.trainer.model, self.trainer
        was_training = model.training
        model.eval()
        hits_sum = confidence_sum = rows = 0.0
        try:
            for batch in batches:
                batch = trainer._prepare_inputs(batch)
                logits = trainer.task.logits(model, batch).float()
                probabilities = logits.softmax(-1)
                if excluded is not None:
                    logits = logits.index_fill(-1, torch.tensor(excluded, device=logits.device), -torch.inf)
                predictions = trainer.task.predictions(logits)
                if classes is None:
                    hits = predictions == batch["labels"]
                    confidence = probabilities.gather(-1, batch["labels"].long().unsqueeze(-1)).squeeze(-1)
                else:
                    chosen = torch.tensor(classes, device=logits.device)
                    hits = torch.isin(predictions, chosen)
                    confidence = probabilities[:, chosen].sum(-1)
                hits_sum += float(hits.double().sum())
                confidence_sum += float(confidence.double().sum())
                rows += len(hits)
        finally:
            model.train(was_training)
        totals = torch.tensor([hits_sum, confidence_sum, rows], dtype=torch.float64, device=trainer.args.device)
        totals = trainer.accelerator.reduce(totals, reduction="sum")
        count = max(float(totals[2]), 1.0)
        return float(totals[0]) / count, float(totals[1]) / count

    def _tolerance(self) -> float:
        """`args.stop_retain_tolerance`, or `args.stop_retain_standard_errors` binomial standard errors of the
        original's utility on the utility rows (each at least one row's worth, as the benchmark tuner allows)."""
        args = self.trainer.args
        if args.stop_retain_tolerance is not None:
            return float(args.stop_retain_tolerance)
        rows, p = self.utility_rows, self.original_utility
        return utility_tolerance(p, rows, args.stop_retain_standard_errors)

    def _gaps(self, accuracy: float, confidence: float) -> tuple[float, float]:
        """(|accuracy - target|, |confidence - target confidence|), the second 0 without a target confidence."""
        confidence_gap = abs(confidence - self.target_confidence) if self.target_confidence is not None else 0.0
        return abs(accuracy - self.target_accuracy), confidence_gap

    def _noise(self) -> float:
        """The measurement's noise: one binomial standard error of the target accuracy over the measured forget rows,
        at least one row."""
        return binomial_standard_error(min(max(self.target_accuracy, 0.0), 1.0), max(self.forget_rows, 1))

    def _closer(self, gaps: tuple[float, float]) -> bool:
        """Whether a check with `gaps` is closer to the target than the kept one: its accuracy closer by more than the
        measurement's noise (`_noise`), or as close within that noise and its confidence closer."""
        if self.best is None:
            return True
        (accuracy_gap, confidence_gap), (best_accuracy, best_confidence) = gaps, self.best[0]
        noise = self._noise() if self.target_confidence is not None else 0.0
        if accuracy_gap < best_accuracy - noise:
            return True
        return accuracy_gap <= best_accuracy + noise and confidence_gap < best_confidence

    def _check(self, step: int) -> bool:
        """Measures at `step`, keeps the weights when this is the closest check that kept utility; returns whether
        the target is reached."""
        accuracy, confidence = self._figures(self.forget_batches)
        utility = self._figures(self.utility_batches)[0]
        kept = utility >= self.original_utility - self.tolerance
        gaps = self._gaps(accuracy, confidence)
        self.checks.append(
            {
                "step": step,
                "forget_accuracy": accuracy,
                "forget_confidence": confidence,
                "utility": utility,
                "utility_kept": kept,
                "accuracy_gap": gaps[0],
                "confidence_gap": gaps[1],
            }  # fmt: skip
        )
        if kept and self._closer(gaps):
            self.best = (gaps, step, snapshot_weights(self.trainer.model))
        repairs = getattr(self.trainer, "stops_in_repair", False)
        reached = self._repair_done(accuracy, kept, gaps[0]) if repairs else accuracy <= self.target_accuracy
        self.checks[-1]["reached"] = reached
        if reached and self.reached_at is None:
            self.reached_at = step
        return reached

    def _repair_done(self, accuracy: float, kept: bool, accuracy_gap: float) -> bool:
        """Whether a repairing method's run has nothing more to gain, at a check that kept utility. Its forget
        accuracy climbs back during the steps it admits, so falling below the target is where the repair starts, not
        an end. It is done when the check lands on the target (within the noise), when the accuracy has climbed
        through it since the previous check, or when it sits below the target and no longer climbs (a class the
        retain rows never teach back)."""
        if not kept:
            return False
        if accuracy_gap <= self._noise():
            return True
        previous = self.checks[-2] if len(self.checks) >= 2 and self.checks[-2]["step"] > 0 else None
        if previous is None:
            return False
        climbed_through = previous["forget_accuracy"] < self.target_accuracy <= accuracy
        stalled_below = accuracy < self.target_accuracy and accuracy <= previous["forget_accuracy"]
        return climbed_through or stalled_below

    # ------------------------------------------------------------------------------------------- callbacks
    def state(self) -> dict:
        """What a checkpoint keeps: the original's and the target's figures, the checks, the best check's weights."""
        best = None
        if self.best is not None:
            best = {"gaps": list(self.best[0]), "step": self.best[1], "weights": self.best[2]}
        return {
            "original_utility": self.original_utility,
            "tolerance": self.tolerance,
            "target_accuracy": self.target_accuracy,
            "target_confidence": self.target_confidence,
            "checks": list(self.checks),
            "best": best,
        }

    def on_train_begin(self, args, state, control, **kwargs):
        steps_per_epoch = state.max_steps / max(state.num_train_epochs or 1, 1)
        interval = args.stop_interval if args.stop_interval >= 1 else args.stop_interval * steps_per_epoch
        self.interval = max(1, round(interval))
        resumed, self.resumed_state = self.resumed_state, None
        if resumed:
            self.original_utility, self.tolerance = resumed["original_utility"], resumed["tolerance"]
            self.target_accuracy, self.target_confidence = resumed["target_accuracy"], resumed["target_confidence"]
            self.checks = list(resumed["checks"])
            best = resumed["best"]
            self.best = None if best is None else (tuple(best["gaps"]), best["step"], best["weights"])
            self.reached_at = next((c["step"] for c in self.checks if c["reached"]), None)
            return
        if not self.measured_before_setup:  # the trainer measures before the method's set-up (`measure_original`)
            self.measure_original()
        self.measured_before_setup = False
        if self.reached_at is not None:  # the original already meets the target: nothing to do
            control.should_training_stop = True
        return control

    def measure_original(self) -> None:
        """The original's figures and the step-0 check (the untouched original is always a possible end), called by
        the trainer before the method's set-up: a method that resets layers there (reset-perturb) starts its steps
        from a broken model, which is neither the utility baseline nor the weights of step 0."""
        # A class request: the utility a model that never names the forgotten class would keep, the level a retrained
        # model reaches on the other classes (it gains the rows the original confused with the class).
        self.original_utility = self._figures(self.utility_batches, excluded=self.forgotten_classes)[0]
        self.tolerance = self._tolerance()
        if self.mode == "unseen":
            self.target_accuracy, self.target_confidence = self._figures(self.unseen_batches, self.forgotten_classes)
            self.source = self.source or "the original's figures on unseen rows"
        self._check(0)
        self.measured_before_setup = True

    def _maybe_check(self, state, control, epoch_end: bool) -> None:
        step = state.global_step
        # Not `control.should_training_stop`: the Trainer sets it at the run's last step, which must be checked too.
        if (
            self.reached_at is not None
            or self.trainer.stop_reason is not None
            or any(c["step"] == step for c in self.checks)
        ):
            return
        due = epoch_end or step % self.interval == 0 or step == state.max_steps
        if due and self.trainer.stopping_point(step, epoch_end) and self._check(step):
            control.should_training_stop = True

    def on_step_end(self, args, state, control, **kwargs):
        self._maybe_check(state, control, epoch_end=False)
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        self._maybe_check(state, control, epoch_end=True)
        return control

    def on_train_end(self, args, state, control, **kwargs):
        if self.best is not None:
            restore_weights(self.trainer.model, self.best[2])
            self.trainer.stopped_at_step = self.best[1]
        logger.info("Stopping rule: %s", self.summary())

    # ------------------------------------------------------------------------------------------- the record
    def record(self) -> dict:
        """What `results.json`, `unlearning_results.json`, the audit log and the card say of the stop."""
        return {
            "mode": self.mode,
            "source": self.source,
            "target_forget_accuracy": self.target_accuracy,
            "target_forget_confidence": self.target_confidence,
            "stopped_at_step": None if self.best is None else self.best[1],
            "target_reached_at_step": self.reached_at,
            "interval_steps": self.interval,
            "retain_tolerance": self.tolerance,
            "original_utility": self.original_utility,
            "checks": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in c.items()} for c in self.checks],
        }

    def summary(self) -> str:
        if self.best is None:
            return f"no check kept utility; the run's last weights are kept (target {self.target_accuracy})."
        chosen = next(c for c in self.checks if c["step"] == self.best[1])
        reached = f"target reached at step {self.reached_at}" if self.reached_at is not None else "target not reached"
        return (
            f"{self.mode} target forget accuracy {self.target_accuracy:.3f} ({self.source}); {reached}; ended on "
            f"step {self.best[1]} (forget accuracy {chosen['forget_accuracy']:.3f}, utility {chosen['utility']:.3f})."
        )


def figures_of_logits(logits, labels) -> dict:
    """`{"accuracy", "confidence"}` of a reference model's logits on rows with `labels` (NumPy arrays): the target
    figures of `stop_target="reference"`."""
    import numpy as np

    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels).astype(int)
    if not len(labels):
        return {"accuracy": math.nan, "confidence": math.nan}
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities = shifted / shifted.sum(-1, keepdims=True)
    return {
        "accuracy": float((logits.argmax(-1) == labels).mean()),
        "confidence": float(probabilities[np.arange(len(labels)), labels].mean()),
    }


def install_monitors(trainer, sides: tuple, datasets: tuple, stopping_splits):
    """Builds the divergence guard and the stopping rule of `trainer` and adds them as callbacks (the guard first, so
    that a rule restoring its best check runs after a guard's restore), as `trainer.guard` and `trainer.stopping`
    (`None` when off). `sides`: the
    featurized `(forget, retain)` the method trains on (`None` for a side it does not); `datasets`: `(forget_dataset,
    retain_dataset)` as given."""
    from hf_unlearn.trainer.guard import DivergenceGuard

    (forget, retain), (forget_dataset, retain_dataset) = sides, datasets

    trainer.stop_reason = None  # set when the divergence guard stops the run
    trainer.stopped_at_step = None  # the step whose weights were kept (guard or stopping rule)
    guard = DivergenceGuard.from_trainer(trainer, forget, retain, forget_dataset, retain_dataset, trainer._featurize)
    rule = StoppingRule.from_trainer(
        trainer, forget, retain, forget_dataset, retain_dataset, stopping_splits, trainer._featurize
    )
    for callback in (guard, rule):
        if callback is not None:
            trainer.add_callback(callback)
    trainer.guard, trainer.stopping = guard, rule
