"""Tests of the MFCC CNN: shapes, serialisation, the Auto classes and pipeline, and that it can learn a toy task."""

import importlib
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
    feature_extractor = MFCCFeatureExtractor()
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
