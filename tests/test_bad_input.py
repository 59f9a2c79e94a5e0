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
    model, extractor = kw.pop("model", None), kw.pop("processing_class", None)
    if model is None:
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


def _saved_original(tmp_path):
    """(folder, model loaded from it, extractor) of a tiny CNN saved as "the original"."""
    from transformers import AutoModelForAudioClassification

    model, extractor = build_tiny_model("cnn")
    original = tmp_path / "original"
    model.save_pretrained(original)
    extractor.save_pretrained(original)
    return original, AutoModelForAudioClassification.from_pretrained(original), extractor


def _save_model_into_the_original(splits, tmp_path, inside=False):
    import shutil

    original, model, extractor = _saved_original(tmp_path)
    t = trainer(tmp_path, splits, model=model, processing_class=extractor)
    target = original
    if inside:  # a copy of the original's files in a folder below it
        target = original / "copy"
        shutil.copytree(original, target)
    t.save_model(str(target))


def _retain_only_method_with_a_copied_forget_clip(splits):
    """The retain set holds a byte-identical copy of forget row 2 (a copy, not the same row object)."""
    from datasets import concatenate_datasets

    copy = splits.forget.select([2]).map(lambda row: {"speaker": "zed"})
    return concatenate_datasets([splits.retain, copy])


def _request_check_before_reference_models(splits, tmp_path):
    """The public check a pipeline calls before training any reference model."""
    from hf_unlearn.checks import check_request

    check_request(splits.forget, _retain_only_method_with_a_copied_forget_clip(splits))


def _audio_rows(arrays, sampling_rate=16000, labels=None):
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "audio": [{"array": a, "sampling_rate": sampling_rate} for a in arrays],
            "label": labels or [0] * len(arrays),
        }
    )


def _clip(samples=4000, seed=0):
    import numpy as np

    return (0.1 * np.random.default_rng(seed).standard_normal(samples)).astype("float32")


def _forget_with_a_nan_row(splits):
    bad = _clip()
    bad[100] = float("nan")
    return _audio_rows([_clip(seed=1), _clip(seed=2), bad])


def _forget_with_an_ambiguous_stereo_row():
    import numpy as np

    # Row 0 is a clear (2 channels, 4000 samples) array; row 1 is 12 x 12: which axis holds the channels?
    return _audio_rows([np.stack([_clip(seed=1), _clip(seed=4)]), np.stack([_clip(12, seed=2)] * 12)])


def _file_rows(tmp_path, files):
    """A dataset with an `Audio` column over `files` (name -> bytes, or None for a file that does not exist)."""
    import io

    import soundfile
    from datasets import Audio, Dataset

    paths = []
    for index, (name, content) in enumerate(files.items()):
        path = tmp_path / name
        if content == "good":
            buffer = io.BytesIO()
            soundfile.write(buffer, _clip(seed=index), 16000, format="WAV")
            content = buffer.getvalue()
        if content is not None:
            path.write_bytes(content)
        paths.append(str(path))
    data = Dataset.from_dict({"audio": paths, "label": [0] * len(paths)})
    return data.cast_column("audio", Audio(sampling_rate=16000))


def _string_labels(splits, unknown=False):
    names = splits.forget.features["label"].names
    data = splits.forget.cast_column("label", __import__("datasets").Value("string"))
    data = data.map(
        lambda row, i: {"label": "cow" if unknown and i == 1 else names[int(row["label"])]}, with_indices=True
    )
    return data


def _pickled_resume_state(splits, tmp_path):
    import torch

    checkpoint = tmp_path / "checkpoint-3"
    model, extractor = build_tiny_model("cnn")
    model.save_pretrained(checkpoint)
    torch.save({"gradient_masks": {}}, checkpoint / "unlearning_state.pt")
    trainer(tmp_path, splits).train(resume_from_checkpoint=str(checkpoint))


def _truncated_original(tmp_path):
    original, _, _ = _saved_original(tmp_path)
    weights = original / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    return original


def _several_cpu_processes_without_use_cpu(splits, tmp_path):
    from unittest import mock

    config = UnlearningConfig(output_dir=str(tmp_path / "out"), max_steps=1, report_to="none")
    with mock.patch.dict("os.environ", {"WORLD_SIZE": "2"}), mock.patch("torch.cuda.is_available", lambda: False):
        trainer(tmp_path, splits, config=config)


def _load(path):
    from hf_unlearn.hub.loading import load_checkpoint

    return load_checkpoint(str(path))


def _forget_with_samples_of_dtype(dtype):
    """Two clips whose samples are stored as `dtype` (neither float nor a PCM integer type soundfile reads)."""

    clips = [(_clip(seed=seed) * 1000).astype(dtype) + 1 for seed in (1, 2)]
    return _audio_rows(clips)


def _model_with_a_nan_weight():
    import torch

    model, _ = build_tiny_model("cnn")
    with torch.no_grad():
        model.classifier.weight[1, 2] = float("nan")
    return model


def _nan_logits_in_training(model):
    """A model whose training forward passes give NaN logits (weights stay finite): the loss is NaN at step 1."""

    def poison(module, inputs, output):
        return output * float("nan") if module.training else output

    model.classifier.register_forward_hook(poison)
    return model


def _stopped_run(splits, tmp_path, **config):
    """A trained tiny run that the guard stopped at step 1 (non-finite loss)."""
    model, extractor = build_tiny_model("cnn")
    run = trainer(
        tmp_path, splits, model=_nan_logits_in_training(model), processing_class=extractor,
        config=args(tmp_path, **config),
    )  # fmt: skip
    run.train()
    assert run.stop_reason is not None
    return run


def _save_a_stopped_run(splits, tmp_path):
    _stopped_run(splits, tmp_path).save_model()


# Write targets that cannot be written. Tests run as root, for whom a read-only mode does not stop writes: a folder
# that cannot be written is simulated by a path under a regular file (a real failure for anyone), by `os.access`
# answering "not writable" for that folder, and a full disk by `shutil.disk_usage` answering "1 kB free".
def _a_file_where_a_folder_is_expected(tmp_path):
    blocker = tmp_path / "results.txt"
    blocker.write_text("a file, not a folder\n")
    return blocker / "run"


def _read_only(folder):
    from unittest import mock

    real_access, folder = __import__("os").access, str(folder)
    return mock.patch("os.access", lambda path, mode, **kw: False if str(path) == folder else real_access(path, mode))


def _disk_full():
    import shutil
    from unittest import mock

    return mock.patch("shutil.disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))


def _never_trained():
    """Any training step (a reference model's or the unlearning run's) fails the test: a refusal must come first."""
    from unittest import mock

    return mock.patch("transformers.Trainer.train", side_effect=AssertionError("a model was trained before refusal"))


def _recipe_writing_to(tmp_path, output_dir, patch=None, extra=()):
    """The recipe on a small FSDD folder, writing to `output_dir` (with `extra` arguments); no training may
    start."""
    import contextlib

    from test_recipes import COMMON, RECIPE, load_module, save_tiny_checkpoint, write_fsdd

    recipe = load_module(RECIPE, "unlearn_audio_classification")
    (tmp_path / "refs").mkdir()
    data = write_fsdd(tmp_path / "fsdd", takes=6)
    checkpoint = save_tiny_checkpoint(tmp_path / "ckpt", num_labels=10, sampling_rate=8000)
    argv = ["--method", "neggrad_plus", "--dataset_name", data, "--model_name_or_path", checkpoint]
    argv += ["--forget_speakers", "bob", "--output_dir", str(output_dir), "--reference_dir", str(tmp_path / "refs")]
    with _never_trained(), patch or contextlib.nullcontext():
        recipe.main([*argv, *COMMON, *extra])


def _demo_writing_to(tmp_path, output_dir):
    from test_recipes import write_fsdd

    from hf_unlearn.cli.demo import DemoArguments, run_demo

    data = write_fsdd(tmp_path / "fsdd", takes=6)
    arguments = DemoArguments(dataset_name=data, forget_speakers=["bob"], output_dir=str(output_dir), quiet=True)
    arguments.cache_dir = str(tmp_path / "cache")
    with _never_trained():
        run_demo(arguments)


def _benchmark_writing_to(tmp_path, output_dir):
    from test_recipes import write_fsdd

    from hf_unlearn.cli.main import main

    data = write_fsdd(tmp_path / "fsdd", takes=6)
    with _never_trained():
        main(["benchmark", "--dataset_name", data, "--quick", "--output_dir", str(output_dir),
              "--cache_dir", str(tmp_path / "cache")])  # fmt: skip


def _recipe_with_an_original_of_another_architecture(tmp_path):
    """--original_model_path: a wav2vec2 model with FSDD's ten digit labels, for a run of --model_type mfcc_cnn."""
    model, extractor = build_tiny_model("wav2vec2", num_labels=10)
    model.config.id2label = {i: str(i) for i in range(10)}
    model.config.label2id = {str(i): i for i in range(10)}
    model.save_pretrained(tmp_path / "w2v")
    extractor.save_pretrained(tmp_path / "w2v")
    extra = ["--original_model_path", str(tmp_path / "w2v"), "--model_type", "mfcc_cnn"]
    _recipe_writing_to(tmp_path, tmp_path / "out", extra=extra)


def _trainer_writing_to(splits, tmp_path, output_dir, patch=None):
    import contextlib

    with _never_trained(), patch or contextlib.nullcontext():
        config = UnlearningConfig(output_dir=str(output_dir), use_cpu=True, max_steps=1)
        trainer(tmp_path, splits, config=config).train()


def _failed_save_then_load(splits, tmp_path):
    """A save that runs out of space after writing config.json (simulated: the weights' writer raises ENOSPC), then
    loading the folder."""
    import errno
    from unittest import mock

    run = trainer(tmp_path, splits)
    full = OSError(errno.ENOSPC, "No space left on device")
    with mock.patch("transformers.modeling_utils.safe_save_file", side_effect=full), pytest.raises(OSError):
        run.save_model()
    assert (tmp_path / "out" / "config.json").exists()  # what a failed save leaves behind
    _load(tmp_path / "out")


def _resume_from_another_model(splits, tmp_path, kind="cnn", num_labels=3):
    """A checkpoint of another model (other label count or architecture), written as a checkpoint of this run is."""
    import shutil

    ours = trainer(tmp_path, splits, config=args(tmp_path, save_strategy="steps", save_steps=1))
    ours.train()
    checkpoint = tmp_path / "out" / "checkpoint-1"
    other, _ = build_tiny_model(kind, num_labels=num_labels)
    for name in ("config.json", "model.safetensors"):
        (checkpoint / name).unlink()
    other.save_pretrained(tmp_path / "other")
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tmp_path / "other" / name, checkpoint / name)
    trainer(tmp_path, splits, config=args(tmp_path, save_strategy="steps", save_steps=1)).train(
        resume_from_checkpoint=str(checkpoint)
    )


def _lock_held_by(tmp_path, pid):
    """The run lock of `tmp_path / "out"` as another process `pid` on this host would have written it."""
    import json
    import socket

    (tmp_path / "out").mkdir(exist_ok=True)
    holder = {"pid": pid, "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"}
    (tmp_path / "out" / "_hf_unlearn_run.lock").write_text(json.dumps(holder))


def _second_run_in_the_same_output_dir(splits, tmp_path):
    _lock_held_by(tmp_path, 1)  # pid 1 is alive on every Unix host
    trainer(tmp_path, splits)


def _resume_on_a_changed_retain_set(splits, tmp_path):
    """A run checkpointed at step 1, resumed after a retain row was dropped."""
    config = args(tmp_path, save_strategy="steps", save_steps=1)
    trainer(tmp_path, splits, config=config).train()
    changed = splits.retain.select(range(1, len(splits.retain)))
    trainer(tmp_path, splits, retain=changed, config=config).train(resume_from_checkpoint=True)


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
    # ---- the original is never written to: every public write path
    (
        "save_model_into_the_original",
        _save_model_into_the_original,
        ValueError,
        ["original model's folder", "original'"],
    ),
    (
        "save_model_into_a_copy_inside_the_original",
        lambda s, tmp: _save_model_into_the_original(s, tmp, inside=True),
        ValueError,
        ["inside the original model's folder", "original/copy'", "config.json"],
    ),
    # ---- the request is checked for every method, before any work
    (
        "retain_only_method_without_forget_set",
        lambda s, tmp: trainer(tmp, s, method="finetune", forget=None),
        ValueError,
        ["'finetune'", "pass forget_dataset"],
    ),
    (
        "retain_only_method_with_empty_forget_set",
        lambda s, tmp: trainer(tmp, s, method="cf_k", forget=s.forget.select([])),
        ValueError,
        ["forget set is empty"],
    ),
    (
        "retain_only_method_with_a_copied_forget_clip_in_retain",
        lambda s, tmp: trainer(tmp, s, method="finetune", retain=_retain_only_method_with_a_copied_forget_clip(s)),
        ValueError,
        ["both the forget and the retain set", "forget row 2 = retain row"],
    ),
    (
        "request_check_before_reference_models",
        _request_check_before_reference_models,
        ValueError,
        ["forget row 2 = retain row", "remove them from the retain set"],
    ),
    # ---- resume
    (
        "resume_from_a_pickled_method_state",
        _pickled_resume_state,
        ValueError,
        ["checkpoint-3'", "pickle", "not read"],
    ),
    (
        "resume_from_a_checkpoint_with_other_labels",
        _resume_from_another_model,
        ValueError,
        ["checkpoint-1'", "num_labels: checkpoint 3, model to resume 4", "['tone0', 'tone1', 'tone2']"],
    ),
    (
        "resume_from_a_checkpoint_of_another_architecture",
        lambda s, tmp: _resume_from_another_model(s, tmp, kind="wav2vec2", num_labels=4),
        ValueError,
        ["checkpoint-1'", "model_type: checkpoint 'wav2vec2', model to resume 'mfcc_cnn'"],
    ),
    (
        "original_model_path_of_another_architecture",
        lambda s, tmp: _recipe_with_an_original_of_another_architecture(tmp),
        ValueError,
        ["original model at", "w2v'", "model_type: the original model 'wav2vec2', this run 'mfcc_cnn'"],
    ),
    (
        "resume_on_a_changed_retain_set",
        _resume_on_a_changed_retain_set,
        ValueError,
        ["checkpoint-1'", "written for another retain set", "Pass the retain set of that run"],
    ),
    # ---- audio, named by row and file
    (
        "nan_samples",
        lambda s, tmp: trainer(tmp, s, forget=_forget_with_a_nan_row(s)),
        ValueError,
        ["Row 2 of the forget set", "NaN or infinite", "drop the row"],
    ),
    (
        "ambiguous_channel_layout",
        lambda s, tmp: trainer(tmp, s, forget=_forget_with_an_ambiguous_stereo_row()),
        ValueError,
        ["Row 1 of the forget set", "Cannot tell the channel axis", "(12, 12)"],
    ),
    (
        "clip_shorter_than_an_mfcc_window",
        lambda s, tmp: trainer(tmp, s, forget=_audio_rows([_clip(), _clip(300)])),
        ValueError,
        ["Row 1 of the forget set", "300 samples", "fewer than the 512", "pad the clip"],
    ),
    (
        "clip_shorter_than_wav2vec2_receptive_field",
        lambda s, tmp: trainer(tmp, s, model_kind="wav2vec2", retain=_audio_rows([_clip(), _clip(40, seed=3)])),
        ValueError,
        ["Row 1 of the retain set", "40 samples", "fewer than the 45"],
    ),
    (
        "missing_audio_file",
        lambda s, tmp: trainer(tmp, s, forget=_file_rows(tmp, {"a.wav": "good", "gone.wav": None})),
        ValueError,
        ["Row 1 of the forget set", "gone.wav", "does not exist"],
    ),
    (
        "empty_audio_file",
        lambda s, tmp: trainer(tmp, s, forget=_file_rows(tmp, {"a.wav": "good", "empty.wav": b""})),
        ValueError,
        ["Row 1 of the forget set", "empty.wav", "could not be decoded", "Replace the file or drop the row"],
    ),
    (
        "unreadable_audio_file",
        lambda s, tmp: trainer(
            tmp, s, forget=_file_rows(tmp, {"junk.wav": b"not audio at all" * 64, "b.wav": "good"})
        ),
        ValueError,
        ["Row 0 of the forget set", "junk.wav", "could not be decoded"],
    ),
    # ---- broken models and failed runs are not unlearned or saved as successes
    (
        "original_with_a_nan_weight",
        lambda s, tmp: trainer(tmp, s, model=_model_with_a_nan_weight()),
        ValueError,
        ["original model's parameter 'classifier.weight'", "1 NaN or infinite value(s)", "healthy checkpoint"],
    ),
    (
        "save_of_a_run_stopped_by_a_non_finite_loss",
        _save_a_stopped_run,
        ValueError,
        ["stopped before it finished", "training loss became nan", "save_stopped_runs=True", "not saved"],
    ),
    # ---- write targets are checked before any training, from every front end
    (
        "trainer_output_dir_under_a_file",
        lambda s, tmp: _trainer_writing_to(s, tmp, _a_file_where_a_folder_is_expected(tmp)),
        ValueError,
        ["output_dir", "results.txt' is a file, not a folder", "Choose another output_dir"],
    ),
    (
        "trainer_output_dir_read_only",
        lambda s, tmp: _trainer_writing_to(s, tmp, tmp / "ro", _read_only(tmp)),
        ValueError,
        ["output_dir", "ro'", "not writable"],
    ),
    (
        "trainer_output_dir_on_a_full_disk",
        lambda s, tmp: _trainer_writing_to(s, tmp, tmp / "out", _disk_full()),
        ValueError,
        ["output_dir", "1.0 kB free", "needs about", "free some space"],
    ),
    (
        "recipe_output_dir_under_a_file",
        lambda s, tmp: _recipe_writing_to(tmp, _a_file_where_a_folder_is_expected(tmp)),
        ValueError,
        ["--output_dir", "results.txt' is a file, not a folder"],
    ),
    (
        "recipe_reference_dir_read_only",
        lambda s, tmp: _recipe_writing_to(tmp, tmp / "out", _read_only(tmp / "refs")),
        ValueError,
        ["--reference_dir", "refs'", "not writable"],
    ),
    (
        "demo_output_dir_under_a_file",
        lambda s, tmp: _demo_writing_to(tmp, _a_file_where_a_folder_is_expected(tmp)),
        ValueError,
        ["--output_dir", "results.txt' is a file, not a folder"],
    ),
    (
        "benchmark_output_dir_under_a_file",
        lambda s, tmp: _benchmark_writing_to(tmp, _a_file_where_a_folder_is_expected(tmp)),
        ValueError,
        ["--output_dir", "results.txt' is a file, not a folder"],
    ),
    (
        "output_dir_in_use_by_another_run",
        _second_run_in_the_same_output_dir,
        ValueError,
        ["Another run is writing to the output folder", "(pid 1 on", "Choose another output_dir"],
    ),
    (
        "load_a_folder_whose_save_failed",
        _failed_save_then_load,
        ValueError,
        ["out'", "incomplete", "failed while it was being saved", "save it again"],
    ),
    # ---- audio sample types: integer PCM is scaled as soundfile reads it, other types are refused
    (
        "audio_samples_of_type_uint16",
        lambda s, tmp: trainer(tmp, s, forget=_forget_with_samples_of_dtype("uint16")),
        ValueError,
        ["Row 0 of the forget set", "uint16", "int8, int16, int32, uint8", "float32 in [-1, 1]"],
    ),
    (
        "audio_samples_of_type_int64",
        lambda s, tmp: trainer(tmp, s, forget=_forget_with_samples_of_dtype("int64")),
        ValueError,
        ["Row 0 of the forget set", "int64", "float32 in [-1, 1]"],
    ),
    # ---- labels
    (
        "unknown_string_label",
        lambda s, tmp: trainer(tmp, s, forget=_string_labels(s, unknown=True)),
        ValueError,
        ["['cow']", "(rows [1])", "not among the model's classes"],
    ),
    (
        "unknown_class_name_in_make_forget_split",
        lambda s, tmp: make_forget_split(_string_labels(s), by="class", values=["cow"]),
        ValueError,
        ["['cow'] do not occur", "tone"],
    ),
    (
        "unknown_speaker_in_make_forget_split",
        lambda s, tmp: make_forget_split(s.retain, by="speaker", values=[__import__("numpy").str_("zed")]),
        ValueError,
        ["Speaker(s) ['zed'] do not exist in column 'speaker'", "known: ['bob', 'cid', 'dee']"],
    ),
    (
        "unknown_class_given_as_a_numpy_string",
        lambda s, tmp: make_forget_split(s.retain, by="class", values=__import__("numpy").array(["cow"])),
        ValueError,
        ["Class 'cow' does not exist", "known classes: ['tone0'"],
    ),
    (
        "labels_outside_num_labels_name_their_rows",
        lambda s, tmp: trainer(tmp, s, forget=_forget_with_label_7(s)),
        ValueError,
        ["labels [7] (rows [0, 1, 2,", "outside the model's num_labels=4"],
    ),
    # ---- paths and corrupt files
    (
        "load_checkpoint_from_a_missing_folder",
        lambda s, tmp: _load(tmp / "no" / "such" / "model"),
        ValueError,
        ["no/such/model'", "does not exist"],
    ),
    (
        "load_checkpoint_with_truncated_weights",
        lambda s, tmp: _load(_truncated_original(tmp)),
        ValueError,
        ["original/model.safetensors'", "truncated or corrupt"],
    ),
    (
        "teacher_with_truncated_weights",
        lambda s, tmp: trainer(tmp, s, method="scrub", teacher_model=str(_truncated_original(tmp))),
        ValueError,
        ["original/model.safetensors'", "truncated or corrupt"],
    ),
    # ---- several processes
    (
        "several_cpu_processes_without_use_cpu",
        _several_cpu_processes_without_use_cpu,
        ValueError,
        ["2 processes", "without CUDA", "use_cpu=True"],
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


def test_stereo_arrays_in_either_layout_give_the_mono_features(splits, tmp_path):
    """(channels, samples), as datasets decodes, and (samples, channels), as soundfile reads: both told from the
    shape and averaged over the channel axis, giving the features of the mono mix."""
    import numpy as np

    left, right = _clip(seed=1), _clip(seed=2)
    mono = (left + right) / 2
    data = {
        "mono": _audio_rows([mono, mono]),
        "channels_first": _audio_rows([np.stack([left, right])] * 2),
        "samples_first": _audio_rows([np.stack([left, right], axis=1)] * 2),
    }
    features = {
        name: trainer(tmp_path, splits, forget=rows).train_dataset.forget[0]["input_features"]
        for name, rows in data.items()
    }
    assert np.abs(features["channels_first"] - features["mono"]).max() < 1e-4
    assert np.abs(features["samples_first"] - features["mono"]).max() < 1e-4


def test_string_labels_through_the_python_api(splits, tmp_path):
    """Class names as labels are encoded with the model's label2id, as the recipe does."""
    import numpy as np

    t = trainer(tmp_path, splits, forget=_string_labels(splits))
    expected = np.asarray(splits.forget["label"])
    assert (np.asarray(t.train_dataset.forget["labels"]) == expected).all()


def test_make_forget_split_by_class_name_on_a_string_label_column(splits):
    data = _string_labels(splits)
    request = make_forget_split(data, by="class", values=["tone0"], test_size=0.25, seed=0)
    assert set(request.forget["label"]) == {"tone0"}
    assert "tone0" not in set(request.retain["label"])


@pytest.mark.parametrize("by, values", [("sample", None), ("class", ["tone0"])])
def test_make_forget_split_keeps_identical_recordings_on_one_side(by, values, toy_dataset):
    """A byte-identical copy of a recording to forget (under another speaker, even another label) is forgotten with
    it, so the request check (content digests) finds no recording on both sides."""
    from datasets import concatenate_datasets

    from hf_unlearn.checks import check_request

    first_tone0 = toy_dataset["label"].index(0)
    copy = toy_dataset.select([first_tone0]).map(lambda row: {"speaker": "zed", "label": 1})
    data = concatenate_datasets([toy_dataset, copy])
    kw = {"indices": [first_tone0]} if by == "sample" else {"values": values}
    request = make_forget_split(data, by=by, test_dataset=data.select(range(4)), retain_eval_size=0.0, **kw)
    assert len(data) - 1 in request.forget_indices
    check_request(request.forget, request.retain)


LAUNCH_WITHOUT_USE_CPU = """
import sys
sys.path.insert(0, "tests")
from conftest import build_tiny_model, make_toy_dataset
from hf_unlearn import UnlearningConfig, UnlearningTrainer, make_forget_split

splits = make_forget_split(make_toy_dataset(takes=2), by="speaker", values=["ann"], test_size=0.25, seed=0)
model, extractor = build_tiny_model("cnn")
try:
    UnlearningTrainer(
        method="finetune", model=model, args=UnlearningConfig(output_dir=sys.argv[1], report_to="none"),
        forget_dataset=splits.forget, retain_dataset=splits.retain, processing_class=extractor,
    )
except ValueError as error:
    sys.stdout.write(f"REFUSED: {error}\\n")  # one write: two ranks share the pipe, and print() writes in pieces
    sys.stdout.flush()
    raise SystemExit(3)
"""


@pytest.mark.distributed
def test_several_cpu_processes_without_use_cpu_fail_on_every_rank(tmp_path):
    """Launched for real (torchrun, two processes, no CUDA): each rank refuses at construction, with the fix."""
    import torch
    from launch import TORCHRUN_TWO, run_script

    if torch.cuda.is_available():
        pytest.skip("the refusal is for machines without CUDA")
    script = tmp_path / "launch_without_use_cpu.py"
    script.write_text(LAUNCH_WITHOUT_USE_CPU)
    returncode, stdout, stderr = run_script(TORCHRUN_TWO, script, tmp_path / "out", expect_success=False)
    assert returncode != 0
    # Counted in the text, not per line: the two ranks' lines may still arrive interleaved.
    assert stdout.count("REFUSED:") == 2, stdout + stderr
    assert stdout.count("Pass use_cpu=True") == 2, stdout


# Integer PCM as written by soundfile: (RAW subtype, NumPy type of the stored samples).
PCM_LAYOUTS = [("PCM_S8", "<i1"), ("PCM_U8", "<u1"), ("PCM_16", "<i2"), ("PCM_32", "<i4")]


@pytest.mark.parametrize("subtype, dtype", PCM_LAYOUTS, ids=[layout[0] for layout in PCM_LAYOUTS])
def test_integer_pcm_arrays_are_scaled_as_soundfile_reads_them(subtype, dtype, splits, tmp_path):
    """An `{"array": <integer PCM>, ...}` clip gives the samples soundfile reads from the same file (int16 / 32768,
    uint8 (x - 128) / 128, ...), and so the features of that float clip: not the unscaled integers."""
    import io

    import numpy as np
    import soundfile

    from hf_unlearn.data.audio_utils import load_audio_array

    raw = {"format": "RAW", "subtype": subtype, "samplerate": 16000, "channels": 1, "endian": "LITTLE"}
    clips = [_clip(seed=seed) * 4 for seed in (1, 2)]  # up to about +/-1: the whole integer range is used
    stored, read = [], []
    for clip in clips:
        buffer = io.BytesIO()
        soundfile.write(buffer, np.clip(clip, -1, 0.99), **{k: v for k, v in raw.items() if k != "channels"})
        stored.append(np.frombuffer(buffer.getvalue(), dtype=dtype).astype(dtype[1:]))
        read.append(soundfile.read(io.BytesIO(buffer.getvalue()), dtype="float32", **raw)[0])
    samples, _ = load_audio_array({"array": stored[0], "sampling_rate": 16000})
    assert np.abs(samples - read[0]).max() < 1e-7
    as_integers = trainer(tmp_path, splits, forget=_audio_rows(stored)).train_dataset.forget
    as_floats = trainer(tmp_path, splits, forget=_audio_rows(read)).train_dataset.forget
    for row in range(2):
        assert np.abs(as_integers[row]["input_features"] - as_floats[row]["input_features"]).max() < 1e-4


def test_a_stopped_run_saved_on_request_says_so_everywhere(splits, tmp_path):
    """With save_stopped_runs=True the stopped run is saved, and its card, unlearning_results.json and audit log say
    that it stopped and why: nothing on disk reads as a successful unlearning."""
    import json

    run = _stopped_run(splits, tmp_path, save_stopped_runs=True)
    run.save_model()
    out = tmp_path / "out"
    card = (out / "README.md").read_text()
    assert "stopped before it finished" in card and "training loss became nan" in card
    results = json.loads((out / "unlearning_results.json").read_text())
    assert results["stopped"]["reason"] == run.stop_reason and results["stopped"]["failed"] is True
    entry = json.loads((out / "unlearning_log.jsonl").read_text().splitlines()[-1])
    assert entry["stop_reason"] == run.stop_reason and entry["stopped_as_failure"] is True


SPEAKERS = ("george", "jackson", "lucas", "nicolas")  # speaker identification: each class is a person


def _speaker_id_dataset():
    from conftest import tone_clip
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    rows = {"audio": [], "label": [], "speaker": []}
    for s, speaker in enumerate(SPEAKERS):
        for take in range(6):
            clip = tone_clip(300.0 * (1 + take % 3), s, take)
            rows["audio"].append({"array": clip, "sampling_rate": 16000})
            rows["label"].append(s)
            rows["speaker"].append(speaker)
    features = Features(
        {
            "audio": {"array": Sequence(Value("float32")), "sampling_rate": Value("int64")},
            "label": ClassLabel(names=list(SPEAKERS)),
            "speaker": Value("string"),
        }
    )
    return Dataset.from_dict(rows, features=features)


@pytest.mark.parametrize("remove", [None, False])
def test_a_speaker_id_request_never_names_the_forgotten_speaker(remove, tmp_path):
    """A class request on a speaker-identification model (the class is the person): no saved file names the
    speaker; by default the speaker's label and output unit are removed from the saved model, which still loads and
    predicts the other speakers as the unlearned model did; `remove_forgotten_labels=False` keeps the full head."""
    import json

    import numpy as np
    import torch
    from transformers import AutoModelForAudioClassification

    from hf_unlearn.models.mfcc_cnn import build_mfcc_cnn

    splits = make_forget_split(_speaker_id_dataset(), by="class", values=["george"], test_size=0.25, seed=0)
    model, extractor = build_mfcc_cnn(list(SPEAKERS), dropout=0.0)
    config = args(tmp_path, remove_forgotten_labels=remove)
    run = trainer(tmp_path, splits, model=model, processing_class=extractor, config=config, forget_request=splits)
    run.train()
    run.evaluate({"forget": splits.forget, "test": splits.test})
    run.save_model()
    out = tmp_path / "out"
    published = ["README.md", "unlearning_config.json", "unlearning_results.json", "unlearning_log.jsonl"]
    for name in published:
        assert "george" not in (out / name).read_text(), name
    card = (out / "README.md").read_text()
    assert "Forgotten speakers (classes of this speaker-identification model): 1, not named" in card
    request = json.loads((out / "unlearning_config.json").read_text())["request"]
    assert request["digest"].startswith("hmac-sha256:") and "forgotten_classes" not in request
    saved = AutoModelForAudioClassification.from_pretrained(out)
    assert len(run.model.config.id2label) == 4  # the model in memory keeps its full head
    if remove is False:
        assert saved.config.id2label[0] == "george" and "Removed from this model" not in card
        return
    assert "george" not in (out / "config.json").read_text()
    assert list(saved.config.id2label.values()) == ["jackson", "lucas", "nicolas"]
    assert "Removed from this model (`remove_forgotten_labels`): 1 output unit(s)" in card
    features = torch.tensor(np.stack(run.train_dataset.retain["input_features"][:4]))
    run.model.eval()
    with torch.no_grad():
        full, pruned = run.model(input_features=features).logits, saved.eval()(input_features=features).logits
    assert torch.allclose(full[:, 1:], pruned, atol=1e-5)


def test_a_lock_left_by_a_run_that_is_gone_is_taken_over(splits, tmp_path):
    import json
    import os
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _lock_held_by(tmp_path, int(gone.stdout))
    trainer(tmp_path, splits)
    assert json.loads((tmp_path / "out" / "_hf_unlearn_run.lock").read_text())["pid"] == os.getpid()


def test_accuracy_after_label_removal_is_that_of_the_smaller_head():
    """The figure recorded for a saved model without the forgotten classes: the top class among the others; rows of a
    removed class are wrong."""
    import numpy as np

    from hf_unlearn.hub.speaker_labels import accuracy_without_labels

    logits = np.array([[3.0, 2.0, 0.0], [0.0, 5.0, 1.0], [4.0, 0.0, 1.0], [1.0, 0.0, 2.0], [5.0, 1.0, 0.0]])
    labels = np.array([1, 1, 2, 2, 0])
    assert accuracy_without_labels(logits, labels, []) == 0.6  # rows 1, 3, 4
    assert accuracy_without_labels(logits, labels, [0]) == 0.8  # rows 0 and 2 now right; row 4 (class 0) lost
