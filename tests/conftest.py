"""Shared fixtures: tiny models built from configs, and a learnable toy audio task made here (no downloads)."""

from __future__ import annotations

import os
from pathlib import Path

# One torch thread per process (and per subprocess the tests start): the tiny models run faster on one thread than on
# two on a small CPU machine, and the two-process tests then get a core each. Set before torch is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hub_server import configure_environment  # noqa: E402

torch.set_num_threads(1)

# huggingface_hub reads HF_ENDPOINT, HF_TOKEN and HF_HOME once, at its first import: point them at the Hub stand-in of
# test_hub.py (tests/hub_server.py) and a throw-away HF_HOME before any test module imports it.
configure_environment()

SAMPLING_RATE = 16000
TOY_FREQUENCIES = (300.0, 700.0, 1300.0, 2300.0)  # one tone per class: learnable in a few dozen steps
TOY_SPEAKERS = ("ann", "bob", "cid", "dee")


def tone_clip(
    frequency: float, speaker_index: int, take: int, sampling_rate: int = SAMPLING_RATE, duration: float = 0.25
) -> np.ndarray:
    """A class tone with a speaker-specific harmonic and take-specific noise (seeded)."""
    rng = np.random.default_rng(1000 * speaker_index + take)
    t = np.arange(int(duration * sampling_rate)) / sampling_rate
    pitch = frequency * (1 + 0.03 * speaker_index)
    wave = np.sin(2 * np.pi * pitch * t) + 0.3 * np.sin(2 * np.pi * (2 + speaker_index) * pitch * t)
    return (0.5 * wave + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def make_toy_dataset(takes: int = 6, sampling_rate: int = SAMPLING_RATE, num_classes: int = 4):
    """Rows: audio dict, label (ClassLabel), speaker (string), take (int): num_classes x 4 speakers x takes."""
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    rows = {"audio": [], "label": [], "speaker": [], "take": []}
    for label, frequency in enumerate(TOY_FREQUENCIES[:num_classes]):
        for s, speaker in enumerate(TOY_SPEAKERS):
            for take in range(takes):
                rows["audio"].append(
                    {"array": tone_clip(frequency, s, take, sampling_rate), "sampling_rate": sampling_rate}
                )
                rows["label"].append(label)
                rows["speaker"].append(speaker)
                rows["take"].append(take)
    features = Features(
        {
            "audio": {"array": Sequence(Value("float32")), "sampling_rate": Value("int64")},
            "label": ClassLabel(names=[f"tone{i}" for i in range(num_classes)]),
            "speaker": Value("string"),
            "take": Value("int64"),
        }
    )
    return Dataset.from_dict(rows, features=features)


@pytest.fixture(scope="session")
def toy_dataset():
    return make_toy_dataset()


@pytest.fixture(scope="session")
def class_request(toy_dataset):
    """Class unlearning of `tone1` on the toy task: 21 forget rows (one tone, every speaker) and 50 retain rows."""
    from hf_unlearn import make_forget_split

    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.2, seed=0)


@pytest.fixture(scope="session")
def original_dir(class_request, tmp_path_factory):
    """A CNN trained on forget + retain of `class_request` until it solves the toy task, saved once per session;
    tests load fresh copies with `from_pretrained`, so none of them can change it for the others."""
    from datasets import concatenate_datasets

    folder = tmp_path_factory.mktemp("original")
    train_toy_model(concatenate_datasets([class_request.forget, class_request.retain]), folder)
    return folder


@pytest.fixture(scope="session")
def tone1_request(toy_dataset):
    """Class unlearning of `tone1` with a quarter of the rows held out as test (the stopping-rule and guard tests)."""
    from hf_unlearn import make_forget_split

    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, seed=0)


@pytest.fixture(scope="session")
def tone1_original_dir(tone1_request, tmp_path_factory):
    """A tiny CNN that solves the toy task, trained on forget + retain of `tone1_request`, saved once per session:
    ascent can only show a collapse, and a stopping rule a falling forget accuracy, on a model that has learnt."""
    from datasets import concatenate_datasets

    folder = tmp_path_factory.mktemp("tone1_original")
    train_toy_model(concatenate_datasets([tone1_request.forget, tone1_request.retain]), folder)
    return folder


def tiny_wav2vec2_kwargs(num_labels: int) -> dict:
    # Dropouts and time masking off: tests compare exact updates.
    return dict(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
        classifier_proj_size=8,
        num_labels=num_labels,
        mask_time_prob=0.0,
        layerdrop=0.0,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        final_dropout=0.0,
    )


def build_tiny_model(kind: str, num_labels: int = 4, seed: int = 0, batch_norm: bool = True):
    """(model, feature_extractor) of a tiny model: `"cnn"`, `"wav2vec2"` or `"hubert"`."""
    import torch
    from transformers import (
        HubertConfig,
        HubertForSequenceClassification,
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForSequenceClassification,
    )

    torch.manual_seed(seed)
    labels = [f"tone{i}" for i in range(num_labels)]
    id2label = dict(enumerate(labels))
    label2id = {v: k for k, v in id2label.items()}
    if kind == "cnn":
        from hf_unlearn.models.mfcc_cnn import build_mfcc_cnn

        return build_mfcc_cnn(labels, dropout=0.0, use_batch_norm=batch_norm)
    extractor = Wav2Vec2FeatureExtractor(sampling_rate=SAMPLING_RATE, return_attention_mask=True)
    kwargs = dict(tiny_wav2vec2_kwargs(num_labels), id2label=id2label, label2id=label2id)
    if kind == "wav2vec2":
        return Wav2Vec2ForSequenceClassification(Wav2Vec2Config(**kwargs)), extractor
    if kind == "hubert":
        return HubertForSequenceClassification(HubertConfig(**kwargs)), extractor
    raise ValueError(kind)


TINY_MODELS = ("cnn", "wav2vec2", "hubert")


# The TrainingArguments values every tiny unlearning run in the tests shares: a few steps on CPU, logged every step,
# seeded, no reporting or progress bars. Files that differ (batch size, learning rate, run length) say so at the call.
TINY_ARGS = dict(
    per_device_train_batch_size=4,
    max_steps=3,
    learning_rate=1e-3,
    use_cpu=True,
    report_to="none",
    logging_steps=1,
    seed=0,
    disable_tqdm=True,
)


def tiny_args(method_or_config_class, tmp_path, **overrides):
    """The config of a method (its key, or a config class such as `UnlearningConfig`) with `TINY_ARGS`, writing to
    `tmp_path / "out"`; `overrides` replace any value (`max_steps=-1`: the length comes from `num_train_epochs`)."""
    if isinstance(method_or_config_class, str):
        from hf_unlearn import get_trainer_class

        config_class = get_trainer_class(method_or_config_class).config_class
    else:
        config_class = method_or_config_class
    values = dict(TINY_ARGS, output_dir=str(Path(tmp_path) / "out"))
    values.update(overrides)
    return config_class(**values)


_FROM_SPLITS = object()  # tiny_trainer's default forget set: `splits.forget` (None is a real value: no forget set)


def tiny_trainer(
    method,
    splits,
    tmp_path,
    kind="cnn",
    model=None,
    extractor=None,
    config_class=None,
    forget_dataset=_FROM_SPLITS,
    trainer_kwargs=None,
    **overrides,
):
    """An `UnlearningTrainer` running `method` on `splits.forget` / `splits.retain` with `tiny_args`.

    The model is a fresh `build_tiny_model(kind)` unless `model` (and its `extractor`) is given; `config_class`
    (default: the method's own) is the config built from the tests' defaults and `overrides`; `forget_dataset`
    replaces `splits.forget` (None: no forget set); `trainer_kwargs` go to the trainer (e.g. `gold_results`).
    """
    from hf_unlearn import UnlearningTrainer

    if model is None:
        model, extractor = build_tiny_model(kind)
    return UnlearningTrainer(
        method=method,
        model=model,
        args=tiny_args(config_class or method, tmp_path, **overrides),
        forget_dataset=splits.forget if forget_dataset is _FROM_SPLITS else forget_dataset,
        retain_dataset=splits.retain,
        processing_class=extractor,
        **(trainer_kwargs or {}),
    )


def train_toy_model(train_dataset, folder, seed: int = 0):
    """(model, extractor): a tiny CNN trained on `train_dataset` until it solves the toy task (15 epochs at lr 3e-3,
    batch 8, on CPU), saved with its feature extractor to `folder` so tests can reload fresh copies of it."""
    from hf_unlearn.experiment.reference_training import train_classifier

    model, extractor = build_tiny_model("cnn", seed=seed)
    model, _ = train_classifier(
        model,
        extractor,
        train_dataset,
        str(folder),
        num_train_epochs=15,
        learning_rate=3e-3,
        batch_size=8,
        seed=seed,
        use_cpu=True,
        disable_tqdm=True,
    )
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)
    return model, extractor


@pytest.fixture
def class_baselines(monkeypatch) -> list[float]:
    """Every class utility baseline a tuner computes (`hf_unlearn.benchmark.trials.class_removed_accuracy`), in call
    order: the real function runs and each result is recorded."""
    import hf_unlearn.benchmark.trials as trials

    real, seen = trials.class_removed_accuracy, []

    def spy(*args):
        seen.append(real(*args))
        return seen[-1]

    monkeypatch.setattr(trials, "class_removed_accuracy", spy)
    return seen


@pytest.fixture(autouse=True)
def _restore_hf_unlearn_log_level():
    """A command run in-process (`hf-unlearn unlearn`, the demo, a replica's `quiet_replica`) sets the `hf_unlearn`
    logger's level for the rest of its process, as a command should; each test starts from the level it found, so
    that a later test's `caplog` sees hf-unlearn's info messages whatever ran before it."""
    import logging

    logger = logging.getLogger("hf_unlearn")
    level = logger.level
    yield
    logger.setLevel(level)
