"""Turn any value of a `datasets.Audio` column into a NumPy waveform.

With torchcodec installed, datasets (4.0 and later) decodes an ``Audio`` value into a
``datasets.features._torchcodec.AudioDecoder`` (a subclass of ``torchcodec.decoders.AudioDecoder``), not into the
``{"array", "sampling_rate", "path"}`` dict of datasets 2.x/3.x. With ``Audio(decode=False)`` the value is the stored
``{"path", "bytes"}`` dict. :func:`load_audio_array` accepts all of them, so the rest of the library does not care how
a dataset was loaded or which version of datasets is installed.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

__all__ = ["channels_first_from_shape", "load_audio_array", "pcm_to_float32", "stored_sample_dtype"]


MAX_CHANNELS = 8  # more channels than this is not a recording's layout: such an axis holds samples


# Integer PCM as soundfile, librosa and `datasets` read it: (offset, full scale), float = (int - offset) / full scale.
PCM_SCALES = {"int8": (0, 2**7), "int16": (0, 2**15), "int32": (0, 2**31), "uint8": (128, 2**7)}


def pcm_to_float32(samples, dtype=None) -> np.ndarray:
    """`samples` as float32 in [-1, 1]: integer PCM (int8, int16, int32, unsigned 8-bit) scaled as soundfile reads
    it (int16 / 32768, (uint8 - 128) / 128, ...), float samples cast. Other types (int64, uint16, bool, ...) are
    refused: their full scale cannot be told.

    Args:
        samples (`np.ndarray` or `list`): the samples.
        dtype (`str`, *optional*): the type they were stored as, when `samples` lost it (a `datasets` column of
            `int16` read back as Python ints); by default `samples`' own type.
    """
    array = np.asarray(samples)
    name = np.dtype(dtype).name if dtype is not None else array.dtype.name
    if name in PCM_SCALES:
        offset, scale = PCM_SCALES[name]
        return ((array.astype(np.float64) - offset) / scale).astype(np.float32)
    if np.dtype(name).kind == "f" or array.size == 0:
        return array.astype(np.float32)
    raise ValueError(
        f"Audio samples of type {name} cannot be read: their full scale is unknown. Store them as integer PCM "
        f"({', '.join(PCM_SCALES)}, scaled as soundfile does) or as float32 in [-1, 1] (e.g. "
        "array.astype('float32') / 32768 for 16-bit samples held in a wider type)."
    )


def stored_sample_dtype(feature) -> str | None:
    """The type of the samples of a `{"array", "sampling_rate"}` audio column, from its `datasets` feature (`None`
    for an `Audio` column or another layout): rows read back from such a column are Python numbers."""
    inner = feature.get("array") if isinstance(feature, dict) else None
    while inner is not None and not hasattr(inner, "dtype"):
        inner = getattr(inner, "feature", None)
    dtype = getattr(inner, "dtype", None)
    return str(dtype) if dtype is not None else None


def channels_first_from_shape(shape: tuple[int, ...]) -> bool:
    """Whether a 2-D array of audio is (channels, samples) (`True`) or (samples, channels) (`False`), told from its
    shape: the channel axis is the one with at most `MAX_CHANNELS` entries, the other one longer. Shapes that do not
    tell (both axes short, both long, more than two axes) raise with the fix."""
    if len(shape) != 2:
        raise ValueError(f"An audio array must be 1-D (mono) or 2-D (channels x samples), not of shape {shape}.")
    rows, columns = shape
    if rows <= MAX_CHANNELS < columns:
        return True
    if columns <= MAX_CHANNELS < rows:
        return False
    raise ValueError(
        f"Cannot tell the channel axis of an audio array of shape {shape}: one axis must hold at most {MAX_CHANNELS} "
        "channels and the other the samples. Pass a 1-D mono array (e.g. array.mean(axis=<channel axis>))."
    )


def _to_mono(array: np.ndarray, channels_first: bool) -> np.ndarray:
    if array.ndim == 1:
        return array
    # torchcodec returns (channels, samples); soundfile returns (samples, channels).
    return array.mean(axis=0 if channels_first else 1)


def load_audio_array(
    value: Any, sampling_rate: int | None = None, mono: bool = True, sample_dtype: str | None = None
) -> tuple[np.ndarray, int]:
    """Waveform and sampling rate of one value of an audio column.

    Args:
        value:
            One of

            - a decoded value as returned by datasets 2.x/3.x: a dict with ``"array"`` and ``"sampling_rate"``; a
              multi-channel array may be (channels, samples) or (samples, channels), told from its shape
              ([`channels_first_from_shape`]);
            - a decoded value as returned by datasets >= 4 with torchcodec: an ``AudioDecoder`` (anything with a
              ``get_all_samples()`` method returning an object with ``.data`` and ``.sample_rate``);
            - an undecoded value (``Audio(decode=False)``): a dict with ``"path"`` and/or ``"bytes"``, read with
              soundfile (``bytes`` wins when both are set, as in datasets);
            - a path to a local audio file (``str`` or ``os.PathLike``).
        sampling_rate (`int`, *optional*):
            Resample to this rate with soxr if the audio is at another rate. By default the audio's own rate is kept.
        mono (`bool`, *optional*, defaults to `True`):
            Average the channels into a 1-D array (what datasets' ``value["array"]`` does). With ``False`` a
            multi-channel signal is returned as (channels, samples).
        sample_dtype (`str`, *optional*):
            The type a decoded dict's ``"array"`` was stored as (see [`stored_sample_dtype`]), when the value lost
            it. Integer PCM is scaled to [-1, 1] as soundfile reads it ([`pcm_to_float32`]).

    Returns:
        `tuple[np.ndarray, int]`: the ``float32`` waveform and its sampling rate.
    """
    if isinstance(value, dict) and value.get("array") is not None:
        array = pcm_to_float32(value["array"], sample_dtype)
        rate = value.get("sampling_rate")
        if rate is None:
            raise ValueError("A decoded audio dict needs a 'sampling_rate' next to its 'array'.")
        # A user's array may come from datasets (channels, samples) or soundfile (samples, channels): the shape says.
        channels_first = array.ndim < 2 or channels_first_from_shape(array.shape)
    elif hasattr(value, "get_all_samples"):
        samples = value.get_all_samples()
        data = samples.data
        array = (data.detach().cpu().numpy() if hasattr(data, "detach") else np.asarray(data)).astype(np.float32)
        rate = samples.sample_rate
        channels_first = True
    elif isinstance(value, (dict, str, os.PathLike)):
        import soundfile

        if isinstance(value, dict):
            source = value.get("bytes") or value.get("path")
            if source is None:
                raise ValueError(f"An audio value needs 'array', 'path' or 'bytes'; got keys {sorted(value)}.")
        else:
            source = value
        if isinstance(source, (bytes, bytearray)):
            source = io.BytesIO(source)
        array, rate = soundfile.read(source, dtype="float32", always_2d=False)
        channels_first = False
    else:
        raise TypeError(
            f"Cannot read audio from a {type(value).__name__}: expected a dict with 'array' and 'sampling_rate', a "
            "torchcodec AudioDecoder, a dict with 'path'/'bytes' or a file path."
        )

    if mono:
        array = _to_mono(array, channels_first)
    elif array.ndim == 2 and not channels_first:
        array = array.T  # always (channels, samples) when mono=False
    rate = int(rate)
    if sampling_rate is not None and int(sampling_rate) != rate:
        import soxr

        # soxr works on (samples, channels).
        array = soxr.resample(array.T if array.ndim == 2 else array, rate, int(sampling_rate))
        array = np.ascontiguousarray(array.T if array.ndim == 2 else array, dtype=np.float32)
        rate = int(sampling_rate)
    return np.ascontiguousarray(array, dtype=np.float32), rate


def common_sampling_rate(files, folder) -> int:
    """The one sampling rate of the WAV `files` of `folder` (read from their headers, about 0.2 ms a file, which also
    catches unreadable files now rather than mid-training); several rates raise with the fix."""
    import soundfile

    rates = {soundfile.info(path).samplerate for path in files}
    if len(rates) > 1:
        raise ValueError(
            f"The recordings in {str(folder)!r} have several sampling rates {sorted(rates)}; pass `sampling_rate` "
            "to resample them all to one."
        )
    return rates.pop()
