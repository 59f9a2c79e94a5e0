"""Feature extractor for the MFCC CNN: raw waveforms to a fixed `(n_mfcc, num_frames)` MFCC grid."""

import math
from collections.abc import Iterable

import librosa
import numpy as np
import soxr
from transformers import BatchFeature, SequenceFeatureExtractor
from transformers.utils import TensorType, logging

logger = logging.get_logger(__name__)

NORMALIZE_MODES = ("dataset", "per_clip", "none")
DEFAULT_LENGTH_PERCENTILE = 99.0
# Keeps a constant coefficient (silence, a one-frame clip) finite instead of dividing by a zero deviation.
_VARIANCE_EPSILON = 1e-7


def _resolve_normalize(normalize) -> str:
    # `True`/`False` are what extractors saved before the modes existed wrote: `True` was per-clip normalisation.
    if normalize is True:
        return "per_clip"
    if normalize is False or normalize is None:
        return "none"
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"`normalize` must be one of {NORMALIZE_MODES} (or a bool), got {normalize!r}.")
    return normalize


class MFCCFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Turns mono waveforms into MFCC grids of exactly `(n_mfcc, num_frames)`, the input of
    [`MFCCCNNForAudioClassification`].

    Per clip: resample to `sampling_rate` if needed (`soxr`), compute `librosa.feature.mfcc` (Hann windows of
    `n_fft` samples centred on the frames, `n_mels` mel bands), normalise (see `normalize`), then keep the first
    `num_frames` frames or pad the end with `padding_value`. The end is the side cut because trimmed speech
    recordings such as FSDD's start with the word. A clip of `num_frames * hop_length` samples or more loses its
    tail: each call that cuts clips logs one warning with their count. [`~MFCCFeatureExtractor.fit`] on the
    training audio sets `num_frames` from the clip lengths and fits the normalisation statistics.

    Args:
        sampling_rate (`int`, *optional*, defaults to 16000):
            Sampling rate, in Hz, at which features are computed. Input at another rate is resampled (with a
            warning).
        n_mfcc (`int`, *optional*, defaults to 20):
            Number of MFCC coefficients (rows of the output).
        num_frames (`int`, *optional*, defaults to 20):
            Number of frames (columns of the output). [`~MFCCFeatureExtractor.fit`] replaces it with the number of
            frames that covers the `length_percentile`-th percentile of the training clips' lengths.
        n_fft (`int`, *optional*, defaults to 512):
            FFT and window length in samples (32 ms at 16 kHz, 64 ms at 8 kHz). When it is shorter than
            `hop_length`, as with the defaults at 16 kHz, successive windows do not overlap and part of the signal
            between frame centres is not seen; raise it if that matters for your data.
        hop_length (`int`, *optional*):
            Samples between frame centres. Defaults to `sampling_rate // num_frames` (with the `num_frames` given
            here), so that 20 frames span one second (800 samples at 16 kHz, 400 at 8 kHz). The resolved value is
            what is saved, and `fit` keeps it.
        n_mels (`int`, *optional*, defaults to 40):
            Number of mel bands the MFCC are computed from. librosa's default of 128 leaves empty bands at
            `n_fft=512` and 8 kHz.
        normalize (`str` or `bool`, *optional*, defaults to `"dataset"`):
            How each coefficient is normalised, before padding (so padded frames sit at the mean):

            - `"dataset"`: with the mean and standard deviation of each coefficient over all frames of the training
              clips (`mfcc_mean`, `mfcc_std`, set by [`~MFCCFeatureExtractor.fit`] and saved with the extractor).
              The default for models trained from scratch: it keeps what differs between clips, such as the
              speaker's timbre, which `"per_clip"` largely removes. An extractor that was never fitted falls back to
              `"per_clip"` and logs a warning saying so.
            - `"per_clip"`: to zero mean and unit variance over the clip's own frames (cepstral mean and variance
              normalisation; `True` in extractors saved before these modes). Robust to channel and loudness
              changes; a perfectly stationary signal normalises to zero.
            - `"none"` (or `None`/`False`): raw MFCC.
        padding_value (`float`, *optional*, defaults to 0.0):
            Value of the frames added after short clips.
        mfcc_mean (`list[float]`, *optional*):
            Per-coefficient mean for `normalize="dataset"`, `n_mfcc` values. Set by `fit`; pass it only to restore
            saved statistics.
        mfcc_std (`list[float]`, *optional*):
            Per-coefficient standard deviation for `normalize="dataset"`, `n_mfcc` positive values. Set by `fit`.

    Example:

    ```python
    >>> extractor = MFCCFeatureExtractor(sampling_rate=8000)
    >>> extractor.fit(train_dataset, audio_column="audio")  # num_frames, mfcc_mean, mfcc_std from the training set
    >>> features = extractor(clips, sampling_rate=8000, return_tensors="pt")
    ```
    """

    model_input_names = ["input_features"]

    def __init__(
        self,
        sampling_rate: int = 16000,
        n_mfcc: int = 20,
        num_frames: int = 20,
        n_fft: int = 512,
        hop_length: int | None = None,
        n_mels: int = 40,
        normalize: str | bool | None = "dataset",
        padding_value: float = 0.0,
        mfcc_mean: list[float] | None = None,
        mfcc_std: list[float] | None = None,
        **kwargs,
    ):
        # A saved extractor carries these back into `from_pretrained`; they follow from the arguments above.
        kwargs.pop("feature_size", None)
        kwargs.pop("return_attention_mask", None)
        super().__init__(
            feature_size=n_mfcc,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=False,
            **kwargs,
        )
        self.n_mfcc = n_mfcc
        self.num_frames = num_frames
        self.n_fft = n_fft
        self.hop_length = hop_length if hop_length is not None else sampling_rate // num_frames
        self.n_mels = n_mels
        self.normalize = _resolve_normalize(normalize)
        for name in ("sampling_rate", "n_mfcc", "num_frames", "n_fft", "hop_length", "n_mels"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1, got {getattr(self, name)}.")
        if (mfcc_mean is None) != (mfcc_std is None):
            raise ValueError("Pass both `mfcc_mean` and `mfcc_std` (as `fit` sets them), or neither.")
        # Plain lists of floats: they are saved to `preprocessor_config.json` as they are.
        self.mfcc_mean = None if mfcc_mean is None else [float(value) for value in mfcc_mean]
        self.mfcc_std = None if mfcc_std is None else [float(value) for value in mfcc_std]
        if self.mfcc_mean is not None:
            if len(self.mfcc_mean) != n_mfcc or len(self.mfcc_std) != n_mfcc:
                raise ValueError(
                    f"`mfcc_mean` and `mfcc_std` need one value per coefficient ({n_mfcc}), got "
                    f"{len(self.mfcc_mean)} and {len(self.mfcc_std)}."
                )
            if not all(math.isfinite(value) for value in self.mfcc_mean + self.mfcc_std) or min(self.mfcc_std) <= 0:
                raise ValueError("`mfcc_mean` must be finite and `mfcc_std` finite and positive.")

    # ---- coverage --------------------------------------------------------------------------------------------

    @property
    def is_fitted(self) -> bool:
        """Whether dataset normalisation statistics are set (by `fit` or from a saved extractor)."""
        return self.mfcc_mean is not None

    @property
    def covered_seconds(self) -> float:
        """Duration the `num_frames` frames cover; clips this long or longer lose their last frames."""
        return self.num_frames * self.hop_length / self.sampling_rate

    def frames_for_length(self, num_samples: int) -> int:
        """Number of MFCC frames of a clip of `num_samples` samples (librosa centres the frames: `1 + n // hop`)."""
        return 1 + int(num_samples) // self.hop_length

    def count_truncated(self, lengths: Iterable[int]) -> int:
        """Number of clips, given by their lengths in samples at `sampling_rate`, that lose frames."""
        return sum(self.frames_for_length(length) > self.num_frames for length in lengths)

    def warn_if_truncated(self, lengths: Iterable[int], advice: str | None = None) -> int:
        """
        Logs one warning if any of the clips, given by their lengths in samples at `sampling_rate`, are longer than
        the features cover, and returns how many are. Callers that featurise a dataset in batches can call the
        extractor with `warn_on_truncation=False` and this once on all the lengths.
        """
        lengths = list(lengths)
        truncated = self.count_truncated(lengths)
        if truncated:
            advice = advice or "set `num_frames`/`hop_length`, or `fit()` the extractor on the training audio"
            logger.warning(
                f"{truncated} of {len(lengths)} clips are longer than the {self.covered_seconds:.2f} s the features "
                f"cover ({self.num_frames} frames of {self.hop_length} samples at {self.sampling_rate} Hz); their "
                f"ends are dropped: {advice}."
            )
        return truncated

    # ---- fitting ---------------------------------------------------------------------------------------------

    def _waveforms(self, audio, sampling_rate: int | None, audio_column: str) -> list[np.ndarray]:
        """Mono float32 waveforms at `self.sampling_rate` from arrays or from a dataset's audio column."""
        if hasattr(audio, "column_names"):  # a `datasets.Dataset`
            if audio_column not in audio.column_names:
                raise ValueError(
                    f"The dataset has no audio column {audio_column!r} (columns: {audio.column_names}); pass "
                    "audio_column=<the column's name>."
                )
            from hf_unlearn.data.audio_utils import load_audio_array, stored_sample_dtype

            dtype = stored_sample_dtype(audio.features[audio_column])  # integer PCM: scaled as soundfile reads it
            return [
                self._to_waveform(load_audio_array(value, self.sampling_rate, sample_dtype=dtype)[0], index)
                for index, value in enumerate(audio[audio_column])
            ]
        if hasattr(audio, "detach") or isinstance(audio, np.ndarray) and audio.ndim == 1:
            raise ValueError("`fit` needs several clips: pass a list of 1-D arrays or a dataset, not one clip.")
        clips = list(audio)
        if not clips:
            raise ValueError("`fit` got no clips: pass the training audio (a list of 1-D arrays or a dataset).")
        if sampling_rate is None:
            raise ValueError(
                f"Pass `sampling_rate` with raw arrays, e.g. `fit(arrays, sampling_rate={self.sampling_rate})`."
            )
        waveforms = []
        for index, clip in enumerate(clips):
            waveform = self._to_waveform(clip, index)
            if sampling_rate != self.sampling_rate:
                waveform = soxr.resample(waveform, sampling_rate, self.sampling_rate).astype(np.float32, copy=False)
            waveforms.append(waveform)
        return waveforms

    def fit(
        self,
        audio,
        sampling_rate: int | None = None,
        audio_column: str = "audio",
        length_percentile: float | None = DEFAULT_LENGTH_PERCENTILE,
    ) -> "MFCCFeatureExtractor":
        """
        Fits the extractor to training audio: the number of frames from the clips' lengths, then (with
        `normalize="dataset"`) the mean and standard deviation of each coefficient over all kept frames.

        Fit on the training split only, never on validation or test data.

        Args:
            audio (`list[np.ndarray]` or `datasets.Dataset`):
                The training clips: mono 1-D arrays, or a dataset with an audio column (decoded `Audio`, raw
                `{"array", "sampling_rate"}` dicts or undecoded `Audio(decode=False)` files).
            sampling_rate (`int`, *optional*):
                Sampling rate of raw arrays (required with them); dataset values carry their own.
            audio_column (`str`, *optional*, defaults to `"audio"`):
                Audio column of a dataset.
            length_percentile (`float`, *optional*, defaults to 99.0):
                `num_frames` becomes the number of frames that covers this percentile of the clip lengths at
                `hop_length`, so that this share of clips keeps all its audio. Not 100: the longest clips of a
                dataset are often outliers (FSDD: 99 % last under 0.95 s, the longest 2.3 s) and covering them
                would make most of every input padding. `None` keeps `num_frames`. Remember to build the model for
                the new `num_frames` (e.g. `build_mfcc_cnn(labels, feature_extractor=extractor)`).

        Returns:
            `MFCCFeatureExtractor`: this extractor, fitted.
        """
        if length_percentile is not None and not 0 < length_percentile <= 100:
            raise ValueError(f"`length_percentile` must be in (0, 100] or None, got {length_percentile}.")
        waveforms = self._waveforms(audio, sampling_rate, audio_column)
        lengths = [len(waveform) for waveform in waveforms]
        if length_percentile is not None:
            length = math.ceil(np.percentile(lengths, length_percentile))
            self.num_frames = self.frames_for_length(length)
            logger.info(
                f"num_frames = {self.num_frames} ({self.covered_seconds:.2f} s) covers the {length_percentile:g}th "
                f"percentile of {len(lengths)} clip lengths."
            )
            advice = f"`num_frames` covers the {length_percentile:g}th percentile of the lengths (`length_percentile`)"
        else:
            advice = "set `num_frames`/`hop_length`, or fit with `length_percentile` to derive `num_frames`"
        self.warn_if_truncated(lengths, advice)
        if self.normalize == "dataset":
            kept = [self._mfcc(waveform)[:, : self.num_frames] for waveform in waveforms]
            frames = np.concatenate(kept, axis=1).astype(np.float64)
            self.mfcc_mean = frames.mean(axis=1).tolist()
            self.mfcc_std = np.sqrt(frames.var(axis=1) + _VARIANCE_EPSILON).tolist()
        return self

    # ---- featurising -----------------------------------------------------------------------------------------

    def _mfcc(self, waveform: np.ndarray) -> np.ndarray:
        return librosa.feature.mfcc(
            y=waveform,
            sr=self.sampling_rate,
            n_mfcc=self.n_mfcc,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.n_mels,
        )

    def _extract_mfcc(self, waveform: np.ndarray) -> np.ndarray:
        """MFCC of one clip, normalised as asked, padded or cut to `(n_mfcc, num_frames)`."""
        mfcc = self._mfcc(waveform)
        mode = self.normalize
        if mode == "dataset" and not self.is_fitted:
            logger.warning_once(
                "MFCCFeatureExtractor(normalize='dataset') has no normalisation statistics: falling back to "
                "per-clip normalisation. Call `extractor.fit(train_audio)` on the training set first, or pass "
                "normalize='per_clip' (or 'none') to choose it explicitly."
            )
            mode = "per_clip"
        if mode == "dataset":
            mean = np.asarray(self.mfcc_mean, dtype=np.float32)[:, None]
            std = np.asarray(self.mfcc_std, dtype=np.float32)[:, None]
            mfcc = (mfcc - mean) / std
        elif mode == "per_clip":
            mfcc = (mfcc - mfcc.mean(axis=1, keepdims=True)) / np.sqrt(
                mfcc.var(axis=1, keepdims=True) + _VARIANCE_EPSILON
            )
        features = np.full((self.n_mfcc, self.num_frames), self.padding_value, dtype=np.float32)
        kept = min(self.num_frames, mfcc.shape[1])
        features[:, :kept] = mfcc[:, :kept]
        return features

    @staticmethod
    def _to_waveform(clip, index: int) -> np.ndarray:
        if hasattr(clip, "detach"):
            clip = clip.detach().cpu().numpy()
        if isinstance(clip, np.ndarray) and clip.dtype.kind in "iu":  # integer PCM: to [-1, 1] as soundfile reads it
            from hf_unlearn.data.audio_utils import pcm_to_float32

            clip = pcm_to_float32(clip)
        waveform = np.asarray(clip, dtype=np.float32)
        if waveform.ndim != 1:
            raise ValueError(
                f"Clip {index} has shape {waveform.shape}; only mono audio (a 1-D array per clip) is supported."
            )
        if waveform.size == 0:
            raise ValueError(f"Clip {index} is empty (0 samples): there is no audio to compute MFCC from.")
        return waveform

    def __call__(
        self,
        raw_speech: np.ndarray | list[float] | list[np.ndarray] | list[list[float]],
        sampling_rate: int | None = None,
        return_tensors: str | TensorType | None = None,
        warn_on_truncation: bool = True,
        **kwargs,
    ) -> BatchFeature:
        """
        Featurise one clip or a batch of clips.

        Args:
            raw_speech (`np.ndarray`, `list[float]`, `list[np.ndarray]` or `list[list[float]]`):
                One mono clip (a 1-D array or list of floats) or a batch: a list of clips of any lengths, or a 2-D
                array with one clip per row. Torch tensors on the CPU are accepted as arrays.
            sampling_rate (`int`, *optional*):
                Sampling rate of `raw_speech`. Input at another rate than `self.sampling_rate` is resampled with
                `soxr` and a warning is logged; pass it always, since without it the rate is assumed and a wrong
                guess goes unnoticed.
            return_tensors (`str` or [`~utils.TensorType`], *optional*):
                `"pt"` for a `torch.Tensor`, `"np"` or `None` for a `np.ndarray`.
            warn_on_truncation (`bool`, *optional*, defaults to `True`):
                Whether to log one warning with their count when clips are longer than the features cover. A caller
                that featurises a dataset in batches can turn it off and call `warn_if_truncated` once instead.
            kwargs:
                Ignored; accepted for compatibility with callers that pass padding options (e.g. `padding`,
                `return_attention_mask`): the output always has the same fixed size and no attention mask.

        Returns:
            [`BatchFeature`] with `input_features` of shape `(batch_size, n_mfcc, num_frames)` and dtype float32.
        """
        if sampling_rate is None:
            logger.warning(
                f"It is strongly recommended to pass the `sampling_rate` argument to `{self.__class__.__name__}()`. "
                f"Failing to do so can result in silent errors that might be hard to debug; assuming "
                f"{self.sampling_rate} Hz."
            )
            sampling_rate = self.sampling_rate

        # Torch tensors go through `np.asarray`; a list whose first item is a sequence is a batch of clips.
        if hasattr(raw_speech, "detach"):
            raw_speech = raw_speech.detach().cpu().numpy()
        if isinstance(raw_speech, np.ndarray):
            if raw_speech.ndim > 2:
                raise ValueError(
                    "Expected one mono clip (1-D) or a batch of clips (2-D), "
                    f"got an array of shape {raw_speech.shape}."
                )
            clips = list(raw_speech) if raw_speech.ndim == 2 else [raw_speech]
        elif isinstance(raw_speech, (list, tuple)):
            if len(raw_speech) == 0:
                raise ValueError("`raw_speech` is empty: expected one clip or a non-empty batch of clips.")
            first = raw_speech[0]
            is_batch = isinstance(first, (np.ndarray, list, tuple)) or hasattr(first, "detach")
            clips = list(raw_speech) if is_batch else [raw_speech]
        else:
            raise TypeError(
                f"`raw_speech` must be a numpy array, a list of floats or a list of clips, got {type(raw_speech)}."
            )

        features, lengths = [], []
        for index, clip in enumerate(clips):
            waveform = self._to_waveform(clip, index)
            if sampling_rate != self.sampling_rate:
                waveform = soxr.resample(waveform, sampling_rate, self.sampling_rate).astype(np.float32, copy=False)
            lengths.append(len(waveform))
            features.append(self._extract_mfcc(waveform))
        if warn_on_truncation:
            self.warn_if_truncated(lengths)

        if sampling_rate != self.sampling_rate:
            # Logged per call, not per clip: resampling here is correct but slow, and should usually happen once
            # upstream (e.g. `dataset.cast_column("audio", Audio(sampling_rate=...))`).
            logger.warning(
                f"{self.__class__.__name__} resampled {len(features)} clip(s) from {sampling_rate} Hz to "
                f"{self.sampling_rate} Hz. Resample the dataset beforehand to avoid repeating this work."
            )

        return BatchFeature({"input_features": np.stack(features)}, tensor_type=return_tensors)


__all__ = ["MFCCFeatureExtractor"]
