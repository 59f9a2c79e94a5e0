"""Bad input is refused before any training step, with a message naming the problem and the fix.

`BAD_INPUTS` is the table: one row per bad input, `(id, make, error type, words)`. `make(splits, tmp_path)` builds the
bad input and makes the call that must refuse it; the error's message must contain every one of `words` (the problem
and the fix). Adding a case is adding a row; `trainer` builds the usual tiny trainer with one thing changed.
"""

from __future__ import annotations

import hashlib

import pytest
from conftest import build_tiny_model

from hf_unlearn import UnlearningConfig, UnlearningTrainer, make_forget_split

_FROM_SPLITS = object()  # `trainer`'s default forget and retain sets: the module's splits (None means "not given")


@pytest.fixture(scope="module")
def splits(toy_dataset):
    return make_forget_split(toy_dataset, by="speaker", values=["ann"], test_size=0.25, seed=0)


def args(tmp_path, **kw):
    return UnlearningConfig(output_dir=str(tmp_path / "out"), use_cpu=True, max_steps=1, report_to="none", **kw)


def trainer(tmp_path, splits=None, method="neggrad_plus", forget=_FROM_SPLITS, retain=_FROM_SPLITS, **kw):
    """A tiny-CNN `UnlearningTrainer` for `method` on `splits` (or the given `forget` / `retain`); `config` replaces
    the default `args`, other keywords go to the trainer."""
    model, extractor = build_tiny_model(kw.pop("model_kind", "cnn"))
    return UnlearningTrainer(
        method=method,
        model=model,
        args=kw.pop("config", None) or args(tmp_path),
        forget_dataset=splits.forget if forget is _FROM_SPLITS else forget,
        retain_dataset=splits.retain if retain is _FROM_SPLITS else retain,
        processing_class=extractor,
        **kw,
    )


# ------------------------------------------------------------------------------------ builders of the longer inputs
def _retain_with_a_forget_row(splits):
    from datasets import concatenate_datasets

    return concatenate_datasets([splits.retain, splits.forget.select([0])])


def _forget_with_label_7(splits):
    from datasets import Value

    return splits.forget.cast_column("label", Value("int64")).map(lambda row: {"label": 7})


def _output_dir_equal_to_original(splits, tmp_path):
    from transformers import AutoModelForAudioClassification

    model, extractor = build_tiny_model("cnn")
    original = tmp_path / "original"
    model.save_pretrained(original)
    extractor.save_pretrained(original)
    UnlearningTrainer(
        method="finetune",
        model=AutoModelForAudioClassification.from_pretrained(original),
        args=UnlearningConfig(output_dir=str(original)),
        retain_dataset=splits.retain,
    )


def _method_config_mismatch(splits, tmp_path):
    from hf_unlearn import GradientAscentConfig

    trainer(tmp_path, splits, config=GradientAscentConfig(output_dir=str(tmp_path), use_cpu=True))


def _relabelled(splits):
    """Both sets with a ClassLabel of the same ids but two names swapped."""
    from datasets import ClassLabel

    renamed = ClassLabel(names=["tone0", "tone2", "tone1", "tone3"])
    return {
        "forget": splits.forget.cast_column("label", renamed),
        "retain": splits.retain.cast_column("label", renamed),
    }


def _forget_with_a_silent_clip(splits):
    def silence_first(row, index):
        if index == 0:
            audio = row["audio"]
            row["audio"] = {"array": [0.0] * len(audio["array"]), "sampling_rate": audio["sampling_rate"]}
        return row

    return splits.forget.map(silence_first, with_indices=True)


def _retain_with_the_forgotten_speaker(splits):
    """A retain row of another speaker relabelled as "ann", the forgotten speaker."""
    from datasets import concatenate_datasets

    leaked = splits.retain.select([0]).map(lambda row: {"speaker": "ann"})
    return concatenate_datasets([splits.retain.select(range(1, len(splits.retain))), leaked])


# (id, make(splits, tmp_path), error type, words the message must contain)
BAD_INPUTS = [
    ("unknown_method", lambda s, tmp: trainer(tmp, s, method="nope"), ValueError, ["Known methods:", "neggrad_plus"]),
    ("empty_forget", lambda s, tmp: trainer(tmp, s, forget=s.forget.select([])), ValueError, ["forget set is empty"]),
    ("empty_retain", lambda s, tmp: trainer(tmp, s, retain=s.retain.select([])), ValueError, ["retain set is empty"]),
    ("missing_retain", lambda s, tmp: trainer(tmp, s, retain=None), ValueError, ["pass retain_dataset"]),
    (
        "overlapping_forget_and_retain",
        lambda s, tmp: trainer(tmp, s, retain=_retain_with_a_forget_row(s)),
        ValueError,
        ["both the forget and the retain set"],
    ),
    (
        "missing_label_column",
        lambda s, tmp: trainer(tmp, s, forget=s.forget.remove_columns("label")),
        ValueError,
        ["no label column 'label'", "label_column"],
    ),
    (
        "missing_audio_column",
        lambda s, tmp: trainer(tmp, s, forget=s.forget.rename_column("audio", "sound")),
        ValueError,
        ["audio_column"],
    ),
    (
        "labels_outside_num_labels",
        lambda s, tmp: trainer(tmp, s, forget=_forget_with_label_7(s)),
        ValueError,
        ["outside the model's num_labels=4"],
    ),
    ("output_dir_equal_to_original", _output_dir_equal_to_original, ValueError, ["original model's folder"]),
    ("method_config_mismatch", _method_config_mismatch, TypeError, ["another method"]),
    ("bad_epoch_over", lambda s, tmp: args(tmp, epoch_over="sometimes"), ValueError, ["epoch_over"]),
    (
        "remove_unused_columns",
        lambda s, tmp: args(tmp, remove_unused_columns=True),
        ValueError,
        ["remove_unused_columns", "leave it False"],
    ),
    ("negative_forget_weight", lambda s, tmp: args(tmp, forget_weight=-1), ValueError, ["forget_weight"]),
    (
        "id2label_other_than_class_names",
        lambda s, tmp: trainer(tmp, **_relabelled(s)),
        ValueError,
        ["do not match the model's id2label", "align_labels_with_mapping"],
    ),
    (
        "silent_clip",
        lambda s, tmp: trainer(tmp, s, forget=_forget_with_a_silent_clip(s)),
        ValueError,
        ["silent (all-zero) audio clip"],
    ),
    (
        "teacher_that_cannot_be_loaded",
        lambda s, tmp: trainer(tmp, s, method="scrub", teacher_model=str(tmp / "nope")),
        ValueError,
        ["teacher (the original model) could not be loaded"],
    ),
    (
        "teacher_with_other_labels",
        lambda s, tmp: trainer(tmp, s, method="scrub", teacher_model=build_tiny_model("cnn", num_labels=3)[0]),
        ValueError,
        ["teacher has 3 labels but the model 4"],
    ),
    (
        "speaker_request_with_a_speaker_on_both_sides",
        lambda s, tmp: trainer(tmp, s, retain=_retain_with_the_forgotten_speaker(s), forget_request=s),
        ValueError,
        ["1 speaker(s) of this speaker request also appear in the retain set"],
    ),
]


@pytest.mark.parametrize("make, error, words", [pytest.param(*row[1:], id=row[0]) for row in BAD_INPUTS])
def test_bad_input_is_refused_with_the_problem_and_the_fix(make, error, words, splits, tmp_path):
    with pytest.raises(error) as refused:
        make(splits, tmp_path)
    missing = [word for word in words if word not in str(refused.value)]
    assert not missing, f"the message lacks {missing}: {refused.value}"


def test_bad_input_ids_are_unique():
    ids = [row[0] for row in BAD_INPUTS]
    assert len(ids) == len(set(ids))


# --------------------------------------------------------------------------- inputs that are accepted, not refused
def test_sample_and_class_requests_may_have_a_speaker_on_both_sides(splits, tmp_path):
    trainer(tmp_path, splits, retain=_retain_with_the_forgotten_speaker(splits), forget_request={"kind": "sample"})


def test_resampling_other_rate(tmp_path):
    """Audio at 8 kHz for a 16 kHz extractor is resampled (and logged), not refused or silently misread."""
    import soxr
    from conftest import make_toy_dataset

    data = make_toy_dataset(takes=3, sampling_rate=8000)
    splits = make_forget_split(data, by="class", values=[0], test_size=0.25, seed=0)
    t = trainer(tmp_path, splits)
    features = t.train_dataset.forget[0]["input_features"]
    _, extractor = build_tiny_model("cnn")
    audio = soxr.resample(splits.forget[0]["audio"]["array"], 8000, 16000)
    expected = extractor(audio, sampling_rate=16000)["input_features"][0]
    assert abs(features - expected).max() < 1e-4


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_original_checkpoint_untouched(splits, tmp_path):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    model, extractor = build_tiny_model("cnn")
    original = tmp_path / "original"
    model.save_pretrained(original)
    extractor.save_pretrained(original)
    before = _digest(original)
    loaded = AutoModelForAudioClassification.from_pretrained(original)
    t = UnlearningTrainer(
        method="neggrad_plus",
        model=loaded,
        args=UnlearningConfig(output_dir=str(tmp_path / "unlearned"), use_cpu=True, max_steps=2, report_to="none"),
        forget_dataset=splits.forget,
        retain_dataset=splits.retain,
        processing_class=AutoFeatureExtractor.from_pretrained(original),
    )
    t.train()
    t.save_model()
    assert _digest(original) == before
    assert (tmp_path / "unlearned" / "model.safetensors").exists()


def test_audio_feature_at_other_rate_is_resampled(tmp_path, caplog):
    """A `datasets.Audio` column at 8 kHz is cast to the extractor's 16 kHz (decoded through torchcodec), logged."""
    import datasets
    import soundfile
    from conftest import tone_clip

    if not datasets.config.TORCHCODEC_AVAILABLE:
        pytest.skip("torchcodec is not installed")
    rows = {"audio": [], "label": [], "speaker": []}
    for label in range(4):
        for take in range(4):
            path = tmp_path / f"{label}_{take}.wav"
            soundfile.write(path, tone_clip(300.0 * (label + 1), take % 2, take, sampling_rate=8000), 8000)
            rows["audio"].append(str(path))
            rows["label"].append(label)
            rows["speaker"].append(f"s{take % 2}")
    data = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio(sampling_rate=8000))
    splits = make_forget_split(data, by="speaker", values=["s0"], test_size=0.25, retain_eval_size=0.0, seed=0)
    with caplog.at_level("WARNING"):
        t = trainer(tmp_path, splits)
    assert "from 8000 Hz to the feature extractor's 16000 Hz" in caplog.text
    assert len(t.train_dataset.forget) == len(splits.forget)


def test_checkpoints_carry_unlearning_config(splits, tmp_path):
    config = UnlearningConfig(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        max_steps=2,
        save_strategy="steps",
        save_steps=1,
        report_to="none",
    )
    trainer(tmp_path, splits, config=config).train()
    checkpoints = sorted((tmp_path / "out").glob("checkpoint-*"))
    assert [c.name for c in checkpoints] == ["checkpoint-1", "checkpoint-2"]
    assert all((c / "unlearning_config.json").exists() for c in checkpoints)
