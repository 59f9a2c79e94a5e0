"""Defaults: how reference models are trained per model type, and the one home of per-method unlearning settings.

Reference training (`reference_defaults`): the MFCC CNN, trained from scratch, gets AdamW at 1e-3 with warm-up,
cosine decay and weight decay (a higher constant rate left most dense ReLU units dead); pretrained transformers get
the usual fine-tuning values; a transformer built from a small configuration and trained from scratch
(`--model_type audio-spectrogram-transformer --config_overrides ...`) gets AdamW at 1e-3 with 10 % warm-up, cosine
decay and batch 32, 40 epochs at most (a 0.44 M-parameter AST on FSDD digits: test accuracy 0.963, early-stopped
after 30 epochs, best 25; capped at 20 epochs it stopped still improving at 0.930). The measurements behind these
choices: docs/benchmarks.md, "Reference models", and docs/lora.md for the transformer.

Unlearning settings (`method_settings`): package data `settings/<dataset>.json`, one file per dataset, holding per
method a `default` entry and optional per-request-kind entries. The benchmark's validation-only tuner writes
`fsdd.json` and `hf_unlearn.cli.demo_settings` writes `keywords.json`; each file's `"source"` field says which
command wrote it. `recipes/configs/<dataset>/*.yaml` are generated from them.
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass, field

SETTINGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "settings")

# Reference (original, gold, shadow) training per model family; the keys are `transformers.TrainingArguments`
# fields, plus `early_stopping_patience` (epochs without a better retain-validation loss).
REFERENCE_DEFAULTS: dict[str, dict] = {
    "mfcc_cnn": {
        "learning_rate": 1e-3,
        "num_train_epochs": 60,
        "per_device_train_batch_size": 32,
        "weight_decay": 1e-2,
        "warmup_steps": 0.1,
        "lr_scheduler_type": "cosine",
        "optim": "adamw_torch",
        "early_stopping_patience": 10,
    },
    "transformer": {
        "learning_rate": 3e-5,
        "num_train_epochs": 5,
        "per_device_train_batch_size": 16,
        "weight_decay": 0.0,
        "warmup_steps": 0.1,
        "lr_scheduler_type": "linear",
        "optim": "adamw_torch",
        "early_stopping_patience": 2,
    },
    "transformer_from_scratch": {
        "learning_rate": 1e-3,
        "num_train_epochs": 40,
        "per_device_train_batch_size": 32,
        "weight_decay": 1e-2,
        "warmup_steps": 0.1,
        "lr_scheduler_type": "cosine",
        "optim": "adamw_torch",
        "early_stopping_patience": 5,
    },
}


def model_family(model_type: str | None) -> str:
    """The `REFERENCE_DEFAULTS` entry of a model: `"mfcc_cnn"` for hf-unlearn's CNN, `"transformer"` for a
    pretrained checkpoint (`model_type=None`: the spec has a `model_name_or_path`), `"transformer_from_scratch"` for
    any other model type (built from its configuration, randomly initialised)."""
    if model_type is None:
        return "transformer"
    return model_type if model_type == "mfcc_cnn" else "transformer_from_scratch"


def parse_config_overrides(text: str | None) -> dict:
    """`"num_hidden_layers=2,hidden_size=128,hidden_act=gelu"` (the transformers examples' `--config_overrides`)
    as a dict; values are Python literals (ints, floats, `True`/`true`, `None`) or else strings."""
    overrides = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--config_overrides takes key=value pairs separated by commas, got {item!r}.")
        value = value.strip()
        value = {"true": "True", "false": "False", "none": "None"}.get(value.lower(), value)
        try:
            overrides[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key.strip()] = value
    return overrides


def reference_defaults(model_type: str | None, **overrides) -> dict:
    """The reference training settings for `model_type` (see `REFERENCE_DEFAULTS`), with `overrides` applied
    (values that are `None` are ignored, so unset command-line options keep the defaults)."""
    settings = dict(REFERENCE_DEFAULTS[model_family(model_type)])
    settings.update({key: value for key, value in overrides.items() if value is not None})
    return settings


# The reference-training options' help, declared once for every front end (see `ReferenceTrainingArguments`).
_REFERENCE_HELP = {
    "reference_epochs": "Maximum epochs of the reference models (original, gold, shadows; early stopping on "
    "validation).",
    "reference_learning_rate": "Learning rate of the reference models.",
    "reference_batch_size": "Batch size of the reference models.",
    "early_stopping_patience": "Epochs without a better validation loss before reference training stops (0: off).",
    "shadow_models": "Shadow models (the gold recipe with other seeds, cached) for the LiRA attack; 0: no LiRA.",
}
_PER_MODEL_TYPE = " Default: per model type."


def reference_option(name: str, default=None, aliases: tuple[str, ...] = ()):
    """The dataclass field of the reference-training option `name`, with the help declared in `_REFERENCE_HELP`.

    `default=None` keeps the model type's default (`REFERENCE_DEFAULTS`, said in the help); a front end that needs
    another default (the demo's 40 epochs) or keeps an old spelling (`aliases`, see `hf_unlearn.cli.dataclass_options`)
    redeclares the field with it, e.g. `reference_epochs: float | None = reference_option("reference_epochs", 40)`.
    """
    text = _REFERENCE_HELP[name] + (_PER_MODEL_TYPE if default is None else "")
    metadata = {"help": text, **({"aliases": list(aliases)} if aliases else {})}
    return field(default=default, metadata=metadata)


@dataclass
class ReferenceTrainingArguments:
    """Reference models (original, gold, shadows): how they are trained.

    Declared once for every front end: the recipe's `ScriptArguments`, the benchmark's `BenchmarkArguments` and the
    demo's `DemoArguments` derive from it. Unset options (`None`) keep the model type's defaults
    (`REFERENCE_DEFAULTS`)."""

    reference_epochs: float | None = reference_option("reference_epochs")
    reference_learning_rate: float | None = reference_option("reference_learning_rate")
    reference_batch_size: int | None = reference_option("reference_batch_size")
    early_stopping_patience: int | None = reference_option("early_stopping_patience")
    shadow_models: int = reference_option("shadow_models", 0)

    def reference_training(self) -> dict:
        """The options as `ReferenceSpec.training` overrides (`TrainingArguments` fields plus
        `early_stopping_patience`); unset ones are `None`, which `reference_defaults` fills with the model type's."""
        return {
            "num_train_epochs": self.reference_epochs,
            "learning_rate": self.reference_learning_rate,
            "per_device_train_batch_size": self.reference_batch_size,
            "early_stopping_patience": self.early_stopping_patience,
        }


def available_settings() -> list[str]:
    """The datasets that have a settings file."""
    return sorted(name[: -len(".json")] for name in os.listdir(SETTINGS_DIR) if name.endswith(".json"))


def load_settings(dataset: str) -> dict:
    """The whole settings file of `dataset` (`settings/<dataset>.json`), or the JSON file `dataset` names (a path
    ending in `.json`, e.g. one written by `hf-unlearn tune`)."""
    path = dataset if dataset.endswith(".json") else os.path.join(SETTINGS_DIR, f"{dataset}.json")
    if dataset.endswith(".json") and not os.path.exists(path):
        raise ValueError(f"No settings file {dataset!r}: write one with `hf-unlearn tune`, or name a shipped one.")
    if not os.path.exists(path):
        raise ValueError(
            f"No unlearning settings for dataset {dataset!r}; known: {available_settings()}. Pass the learning rate "
            "and epochs yourself, or add hf_unlearn/experiment/settings/<dataset>.json."
        )
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def method_settings(method: str, dataset: str = "fsdd", request_kind: str | None = None) -> dict:
    """The unlearning settings (method config fields) of `method` for `dataset` and `request_kind`.

    Merged in this order, later winning: the file's `common` entry, the method's `default` entry (the file's `fallback`
    entry when the method has none, or no entry at all), the method's `<request_kind>` entry.

    Args:
        method (`str`): a registered method key (aliases are resolved).
        dataset (`str`, *optional*, defaults to `"fsdd"`): the settings file, e.g. `"fsdd"` or `"keywords"`, or the
            path of a JSON settings file (`hf-unlearn tune` writes one).
        request_kind (`str`, *optional*): `"class"`, `"speaker"`, `"sample"` or `"speaker_id"`.

    Returns:
        `dict`: config field -> value, e.g. `{"learning_rate": 3e-4, "num_train_epochs": 2, ...}`.
    """
    from hf_unlearn.methods import get_trainer_class

    key = get_trainer_class(method).method_key
    settings = load_settings(dataset)
    per_method = settings.get("methods", {}).get(key) or {}
    merged = dict(settings.get("common", {}))
    merged.update(per_method.get("default", settings.get("fallback", {})))
    if request_kind is not None:
        merged.update(per_method.get(request_kind, {}))
    return merged
