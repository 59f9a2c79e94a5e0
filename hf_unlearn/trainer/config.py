"""`UnlearningConfig`: the `TrainingArguments` shared by every unlearning method.

Each method subclasses it in its own file (`methods/<key>.py`) to add its hyperparameters with the paper's defaults.
Defaults changed from `transformers.TrainingArguments`, and why:

- `remove_unused_columns=False`: unlearning batches are nested (`{"forget": ..., "retain": ...}`); the stock column
  pruning would drop them.
- `logging_steps=10`: unlearning runs are short (often one epoch); the default of 500 would log nothing.
- `save_strategy="no"`: an unlearning run is usually minutes long; the final model is saved by the caller. Set
  `save_strategy="steps"` to checkpoint (each checkpoint carries `unlearning_config.json`).

Kept from `TrainingArguments` though most references differ: `lr_scheduler_type="linear"` (decay to 0 over the run),
where the authors' code of most methods keeps the rate flat over runs this short; pass
`lr_scheduler_type="constant"` for theirs. Why the default stays (a validation-only probe on FSDD) and each method's
schedule: docs/methods.md, "The learning-rate schedule".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from hf_unlearn.evaluation.intervals import UTILITY_STANDARD_ERRORS
from hf_unlearn.tasks import task_names


def accelerator_present(use_cpu: bool | None = False) -> bool:
    """Whether training runs on a CUDA device (where pinned host memory speeds up copies)."""
    import torch

    return not use_cpu and torch.cuda.is_available()


def launch_use_cpu(use_cpu: bool | None) -> bool | None:
    """`use_cpu` for a `TrainingArguments` the library makes itself (reference training, predictions): as given, else
    True when the process is already one of several CPU processes (a launcher's `TrainingArguments(use_cpu=True)`
    set up accelerate's process-wide state), else None (the default).

    Why: every new `TrainingArguments` resets that shared state from its own fields. One made without `use_cpu` in a
    CPU-only `torchrun` / `accelerate launch` resets it to a single process, and the user's arguments, which share the
    state, then report `world_size` 1 and their Trainer trains each process alone on the whole data."""
    if use_cpu is not None:
        return use_cpu
    from accelerate import PartialState

    if PartialState._shared_state:  # the state a launcher's TrainingArguments set up (never create one here)
        state = PartialState()
        if state.num_processes > 1 and state.device.type == "cpu":
            return True
    return None


def unslu_preset(learning_rate: float, **extra) -> dict:
    """The UnSLU-BENCH settings (Koudounas et al., Interspeech 2025): one epoch of AdamW at a constant
    `learning_rate`, without gradient clipping (`max_grad_norm=0`; only its NG clips, at 1.0, passed in `extra`).

    Each method's `learning_rate` is the one that maximised GUM most often over UnSLU-BENCH's 10 model x dataset pairs
    (its repository's README, "Best Learning Rate (LR) for Unlearning Methods"): FT 1e-4, NG 5e-6, NG+ 1e-6,
    CF-k 1e-4, UNSIR 1e-5, BT 1e-6, BT-L 1e-6, SCRUB 5e-6. Methods UnSLU-BENCH does not run have no such preset.
    """
    return {
        "num_train_epochs": 1,
        "learning_rate": learning_rate,
        "optim": "adamw_torch",
        "lr_scheduler_type": "constant",
        "max_grad_norm": 0.0,
        **extra,
    }


EPOCH_OVER_CHOICES = ("forget", "retain", "longest", "shortest")
GUARD_MODES = ("auto", "always", "off")
STOP_TARGETS = ("reference", "unseen")  # hf_unlearn.trainer.stopping
CURRICULA = ("superloss",)
CURRICULUM_SIDES = ("forget", "retain")


@dataclass
class UnlearningConfig(TrainingArguments):
    """Arguments shared by all unlearning methods, on top of [`~transformers.TrainingArguments`].

    Args:
        method (`str`, *optional*):
            Key of the unlearning method (see `hf_unlearn.list_methods()`). Filled in by the trainer when left empty.
        task (`str`, *optional*, defaults to `"audio-classification"`):
            What the model predicts; decides the per-sample loss and how labels are drawn (see `hf_unlearn.tasks`).
        forget_weight (`float`, *optional*, defaults to 1.0):
            Weight of the forget-set loss term, for methods that combine forget and retain terms.
        retain_weight (`float`, *optional*, defaults to 1.0):
            Weight of the retain-set loss term, for methods that combine forget and retain terms.
        epoch_over (`str`, *optional*):
            Which set one epoch runs over: `"forget"`, `"retain"`, `"longest"` or `"shortest"`; the other set is paired
            by a seeded permutation, cycled when shorter. Defaults to the method's own choice. Only for methods with
            paired forget/retain batches; the schedules of SCRUB, RandLabel and SalUn (whole passes over each side)
            and of Bad Teaching and BT-L (one mixed stream) are the references' and do not read it.
        pairing_seed (`int`, *optional*, defaults to 42):
            Seed of the forget/retain pairing and of per-sample random draws (random labels). Independent of `seed`, so
            the pairing stays fixed when the training seed changes.
        audio_column (`str`, *optional*, defaults to `"audio"`):
            Column holding the audio (a `datasets.Audio` feature, or `{"array", "sampling_rate"}` dicts).
        label_column (`str`, *optional*, defaults to `"label"`):
            Column holding the class id.
        speaker_column (`str`, *optional*, defaults to `"speaker"`):
            Column holding the speaker, when the data has one: for a speaker request (`forget_request` of kind
            `"speaker"`) a speaker found in both the forget and the retain set is refused.
        divergence_guard (`str`, *optional*, defaults to `"auto"`):
            `"auto"` stops every method cleanly when the loss is not finite or the retain accuracy on a monitor
            batch collapses, keeping the last good weights (`hf_unlearn.trainer.guard`; an ascent method without retain
            rows is refused, another one is then not guarded); `"always"` guards every method, `"off"` none.
        guard_interval (`int`, *optional*, defaults to 10):
            Optimizer steps between two monitor-batch checks (the loss is checked at every step).
        guard_retain_floor (`float`, *optional*, defaults to 0.5):
            The run stops when the monitor retain accuracy falls below this fraction of the original's.
        guard_monitor_size (`int`, *optional*, defaults to 64):
            Number of (seeded) retain and forget rows in the monitor batches.
        stop_at_gold (`bool`, *optional*, defaults to `False`):
            Stop when forget accuracy on the monitor batch reaches the gold model's (given as `gold_results`), since
            unlearning past gold is over-unlearning.
        save_stopped_runs (`bool`, *optional*, defaults to `False`):
            Save a run that stopped before it finished (a non-finite loss or weights, a retain collapse; see
            `hf_unlearn.hub.stopped_runs`) anyway, marked as stopped in its card, `unlearning_results.json` and audit
            log. By default `save_model()` refuses such a run, saying why it stopped.
        remove_forgotten_labels (`bool`, *optional*):
            Remove the forgotten classes of a class request from the saved model: their rows of the classification
            head and their `id2label`/`label2id` entries. By default (`None`) on when the classes are people (speaker
            identification: the forgotten classes are values of the speaker column, `hf_unlearn.hub.speaker_labels`),
            so that no saved file names the forgotten person; the card says so and how to read the figures.
        stop_target (`str`, *optional*):
            The stopping rule (`hf_unlearn.trainer.stopping`): `"reference"` (a model that never saw the request
            gives the target figures, `stop_target_accuracy`) or `"unseen"` (gold-free: the original's figures on
            held-out rows, `stopping_splits["unseen"]` of the trainer). The run stops when the forget accuracy reaches
            the target and ends on the check closest to it that kept utility; `num_train_epochs` / `max_steps` cap it.
        stop_target_accuracy (`float`, *optional*), stop_target_confidence (`float`, *optional*):
            The `"reference"` target: accuracy and mean true-label probability of the reference model on the request's
            rows (the confidence is optional).
        stop_target_source (`str`, *optional*):
            Where the reference figures come from (recorded in the results, the audit log and the card).
        stop_interval (`float`, *optional*, defaults to 0.1):
            Checks every this many optimizer steps (below 1: this fraction of an epoch), at the steps the method admits
            as ends, and at every epoch end.
        stop_retain_tolerance (`float`, *optional*):
            A check keeps utility when its retain-validation accuracy is at least the original's minus this; by
            default `stop_retain_standard_errors` binomial standard errors of the original's accuracy on those rows
            (each at least one row's worth): a smaller loss cannot be told from the rows' noise.
        stop_retain_standard_errors (`float`, *optional*, defaults to 2.0):
            The default tolerance in binomial standard errors (2: the benchmark tuner's own utility tolerance). A
            scale-free setting that carries over between validation sets of different sizes and accuracies, so the
            benchmark tunes it per method (`--tune_stop_standard_errors`).
        stop_monitor_size (`int`, *optional*, defaults to 512):
            Rows (seeded) of each set the stopping rule measures.
        curriculum (`str`, *optional*):
            Per-sample re-weighting of the batch losses, applied in [`UnlearningTrainer.reduce`] to every per-sample
            loss term of every method (cross-entropies, KL terms, NPO):
            `"superloss"` (Castells et al., NeurIPS 2020; see `hf_unlearn.losses.superloss`) or `None` (plain mean).
        superloss_lambda (`float`, *optional*, defaults to 10.0):
            SuperLoss regularisation `lambda` (MU-Bench's value); larger values give weights closer to 1.
        curriculum_sides (`list[str]`, *optional*, defaults to `["forget", "retain"]`):
            Which sides' losses the curriculum re-weights; the others keep the plain mean.
        forget_bn_update (`bool`, *optional*, defaults to `False`):
            Let forward passes on forget data (forget rows, UNSIR's noise, mixed forget + retain batches) update the
            batch-norm running statistics. By default they normalise with the batch's statistics but leave the running
            ones untouched (`hf_unlearn.trainer.batchnorm`): otherwise forget-set statistics are written into the model
            even at a zero learning rate. Teacher passes never update them.
        recalibrate_bn (`bool`, *optional*, defaults to `False`):
            After `train()`, re-estimate the batch-norm running statistics on the retain set (one pass in train mode,
            cumulative average, no gradients). Needs a retain set, also for methods that do not train on it.
    """

    method: str | None = field(
        default=None, metadata={"help": "Unlearning method key (see hf_unlearn.list_methods())."}
    )
    task: str = field(default="audio-classification", metadata={"help": f"Task, one of {task_names()}."})
    forget_weight: float = field(default=1.0, metadata={"help": "Weight of the forget-set loss term."})
    retain_weight: float = field(default=1.0, metadata={"help": "Weight of the retain-set loss term."})
    epoch_over: str | None = field(
        default=None, metadata={"help": f"Set an epoch runs over, one of {EPOCH_OVER_CHOICES}; default: the method's."}
    )
    pairing_seed: int = field(default=42, metadata={"help": "Seed of the forget/retain pairing and random labels."})
    audio_column: str = field(default="audio", metadata={"help": "Name of the audio column."})
    label_column: str = field(default="label", metadata={"help": "Name of the label column."})
    speaker_column: str = field(
        default="speaker", metadata={"help": "Speaker column; for speaker requests no speaker may be on both sides."}
    )
    divergence_guard: str = field(
        default="auto",
        metadata={
            "help": f"Divergence guard, one of {GUARD_MODES}: 'auto' guards every method that has retain rows to "
            "watch; see hf_unlearn.trainer.guard."
        },
    )
    guard_interval: int = field(default=10, metadata={"help": "Optimizer steps between two monitor-batch checks."})
    guard_retain_floor: float = field(
        default=0.5, metadata={"help": "Stop when monitor retain accuracy < this x the original's (0 disables)."}
    )
    guard_monitor_size: int = field(default=64, metadata={"help": "Rows in the retain/forget monitor batches."})
    stop_at_gold: bool = field(
        default=False, metadata={"help": "Stop when forget accuracy reaches the gold model's (needs gold_results)."}
    )
    save_stopped_runs: bool = field(
        default=False,
        metadata={
            "help": "Save a run that stopped before it finished (non-finite loss or weights, retain collapse) anyway; "
            "its card, results and audit log say it stopped and why. By default such a save is refused."
        },
    )
    remove_forgotten_labels: bool | None = field(
        default=None,
        metadata={
            "help": "Remove the forgotten classes' labels and output units from the saved model (default: on when the "
            "classes are people, speaker identification; see hf_unlearn.hub.speaker_labels)."
        },
    )
    stop_target: str | None = field(
        default=None, metadata={"help": f"Stopping rule target, one of {STOP_TARGETS} (default: off)."}
    )
    stop_target_accuracy: float | None = field(
        default=None, metadata={"help": "'reference' target: a never-trained model's accuracy on the request's rows."}
    )
    stop_target_confidence: float | None = field(
        default=None, metadata={"help": "'reference' target: its mean true-label probability (optional)."}
    )
    stop_target_source: str | None = field(
        default=None, metadata={"help": "Where the reference figures come from (recorded)."}
    )
    stop_interval: float = field(
        default=0.1, metadata={"help": "Optimizer steps between stopping checks (below 1: a fraction of an epoch)."}
    )
    stop_retain_tolerance: float | None = field(
        default=None,
        metadata={"help": "Utility kept: retain-validation accuracy >= the original's minus this (default: 2 SE)."},
    )
    stop_retain_standard_errors: float = field(
        default=UTILITY_STANDARD_ERRORS,
        metadata={"help": "Default utility tolerance in binomial standard errors of the original's."},
    )
    stop_monitor_size: int = field(default=512, metadata={"help": "Rows of each set the stopping rule measures."})
    curriculum: str | None = field(
        default=None, metadata={"help": f"Per-sample loss curriculum, one of {CURRICULA}, or None (plain mean)."}
    )
    superloss_lambda: float = field(default=10.0, metadata={"help": "SuperLoss lambda (MU-Bench: 10)."})
    curriculum_sides: list[str] = field(
        default_factory=lambda: list(CURRICULUM_SIDES),
        metadata={"help": f"Sides the curriculum re-weights, among {CURRICULUM_SIDES}."},
    )

    forget_bn_update: bool = field(
        default=False, metadata={"help": "Let forget-side forward passes update batch-norm running statistics."}
    )
    recalibrate_bn: bool = field(
        default=False, metadata={"help": "Re-estimate batch-norm running statistics on the retain set after train()."}
    )

    # Changed defaults (documented in the module docstring).
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Kept False: nested forget/retain batches would be dropped otherwise."}
    )
    logging_steps: float = field(default=10, metadata={"help": "Log every X update steps."})
    save_strategy: str = field(default="no", metadata={"help": "Checkpoint strategy (default 'no')."})

    def __post_init__(self):
        super().__post_init__()
        if self.dataloader_pin_memory and not accelerator_present(self.use_cpu):
            self.dataloader_pin_memory = False  # nothing to pin for: torch warns at every data loader otherwise
        if self.task not in task_names():
            raise ValueError(f"Unknown task {self.task!r}: choose one of {task_names()}.")
        if self.epoch_over is not None and self.epoch_over not in EPOCH_OVER_CHOICES:
            raise ValueError(f"epoch_over={self.epoch_over!r} is not valid: choose one of {EPOCH_OVER_CHOICES}.")
        if self.curriculum is not None and self.curriculum not in CURRICULA:
            raise ValueError(f"curriculum={self.curriculum!r} is not known: choose one of {CURRICULA} or None.")
        self._check_signs()
        if isinstance(self.curriculum_sides, str):  # a single side given as a string
            self.curriculum_sides = [self.curriculum_sides]
        self.curriculum_sides = list(self.curriculum_sides)
        unknown_sides = [side for side in self.curriculum_sides if side not in CURRICULUM_SIDES]
        if unknown_sides or not self.curriculum_sides or len(set(self.curriculum_sides)) < len(self.curriculum_sides):
            raise ValueError(
                f"curriculum_sides={self.curriculum_sides!r} is not valid: give one or both of {CURRICULUM_SIDES}, "
                "each once."
            )
        if self.divergence_guard not in GUARD_MODES:
            raise ValueError(f"divergence_guard={self.divergence_guard!r} is not valid: choose one of {GUARD_MODES}.")
        if self.guard_interval < 1 or self.guard_monitor_size < 1:
            raise ValueError("guard_interval and guard_monitor_size must be at least 1.")
        if not 0 <= self.guard_retain_floor <= 1:
            raise ValueError(f"guard_retain_floor must be in [0, 1], got {self.guard_retain_floor}.")
        if self.stop_target is not None and self.stop_target not in STOP_TARGETS:
            raise ValueError(f"stop_target={self.stop_target!r} is not valid: choose one of {STOP_TARGETS} or None.")
        tolerance = 0.0 if self.stop_retain_tolerance is None else self.stop_retain_tolerance
        if not self.stop_interval > 0 or self.stop_monitor_size < 1 or not tolerance >= 0:
            raise ValueError("stop_interval must be > 0, stop_monitor_size >= 1 and stop_retain_tolerance >= 0.")
        if not self.stop_retain_standard_errors >= 0:
            raise ValueError(f"stop_retain_standard_errors must be >= 0, got {self.stop_retain_standard_errors}.")
        if self.remove_unused_columns:
            raise ValueError(
                "remove_unused_columns=True would drop the nested forget/retain batches: leave it False (the "
                "unlearning collator already keeps only the model inputs and labels)."
            )

    # Named sets of defaults from the literature, e.g. `SCRUBConfig.preset("unslu", output_dir=...)`. A plain class
    # attribute (no annotation), so not a dataclass field; each method config defines its own.
    PRESETS = {}
    # Fields that must be >= 0 / > 0. Plain class attributes too: each config names its own fields and
    # `_check_signs` checks those of every class along the MRO.
    NON_NEGATIVE_FIELDS = ("forget_weight", "retain_weight")
    POSITIVE_FIELDS = ("superloss_lambda",)

    def _check_signs(self) -> None:
        for cls in type(self).__mro__:
            for name in cls.__dict__.get("NON_NEGATIVE_FIELDS", ()):
                if not getattr(self, name) >= 0:
                    raise ValueError(f"{name} must be a non-negative number, got {getattr(self, name)}.")
            for name in cls.__dict__.get("POSITIVE_FIELDS", ()):
                if not getattr(self, name) > 0:
                    raise ValueError(f"{name} must be positive, got {getattr(self, name)}.")

    @classmethod
    def preset(cls, name: str, **overrides) -> "UnlearningConfig":
        """Builds the config with a named preset of defaults (e.g. the UnSLU-BENCH settings), then `overrides`."""
        if name not in cls.PRESETS:
            known = ", ".join(sorted(cls.PRESETS)) or "none"
            raise ValueError(f"{cls.__name__} has no preset {name!r}; known presets: {known}.")
        return cls(**{**cls.PRESETS[name], **overrides})

    def method_fields(self) -> dict[str, Any]:
        """The unlearning-specific fields (this class and its method subclass), without the TrainingArguments ones."""
        base = {f.name for f in dataclasses.fields(TrainingArguments)}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init and f.name not in base}


def convert_config(args: TrainingArguments | None, config_class: type[UnlearningConfig], method: str):
    """Returns `args` as an instance of `config_class`, the config of `method`.

    A plain `TrainingArguments` or the shared `UnlearningConfig` is upgraded (their values kept, the method's own
    fields at their defaults); a config of another method is refused, since its hyperparameters would be silently
    ignored.
    """
    if args is None:
        return config_class(output_dir="unlearned_model", method=method)
    if isinstance(args, config_class):
        if args.method not in (None, method):
            raise ValueError(f"args.method={args.method!r} but the trainer runs {method!r}: make them agree.")
        args.method = method
        return args
    if isinstance(args, UnlearningConfig) and type(args) is not UnlearningConfig:
        raise TypeError(
            f"{type(args).__name__} holds the hyperparameters of another method, but the trainer runs {method!r}: "
            f"pass a {config_class.__name__} (or a plain UnlearningConfig)."
        )
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(args) if f.init}
    values["method"] = method
    if "remove_unused_columns" in values and not isinstance(args, UnlearningConfig):
        values["remove_unused_columns"] = False  # a plain TrainingArguments defaults it to True; see module docstring
    return config_class(**values)
