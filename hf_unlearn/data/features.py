"""Feature extraction: the one way audio rows become model inputs.

[`featurize`] is called where data is handed to a model: by `UnlearningTrainer` (forget, retain, evaluation and guard
monitor sets) and by the reference-model training and evaluation in `hf_unlearn.experiment.reference_training` (and
relearning). Front ends (demo, recipe, benchmark) pass audio datasets and never featurize themselves.

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
import inspect
import logging
import os
from collections import OrderedDict

import numpy as np

from hf_unlearn.data.audio_utils import load_audio_array, stored_sample_dtype

logger = logging.getLogger(__name__)

LABELS = "labels"  # the label column of featurized data (the name the models and the collator use)

# Featurized datasets by (fingerprint, extractor, columns); bounded so that a long benchmark does not hold every split.
_CACHE_SIZE = 16
_cache: OrderedDict = OrderedDict()


# Fewest samples a model input can come from, by extractor type, where neither a window (`n_fft`) nor a model
# config with a convolutional front end says it: the 25 ms Kaldi window of AST's filter bank at 16 kHz.
MIN_SAMPLES_BY_EXTRACTOR = {"ASTFeatureExtractor": 400}


def min_clip_samples(feature_extractor, model_config=None) -> int:
    """The shortest clip (in samples at the extractor's rate) that gives the model a real input: the extractor's
    analysis window (`n_fft`: MFCC, Whisper's log-mel), an entry of `MIN_SAMPLES_BY_EXTRACTOR`, or the receptive field
    of the model's convolutional feature encoder (`conv_kernel`/`conv_stride` of wav2vec2, HuBERT, WavLM: 400
    samples), whichever is largest; 1 when none is known."""
    sizes = [int(getattr(feature_extractor, "n_fft", 0) or 0)]
    sizes.append(MIN_SAMPLES_BY_EXTRACTOR.get(type(feature_extractor).__name__, 0))
    kernels, strides = getattr(model_config, "conv_kernel", None), getattr(model_config, "conv_stride", None)
    if kernels and strides and len(kernels) == len(strides):
        receptive_field = 1
        for kernel, stride in zip(reversed(list(kernels)), reversed(list(strides))):
            receptive_field = (receptive_field - 1) * int(stride) + int(kernel)
        sizes.append(receptive_field)
    return max(max(sizes), 1)


def _row_path(value) -> str | None:
    if isinstance(value, dict):
        return value.get("path") or None
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    return None


def _decode(value, sample_dtype: str | None = None) -> tuple[np.ndarray, int]:
    """One audio value as a mono float32 waveform: soundfile for files and bytes (decoded here, row by row, so that a
    bad file is named), torchcodec for the formats soundfile cannot read when it is installed."""
    try:
        return load_audio_array(value, sample_dtype=sample_dtype)
    except Exception as error:  # soundfile raises LibsndfileError, RuntimeError or OSError by cause
        undecoded = isinstance(value, (str, os.PathLike)) or (isinstance(value, dict) and value.get("array") is None)
        if not undecoded:
            raise
        try:
            from torchcodec.decoders import AudioDecoder

            source = value.get("bytes") or value.get("path") if isinstance(value, dict) else os.fspath(value)
            return load_audio_array(AudioDecoder(source))
        except Exception:
            raise error from None


def _row_audio(
    value, index: int, name: str, target_rate: int, min_samples: int, sample_dtype: str | None = None
) -> np.ndarray:
    """The checked waveform of row `index` at `target_rate`; a row that cannot be used raises naming it (and its file)
    with the fix."""
    path = _row_path(value)
    where = f"Row {index} of the {name} set" + (f" (file {path!r})" if path else "")
    if path and not (isinstance(value, dict) and value.get("bytes")) and not os.path.isfile(path):
        raise ValueError(f"{where}: the audio file does not exist. Fix the path or drop the row.")
    try:
        array, rate = _decode(value, sample_dtype)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{where}: {error}") from error
    except Exception as error:  # a decoder's own error (unreadable, empty or corrupt file)
        raise ValueError(
            f"{where} could not be decoded ({type(error).__name__}: {error}): the file is empty, truncated or not "
            "audio. Replace the file or drop the row."
        ) from error
    array = np.asarray(array, dtype=np.float32)
    if array.size == 0:
        raise ValueError(f"{where} is an empty audio clip: drop the row (e.g. dataset.filter) before unlearning.")
    if not np.isfinite(array).all():
        raise ValueError(
            f"{where} has {int((~np.isfinite(array)).sum())} NaN or infinite sample(s): fix the audio (e.g. "
            "np.nan_to_num) or drop the row."
        )
    # All-zero clips carry no information and make some extractors divide by zero (normalisation): refuse them
    # rather than train on NaNs. Quiet but non-zero clips (background noise, "_silence_") are fine.
    if not np.any(array):
        raise ValueError(
            f"{where} is a silent (all-zero) audio clip: remove it before unlearning "
            "(e.g. dataset.filter(lambda row: any(row['audio']['array'])))."
        )
    if rate is not None and int(rate) != int(target_rate):
        import soxr

        array = soxr.resample(array, int(rate), int(target_rate)).astype(np.float32)
    if array.size < min_samples:
        raise ValueError(
            f"{where} has {array.size} samples at {target_rate} Hz, fewer than the {min_samples} the model needs for "
            "one input frame (its analysis window or convolutional receptive field): pad the clip (e.g. with zeros "
            "to that length) or drop the row."
        )
    return array


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


def _warns_once(feature_extractor) -> bool:
    """Whether the extractor follows the optional truncation-warning protocol: its `__call__` takes
    `warn_on_truncation` (False: no warning per call) and it has `warn_if_truncated(lengths)` (one warning, with the
    count, for clips given by their lengths in samples at its rate), like `MFCCCNNFeatureExtractor`. [`featurize`]
    then warns once per dataset instead of once per batch."""
    if not callable(getattr(feature_extractor, "warn_if_truncated", None)):
        return False
    try:
        parameters = inspect.signature(feature_extractor.__call__).parameters
    except (TypeError, ValueError):  # no introspectable signature
        return False
    return "warn_on_truncation" in parameters


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
    min_samples: int | None = None,
    name: str = "given",
):
    """Returns `dataset` with the model's input columns and `labels`, ready for [`UnlearningCollator`].

    Args:
        dataset (`datasets.Dataset`): audio + label rows, or already-featurized rows (see the module docstring).
        feature_extractor (`transformers.FeatureExtractionMixin`): the model's feature extractor.
        audio_column (`str`, *optional*, defaults to `"audio"`): the audio column.
        label_column (`str`, *optional*, defaults to `"label"`): the class id column (renamed to `labels`).
        desc (`str`, *optional*): progress-bar text.
        min_samples (`int`, *optional*): the shortest clip accepted (samples at the extractor's rate); by default
            [`min_clip_samples`] of the extractor (pass the model's config there to include its receptive field).
        name (`str`, *optional*): the set's name in error messages (e.g. `"forget"`).

    An `Audio` column at another sampling rate is cast to the extractor's rate (datasets resamples on decode); raw
    `{"array", "sampling_rate"}` dicts are resampled with soxr. Audio files are decoded row by row (soundfile, or
    torchcodec for other formats), so that every refusal names the row and its file and says what to do: a missing,
    empty or unreadable file, NaN or infinite samples, an empty or all-zero clip, a clip shorter than `min_samples`,
    a multi-channel array whose layout cannot be told from its shape (see `load_audio_array`). The result of a dataset
    seen before (same fingerprint, extractor and columns) is reused. An extractor that warns about clips longer
    than its features cover (`warn_on_truncation` / `warn_if_truncated`, see `_warns_once`) warns once per dataset,
    with the count; a result reused from the cache does not warn again.
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
    min_samples = min_clip_samples(feature_extractor) if min_samples is None else int(min_samples)
    key = _cache_key(dataset, feature_extractor, audio_column, label_column)
    key = key + (min_samples,) if key is not None else None
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
    if isinstance(feature, Audio) and feature.decode:
        # Decoded here row by row (and resampled with soxr), not by datasets' decoder, whose errors name no row.
        dataset = dataset.cast_column(audio_column, Audio(sampling_rate=feature.sampling_rate, decode=False))

    # Extractors that warn about clips longer than their features cover do it once for the whole dataset, not once
    # per batch of the map: clip lengths (by row, so a re-run batch is not counted twice) are collected here.
    sample_dtype = stored_sample_dtype(feature)  # integer PCM stored in the column reads back as Python ints
    once = _warns_once(feature_extractor)
    lengths: dict = {}
    options = {"warn_on_truncation": False} if once else {}

    def extract(batch, indices):
        arrays = [
            _row_audio(value, index, name, target_rate, min_samples, sample_dtype)
            for value, index in zip(batch[audio_column], indices)
        ]
        if once:
            lengths.update((index, len(array)) for index, array in zip(indices, arrays))
        features = feature_extractor(arrays, sampling_rate=target_rate, **options)
        return {name: list(features[name]) for name in features if name in input_names or name == "attention_mask"}

    featurized = dataset.map(
        extract,
        batched=True,
        with_indices=True,
        batch_size=64,
        remove_columns=[audio_column],
        keep_in_memory=True,
        desc=desc,
    )
    if once and lengths:
        feature_extractor.warn_if_truncated([lengths[index] for index in sorted(lengths)])
    if key is not None:
        _remember(key, featurized)
    return featurized


def _remember(key, featurized) -> None:
    _cache[key] = featurized
    _cache.move_to_end(key)
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)


# Bump when the extraction itself changes (decoding, resampling, checks), so that older caches are not reused.
FEATURE_CACHE_VERSION = 1


def feature_cache_key(dataset, feature_extractor, audio_column: str = "audio", label_column: str = "label", **extra):
    """A key naming `dataset`'s features on disk: a hash of its `datasets` fingerprint (which follows its content and
    every transform, and is the same in every process for the same data), the extractor's class and configuration,
    the columns, `extra` and [`FEATURE_CACHE_VERSION`]. None for data without a fingerprint (not a
    `datasets.Dataset`)."""
    key = _cache_key(dataset, feature_extractor, audio_column, label_column)
    if key is None:
        return None
    parts = [*map(str, key), *(f"{name}={extra[name]}" for name in sorted(extra)), f"v{FEATURE_CACHE_VERSION}"]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def featurize_cached(
    dataset,
    feature_extractor,
    cache_dir: str,
    audio_column: str = "audio",
    label_column: str = "label",
    desc: str = "Extracting features",
    min_samples: int | None = None,
    name: str = "given",
):
    """[`featurize`], with the result kept on disk in `cache_dir` and reused by later runs (other processes too).

    The folder `<cache_dir>/features-<key>` ([`feature_cache_key`]) is written with `Dataset.save_to_disk` after a
    first extraction and read with `datasets.load_from_disk` by every later call for the same data, extractor and
    columns: a second run of a recipe skips feature extraction. The folder is written under a temporary name and
    renamed, so that a crashed run or a second process never leaves a half-written cache.

    Args:
        cache_dir (`str`): the folder holding the caches (created when missing).
        dataset, feature_extractor, audio_column, label_column, desc, min_samples, name: as in [`featurize`].

    Returns:
        `datasets.Dataset`: the featurized data (memory-mapped from the cache).
    """
    import datasets

    if is_featurized(dataset, feature_extractor, audio_column):
        return _with_labels(dataset, label_column)
    min_samples = min_clip_samples(feature_extractor) if min_samples is None else int(min_samples)
    key = feature_cache_key(dataset, feature_extractor, audio_column, label_column, min_samples=min_samples)
    if key is None:
        logger.info("No datasets fingerprint for the %s set: featurizing without a disk cache.", name)
        return featurize(dataset, feature_extractor, audio_column, label_column, desc, min_samples, name)
    path = os.path.join(cache_dir, f"features-{key}")
    # The result is also kept in `featurize`'s in-process cache, so that later `featurize` calls on the same audio
    # rows (reference training, the trainer, evaluation) get the cached features without extracting again.
    memory_key = _cache_key(dataset, feature_extractor, audio_column, label_column) + (min_samples,)
    if os.path.isdir(path):
        logger.info("Features of the %s set loaded from the cache %s.", name, path)
        _remember(memory_key, datasets.load_from_disk(path))
        return _cache[memory_key]
    featurized = featurize(dataset, feature_extractor, audio_column, label_column, desc, min_samples, name)
    os.makedirs(cache_dir, exist_ok=True)
    partial = f"{path}.partial-{os.getpid()}"
    featurized.save_to_disk(partial)
    try:
        os.replace(partial, path)
    except OSError:  # another process finished first: keep its copy
        import shutil

        shutil.rmtree(partial, ignore_errors=True)
    logger.info("Features of the %s set cached in %s.", name, path)
    _remember(memory_key, datasets.load_from_disk(path))
    return _cache[memory_key]
