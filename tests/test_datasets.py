"""The built-in datasets of hf_unlearn.data: eSpeak NG synthesis, the keyword demo dataset, the FSDD loader and
load_audio_array."""

from __future__ import annotations

import io
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile

from hf_unlearn.data import (
    DEFAULT_KEYWORDS,
    DEFAULT_VOICES,
    load_audio_array,
    load_fsdd,
    make_keyword_dataset,
)
from hf_unlearn.data import espeak as espeak_module


def _torchcodec_available() -> bool:
    import datasets

    return bool(getattr(datasets.config, "TORCHCODEC_AVAILABLE", False))


needs_torchcodec = pytest.mark.skipif(not _torchcodec_available(), reason="decoding datasets.Audio needs torchcodec")

# A local copy of the Free Spoken Digit Dataset (its folder holds `recordings/`); the FSDD tests skip without it.
FSDD_PATH = Path(os.environ.get("HF_UNLEARN_FSDD", "path/to/free-spoken-digit-dataset"))


def _dominant_f0(audio: np.ndarray, sampling_rate: int) -> float:
    """F0 of the loudest 40 ms frame, from the autocorrelation peak between 60 and 400 Hz."""
    frame = int(0.04 * sampling_rate)
    starts = range(0, len(audio) - frame, frame // 2)
    start = max(starts, key=lambda s: float(np.sum(audio[s : s + frame] ** 2)))
    x = audio[start : start + frame] - audio[start : start + frame].mean()
    corr = np.correlate(x, x, mode="full")[frame - 1 :]
    low, high = sampling_rate // 400, sampling_rate // 60
    return sampling_rate / (low + int(np.argmax(corr[low:high])))


# ---------------------------------------------------------------------------------------------------------------------
# The package


def test_data_package_exports_its_public_names():
    import importlib

    import hf_unlearn
    import hf_unlearn.data

    missing = [name for name in hf_unlearn.data.__all__ if not hasattr(hf_unlearn.data, name)]
    assert not missing
    assert hf_unlearn.ForgetSplits is hf_unlearn.data.ForgetSplits
    assert hf_unlearn.make_forget_split is hf_unlearn.data.make_forget_split
    with pytest.raises(ModuleNotFoundError):  # one data package: the old module names are gone
        importlib.import_module("hf_unlearn.datasets")
    assert len(DEFAULT_KEYWORDS) >= 10 and len(DEFAULT_VOICES) >= 8


# ---------------------------------------------------------------------------------------------------------------------
# eSpeak NG


def test_missing_espeak_raises_with_install_hint(monkeypatch):
    monkeypatch.setattr(espeak_module, "_synthesizer", None)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # makes `import espeakng_loader` raise ImportError
    with pytest.raises(ImportError, match=r"hf-unlearn\[demo\]"):
        espeak_module.synthesize("yes")


def test_synthesize_returns_float_audio():
    pytest.importorskip("espeakng_loader")
    audio, sampling_rate = espeak_module.synthesize("yes")
    assert sampling_rate == 22050
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.1 * sampling_rate < len(audio) < 2 * sampling_rate
    assert 0.05 < np.abs(audio).max() <= 1.0


def test_voices_rates_and_pitches_change_the_audio():
    pytest.importorskip("espeakng_loader")
    male, sr = espeak_module.synthesize("no", voice="en-us+m1")
    female, _ = espeak_module.synthesize("no", voice="en-us+f3")
    assert _dominant_f0(female, sr) > 1.4 * _dominant_f0(male, sr)
    slow, _ = espeak_module.synthesize("left right", voice="en-us+m1", rate=120)
    fast, _ = espeak_module.synthesize("left right", voice="en-us+m1", rate=240)
    assert len(slow) > 1.4 * len(fast)
    low, _ = espeak_module.synthesize("no", voice="en-us+m1", pitch=20)
    high, _ = espeak_module.synthesize("no", voice="en-us+m1", pitch=80)
    assert _dominant_f0(high, sr) > 1.15 * _dominant_f0(low, sr)


def test_default_voices_exist():
    pytest.importorskip("espeakng_loader")
    synthesizer = espeak_module.get_synthesizer()
    for voice in DEFAULT_VOICES:
        synthesizer.set_voice(voice)
    assert {"m1", "m7", "f1", "f4"} <= set(espeak_module.list_voice_variants())


@pytest.mark.parametrize("voice", ["en-us+m99", "xx-nonexistent+m1", "en-gb"])
def test_unknown_voice_raises(voice):
    pytest.importorskip("espeakng_loader")
    with pytest.raises(ValueError, match="eSpeak NG voice"):
        espeak_module.synthesize("yes", voice=voice)
    espeak_module.synthesize("yes")  # the synthesiser still works afterwards


# ---------------------------------------------------------------------------------------------------------------------
# The keyword dataset

SMALL = dict(keywords=("yes", "no", "stop"), voices=("en-us+m1", "en+f2"), rates=(150, 200), pitches=(50,))


def test_keyword_dataset_builds_splits_and_features(tmp_path):
    pytest.importorskip("espeakng_loader")
    import datasets

    data = make_keyword_dataset(cache_dir=tmp_path, test_takes=1, **SMALL)
    assert isinstance(data, datasets.DatasetDict) and set(data) == {"train", "test"}
    assert data["train"].num_rows == data["test"].num_rows == 3 * 2 * 1
    for split in data.values():
        assert split.column_names == ["audio", "label", "speaker", "take", "file"]
        features = split.features
        assert isinstance(features["audio"], datasets.Audio) and features["audio"].sampling_rate == 16000
        assert isinstance(features["label"], datasets.ClassLabel) and features["label"].names == ["yes", "no", "stop"]
        assert features["speaker"] == datasets.Value("string") and features["take"].dtype.startswith("int")
        assert sorted(set(split["label"])) == [0, 1, 2] and set(split["speaker"]) == {"en-us+m1", "en+f2"}
        assert all(Path(file).is_file() and file.endswith(".wav") for file in split["file"])
    # Each (keyword, voice) pair has one take in test and the other in train.
    train_pairs = {(row["label"], row["speaker"], row["take"]) for row in data["train"].remove_columns("audio")}
    test_pairs = {(row["label"], row["speaker"], row["take"]) for row in data["test"].remove_columns("audio")}
    assert {pair[:2] for pair in train_pairs} == {pair[:2] for pair in test_pairs}
    assert not train_pairs & test_pairs

    folder = Path(data["train"][0]["file"]).parents[2]
    assert folder.parent == tmp_path and (folder / "metadata.csv").is_file() and (folder / "params.json").is_file()
    info = soundfile.info(data["train"][0]["file"])
    assert info.samplerate == 16000 and info.subtype == "PCM_16" and info.channels == 1


@needs_torchcodec
def test_keyword_dataset_decodes_at_16khz(tmp_path):
    pytest.importorskip("espeakng_loader")
    data = make_keyword_dataset(cache_dir=tmp_path, test_takes=[0], **SMALL)
    value = data["train"][0]["audio"]
    audio, sampling_rate = load_audio_array(value)
    assert sampling_rate == 16000 and audio.dtype == np.float32 and audio.ndim == 1
    assert 0.1 * 16000 < len(audio) < 16000
    assert 0.8 < np.abs(audio).max() < 0.95  # peak-normalised to 0.9 (16-bit quantisation aside)
    # datasets' own accessors agree with the helper.
    np.testing.assert_allclose(value["array"], audio, atol=1e-6)
    assert value["sampling_rate"] == 16000
    assert set(data["test"]["take"]) == {0} and set(data["train"]["take"]) == {1}


def test_keyword_dataset_reuses_its_cache(tmp_path, monkeypatch):
    pytest.importorskip("espeakng_loader")
    first = make_keyword_dataset(cache_dir=tmp_path, test_takes=1, **SMALL)

    def fail(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(espeak_module, "get_synthesizer", fail)
    monkeypatch.setattr(espeak_module, "synthesize", fail)
    second = make_keyword_dataset(cache_dir=tmp_path, test_takes=1, **SMALL, decode_audio=False)
    assert list(second["train"]["file"]) == list(first["train"]["file"])
    assert second["train"].features["audio"].decode is False
    value = second["train"][0]["audio"]
    assert value["path"] == second["train"][0]["file"]
    audio, sampling_rate = load_audio_array(value)
    assert sampling_rate == 16000 and len(audio) > 0
    # Other parameters are another folder, which needs the synthesiser; overwrite=True regenerates.
    with pytest.raises(AssertionError, match="reused"):
        make_keyword_dataset(cache_dir=tmp_path, test_takes=1, seed=1, **SMALL)
    with pytest.raises(AssertionError, match="reused"):
        make_keyword_dataset(cache_dir=tmp_path, test_takes=1, overwrite=True, **SMALL)


def test_keyword_dataset_respects_env_cache_dir(tmp_path, monkeypatch):
    from hf_unlearn.data import default_cache_dir

    monkeypatch.setenv("HF_UNLEARN_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "keywords"
    monkeypatch.delenv("HF_UNLEARN_CACHE")
    assert default_cache_dir() == Path("~/.cache/hf_unlearn/keywords").expanduser()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(test_takes=2), "at least one"),  # 2 takes only
        (dict(test_takes=[0, 5]), "take indices"),
        (dict(keywords=("yes", "yes")), "duplicates"),
        (dict(voices=()), "non-empty"),
    ],
)
def test_keyword_dataset_rejects_bad_parameters(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_keyword_dataset(cache_dir=tmp_path, **{**SMALL, **kwargs})
    assert not any(tmp_path.iterdir())


def test_keyword_dataset_files_do_not_depend_on_earlier_synthesis(tmp_path):
    """eSpeak NG's output depends on what the process synthesised before (the same call twice differs) and, for breathy
    variants such as en+f2 (in SMALL), on a random generator eSpeak seeds from the clock; the dataset's clips must
    not: the same parameters give byte-identical files after other synthesis in this process, a clock second later."""
    import time

    pytest.importorskip("espeakng_loader")
    first = make_keyword_dataset(cache_dir=tmp_path / "a", test_takes=1, **SMALL, decode_audio=False)
    time.sleep(1.1)  # eSpeak's clock seed has a resolution of one second
    # The history that made the demo's data differ when other tests had run first (pitch and rate changes).
    once, _ = espeak_module.synthesize("yes", voice="en+f2")
    twice, _ = espeak_module.synthesize("yes", voice="en+f2")
    espeak_module.synthesize("no", voice="en-us+m1", pitch=80)
    espeak_module.synthesize("left right", voice="en-us+m1", rate=240)
    second = make_keyword_dataset(cache_dir=tmp_path / "b", test_takes=1, **SMALL, decode_audio=False)
    # Without a fresh synthesiser the check below would hold vacuously only if eSpeak were deterministic; it is not.
    assert len(once) != len(twice) or not np.array_equal(once, twice)
    files = list(first["train"]["file"]) + list(first["test"]["file"])
    assert len(files) == len(SMALL["keywords"]) * len(SMALL["voices"]) * 2
    for path in files:
        other = Path(path.replace(str(tmp_path / "a"), str(tmp_path / "b")))
        assert other != Path(path) and other.read_bytes() == Path(path).read_bytes(), path
    assert list(second["train"]["take"]) == list(first["train"]["take"])


def test_keyword_dataset_reports_a_failed_synthesis_process(tmp_path, monkeypatch):
    pytest.importorskip("espeakng_loader")
    import subprocess

    from hf_unlearn.data import keywords as keywords_module

    monkeypatch.setattr(keywords_module.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1))
    with pytest.raises(RuntimeError, match=r"failed in its child process \(exit code 1"):
        make_keyword_dataset(cache_dir=tmp_path, test_takes=1, **SMALL)
    assert not any(path.name.endswith("params.json") for path in tmp_path.rglob("*"))


def test_keyword_dataset_synthesis_bar_follows_disabled_progress_bars(tmp_path, capfd):
    pytest.importorskip("espeakng_loader")
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()  # a quiet demo run earlier in the process turns them off
    try:
        datasets.enable_progress_bars()
        make_keyword_dataset(cache_dir=tmp_path / "shown", test_takes=1, **SMALL)
        assert "Synthesising keywords" in capfd.readouterr().err
        datasets.disable_progress_bars()
        make_keyword_dataset(cache_dir=tmp_path / "hidden", test_takes=1, **SMALL)
        assert "Synthesising keywords" not in capfd.readouterr().err
    finally:
        (datasets.enable_progress_bars if was_enabled else datasets.disable_progress_bars)()


def test_keyword_dataset_bad_voice_leaves_no_cache(tmp_path):
    pytest.importorskip("espeakng_loader")
    with pytest.raises(ValueError, match="unknown variant"):
        make_keyword_dataset(cache_dir=tmp_path, test_takes=1, **{**SMALL, "voices": ("en-us+m1", "en-us+nobody")})
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------------------------------
# FSDD


def _write_wav(path: Path, sampling_rate: int = 8000, seconds: float = 0.25, frequency: float = 440.0) -> None:
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    tone = (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    soundfile.write(path, tone, sampling_rate, subtype="PCM_16")


@pytest.fixture
def tiny_fsdd(tmp_path):
    recordings = tmp_path / "fsdd" / "recordings"
    recordings.mkdir(parents=True)
    for name in ["0_ann_0.wav", "0_ann_12.wav", "1_ann_4.wav", "1_ann_5.wav", "1_bob_10.wav", "0_bob_3.wav"]:
        _write_wav(recordings / name)
    (recordings / ".DS_Store").write_bytes(b"")  # hidden files are ignored
    return tmp_path / "fsdd"


def test_load_fsdd_on_generated_files(tiny_fsdd):
    import datasets

    for path in (tiny_fsdd, tiny_fsdd / "recordings", str(tiny_fsdd)):
        data = load_fsdd(path, decode_audio=False)
        assert set(data) == {"train", "test"}
        assert data["train"].column_names == ["audio", "label", "speaker", "take", "file"]
        # Numeric sort: take 5 before 10 and 12; test = takes 0-4.
        assert list(data["train"]["take"]) == [12, 5, 10] and list(data["train"]["speaker"]) == ["ann", "ann", "bob"]
        assert list(data["test"]["take"]) == [0, 3, 4] and list(data["test"]["label"]) == [0, 0, 1]
        features = data["train"].features
        assert features["label"] == datasets.ClassLabel(names=[str(digit) for digit in range(10)])
        assert features["audio"].sampling_rate == 8000 and features["audio"].decode is False
        audio, sampling_rate = load_audio_array(data["train"][0]["audio"])
        assert sampling_rate == 8000 and len(audio) == 2000


def test_load_fsdd_rejects_bad_file_names(tiny_fsdd):
    recordings = tiny_fsdd / "recordings"
    _write_wav(recordings / "zero_ann_1.wav")
    (recordings / "README.md").write_text("notes")
    with pytest.raises(ValueError, match=r"2 file\(s\).*README.md.*zero_ann_1.wav.*strict=False"):
        load_fsdd(tiny_fsdd)
    with pytest.warns(UserWarning, match=r"2 file\(s\)"):
        data = load_fsdd(tiny_fsdd, strict=False, decode_audio=False)
    assert data["train"].num_rows + data["test"].num_rows == 6


def test_load_fsdd_errors_on_missing_or_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_fsdd(tmp_path / "nowhere")
    (tmp_path / "recordings").mkdir()
    with pytest.raises(FileNotFoundError, match=r"\{digit\}_\{speaker\}_\{take\}\.wav"):
        load_fsdd(tmp_path)


@needs_torchcodec
def test_load_fsdd_resamples_on_decode(tiny_fsdd):
    data = load_fsdd(tiny_fsdd, sampling_rate=16000)
    assert data["train"].features["audio"].sampling_rate == 16000
    audio, sampling_rate = load_audio_array(data["train"][0]["audio"])
    assert sampling_rate == 16000 and abs(len(audio) - 4000) <= 16
    native, native_rate = load_audio_array(load_fsdd(tiny_fsdd)["train"][0]["audio"])
    assert native_rate == 8000 and len(native) == 2000


@pytest.mark.skipif(
    not (FSDD_PATH / "recordings").is_dir(), reason=f"FSDD not found at {FSDD_PATH}: set HF_UNLEARN_FSDD"
)
def test_load_real_fsdd():
    data = load_fsdd(FSDD_PATH, decode_audio=False)
    train, test = data["train"], data["test"]
    assert train.num_rows + test.num_rows == 3000 and test.num_rows == 300
    assert set(test["take"]) == set(range(5)) and set(train["take"]) == set(range(5, 50))
    assert len(set(train["speaker"])) == 6 and set(test["speaker"]) == set(train["speaker"])
    assert sorted(set(train["label"])) == list(range(10)) and train.features["label"].num_classes == 10
    assert train.features["audio"].sampling_rate == 8000
    assert len(set(train["file"]) | set(test["file"])) == 3000
    audio, sampling_rate = load_audio_array(train[0]["audio"])
    assert sampling_rate == 8000 and 0.1 * 8000 < len(audio) < 2.5 * 8000
    if _torchcodec_available():
        decoded = load_fsdd(FSDD_PATH)["test"][0]["audio"]
        assert load_audio_array(decoded)[1] == 8000


# ---------------------------------------------------------------------------------------------------------------------
# load_audio_array


def test_load_audio_array_accepts_every_representation(tmp_path):
    path = tmp_path / "tone.wav"
    _write_wav(path, sampling_rate=8000)
    reference, _ = soundfile.read(path, dtype="float32")

    for value in (
        {"array": reference.tolist(), "sampling_rate": 8000},  # datasets 2.x/3.x, or Sequence(float32) columns
        {"path": str(path), "bytes": None},  # Audio(decode=False)
        {"path": None, "bytes": path.read_bytes()},
        {"path": "ignored-when-bytes-are-set.wav", "bytes": path.read_bytes()},
        str(path),
        path,
    ):
        audio, sampling_rate = load_audio_array(value)
        assert sampling_rate == 8000 and audio.dtype == np.float32
        np.testing.assert_allclose(audio, reference, atol=1e-6)

    resampled, sampling_rate = load_audio_array(str(path), sampling_rate=16000)
    assert sampling_rate == 16000 and abs(len(resampled) - 2 * len(reference)) <= 2

    buffer = io.BytesIO()
    soundfile.write(buffer, np.stack([reference, 0 * reference], axis=1), 8000, format="WAV")
    stereo = {"path": None, "bytes": buffer.getvalue()}
    np.testing.assert_allclose(load_audio_array(stereo)[0], reference / 2, atol=1e-4)
    assert load_audio_array(stereo, mono=False)[0].shape == (2, len(reference))

    with pytest.raises(TypeError, match="Cannot read audio"):
        load_audio_array(12)
    with pytest.raises(ValueError, match="path"):
        load_audio_array({"path": None, "bytes": None})


@needs_torchcodec
def test_load_audio_array_reads_torchcodec_decoders(tmp_path):
    import datasets

    path = tmp_path / "tone.wav"
    _write_wav(path, sampling_rate=8000)
    features = datasets.Features({"audio": datasets.Audio()})
    dataset = datasets.Dataset.from_dict({"audio": [str(path)]}, features=features)
    value = dataset[0]["audio"]
    assert not isinstance(value, dict) and hasattr(value, "get_all_samples")  # datasets >= 4 with torchcodec
    audio, sampling_rate = load_audio_array(value)
    assert sampling_rate == 8000
    np.testing.assert_allclose(audio, soundfile.read(path, dtype="float32")[0], atol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_audio_array(value, sampling_rate=16000)[1] == 16000


# ---------------------------------------------------------------------------------------------------------------------
# FSDD for speaker identification


@pytest.fixture
def small_fsdd(tmp_path):
    """3 speakers x 2 digits x takes 0-7: takes 0-4 are test, 5-7 train (FSDD's protocol)."""
    recordings = tmp_path / "small_fsdd" / "recordings"
    recordings.mkdir(parents=True)
    for s, speaker in enumerate(["nora", "george", "ann"]):
        for digit in (3, 8):
            for take in range(8):
                _write_wav(recordings / f"{digit}_{speaker}_{take}.wav", seconds=0.05, frequency=200 + 50 * s + take)
    return recordings.parent


def test_load_fsdd_with_speaker_labels(small_fsdd):
    import datasets

    from hf_unlearn import make_forget_split

    data = load_fsdd(small_fsdd, decode_audio=False, label="speaker")
    for split in data.values():
        assert split.column_names == ["audio", "label", "speaker", "digit", "take", "file"]
        assert split.features["label"] == datasets.ClassLabel(names=["ann", "george", "nora"])
        assert split.features["digit"] == datasets.Value("int64")
        names = split.features["label"].names
        assert [names[label] for label in split["label"]] == split["speaker"]
        assert sorted(set(split["digit"])) == [3, 8]
    # Recordings, not speakers, are held out: every speaker in both splits, the test split is takes 0-4.
    assert set(data["test"]["take"]) == set(range(5)) and set(data["train"]["take"]) == {5, 6, 7}
    assert set(data["train"]["speaker"]) == set(data["test"]["speaker"]) == {"ann", "george", "nora"}
    assert not set(data["train"]["file"]) & set(data["test"]["file"])
    # The digit loader is unchanged apart from its label.
    digits = load_fsdd(small_fsdd, decode_audio=False)
    assert digits["train"]["file"] == data["train"]["file"] and digits["train"]["label"] == data["train"]["digit"]

    # A class request now forgets a speaker; grouping by file keeps every recording on one side.
    splits = make_forget_split(data, by="class", values=["george"], group_column="file", retain_eval_size=0.25)
    assert set(splits.forget["speaker"]) == {"george"} and len(splits.forget) == 2 * 3
    assert set(splits.forget_test["speaker"]) == {"george"} and len(splits.forget_test) == 2 * 5
    kept = set(splits.retain["speaker"]) | set(splits.retain_eval["speaker"]) | set(splits.test["speaker"])
    assert kept == {"ann", "nora"}
    with pytest.raises(ValueError, match="choose one of"):
        load_fsdd(small_fsdd, label="word")


@pytest.mark.skipif(
    not (FSDD_PATH / "recordings").is_dir(), reason=f"FSDD not found at {FSDD_PATH}: set HF_UNLEARN_FSDD"
)
def test_load_real_fsdd_for_speaker_identification():
    from hf_unlearn import make_forget_split

    data = load_fsdd(FSDD_PATH, decode_audio=False, label="speaker")
    train, test = data["train"], data["test"]
    speakers = train.features["label"].names
    assert len(speakers) == 6 and "george" in speakers and test.features["label"].names == speakers
    assert set(test["take"]) == set(range(5)) and test.num_rows == 300 and train.num_rows == 2700
    for split, per_speaker in ((train, 450), (test, 50)):
        assert np.bincount(split["label"], minlength=6).tolist() == [per_speaker] * 6
    splits = make_forget_split(data, by="class", values=["george"], group_column="file", seed=0)
    assert len(splits.forget) == 450 and len(splits.forget_test) == 50 and len(splits.test) == 250
    assert set(splits.retain["label"]) == set(splits.test["label"]) == set(range(6)) - {speakers.index("george")}


# ---------------------------------------------------------------------------------------------------------------------
# Speech Commands-style folders without split lists


def test_speech_commands_folder_with_odd_names_and_no_split_lists(tmp_path, caplog):
    """A public copy's quirks: extra-word files named `{word}_{speaker}_nohash_{n}.wav`, stray files, no
    validation/testing lists. The loader skips (and counts) the stray files, reads the variant's speaker, and holds
    out validation and test by speaker hash, so no speaker is in two splits."""
    import logging

    import soundfile

    from hf_unlearn.data.speech_commands import load_speech_commands, speaker_split, split_by_speaker

    speakers = [f"{index:08x}" for index in range(0x1A2B0, 0x1A2B0 + 40)]
    clip = (0.1 * np.sin(2 * np.pi * 440 * np.arange(1600) / 16000)).astype(np.float32)
    for word in ("yes", "no"):
        os.makedirs(tmp_path / "sc" / word)
        for speaker in speakers:
            soundfile.write(tmp_path / "sc" / word / f"{speaker}_nohash_0.wav", clip, 16000)
    os.makedirs(tmp_path / "sc" / "extra")
    for speaker in speakers[:5]:
        soundfile.write(tmp_path / "sc" / "extra" / f"extra_{speaker}_nohash_1.wav", clip, 16000)
    for name in ("yes/recording 1.wav", "no/take.WAV", "extra/extra_take.wav"):
        soundfile.write(tmp_path / "sc" / name, clip, 16000)

    with caplog.at_level(logging.INFO, logger="hf_unlearn.data.speech_commands"):
        data = load_speech_commands(tmp_path / "sc", decode_audio=False)
    assert "3 file(s)" in caplog.text and "recording 1.wav" in caplog.text and "speaker hash" in caplog.text
    assert set(data) == {"train", "validation", "test"}
    by_split = {name: set(split["speaker"]) for name, split in data.items()}
    assert not by_split["train"] & by_split["test"] and not by_split["train"] & by_split["validation"]
    assert not by_split["test"] & by_split["validation"]
    assert all(speaker_split(s) == name for name, group in by_split.items() for s in group)
    # The variant's speaker is read: its files sit with the same speaker's other recordings.
    extra = data["train"].features["label"].names.index("extra")
    extra_speakers = {
        s for split in data.values() for s, label in zip(split["speaker"], split["label"]) if label == extra
    }
    assert extra_speakers == set(speakers[:5])
    assert sum(len(split) for split in data.values()) == 2 * len(speakers) + 5
    with pytest.raises(ValueError, match=r"3 file\(s\).*strict_layout=False"):
        load_speech_commands(tmp_path / "sc", strict_layout=True)
    # Speech Commands' rule, checked against a hand computation (sha1 of the id mod 2**27 - 1, as a percentage).
    import hashlib

    share = (int(hashlib.sha1(b"0a7c2a8d").hexdigest(), 16) % 2**27) * (100.0 / (2**27 - 1))
    assert speaker_split("0a7c2a8d") == ("validation" if share < 10 else "test" if share < 20 else "train")
    # The same split for any dataset with a speaker column.
    again = split_by_speaker(data["train"].select(range(10)), "speaker")
    assert set(again) == {"train"}
    with pytest.raises(ValueError, match="speaker_column"):
        split_by_speaker(data["train"], "who")


# ---------------------------------------------------------------------------------------------------------------------
# Features cached on disk across processes

_FEATURIZE_SCRIPT = """
import logging, os, sys
import numpy as np
import datasets
from transformers import Wav2Vec2FeatureExtractor

from hf_unlearn.data.features import featurize_cached

cache_dir, marker = sys.argv[1], sys.argv[2]
logging.basicConfig(level=logging.INFO, format="%(message)s")
original_call = Wav2Vec2FeatureExtractor.__call__

def counted_call(self, *args, **kwargs):  # one line in the marker file per extraction batch
    with open(marker, "a") as handle:
        handle.write("extracted\\n")
    return original_call(self, *args, **kwargs)

Wav2Vec2FeatureExtractor.__call__ = counted_call
t = np.arange(1600) / 16000
waves = [(0.1 * np.sin(2 * np.pi * f * t)).astype(np.float32) for f in (300, 500, 700)]
rows = [{"array": wave, "sampling_rate": 16000} for wave in waves]
data = datasets.Dataset.from_dict({"audio": rows, "label": [0, 1, 2]})
features = featurize_cached(data, Wav2Vec2FeatureExtractor(), cache_dir, name="train")
print("ROWS", len(features), "COLUMNS", sorted(features.column_names))
print("FIRST", float(np.asarray(features[0]["input_values"]).sum()))
"""


def test_featurized_data_is_cached_on_disk_for_a_later_process(tmp_path):
    import subprocess

    script = tmp_path / "featurize.py"
    script.write_text(_FEATURIZE_SCRIPT)
    marker = tmp_path / "extractions.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_DATASETS_OFFLINE": "1"}

    def run():
        done = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "cache"), str(marker)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout + done.stderr

    first = run()
    assert "cached in" in first and marker.read_text().count("extracted") >= 1
    extractions = marker.read_text().count("extracted")
    second = run()  # a fresh process: same data, same extractor
    assert "loaded from the cache" in second
    assert marker.read_text().count("extracted") == extractions, "the second run extracted features again"
    assert "ROWS 3 COLUMNS ['input_values', 'labels']" in second
    first_sum = [line for line in first.splitlines() if line.startswith("FIRST")]
    assert first_sum == [line for line in second.splitlines() if line.startswith("FIRST")]
    assert len(os.listdir(tmp_path / "cache")) == 1
