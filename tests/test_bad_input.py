"""Bad input is refused before any training step, with a message naming the problem and the fix."""

from __future__ import annotations

import hashlib

import pytest
from conftest import build_tiny_model

from hf_unlearn import UnlearningConfig, UnlearningTrainer, make_forget_split


@pytest.fixture(scope="module")
def splits(toy_dataset):
    return make_forget_split(toy_dataset, by="speaker", values=["ann"], test_size=0.25, seed=0)


def args(tmp_path, **kw):
    return UnlearningConfig(output_dir=str(tmp_path / "out"), use_cpu=True, max_steps=1, report_to="none", **kw)


def trainer(tmp_path, method="neggrad_plus", forget=None, retain=None, model_kind="cnn", **kw):
    model, extractor = build_tiny_model(model_kind)
    return UnlearningTrainer(
        method=method,
        model=model,
        args=kw.pop("config", None) or args(tmp_path),
        forget_dataset=forget,
        retain_dataset=retain,
        processing_class=extractor,
        **kw,
    )


def test_unknown_method_lists_known_keys(splits, tmp_path):
    with pytest.raises(ValueError, match="Known methods: .*neggrad_plus"):
        trainer(tmp_path, method="nope", forget=splits.forget, retain=splits.retain)


def test_empty_forget_set(splits, tmp_path):
    with pytest.raises(ValueError, match="forget set is empty"):
        trainer(tmp_path, forget=splits.forget.select([]), retain=splits.retain)


def test_missing_retain_for_method_that_needs_it(splits, tmp_path):
    with pytest.raises(ValueError, match="pass retain_dataset"):
        trainer(tmp_path, forget=splits.forget, retain=None)


def test_overlapping_forget_and_retain(splits, tmp_path):
    from datasets import concatenate_datasets

    retain = concatenate_datasets([splits.retain, splits.forget.select([0])])
    with pytest.raises(ValueError, match="both the forget and the retain set"):
        trainer(tmp_path, forget=splits.forget, retain=retain)


def test_missing_label_column(splits, tmp_path):
    with pytest.raises(ValueError, match="no label column 'label'.*label_column"):
        trainer(tmp_path, forget=splits.forget.remove_columns("label"), retain=splits.retain)


def test_missing_audio_column(splits, tmp_path):
    with pytest.raises(ValueError, match="audio_column"):
        trainer(tmp_path, forget=splits.forget.rename_column("audio", "sound"), retain=splits.retain)


def test_labels_outside_num_labels(splits, tmp_path):
    from datasets import Value

    forget = splits.forget.cast_column("label", Value("int64")).map(lambda row: {"label": 7})
    with pytest.raises(ValueError, match="outside the model's num_labels=4"):
        trainer(tmp_path, forget=forget, retain=splits.retain)


def test_output_dir_equal_to_original(splits, tmp_path):
    from transformers import AutoModelForAudioClassification

    model, extractor = build_tiny_model("cnn")
    original = tmp_path / "original"
    model.save_pretrained(original)
    extractor.save_pretrained(original)
    loaded = AutoModelForAudioClassification.from_pretrained(original)
    with pytest.raises(ValueError, match="original model's folder"):
        UnlearningTrainer(
            method="finetune",
            model=loaded,
            args=UnlearningConfig(output_dir=str(original)),
            retain_dataset=splits.retain,
        )


def test_method_config_mismatch(splits, tmp_path):
    from hf_unlearn import GradientAscentConfig

    with pytest.raises(TypeError, match="another method"):
        trainer(
            tmp_path,
            forget=splits.forget,
            retain=splits.retain,
            config=GradientAscentConfig(output_dir=str(tmp_path), use_cpu=True),
        )


def test_bad_config_values():
    with pytest.raises(ValueError, match="epoch_over"):
        UnlearningConfig(output_dir="x", epoch_over="sometimes")
    with pytest.raises(ValueError, match="remove_unused_columns"):
        UnlearningConfig(output_dir="x", remove_unused_columns=True)
    with pytest.raises(ValueError, match="forget_weight"):
        UnlearningConfig(output_dir="x", forget_weight=-1)


def test_resampling_other_rate(tmp_path):
    """Audio at 8 kHz for a 16 kHz extractor is resampled (and logged), not refused or silently misread."""
    from conftest import make_toy_dataset

    data = make_toy_dataset(takes=3, sampling_rate=8000)
    splits = make_forget_split(data, by="class", values=[0], test_size=0.25, seed=0)
    t = trainer(tmp_path, forget=splits.forget, retain=splits.retain)
    features = t.train_dataset.forget[0]["input_features"]
    model, extractor = build_tiny_model("cnn")
    import soxr

    expected = extractor(soxr.resample(splits.forget[0]["audio"]["array"], 8000, 16000), sampling_rate=16000)[
        "input_features"
    ][0]
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
        t = trainer(tmp_path, forget=splits.forget, retain=splits.retain)
    assert "from 8000 Hz to the feature extractor's 16000 Hz" in caplog.text
    assert len(t.train_dataset.forget) == len(splits.forget)


def test_checkpoints_carry_unlearning_config(splits, tmp_path):
    t = trainer(
        tmp_path,
        forget=splits.forget,
        retain=splits.retain,
        config=UnlearningConfig(
            output_dir=str(tmp_path / "out"),
            use_cpu=True,
            max_steps=2,
            save_strategy="steps",
            save_steps=1,
            report_to="none",
        ),
    )
    t.train()
    checkpoints = sorted((tmp_path / "out").glob("checkpoint-*"))
    assert [c.name for c in checkpoints] == ["checkpoint-1", "checkpoint-2"]
    assert all((c / "unlearning_config.json").exists() for c in checkpoints)


def test_empty_retain_set(splits, tmp_path):
    with pytest.raises(ValueError, match="retain set is empty"):
        trainer(tmp_path, forget=splits.forget, retain=splits.retain.select([]))


def test_id2label_that_does_not_match_the_class_names(splits, tmp_path):
    from datasets import ClassLabel

    renamed = ClassLabel(names=["tone0", "tone2", "tone1", "tone3"])  # same ids, two names swapped
    forget = splits.forget.cast_column("label", renamed)
    retain = splits.retain.cast_column("label", renamed)
    with pytest.raises(ValueError, match="do not match the model's id2label.*align_labels_with_mapping"):
        trainer(tmp_path, forget=forget, retain=retain)


def test_silent_clip(splits, tmp_path):
    def silence_first(row, index):
        if index == 0:
            audio = row["audio"]
            row["audio"] = {"array": [0.0] * len(audio["array"]), "sampling_rate": audio["sampling_rate"]}
        return row

    forget = splits.forget.map(silence_first, with_indices=True)
    with pytest.raises(ValueError, match="silent \\(all-zero\\) audio clip"):
        trainer(tmp_path, forget=forget, retain=splits.retain)


def test_teacher_that_cannot_be_loaded(splits, tmp_path):
    with pytest.raises(ValueError, match="teacher \\(the original model\\) could not be loaded"):
        trainer(
            tmp_path, method="scrub", forget=splits.forget, retain=splits.retain, teacher_model=str(tmp_path / "nope")
        )


def test_teacher_with_other_labels(splits, tmp_path):
    other, _ = build_tiny_model("cnn", num_labels=3)
    with pytest.raises(ValueError, match="teacher has 3 labels but the model 4"):
        trainer(tmp_path, method="scrub", forget=splits.forget, retain=splits.retain, teacher_model=other)


def test_speaker_request_with_a_speaker_on_both_sides(splits, tmp_path):
    from datasets import concatenate_datasets

    # A retain row of another speaker relabelled as "ann", the forgotten speaker: the request is not served.
    leaked = splits.retain.select([0]).map(lambda row: {"speaker": "ann"})
    retain = concatenate_datasets([splits.retain.select(range(1, len(splits.retain))), leaked])
    with pytest.raises(ValueError, match="1 speaker\\(s\\) of this speaker request also appear in the retain set"):
        trainer(tmp_path, forget=splits.forget, retain=retain, forget_request=splits)
    # Sample and class requests may have a speaker on both sides.
    trainer(tmp_path, forget=splits.forget, retain=retain, forget_request={"kind": "sample"})
