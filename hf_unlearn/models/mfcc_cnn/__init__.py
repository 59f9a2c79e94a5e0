"""MFCC CNN: a small audio classifier that trains on a CPU in seconds (see `modeling_mfcc_cnn`)."""

from collections.abc import Sequence
from typing import Any

from .configuration_mfcc_cnn import MFCCCNNConfig
from .feature_extraction_mfcc_cnn import MFCCFeatureExtractor
from .modeling_mfcc_cnn import MFCCCNNForAudioClassification


def build_mfcc_cnn(
    label_names: Sequence[str],
    *,
    sampling_rate: int | None = None,
    feature_extractor_kwargs: dict[str, Any] | None = None,
    feature_extractor: MFCCFeatureExtractor | None = None,
    **config_overrides,
) -> tuple[MFCCCNNForAudioClassification, MFCCFeatureExtractor]:
    """
    Build a randomly initialised [`MFCCCNNForAudioClassification`] and its matching [`MFCCFeatureExtractor`].

    Args:
        label_names (`Sequence[str]`):
            Class names in label-index order; they become `config.id2label` and `config.label2id`. At least two,
            all different.
        sampling_rate (`int`, *optional*, defaults to 16000):
            Sampling rate of the feature extractor (FSDD is recorded at 8000 Hz); 16000 when not given.
        feature_extractor_kwargs (`dict[str, Any]`, *optional*):
            Other [`MFCCFeatureExtractor`] arguments (`n_fft`, `hop_length`, `n_mels`, `normalize`, ...).
            `n_mfcc` and `num_frames` come from the config so that the two always agree.
        feature_extractor ([`MFCCFeatureExtractor`], *optional*):
            An existing extractor, e.g. one already [`~MFCCFeatureExtractor.fit`] on the training audio: it is
            returned as is and the config takes its `n_mfcc` and `num_frames`. Excludes `sampling_rate`,
            `feature_extractor_kwargs` and the `n_mfcc`/`num_frames` overrides.
        config_overrides:
            [`MFCCCNNConfig`] fields, e.g. `use_batch_norm=False` or `n_mfcc=13`.

    Returns:
        `tuple[MFCCCNNForAudioClassification, MFCCFeatureExtractor]`: the model (in training mode, as
        `PreTrainedModel.__init__` leaves it) and the feature extractor.
    """
    label_names = [str(name) for name in label_names]
    if len(label_names) < 2:
        raise ValueError(f"A classifier needs at least two label names, got {label_names}.")
    if len(set(label_names)) != len(label_names):
        raise ValueError(f"Label names must be unique, got {label_names}.")
    if {"id2label", "label2id", "num_labels"} & config_overrides.keys():
        raise ValueError("Labels come from `label_names`; do not pass `id2label`, `label2id` or `num_labels`.")

    if feature_extractor is not None:
        clashes = sorted({"n_mfcc", "num_frames"} & config_overrides.keys())
        if feature_extractor_kwargs or clashes or sampling_rate is not None:
            raise ValueError(
                "With `feature_extractor`, the extractor decides the sampling rate, `n_mfcc` and `num_frames`: do not "
                f"also pass `sampling_rate`, `feature_extractor_kwargs` or {clashes or ['n_mfcc', 'num_frames']}."
            )
        config_overrides.update(n_mfcc=feature_extractor.n_mfcc, num_frames=feature_extractor.num_frames)
    config = MFCCCNNConfig(
        id2label=dict(enumerate(label_names)),
        label2id={name: index for index, name in enumerate(label_names)},
        **config_overrides,
    )
    if feature_extractor is not None:
        return MFCCCNNForAudioClassification(config), feature_extractor
    feature_extractor_kwargs = dict(feature_extractor_kwargs or {})
    for name in ("n_mfcc", "num_frames"):
        if name in feature_extractor_kwargs:
            raise ValueError(f"`{name}` is a config field: pass it as `build_mfcc_cnn(..., {name}=...)`.")
    feature_extractor = MFCCFeatureExtractor(
        sampling_rate=16000 if sampling_rate is None else sampling_rate,
        n_mfcc=config.n_mfcc,
        num_frames=config.num_frames,
        **feature_extractor_kwargs,
    )
    return MFCCCNNForAudioClassification(config), feature_extractor


__all__ = ["MFCCCNNConfig", "MFCCCNNForAudioClassification", "MFCCFeatureExtractor", "build_mfcc_cnn"]
