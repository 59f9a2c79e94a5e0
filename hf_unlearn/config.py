"""`UnlearningConfig`: the `TrainingArguments` shared by every unlearning method.

Each method subclasses it in its own file (`methods/<key>.py`) to add its hyperparameters with the paper's defaults.
Defaults changed from `transformers.TrainingArguments`, and why:

- `remove_unused_columns=False`: unlearning batches are nested (`{"forget": ..., "retain": ...}`); the stock column
  pruning would drop them (see CONVENTIONS.md, "Pitfalls").
- `logging_steps=10`: unlearning runs are short (often one epoch); the default of 500 would log nothing.
- `save_strategy="no"`: an unlearning run is usually minutes long; the final model is saved by the caller. Set
  `save_strategy="steps"` to checkpoint (each checkpoint carries `unlearning_config.json`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

TASKS = ("audio-classification",)
EPOCH_OVER_CHOICES = ("forget", "retain", "longest", "shortest")


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
            by a seeded permutation, cycled when shorter. Defaults to the method's own choice.
        pairing_seed (`int`, *optional*, defaults to 42):
            Seed of the forget/retain pairing and of per-sample random draws (random labels). Independent of `seed`, so
            the pairing stays fixed when the training seed changes.
        audio_column (`str`, *optional*, defaults to `"audio"`):
            Column holding the audio (a `datasets.Audio` feature, or `{"array", "sampling_rate"}` dicts).
        label_column (`str`, *optional*, defaults to `"label"`):
            Column holding the class id.
    """

    method: str | None = field(
        default=None, metadata={"help": "Unlearning method key (see hf_unlearn.list_methods())."}
    )
    task: str = field(default="audio-classification", metadata={"help": f"Task, one of {TASKS}."})
    forget_weight: float = field(default=1.0, metadata={"help": "Weight of the forget-set loss term."})
    retain_weight: float = field(default=1.0, metadata={"help": "Weight of the retain-set loss term."})
    epoch_over: str | None = field(
        default=None, metadata={"help": f"Set an epoch runs over, one of {EPOCH_OVER_CHOICES}; default: the method's."}
    )
    pairing_seed: int = field(default=42, metadata={"help": "Seed of the forget/retain pairing and random labels."})
    audio_column: str = field(default="audio", metadata={"help": "Name of the audio column."})
    label_column: str = field(default="label", metadata={"help": "Name of the label column."})

    # Changed defaults (documented in the module docstring).
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Kept False: nested forget/retain batches would be dropped otherwise."}
    )
    logging_steps: float = field(default=10, metadata={"help": "Log every X update steps."})
    save_strategy: str = field(default="no", metadata={"help": "Checkpoint strategy (default 'no')."})

    def __post_init__(self):
        super().__post_init__()
        if self.task not in TASKS:
            raise ValueError(f"Unknown task {self.task!r}: choose one of {TASKS}.")
        if self.epoch_over is not None and self.epoch_over not in EPOCH_OVER_CHOICES:
            raise ValueError(f"epoch_over={self.epoch_over!r} is not valid: choose one of {EPOCH_OVER_CHOICES}.")
        for name in ("forget_weight", "retain_weight"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"{name} must be a non-negative number, got {value}.")
        if self.remove_unused_columns:
            raise ValueError(
                "remove_unused_columns=True would drop the nested forget/retain batches: leave it False (the "
                "unlearning collator already keeps only the model inputs and labels)."
            )

    # Named sets of defaults from the literature, e.g. `SCRUBConfig.preset("unslu", output_dir=...)`. A plain class
    # attribute (no annotation), so not a dataclass field; each method config defines its own.
    PRESETS = {}

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
