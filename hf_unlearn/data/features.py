"""Feature extraction: the one way audio rows become model inputs.

[`featurize`] is called where data is handed to a model: by `UnlearningTrainer` (forget, retain, evaluation and guard
monitor sets) and by the reference-model training and evaluation in `hf_unlearn.reference` (and relearning). Front
ends (demo, recipe, benchmark) pass audio datasets and never featurize themselves.

Already-featurized data, the explicit rule: a dataset that holds the extractor's main input column
(`feature_extractor.model_input_names[0]`, e.g. `input_values` or `input_features`) and no audio column is taken as
featurized and passed through (only its label column is renamed to `labels`). A dataset with both raises: it is
ambiguous which one the model should see.

Featurizing the same data twice is avoided by a small in-process cache keyed by the dataset's `datasets` fingerprint
(which follows its content and every transform, e.g. `select`), the extractor's configuration and the column names:
the demo's original model, gold model, unlearning run and evaluations share one feature pass per split. We chose this
over `datasets`' on-disk map cache because the splits are usually in memory (no cache files), and over asking every
front end to featurize up front because that spread featurizing across layers.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict

import numpy as np

from hf_unlearn.data.audio_utils import load_audio_array

logger = logging.getLogger(__name__)

LABELS = "labels"  # the label column of featurized data (the name the models and the collator use)

# Featurized datasets by (fingerprint, extractor, columns); bounded so that a long benchmark does not hold every split.
_CACHE_SIZE = 16
_cache: OrderedDict = OrderedDict()


def _audio_arrays(values, target_rate: int) -> list[np.ndarray]:
    """Decodes a batch of audio values to float arrays at `target_rate`, resampling with soxr when needed."""
    arrays = []
    for value in values:
        array, rate = load_audio_array(value)
        array = np.asarray(array, dtype=np.float32)
        if array.ndim > 1:  # multi-channel: average to mono, as the transformers feature extractors expect
            array = array.mean(axis=0) if array.shape[0] < array.shape[-1] else array.mean(axis=-1)
        if rate is not None and int(rate) != int(target_rate):
            import soxr

            array = soxr.resample(array, int(rate), int(target_rate)).astype(np.float32)
        arrays.append(array)
    return arrays


def _check_clips(arrays: list[np.ndarray]) -> None:
    empty = [i for i, a in enumerate(arrays) if a.size == 0]
    if empty:
        raise ValueError(f"{len(empty)} empty audio clip(s) in this batch: remove them before unlearning.")
    # All-zero clips carry no information and make some extractors divide by zero (normalisation): refuse them
    # rather than train on NaNs. Quiet but non-zero clips (background noise, "_silence_") are fine.
    silent = [i for i, a in enumerate(arrays) if not np.any(a)]
    if silent:
        raise ValueError(
            f"{len(silent)} silent (all-zero) audio clip(s) in this batch: remove them before unlearning "
            "(e.g. dataset.filter(lambda row: any(row['audio']['array'])))."
        )


def _with_labels(dataset, label_column: str):
    """`dataset` with its label column named `labels` (the name the models and the collator use)."""
    if label_column not in dataset.column_names and LABELS not in dataset.column_names:
        raise ValueError(
            f"The dataset has no label column {label_column!r} (columns: {dataset.column_names}); "
            "pass label_column=<the column's name>."
        )
    if label_column in dataset.column_names and label_column != LABELS:
        if LABELS in dataset.column_names:
            raise ValueError(f"The dataset has both {label_column!r} and {LABELS!r} columns: drop one of them.")
        dataset = dataset.rename_column(label_column, LABELS)
    return dataset


def is_featurized(dataset, feature_extractor, audio_column: str = "audio") -> bool:
    """True when `dataset` holds the extractor's main input column and no audio column (see the module docstring)."""
    main_input = feature_extractor.model_input_names[0]
    if main_input not in dataset.column_names:
        return False
    if audio_column in dataset.column_names:
        raise ValueError(
            f"The dataset has both the audio column {audio_column!r} and the model input {main_input!r}: drop the "
            f"audio column to use the features as they are, or drop {main_input!r} to extract them again."
        )
    return True


def _cache_key(dataset, feature_extractor, audio_column: str, label_column: str):
    fingerprint = getattr(dataset, "_fingerprint", None)
    if fingerprint is None:
        return None
    config = hashlib.sha256(feature_extractor.to_json_string().encode()).hexdigest()
    return fingerprint, type(feature_extractor).__name__, config, audio_column, label_column


def featurize(
    dataset,
    feature_extractor,
    audio_column: str = "audio",
    label_column: str = "label",
    desc: str = "Extracting features",
):
    """Returns `dataset` with the model's input columns and `labels`, ready for [`UnlearningCollator`].

    Args:
        dataset (`datasets.Dataset`): audio + label rows, or already-featurized rows (see the module docstring).
        feature_extractor (`transformers.FeatureExtractionMixin`): the model's feature extractor.
        audio_column (`str`, *optional*, defaults to `"audio"`): the audio column.
        label_column (`str`, *optional*, defaults to `"label"`): the class id column (renamed to `labels`).
        desc (`str`, *optional*): progress-bar text.

    An `Audio` column at another sampling rate is cast to the extractor's rate (datasets resamples on decode); raw
    `{"array", "sampling_rate"}` dicts are resampled with soxr. Empty or all-zero clips raise: they cannot be
    classified. The result of a dataset seen before (same fingerprint, extractor and columns) is reused.
    """
    from datasets import Audio

    if is_featurized(dataset, feature_extractor, audio_column):
        return _with_labels(dataset, label_column)
    input_names = list(feature_extractor.model_input_names)
    if audio_column not in dataset.column_names:
        raise ValueError(
            f"The dataset has neither an audio column {audio_column!r} nor the model inputs {input_names} "
            f"(columns: {dataset.column_names}). Pass audio_column=<the column's name>."
        )
    key = _cache_key(dataset, feature_extractor, audio_column, label_column)
    if key is not None and key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    dataset = _with_labels(dataset, label_column)
    target_rate = int(feature_extractor.sampling_rate)
    feature = dataset.features[audio_column]
    if isinstance(feature, Audio) and feature.sampling_rate not in (None, target_rate):
        logger.warning(
            "Resampling column %r from %s Hz to the feature extractor's %s Hz.",
            audio_column,
            feature.sampling_rate,
            target_rate,
        )
        dataset = dataset.cast_column(audio_column, Audio(sampling_rate=target_rate, decode=feature.decode))

    def extract(batch):
        arrays = _audio_arrays(batch[audio_column], target_rate)
        _check_clips(arrays)
        features = feature_extractor(arrays, sampling_rate=target_rate)
        return {name: list(features[name]) for name in features if name in input_names or name == "attention_mask"}

    featurized = dataset.map(
        extract, batched=True, batch_size=64, remove_columns=[audio_column], keep_in_memory=True, desc=desc
    )
    if key is not None:
        _cache[key] = featurized
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return featurized
