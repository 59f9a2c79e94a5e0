"""Tests of the MFCC CNN: shapes, serialisation, the Auto classes and pipeline, and that it can learn a toy task."""

import importlib
import json
import logging

import numpy as np
import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError
from torch import nn
from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

import hf_unlearn.models
from hf_unlearn.models import MFCCCNNConfig, MFCCCNNForAudioClassification, MFCCFeatureExtractor, build_mfcc_cnn

EXTRACTOR_LOGGER = "hf_unlearn.models.mfcc_cnn.feature_extraction_mfcc_cnn"
LABELS = ["low", "high", "noise"]


def tone_burst(frequency, sampling_rate, clip_seconds, start_seconds, burst_seconds, amplitude=0.5, phase=0.0):
    """A tone that starts and stops inside silence: it changes over time, as speech does.

    A steady tone would not do: per-utterance normalisation of each coefficient maps a constant signal to zero.
    """
    time = np.arange(int(clip_seconds * sampling_rate)) / sampling_rate
    is_on = (time >= start_seconds) & (time < start_seconds + burst_seconds)
    return (is_on * amplitude * np.sin(2 * np.pi * frequency * time + phase)).astype(np.float32)


def random_tone_burst(frequency, sampling_rate, rng):
    """`tone_burst` of random length, onset, loudness and phase, in faint noise."""
    clip_seconds = rng.uniform(0.5, 1.2)
    waveform = tone_burst(
        frequency,
        sampling_rate,
        clip_seconds,
        start_seconds=rng.uniform(0.0, clip_seconds - 0.4),
        burst_seconds=rng.uniform(0.2, 0.4),
        amplitude=rng.uniform(0.3, 1.0),
        phase=rng.uniform(0, 2 * np.pi),
    )
    return waveform + 0.01 * rng.standard_normal(len(waveform)).astype(np.float32)


@pytest.fixture
def model_and_extractor():
    torch.manual_seed(0)
    return build_mfcc_cnn(LABELS)


@pytest.fixture
def saved_dir(tmp_path, model_and_extractor):
    model, feature_extractor = model_and_extractor
    model.save_pretrained(tmp_path)
    feature_extractor.save_pretrained(tmp_path)
    return tmp_path


# ---- model -------------------------------------------------------------------------------------------------------


def test_forward_shapes_and_loss(model_and_extractor):
    model, _ = model_and_extractor
    features = torch.randn(4, 20, 20)
    labels = torch.tensor([0, 1, 2, 1])

    outputs = model(input_features=features, labels=labels, attention_mask=torch.ones(4, 20))
    assert outputs.logits.shape == (4, len(LABELS))
    assert outputs.loss.ndim == 0 and torch.isfinite(outputs.loss)
    torch.testing.assert_close(outputs.loss, nn.functional.cross_entropy(outputs.logits, labels))
    assert model(input_features=features).loss is None

    loss, logits, hidden_states = model(features, labels=labels, output_hidden_states=True, return_dict=False)
    assert logits.shape == (4, len(LABELS))
    # Two conv blocks (20x20 -> 10x10 -> 5x5) and one dense layer.
    assert [tuple(h.shape) for h in hidden_states] == [(4, 32, 10, 10), (4, 64, 5, 5), (4, 128)]


def test_wrong_input_shape_is_rejected(model_and_extractor):
    model, _ = model_and_extractor
    with pytest.raises(ValueError, match="n_mfcc, num_frames"):
        model(torch.randn(2, 13, 20))


def test_module_names_and_size(model_and_extractor):
    model, _ = model_and_extractor
    names = dict(model.named_modules())
    for name in ("conv_blocks", "dense_layers", "classifier"):
        assert name in names
    for part in ("conv", "batch_norm", "activation", "pool", "dropout"):
        assert f"conv_blocks.1.{part}" in names
    assert isinstance(model.conv_blocks[0].batch_norm, nn.BatchNorm2d)
    assert all(isinstance(layer, nn.Linear) for layer in model.dense_layers)
    assert model.classifier.out_features == len(LABELS)
    assert model.num_parameters() <= 100_000


def test_without_batch_norm():
    model, _ = build_mfcc_cnn(LABELS, use_batch_norm=False)
    assert not any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in model.modules())
    assert isinstance(model.conv_blocks[0].batch_norm, nn.Identity)


@pytest.mark.parametrize("n_mfcc, num_frames", [(13, 20), (20, 1), (40, 101)])
def test_other_grid_sizes(n_mfcc, num_frames):
    model, feature_extractor = build_mfcc_cnn(LABELS, n_mfcc=n_mfcc, num_frames=num_frames, conv_channels=[8, 8, 8])
    features = feature_extractor(np.zeros(16000, dtype=np.float32) + 0.1, sampling_rate=16000, return_tensors="pt")
    assert features["input_features"].shape == (1, n_mfcc, num_frames)
    assert model(**features).logits.shape == (1, len(LABELS))


def test_config_validation_and_serialisation(tmp_path):
    config = MFCCCNNConfig(conv_channels=(16, 32), hidden_sizes=(), num_labels=4)
    assert config.conv_channels == [16, 32] and config.hidden_sizes == []
    config.save_pretrained(tmp_path)
    reloaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(reloaded, MFCCCNNConfig)
    assert reloaded.to_diff_dict() == config.to_diff_dict()
    # `@strict` validation raises huggingface_hub's own error types, which are not `ValueError`s.
    with pytest.raises(StrictDataclassClassValidationError, match="conv_channels"):
        MFCCCNNConfig(conv_channels=[])
    with pytest.raises(StrictDataclassClassValidationError, match="dropout"):
        MFCCCNNConfig(dropout=1.5)
    with pytest.raises(StrictDataclassFieldValidationError, match="n_mfcc"):
        MFCCCNNConfig(n_mfcc="20")


def test_save_load_round_trip(saved_dir, model_and_extractor):
    model, _ = model_and_extractor
    # Change the batch-norm buffers from their initial values, so the test sees whether they are saved.
    model.train()
    model(torch.randn(8, 20, 20))
    model.eval()
    model.save_pretrained(saved_dir)
    assert (saved_dir / "model.safetensors").exists()

    for loader in (MFCCCNNForAudioClassification, AutoModelForAudioClassification):
        reloaded = loader.from_pretrained(saved_dir).eval()
        assert isinstance(reloaded, MFCCCNNForAudioClassification)
        assert reloaded.config.id2label == dict(enumerate(LABELS))
        features = torch.randn(5, 20, 20)
        with torch.no_grad():
            torch.testing.assert_close(reloaded(features).logits, model(features).logits, rtol=0, atol=0)


def test_auto_model_from_config():
    config = MFCCCNNConfig(id2label=dict(enumerate(LABELS)), label2id={name: i for i, name in enumerate(LABELS)})
    model = AutoModelForAudioClassification.from_config(config)
    assert isinstance(model, MFCCCNNForAudioClassification)


def test_registration_survives_reimport():
    importlib.reload(hf_unlearn.models)
    AutoConfig.register("mfcc_cnn", hf_unlearn.models.MFCCCNNConfig, exist_ok=True)
    assert AutoConfig.for_model("mfcc_cnn").__class__.__name__ == "MFCCCNNConfig"


def test_build_mfcc_cnn_labels():
    model, feature_extractor = build_mfcc_cnn(["a", "b"], sampling_rate=8000, feature_extractor_kwargs={"n_mels": 32})
    assert model.config.id2label == {0: "a", 1: "b"} and model.config.label2id == {"a": 0, "b": 1}
    assert feature_extractor.sampling_rate == 8000 and feature_extractor.hop_length == 400
    assert feature_extractor.n_mels == 32
    with pytest.raises(ValueError, match="unique"):
        build_mfcc_cnn(["a", "a"])
    with pytest.raises(ValueError, match="at least two"):
        build_mfcc_cnn(["a"])
    with pytest.raises(ValueError, match="config field"):
        build_mfcc_cnn(["a", "b"], feature_extractor_kwargs={"n_mfcc": 13})


# ---- feature extractor -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0.05, 0.14, 1.0, 2.3, 5.0])
def test_feature_shape_is_fixed(seconds):
    feature_extractor = MFCCFeatureExtractor()
    rng = np.random.default_rng(0)
    clip = rng.standard_normal(int(seconds * 16000)).astype(np.float32)
    features = feature_extractor(clip, sampling_rate=16000, return_tensors="np")["input_features"]
    assert features.shape == (1, 20, 20) and features.dtype == np.float32
    assert np.isfinite(features).all()
    # Short clips are padded at the end with `padding_value`.
    valid_frames = 1 + len(clip) // feature_extractor.hop_length
    if valid_frames < 20:
        assert (features[0, :, valid_frames:] == 0.0).all()
        assert (features[0, :, :valid_frames] != 0.0).any()


def test_batched_inputs():
    feature_extractor = MFCCFeatureExtractor(sampling_rate=8000)
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(n).astype(np.float32) for n in (1200, 8000, 20000)]

    batch = feature_extractor(clips, sampling_rate=8000, return_tensors="pt")["input_features"]
    assert batch.shape == (3, 20, 20) and batch.dtype == torch.float32
    # A batch gives the same features as its clips one at a time, whatever their lengths.
    single = feature_extractor(clips[0].tolist(), sampling_rate=8000, return_tensors="pt")["input_features"]
    torch.testing.assert_close(batch[:1], single)

    as_2d = feature_extractor(np.stack([clips[1], clips[1]]), sampling_rate=8000)["input_features"]
    assert isinstance(as_2d, np.ndarray) and as_2d.shape == (2, 20, 20)
    from_tensor = feature_extractor(torch.from_numpy(clips[1]), sampling_rate=8000)["input_features"]
    np.testing.assert_allclose(from_tensor[0], as_2d[0])


def test_normalisation_per_coefficient():
    feature_extractor = MFCCFeatureExtractor(normalize="per_clip")
    clip = random_tone_burst(500.0, 16000, np.random.default_rng(0))
    mfcc = feature_extractor(clip, sampling_rate=16000)["input_features"][0]
    # Statistics are over all of the clip's frames, of which the output keeps the first 20: close, not exact.
    assert np.abs(mfcc.mean(axis=1)).max() < 0.5
    silent = feature_extractor(np.zeros(16000, dtype=np.float32), sampling_rate=16000)["input_features"]
    assert np.isfinite(silent).all()


def test_resampling_warns_and_matches_native_rate(caplog):
    feature_extractor = MFCCFeatureExtractor(sampling_rate=16000)
    burst = {"clip_seconds": 1.0, "start_seconds": 0.2, "burst_seconds": 0.3}

    with caplog.at_level(logging.WARNING, logger=EXTRACTOR_LOGGER):
        resampled = feature_extractor(tone_burst(440.0, 8000, **burst), sampling_rate=8000)["input_features"][0]
    assert resampled.shape == (20, 20)
    assert any("8000 Hz to 16000 Hz" in record.getMessage() for record in caplog.records)

    # The same signal recorded at 16 kHz gives nearly the same features (a 440 Hz tone loses nothing at 8 kHz); a
    # tone 1.5 times higher does not, so the comparison can tell a wrong resampling from a right one.
    native = feature_extractor(tone_burst(440.0, 16000, **burst), sampling_rate=16000)["input_features"][0]
    higher = feature_extractor(tone_burst(660.0, 16000, **burst), sampling_rate=16000)["input_features"][0]
    assert np.corrcoef(native.ravel(), resampled.ravel())[0, 1] > 0.8
    assert np.corrcoef(native.ravel(), higher.ravel())[0, 1] < 0.5


def test_missing_sampling_rate_warns(caplog):
    with caplog.at_level(logging.WARNING, logger=EXTRACTOR_LOGGER):
        MFCCFeatureExtractor()(np.ones(1600, dtype=np.float32))
    assert any("sampling_rate" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "raw_speech", [np.zeros(0, dtype=np.float32), [], [np.ones(800, dtype=np.float32), np.zeros(0)]]
)
def test_empty_input_raises(raw_speech):
    with pytest.raises(ValueError, match="empty"):
        MFCCFeatureExtractor()(raw_speech, sampling_rate=16000)


def test_stereo_input_raises():
    with pytest.raises(ValueError, match="mono"):
        MFCCFeatureExtractor()([np.zeros((2, 800), dtype=np.float32)], sampling_rate=16000)


def test_feature_extractor_save_load(tmp_path):
    feature_extractor = MFCCFeatureExtractor(sampling_rate=8000, n_mfcc=13, num_frames=30, normalize=False)
    feature_extractor.save_pretrained(tmp_path)
    assert (tmp_path / "preprocessor_config.json").exists()
    # No model config in the directory: the class name saved in preprocessor_config.json is enough.
    reloaded = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(reloaded, MFCCFeatureExtractor)
    assert reloaded.to_dict() == feature_extractor.to_dict()
    clip = np.random.default_rng(0).standard_normal(6000).astype(np.float32)
    np.testing.assert_array_equal(
        reloaded(clip, sampling_rate=8000)["input_features"],
        feature_extractor(clip, sampling_rate=8000)["input_features"],
    )


# ---- normalisation modes and fitting -----------------------------------------------------------------------------


def reference_per_clip_features(waveform, sampling_rate=16000, n_mfcc=20, num_frames=20, hop_length=800):
    """The extractor's output before dataset normalisation existed: per-clip CMVN, then cut or zero-pad."""
    import librosa

    mfcc = librosa.feature.mfcc(
        y=waveform, sr=sampling_rate, n_mfcc=n_mfcc, n_fft=512, hop_length=hop_length, n_mels=40
    )
    mfcc = (mfcc - mfcc.mean(axis=1, keepdims=True)) / np.sqrt(mfcc.var(axis=1, keepdims=True) + 1e-7)
    features = np.zeros((n_mfcc, num_frames), dtype=np.float32)
    features[:, : min(num_frames, mfcc.shape[1])] = mfcc[:, :num_frames]
    return features


def training_clips(count=30, sampling_rate=16000, seed=0):
    rng = np.random.default_rng(seed)
    return [random_tone_burst(rng.choice([400.0, 1600.0]), sampling_rate, rng) for _ in range(count)]


@pytest.mark.parametrize("normalize", ["per_clip", True])
def test_per_clip_matches_previous_output(normalize):
    feature_extractor = MFCCFeatureExtractor(normalize=normalize)
    assert feature_extractor.normalize == "per_clip"
    clips = [random_tone_burst(500.0, 16000, np.random.default_rng(seed)) for seed in range(3)]
    clips.append(np.random.default_rng(3).standard_normal(30000).astype(np.float32))  # longer than covered
    features = feature_extractor(clips, sampling_rate=16000)["input_features"]
    for clip, clip_features in zip(clips, features):
        np.testing.assert_allclose(clip_features, reference_per_clip_features(clip), rtol=1e-5, atol=1e-5)


def test_normalize_modes_and_bad_values():
    assert MFCCFeatureExtractor().normalize == "dataset"
    for value in (None, False, "none"):
        assert MFCCFeatureExtractor(normalize=value).normalize == "none"
    with pytest.raises(ValueError, match="`normalize` must be one of"):
        MFCCFeatureExtractor(normalize="global")
    with pytest.raises(ValueError, match="both `mfcc_mean` and `mfcc_std`"):
        MFCCFeatureExtractor(mfcc_mean=[0.0] * 20)
    with pytest.raises(ValueError, match="one value per coefficient"):
        MFCCFeatureExtractor(mfcc_mean=[0.0] * 13, mfcc_std=[1.0] * 13)
    with pytest.raises(ValueError, match="positive"):
        MFCCFeatureExtractor(mfcc_mean=[0.0] * 20, mfcc_std=[0.0] * 20)


def test_unfitted_dataset_normalisation_falls_back_to_per_clip_with_a_warning(caplog):
    from transformers.utils import logging as transformers_logging

    transformers_logging.warning_once.cache_clear()  # the warning is logged once per process
    clip = random_tone_burst(500.0, 16000, np.random.default_rng(0))
    feature_extractor = MFCCFeatureExtractor()
    assert not feature_extractor.is_fitted
    with caplog.at_level(logging.WARNING, logger=EXTRACTOR_LOGGER):
        features = feature_extractor(clip, sampling_rate=16000)["input_features"][0]
    assert any("no normalisation statistics" in record.getMessage() for record in caplog.records)
    np.testing.assert_allclose(features, reference_per_clip_features(clip), rtol=1e-5, atol=1e-5)


def test_fit_dataset_normalisation_and_save_load_round_trip(tmp_path):
    clips = training_clips()
    feature_extractor = MFCCFeatureExtractor().fit(clips, sampling_rate=16000, length_percentile=None)
    assert feature_extractor.is_fitted and len(feature_extractor.mfcc_mean) == len(feature_extractor.mfcc_std) == 20
    # Over the training clips' real (unpadded) frames, every coefficient is now standardised.
    features = feature_extractor(clips, sampling_rate=16000)["input_features"]
    real_frames = np.concatenate(
        [
            clip_features[:, : feature_extractor.frames_for_length(len(clip))]
            for clip, clip_features in zip(clips, features)
        ],
        axis=1,
    )
    np.testing.assert_allclose(real_frames.mean(axis=1), 0.0, atol=1e-3)
    np.testing.assert_allclose(real_frames.std(axis=1), 1.0, atol=1e-3)
    # Unlike per-clip normalisation, which removes it, loudness (the level of the first coefficient) survives.
    per_clip = MFCCFeatureExtractor(normalize="per_clip")
    noise = np.random.default_rng(1).standard_normal(12000).astype(np.float32) * 0.1
    loud_pair = [noise, 4 * noise]
    per_clip_pair = per_clip(loud_pair, sampling_rate=16000)["input_features"]
    dataset_pair = feature_extractor(loud_pair, sampling_rate=16000)["input_features"]
    np.testing.assert_allclose(per_clip_pair[0], per_clip_pair[1], atol=1e-3)
    real = feature_extractor.frames_for_length(len(noise))
    assert np.abs(dataset_pair[0, 0, :real] - dataset_pair[1, 0, :real]).min() > 1.0

    feature_extractor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["normalize"] == "dataset" and saved["mfcc_mean"] == feature_extractor.mfcc_mean
    reloaded = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert reloaded.to_dict() == feature_extractor.to_dict() and reloaded.is_fitted
    np.testing.assert_array_equal(reloaded(clips[:4], sampling_rate=16000)["input_features"], features[:4])


def test_extractor_saved_with_a_boolean_loads_as_per_clip(tmp_path):
    """Extractors saved before the normalisation modes wrote `"normalize": true` and no statistics."""
    saved = MFCCFeatureExtractor(normalize="per_clip").to_dict()
    saved.update(normalize=True)
    for key in ("mfcc_mean", "mfcc_std"):
        del saved[key]
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(saved))
    reloaded = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert reloaded.normalize == "per_clip" and not reloaded.is_fitted
    clip = random_tone_burst(500.0, 16000, np.random.default_rng(0))
    np.testing.assert_allclose(
        reloaded(clip, sampling_rate=16000)["input_features"][0], reference_per_clip_features(clip), atol=1e-5
    )


def test_truncation_warning_counts_long_clips(caplog):
    feature_extractor = MFCCFeatureExtractor(sampling_rate=8000, normalize="none")  # 20 frames of 400: 1.0 s
    assert feature_extractor.covered_seconds == pytest.approx(1.0)
    limit = feature_extractor.num_frames * feature_extractor.hop_length  # 8000 samples
    # librosa centres frames, so a clip of `limit` samples has one frame too many and `limit - 1` fits exactly.
    for length, frames in ((limit - 1, 20), (limit, 21)):
        assert feature_extractor._mfcc(np.ones(length, dtype=np.float32)).shape[1] == frames
    rng = np.random.default_rng(0)
    short = [rng.standard_normal(n).astype(np.float32) for n in (2000, 4000, limit - 1)]
    long = [rng.standard_normal(n).astype(np.float32) for n in (limit, 12000)]

    with caplog.at_level(logging.WARNING, logger=EXTRACTOR_LOGGER):
        feature_extractor(short, sampling_rate=8000)
        assert not caplog.records
        feature_extractor(short + long, sampling_rate=8000)
        feature_extractor(long, sampling_rate=8000, warn_on_truncation=False)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 and messages[0].startswith("2 of 5 clips are longer than the 1.00 s"), messages
    assert feature_extractor.count_truncated([len(clip) for clip in short + long]) == 2


def test_fit_derives_frames_that_cover_the_percentile(caplog):
    rng = np.random.default_rng(0)
    lengths = rng.integers(1000, 18000, size=200)
    clips = [0.1 * rng.standard_normal(n).astype(np.float32) for n in lengths]
    feature_extractor = MFCCFeatureExtractor(sampling_rate=8000, normalize="none")
    with caplog.at_level(logging.WARNING, logger=EXTRACTOR_LOGGER):
        feature_extractor.fit(clips, sampling_rate=8000, length_percentile=95)
    assert feature_extractor.hop_length == 400 and not feature_extractor.is_fitted  # "none" needs no statistics
    # The fewest frames under which at most 5 % of the clips lose their ends.
    truncated = feature_extractor.count_truncated(lengths)
    assert 0 < truncated <= 0.05 * len(clips)
    feature_extractor.num_frames -= 1
    assert feature_extractor.count_truncated(lengths) > 0.05 * len(clips)
    feature_extractor.num_frames += 1
    assert [record.getMessage().split(" clips")[0] for record in caplog.records] == [f"{truncated} of 200"]

    # The model built for the fitted extractor accepts its features; one built for the default 20 frames does not.
    model, returned = build_mfcc_cnn(LABELS, feature_extractor=feature_extractor)
    assert returned is feature_extractor and model.config.num_frames == feature_extractor.num_frames != 20
    features = feature_extractor(clips[:3], sampling_rate=8000, return_tensors="pt")
    assert model(**features).logits.shape == (3, len(LABELS))
    with pytest.raises(ValueError, match="feature_extractor="):
        build_mfcc_cnn(LABELS)[0](**features)
    with pytest.raises(ValueError, match="extractor decides"):
        build_mfcc_cnn(LABELS, feature_extractor=feature_extractor, num_frames=20)


def test_fit_reads_a_dataset_audio_column():
    from datasets import Dataset

    clips = training_clips(count=8, sampling_rate=8000)
    dataset = Dataset.from_dict({"sound": [{"array": clip, "sampling_rate": 8000} for clip in clips]})
    from_dataset = MFCCFeatureExtractor(sampling_rate=8000).fit(dataset, audio_column="sound")
    from_arrays = MFCCFeatureExtractor(sampling_rate=8000).fit(clips, sampling_rate=8000)
    assert from_dataset.num_frames == from_arrays.num_frames
    np.testing.assert_allclose(from_dataset.mfcc_mean, from_arrays.mfcc_mean, rtol=1e-5)
    with pytest.raises(ValueError, match="no audio column 'audio'"):
        MFCCFeatureExtractor().fit(dataset)


@pytest.mark.parametrize(
    "audio, kwargs, message",
    [
        (np.zeros(800, dtype=np.float32), {"sampling_rate": 16000}, "several clips"),
        ([], {"sampling_rate": 16000}, "no clips"),
        ([np.ones(800, dtype=np.float32)], {}, "Pass `sampling_rate`"),
        ([np.ones(800, dtype=np.float32)], {"sampling_rate": 16000, "length_percentile": 0}, "length_percentile"),
    ],
)
def test_fit_bad_input(audio, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MFCCFeatureExtractor().fit(audio, **kwargs)


# ---- Auto classes and pipeline -----------------------------------------------------------------------------------


def test_pipeline_returns_label_names(saved_dir):
    assert isinstance(AutoFeatureExtractor.from_pretrained(saved_dir), MFCCFeatureExtractor)
    classifier = pipeline("audio-classification", model=str(saved_dir), device="cpu")
    clip = random_tone_burst(440.0, 16000, np.random.default_rng(0))

    predictions = classifier(clip)
    assert sorted(prediction["label"] for prediction in predictions) == sorted(LABELS)
    assert sum(prediction["score"] for prediction in predictions) == pytest.approx(1.0, abs=1e-5)
    assert [prediction["label"] for prediction in classifier(clip, top_k=1)][0] in LABELS


# ---- learnability ------------------------------------------------------------------------------------------------


def test_learns_a_toy_task():
    """Two classes of tone bursts (400 Hz and 1600 Hz): 30 full-batch Adam steps on 40 clips.

    Accuracy is measured in eval mode, on the training clips and on 40 fresh ones, and must start near chance, so
    that the test fails if features, model or loss stop carrying the class.
    """
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model, feature_extractor = build_mfcc_cnn(["400Hz", "1600Hz"])

    def make_split():
        labels = np.tile([0, 1], 20)
        clips = [random_tone_burst([400.0, 1600.0][label], 16000, rng) for label in labels]
        features = feature_extractor(clips, sampling_rate=16000, return_tensors="pt")["input_features"]
        return features, torch.from_numpy(labels)

    (train_features, train_labels), (test_features, test_labels) = make_split(), make_split()

    def accuracy(features, labels):
        model.eval()
        with torch.no_grad():
            return (model(features).logits.argmax(-1) == labels).float().mean().item()

    initial_accuracy = accuracy(train_features, train_labels)
    assert initial_accuracy < 0.75, f"an untrained model should be near chance, got {initial_accuracy:.2f}"

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(30):
        optimizer.zero_grad()
        model(train_features, labels=train_labels).loss.backward()
        optimizer.step()

    train_accuracy = accuracy(train_features, train_labels)
    test_accuracy = accuracy(test_features, test_labels)
    assert train_accuracy >= 0.9, f"training accuracy {train_accuracy:.2f} (before training {initial_accuracy:.2f})"
    assert test_accuracy >= 0.9, f"held-out accuracy {test_accuracy:.2f} (training accuracy {train_accuracy:.2f})"
