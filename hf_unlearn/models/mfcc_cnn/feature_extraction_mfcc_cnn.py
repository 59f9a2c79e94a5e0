"""Feature extractor for the MFCC CNN: raw waveforms to a fixed `(n_mfcc, num_frames)` MFCC grid."""

import librosa
import numpy as np
import soxr
from transformers import BatchFeature, SequenceFeatureExtractor
from transformers.utils import TensorType, logging

logger = logging.get_logger(__name__)


class MFCCFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Turns mono waveforms into MFCC grids of exactly `(n_mfcc, num_frames)`, the input of
    [`MFCCCNNForAudioClassification`].

    Per clip: resample to `sampling_rate` if needed (`soxr`), compute `librosa.feature.mfcc` (Hann windows of
    `n_fft` samples centred on the frames, `n_mels` mel bands), optionally normalise each coefficient over the
    clip's frames, then keep the first `num_frames` frames or pad the end with `padding_value`. The end is the side
    cut because trimmed speech recordings such as FSDD's start with the word; a clip longer than
    `num_frames * hop_length` samples loses its tail.

    Args:
        sampling_rate (`int`, *optional*, defaults to 16000):
            Sampling rate, in Hz, at which features are computed. Input at another rate is resampled (with a
            warning).
        n_mfcc (`int`, *optional*, defaults to 20):
            Number of MFCC coefficients (rows of the output).
        num_frames (`int`, *optional*, defaults to 20):
            Number of frames (columns of the output).
        n_fft (`int`, *optional*, defaults to 512):
            FFT and window length in samples (32 ms at 16 kHz, 64 ms at 8 kHz). When it is shorter than
            `hop_length`, as with the defaults at 16 kHz, successive windows do not overlap and part of the signal
            between frame centres is not seen; raise it if that matters for your data.
        hop_length (`int`, *optional*):
            Samples between frame centres. Defaults to `sampling_rate // num_frames`, so that the `num_frames`
            frames span one second of audio (800 at 16 kHz, 400 at 8 kHz with 20 frames): FSDD clips last
            0.14-2.3 s and most fit. The resolved value is what is saved.
        n_mels (`int`, *optional*, defaults to 40):
            Number of mel bands the MFCC are computed from. librosa's default of 128 leaves empty bands at
            `n_fft=512` and 8 kHz.
        normalize (`bool`, *optional*, defaults to `True`):
            Whether to normalise each coefficient to zero mean and unit variance over the clip's own frames
            (cepstral mean and variance normalisation), before padding, so padded frames sit at the mean. A
            perfectly stationary signal (a steady tone without onset or silence) is constant over time and
            normalises to zero.
        padding_value (`float`, *optional*, defaults to 0.0):
            Value of the frames added after short clips.
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
        normalize: bool = True,
        padding_value: float = 0.0,
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
        self.normalize = normalize
        for name in ("sampling_rate", "n_mfcc", "num_frames", "n_fft", "hop_length", "n_mels"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1, got {getattr(self, name)}.")

    def _extract_mfcc(self, waveform: np.ndarray) -> np.ndarray:
        """MFCC of one clip, normalised if asked, padded or cut to `(n_mfcc, num_frames)`."""
        mfcc = librosa.feature.mfcc(
            y=waveform,
            sr=self.sampling_rate,
            n_mfcc=self.n_mfcc,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.n_mels,
        )
        if self.normalize:
            # The epsilon keeps a constant coefficient (silence, a one-frame clip) at 0 instead of dividing by 0.
            mfcc = (mfcc - mfcc.mean(axis=1, keepdims=True)) / np.sqrt(mfcc.var(axis=1, keepdims=True) + 1e-7)
        features = np.full((self.n_mfcc, self.num_frames), self.padding_value, dtype=np.float32)
        kept = min(self.num_frames, mfcc.shape[1])
        features[:, :kept] = mfcc[:, :kept]
        return features

    def __call__(
        self,
        raw_speech: np.ndarray | list[float] | list[np.ndarray] | list[list[float]],
        sampling_rate: int | None = None,
        return_tensors: str | TensorType | None = None,
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

        features = []
        for index, clip in enumerate(clips):
            if hasattr(clip, "detach"):
                clip = clip.detach().cpu().numpy()
            waveform = np.asarray(clip, dtype=np.float32)
            if waveform.ndim != 1:
                raise ValueError(
                    f"Clip {index} has shape {waveform.shape}; only mono audio (a 1-D array per clip) is supported."
                )
            if waveform.size == 0:
                raise ValueError(f"Clip {index} is empty (0 samples): there is no audio to compute MFCC from.")
            if sampling_rate != self.sampling_rate:
                waveform = soxr.resample(waveform, sampling_rate, self.sampling_rate).astype(np.float32, copy=False)
            features.append(self._extract_mfcc(waveform))

        if sampling_rate != self.sampling_rate:
            # Logged per call, not per clip: resampling here is correct but slow, and should usually happen once
            # upstream (e.g. `dataset.cast_column("audio", Audio(sampling_rate=...))`).
            logger.warning(
                f"{self.__class__.__name__} resampled {len(features)} clip(s) from {sampling_rate} Hz to "
                f"{self.sampling_rate} Hz. Resample the dataset beforehand to avoid repeating this work."
            )

        return BatchFeature({"input_features": np.stack(features)}, tensor_type=return_tensors)


__all__ = ["MFCCFeatureExtractor"]
