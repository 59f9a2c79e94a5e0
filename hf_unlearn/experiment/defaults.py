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

import json
import os

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


def reference_defaults(model_type: str | None, **overrides) -> dict:
    """The reference training settings for `model_type` (see `REFERENCE_DEFAULTS`), with `overrides` applied
    (values that are `None` are ignored, so unset command-line options keep the defaults)."""
    settings = dict(REFERENCE_DEFAULTS[model_family(model_type)])
    settings.update({key: value for key, value in overrides.items() if value is not None})
    return settings


def available_settings() -> list[str]:
    """The datasets that have a settings file."""
    return sorted(name[: -len(".json")] for name in os.listdir(SETTINGS_DIR) if name.endswith(".json"))


def load_settings(dataset: str) -> dict:
    """The whole settings file of `dataset` (`settings/<dataset>.json`)."""
    path = os.path.join(SETTINGS_DIR, f"{dataset}.json")
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
        dataset (`str`, *optional*, defaults to `"fsdd"`): the settings file, e.g. `"fsdd"` or `"keywords"`.
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
