"""Reference models of an unlearning request, trained once and cached: the original, the gold model and shadows.

- **original**: trained on every training row (forget + retain). Validation and test are drawn before the request,
  so the original depends only on the data, the seed, the label column, the feature extractor and the training
  settings: ONE original serves every request of a seed (its cache key holds no request).
- **gold**: the same recipe and seed on the retain rows only (one per request and seed).
- **shadow** (for LiRA): the gold recipe with other seeds (`seed + SHADOW_SEED_OFFSET + i`), `K` of them.

One cache root (`cache_root()`: `cache_dir`, else `$HF_UNLEARN_CACHE/references`, else
`~/.cache/hf_unlearn/references`) and one key scheme (`reference_key`): the sha256 of the model spec (type or
checkpoint, labels, config overrides), the feature extractor's config (fitted statistics included), the training
settings, the seed, and a content digest of the training and validation rows (rows are put in a canonical order
first, so the same rows give the same key whatever request they come from). The folder is
`<root>/<key[:16]>`, holding the model, its extractor and `reference_training.json` (see
`hf_unlearn.experiment.reference_training.train_classifier`: `train_time` counts the training steps up to the best
epoch only).

The feature extractor is fitted (`fit_extractor`) on the original's training rows only, and the same fitted extractor
serves original, gold, shadows and the unlearned model: the gold model then sees the forget rows' statistics through
the normalisation (means and variances of MFCCs over all training rows), which is an approximation we accept so that
the three models read identical features; the extractor's settings are recorded in every model folder.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import math
import os
from dataclasses import dataclass, field

import hf_unlearn.models  # noqa: F401  (registers hf-unlearn's model types with the Auto classes)
from hf_unlearn.experiment.reference_training import (
    REFERENCE_INFO_NAME,
    dead_units_share,
    predict_splits,
    train_classifier,
)

from .defaults import reference_defaults

logger = logging.getLogger(__name__)

KEY_VERSION = 1  # bump when training changes in a way the key does not see
SHADOW_SEED_OFFSET = 1000
_NOT_IN_KEY = ("token", "cache_dir")  # model loading options that do not change the model


def cache_root(cache_dir: str | os.PathLike | None = None) -> str:
    """The one cache root of reference models: `cache_dir`, else `$HF_UNLEARN_CACHE/references`, else
    `~/.cache/hf_unlearn/references`."""
    if cache_dir:
        return os.fspath(cache_dir)
    base = os.environ.get("HF_UNLEARN_CACHE") or os.path.expanduser("~/.cache/hf_unlearn")
    return os.path.join(base, "references")


@dataclass
class ReferenceSpec:
    """What a reference model is: the model to start from, its labels and how it is trained.

    Args:
        label_names (`list[str]`): class names in label-id order.
        model_type (`str`, *optional*): a model type trained from scratch, e.g. `"mfcc_cnn"`.
        model_name_or_path (`str`, *optional*): a pretrained checkpoint to fine-tune (takes precedence).
        training (`dict`, *optional*): `TrainingArguments` fields plus `early_stopping_patience` (0: no early
            stopping); defaults to `reference_defaults(model_type)` (an empty dict, or `None` values, mean the
            defaults).
        model_kwargs (`dict`, *optional*): `from_pretrained` options (`revision`, `cache_dir`, `token`,
            `ignore_mismatched_sizes`) and `freeze_feature_encoder`; `token` and `cache_dir` are not part of the key.
        config_overrides (`dict`, *optional*): config fields of a model built from scratch (`model_type`), e.g.
            `{"num_hidden_layers": 2, "hidden_size": 128}` (see `parse_config_overrides`); those that are also
            arguments of the model type's feature extractor (AST's `num_mel_bins`, `max_length`) go to it too, so
            that both agree.
        audio_column, label_column (`str`): the data's columns.
    """

    label_names: list
    model_type: str | None = None
    model_name_or_path: str | None = None
    training: dict = field(default_factory=dict)
    model_kwargs: dict = field(default_factory=dict)
    audio_column: str = "audio"
    label_column: str = "label"
    config_overrides: dict = field(default_factory=dict)

    def __post_init__(self):
        if not (self.model_type or self.model_name_or_path):
            raise ValueError("A reference model needs --model_name_or_path (pretrained) or --model_type (scratch).")
        self.label_names = [str(name) for name in self.label_names]
        if self.config_overrides and self.model_name_or_path:
            raise ValueError("config_overrides shape a model built from scratch (--model_type), not a checkpoint.")
        self.training = reference_defaults(self.model_type if not self.model_name_or_path else None, **self.training)
        if self.training.get("early_stopping_patience") == 0:  # `--early_stopping_patience 0`: off, keyed as off
            self.training["early_stopping_patience"] = None

    def key_payload(self) -> dict:
        # Loading options matter for a checkpoint only, and freezing for models with a feature encoder: the CNN built
        # from scratch keys the same from every front end.
        model_kwargs = {k: v for k, v in self.model_kwargs.items() if k not in _NOT_IN_KEY and v is not None}
        if not self.model_name_or_path:
            keep = () if self.model_type == "mfcc_cnn" else ("freeze_feature_encoder",)
            model_kwargs = {k: v for k, v in model_kwargs.items() if k in keep}
        payload = {
            "model_type": self.model_type,
            "model_name_or_path": self.model_name_or_path,
            "labels": self.label_names,
            "model_kwargs": model_kwargs,
            # 40.0 epochs (a number from a command line or YAML) is the default's 40: one model, one key.
            "training": {
                k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in self.training.items()
            },
        }
        if self.config_overrides:  # only when given: the keys of existing caches stay valid
            payload["config_overrides"] = dict(sorted(self.config_overrides.items()))
        return payload

    def new_extractor(self, sampling_rate: int | None = None, **kwargs):
        """A fresh feature extractor: the checkpoint's, or the model type's registered one (with `kwargs`, e.g.
        `normalize`, `num_frames`, `hop_length` for the MFCC CNN, and the data's `sampling_rate`)."""
        from transformers import AutoConfig, AutoFeatureExtractor
        from transformers.models.auto.feature_extraction_auto import FEATURE_EXTRACTOR_MAPPING

        kwargs = {key: value for key, value in kwargs.items() if value is not None}
        if self.model_name_or_path:
            options = {k: self.model_kwargs[k] for k in ("revision", "cache_dir", "token") if k in self.model_kwargs}
            return AutoFeatureExtractor.from_pretrained(self.model_name_or_path, **options, **kwargs)
        config = AutoConfig.for_model(self.model_type)
        if type(config) not in FEATURE_EXTRACTOR_MAPPING:
            raise ValueError(f"No feature extractor is registered for model type {self.model_type!r}.")
        extractor_class = FEATURE_EXTRACTOR_MAPPING[type(config)]
        accepted = inspect.signature(extractor_class.__init__).parameters
        shared = {key: value for key, value in self.config_overrides.items() if key in accepted}
        if sampling_rate:
            kwargs["sampling_rate"] = sampling_rate
        return extractor_class(**{**shared, **kwargs})

    def build_model(self, extractor):
        """A fresh model to train: the checkpoint with a new head, or a randomly initialised `model_type` shaped
        for `extractor` (the MFCC CNN takes the extractor's `n_mfcc` and `num_frames`)."""
        from transformers import AutoConfig, AutoModelForAudioClassification

        id2label = dict(enumerate(self.label_names))
        label2id = {name: index for index, name in id2label.items()}
        kwargs = dict(self.model_kwargs)
        freeze = kwargs.pop("freeze_feature_encoder", True)
        if self.model_name_or_path:
            mismatched = kwargs.pop("ignore_mismatched_sizes", False)
            config = AutoConfig.from_pretrained(
                self.model_name_or_path, num_labels=len(id2label), id2label=id2label, label2id=label2id, **kwargs
            )
            model = AutoModelForAudioClassification.from_pretrained(
                self.model_name_or_path, config=config, ignore_mismatched_sizes=mismatched, **kwargs
            )
        elif self.model_type == "mfcc_cnn":
            from hf_unlearn.models.mfcc_cnn import build_mfcc_cnn

            model, _ = build_mfcc_cnn(self.label_names, feature_extractor=extractor, **self.config_overrides)
        else:
            config = AutoConfig.for_model(
                self.model_type, id2label=id2label, label2id=label2id, **self.config_overrides
            )
            model = AutoModelForAudioClassification.from_config(config)
        if freeze and hasattr(model, "freeze_feature_encoder"):
            model.freeze_feature_encoder()
        return model


@dataclass
class ReferenceModel:
    """A trained reference model on disk: `path` (model, extractor, `reference_training.json`), `info` (that
    JSON: `train_time`, `epochs_run`, `best_epoch`, `dead_units_share` ...), its `kind` and whether it came from the
    cache. `own_extractor`: evaluate it with the extractor saved beside it instead of the request's (a model borrowed
    from another split, e.g. another seed's gold model used as a LiRA shadow, was fitted to other rows)."""

    path: str
    info: dict
    kind: str = "original"
    cached: bool = False
    own_extractor: bool = False

    @property
    def train_time(self) -> float | None:
        return self.info.get("train_time")

    def load(self):
        from transformers import AutoModelForAudioClassification

        return AutoModelForAudioClassification.from_pretrained(self.path)

    def load_extractor(self):
        from transformers import AutoFeatureExtractor

        return AutoFeatureExtractor.from_pretrained(self.path)


def existing_reference(path: str, kind: str = "original", label_names=None, model_type=None) -> ReferenceModel:
    """A reference model trained elsewhere (a folder or Hub id, e.g. `--original_model_path`): its
    `reference_training.json` when it has one (else no `train_time`). With `label_names`, checks the model predicts
    the data's classes in the same order; with `model_type`, that it is of this run's architecture (the one the gold
    and shadow models are trained with). A mismatch names both sides' `model_type`, `num_labels` and labels."""
    info = {}
    if os.path.isfile(os.path.join(path, REFERENCE_INFO_NAME)):
        with open(os.path.join(path, REFERENCE_INFO_NAME)) as handle:
            info = json.load(handle)
    reference = ReferenceModel(path, info, kind, cached=True)
    if label_names is not None or model_type is not None:
        from transformers import AutoConfig

        from hf_unlearn.checks import model_signature

        theirs = model_signature(AutoConfig.from_pretrained(path))
        names = [str(name) for name in label_names] if label_names is not None else theirs["labels"]
        ours = {"model_type": model_type or theirs["model_type"], "num_labels": len(names), "labels": names}
        differ = [key for key in ("model_type", "num_labels", "labels") if theirs[key] != ours[key]]
        if differ:
            short = {key: (value[:10] + ["..."] if isinstance(value, list) and len(value) > 10 else value)
                     for key, value in theirs.items()}  # fmt: skip
            mine = {key: (value[:10] + ["..."] if isinstance(value, list) and len(value) > 10 else value)
                    for key, value in ours.items()}  # fmt: skip
            listed = "; ".join(f"{key}: the {kind} model {short[key]!r}, this run {mine[key]!r}" for key in differ)
            raise ValueError(
                f"The {kind} model at {path!r} does not fit this run ({listed}; this run's labels are the data's "
                "classes): pass a model of this architecture trained on this data with the same label order."
            )
    return reference


def run_model_type(model_type=None, model_name_or_path=None, original_model_path=None) -> str | None:
    """The architecture of an experiment's models: `--model_type`, else that of `--model_name_or_path`'s config (a
    local folder), else that of `--original_model_path` (which a given gold model must then share)."""
    if model_type:
        return model_type
    for path in (model_name_or_path, original_model_path):
        if path and os.path.isfile(os.path.join(path, "config.json")):
            with open(os.path.join(path, "config.json")) as handle:
                return json.load(handle).get("model_type")
    return None


def fit_extractor(extractor, train, audio_column: str = "audio", num_frames: int | None = None, percentile=99.0):
    """Fits `extractor` to the training rows `train` when it can be fitted (hf-unlearn's MFCC extractor: frames
    covering the `percentile`-th clip length unless `num_frames` is given, and dataset normalisation statistics).
    Fit it on the original's training rows only (never validation or test). Returns the extractor."""
    if not hasattr(extractor, "fit"):
        return extractor
    if num_frames is not None:
        extractor.num_frames = num_frames
    extractor.fit(train, audio_column=audio_column, length_percentile=None if num_frames is not None else percentile)
    logger.info("Feature extractor fitted on %d training rows: %s", len(train), _extractor_settings(extractor))
    return extractor


def _extractor_settings(extractor) -> dict:
    settings = extractor.to_dict()
    return {k: settings[k] for k in ("normalize", "num_frames", "hop_length", "sampling_rate") if k in settings}


def rows_digest(dataset) -> str:
    """sha256 of the rows' stored content (Arrow IPC of every column, audio undecoded), in the dataset's order."""
    import pyarrow as pa

    digest = hashlib.sha256()
    for batch in dataset.with_format("arrow").iter(batch_size=1000):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_table(batch)
        digest.update(sink.getvalue().to_pybytes())
    return digest.hexdigest()


def reference_key(spec: ReferenceSpec, extractor, train, seed: int, validation=None) -> str:
    """The cache key of a reference model (see the module docstring)."""
    payload = {
        "version": KEY_VERSION,
        "spec": spec.key_payload(),
        "extractor": extractor.to_dict(),
        "seed": seed,
        "train_rows": rows_digest(train),
        "validation_rows": rows_digest(validation) if validation is not None else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def reference_model(kind, train, validation, spec: ReferenceSpec, extractor, cache_dir=None, seed: int = 0,
                    overwrite: bool = False, **training_options) -> ReferenceModel:  # fmt: skip
    """Loads the cached reference model for these rows, spec, extractor and seed, or trains and caches it.

    `kind` (`"original"`, `"gold"` or `"shadow"`) is for the logs only: which rows it is trained on makes the
    difference. Early stopping on `validation` (retain-validation). `training_options` go to `train_classifier`
    (`use_cpu`, `disable_tqdm`). Every process of a distributed launch must call it: the main process trains with the
    others (one shared scratch folder), writes the folder, and all leave together.
    """
    from accelerate import PartialState
    from transformers import set_seed

    key = reference_key(spec, extractor, train, seed, validation)
    folder = os.path.join(cache_root(cache_dir), key[:16])
    info_path = os.path.join(folder, REFERENCE_INFO_NAME)
    if os.path.exists(info_path) and not overwrite:
        with open(info_path) as handle:
            info = json.load(handle)
        logger.info("[%s] loaded from cache %s", kind, folder)
        return ReferenceModel(folder, info, kind, cached=True)
    settings = dict(spec.training)
    patience = settings.pop("early_stopping_patience", None)
    logger.info("[%s] training on %d rows (seed %d, %s) into %s", kind, len(train), seed, settings, folder)
    set_seed(seed)  # the same initialisation for original and gold of a seed
    model = spec.build_model(extractor)
    _, info = train_classifier(
        model,
        extractor,
        train,
        folder,
        num_train_epochs=settings.pop("num_train_epochs"),
        learning_rate=settings.pop("learning_rate"),
        batch_size=settings.pop("per_device_train_batch_size"),
        seed=seed,
        eval_dataset=validation if patience else None,
        early_stopping_patience=patience,
        audio_column=spec.audio_column,
        label_column=spec.label_column,
        **settings,
        **training_options,
    )
    info.update(kind=kind, key=key, extractor=_extractor_settings(extractor))
    if PartialState().is_main_process:
        with open(info_path, "w") as handle:
            json.dump(info, handle, indent=2)
    dead = f"{info['dead_units_share']:.1%}" if "dead_units_share" in info else "n/a (no ReLU)"
    logger.info(
        "[%s] trained %d epochs (best %d) in %.1f s of training steps; dead ReLU units: %s",
        kind, info["epochs_run"], info["best_epoch"], info["train_time"], dead,
    )  # fmt: skip
    if info.get("dead_units_share", 0) > 0.5:
        logger.warning(
            "[%s] %.0f %% of the ReLU units never fire on the training rows: lower the learning rate or add warm-up "
            "(reference training settings).", kind, 100 * info["dead_units_share"])  # fmt: skip
    return ReferenceModel(folder, info, kind)


def original_training_rows(splits):
    """Forget + retain rows in the training data's own order (so that every request of a split gives the same
    rows in the same order: one original per seed)."""
    import numpy as np
    from datasets import concatenate_datasets

    rows = concatenate_datasets([splits.forget, splits.retain])
    indices = list(splits.forget_indices) + list(splits.retain_indices)
    return rows.select(np.argsort(indices, kind="stable").tolist()) if len(indices) == len(rows) else rows


def reference_models(splits, spec: ReferenceSpec | None, extractor, seed: int = 0, shadow_models: int = 0,
                     cache_dir=None, train_gold: bool = True, original: ReferenceModel | None = None,
                     gold: ReferenceModel | None = None, **training_options) -> dict:  # fmt: skip
    """The original, gold (unless `train_gold=False`) and `shadow_models` shadow models of a request, as
    `{"original": ReferenceModel, "gold": ReferenceModel | None, "shadows": [ReferenceModel, ...]}`. An `original`
    or `gold` given (see `existing_reference`) is used instead of training one; `spec` may then be `None` when
    nothing is left to train."""
    if spec is None and (original is None or (train_gold and gold is None) or shadow_models):
        raise ValueError(
            "Reference models are trained from --model_name_or_path or --model_type: pass one, or already trained "
            "models (--original_model_path, --gold_model_path) and --train_gold false / --shadow_models 0."
        )
    if original is None or (train_gold and gold is None) or shadow_models:
        from hf_unlearn.checks import check_request

        # A request that the trainer would refuse is refused before any reference model is trained.
        check_request(splits.forget, splits.retain, spec.audio_column)
    # Early stopping: the original on the whole validation split (forget- and retain-validation: it learns both
    # sides) when the split provides one drawn before the request, so that it stays one per seed; gold and shadows
    # on retain-validation (what they learn). Splits without a request-independent `validation` use retain_eval.
    validation = splits.retain_eval
    full_validation = getattr(splits, "validation", None)
    if original is None:
        original = reference_model(
            "original", original_training_rows(splits), full_validation if full_validation is not None else validation,
            spec, extractor, cache_dir, seed, **training_options,
        )  # fmt: skip
    if gold is None and train_gold:
        gold = reference_model("gold", splits.retain, validation, spec, extractor, cache_dir, seed, **training_options)
    shadows = [
        reference_model(
            "shadow",
            splits.retain,
            validation,
            spec,
            extractor,
            cache_dir,
            seed + SHADOW_SEED_OFFSET + i,
            **training_options,
        )  # fmt: skip
        for i in range(shadow_models)
    ]
    return {"original": original, "gold": gold, "shadows": shadows}


def check_reference_agreement(original: dict, gold: dict, split: str = "retain") -> str | None:
    """A warning (also logged) when the original and gold models differ on `split` (retain-validation) accuracy by
    more than two binomial standard errors of the difference: the gold model is then not "the original without the
    forget set", and comparisons with gold are confounded. `None` when they agree or the figures are missing."""
    key, count = f"{split}_accuracy", original.get(f"num_{split}") or gold.get(f"num_{split}")
    a, b = original.get(key), gold.get(key)
    if a is None or b is None or not count:
        return None
    error = max(math.sqrt((a * (1 - a) + b * (1 - b)) / count), 1 / count)
    if abs(a - b) <= 2 * error:
        return None
    message = (
        f"The original and gold models differ on {split} accuracy by {a - b:+.3f} (more than 2 standard errors, "
        f"{2 * error:.3f}): comparisons with gold are confounded by how well each reference model trained."
    )
    logger.warning(message)
    return message


__all__ = [
    "KEY_VERSION",
    "REFERENCE_INFO_NAME",
    "SHADOW_SEED_OFFSET",
    "ReferenceModel",
    "ReferenceSpec",
    "cache_root",
    "check_reference_agreement",
    "dead_units_share",
    "existing_reference",
    "fit_extractor",
    "original_training_rows",
    "predict_splits",
    "reference_key",
    "reference_model",
    "reference_models",
    "rows_digest",
]
