"""Any dataset: the auto layout of local folders, grouped and stratified splits, and the benchmark on a generic
many-speaker folder (tiny synthetic WAVs written here)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

WORDS = ("down", "go", "up")


def write_wav(path, samples, sampling_rate=8000):
    import soundfile

    os.makedirs(os.path.dirname(path), exist_ok=True)
    soundfile.write(path, samples, sampling_rate, subtype="PCM_16")


def keyword_clip(word_index: int, speaker_index: int, take: int, sampling_rate: int = 8000) -> np.ndarray:
    """A word tone with a speaker-specific pitch shift and take-specific noise (seeded): learnable in a few steps."""
    rng = np.random.default_rng(10_000 * word_index + 100 * speaker_index + take)
    t = np.arange(int(0.25 * sampling_rate)) / sampling_rate
    pitch = (400.0, 900.0, 1700.0, 2500.0)[word_index] * (1 + 0.02 * (speaker_index % 7))
    return (0.5 * np.sin(2 * np.pi * pitch * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def speakers_by_partition(partition: str, count: int) -> list[str]:
    """`count` hexadecimal speaker ids that Speech Commands' hash rule puts in `partition`."""
    from hf_unlearn.data.speech_commands import speaker_split

    found = []
    for number in range(100_000):
        speaker = f"a{number:07x}"  # a letter first: a CSV reader keeps it a string
        if speaker_split(speaker) == partition:
            found.append(speaker)
            if len(found) == count:
                return found
    raise AssertionError(f"no {count} speakers in {partition}")


def write_keyword_folder(folder, speakers, takes=2, metadata=False, words=WORDS):
    """`{word}/{speaker}_nohash_{n}.wav` (Speech Commands' layout); with `metadata`, an audiofolder `metadata.csv`
    (`file_name,label,speaker`) too. Returns the folder."""
    lines = ["file_name,label,speaker"]
    for w, word in enumerate(words):
        for s, speaker in enumerate(speakers):
            for take in range(takes):
                name = f"{word}/{speaker}_nohash_{take}.wav"
                write_wav(os.path.join(folder, name), keyword_clip(w, s, take))
                lines.append(f"{name},{word},{speaker}")
    if metadata:
        with open(os.path.join(folder, "metadata.csv"), "w") as handle:
            handle.write("\n".join(lines) + "\n")
    return str(folder)


def data_arguments(folder, layout="auto"):
    return SimpleNamespace(
        dataset_name=str(folder), data_layout=layout, dataset_config_name=None, train_split_name="train",
        test_split_name="test", test_size=0.2, strict_layout=False,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------ auto layout
def test_auto_layout_reads_a_keyword_folder_with_metadata_as_audiofolder(tmp_path):
    from hf_unlearn.experiment.data import detect_layout, load_audio_dataset

    speakers = speakers_by_partition("test", 3)
    plain = write_keyword_folder(tmp_path / "plain", speakers)
    described = write_keyword_folder(tmp_path / "described", speakers, metadata=True)
    assert detect_layout(plain) == "speech_commands"
    assert detect_layout(described) == "audiofolder"
    data, layout = load_audio_dataset(data_arguments(described), SimpleNamespace(cache_dir=None, token=None))
    assert layout == "audiofolder"
    assert len(data["train"]) == len(WORDS) * 3 * 2  # every file is a training row: no hash rule applied
    assert sorted(set(data["train"]["speaker"])) == sorted(speakers)


def test_official_test_partition_folder_says_so_and_names_the_plain_folder_option(tmp_path):
    from hf_unlearn.experiment.data import load_audio_dataset

    held_out = speakers_by_partition("test", 2) + speakers_by_partition("validation", 1)
    folder = write_keyword_folder(tmp_path / "official_test", held_out)
    model_args = SimpleNamespace(cache_dir=None, token=None)
    with pytest.raises(ValueError, match="official validation or test partition.*--data_layout audiofolder"):
        load_audio_dataset(data_arguments(folder), model_args)
    # Read as a plain folder it has training data; a folder with one training speaker loads as Speech Commands.
    data, layout = load_audio_dataset(data_arguments(folder, "audiofolder"), model_args)
    assert layout == "audiofolder" and len(data["train"]) == len(WORDS) * 3 * 2
    mixed = write_keyword_folder(tmp_path / "mixed", held_out + speakers_by_partition("train", 1))
    data, layout = load_audio_dataset(data_arguments(mixed), model_args)
    assert layout == "speech_commands" and len(data["train"]) == len(WORDS) * 2


# ------------------------------------------------------------------------------------------- grouped, stratified
def windowed_rows(speakers=6, labels=4, recordings=3, windows=5):
    """Rows of windows cut from recordings (no audio: the draws read ids only): every speaker says every label in
    `recordings` recordings of `windows` windows each."""
    from datasets import ClassLabel, Dataset, Features, Value

    rows = {"label": [], "speaker": [], "recording": []}
    for s in range(speakers):
        for label in range(labels):
            for r in range(recordings):
                for _ in range(windows):
                    rows["label"].append(label)
                    rows["speaker"].append(f"spk{s}")
                    rows["recording"].append(f"spk{s}-l{label}-r{r}")
    features = Features(
        {"label": ClassLabel(names=[f"w{i}" for i in range(labels)]), "speaker": Value("string"),
         "recording": Value("string")}
    )  # fmt: skip
    return Dataset.from_dict(rows, features=features)


def _recordings(data, rows) -> set:
    return set(np.asarray(data["recording"])[list(rows)].tolist()) if len(rows) else set()


@pytest.mark.parametrize("seed", range(3))
def test_stratified_request_splits_keep_recordings_whole_and_cover_labels_and_speakers(seed):
    from hf_unlearn.data import make_request_splits

    data = windowed_rows()
    splits = make_request_splits(
        data, {"by": "class", "values": ["w1"]}, seed, validation_size=0.15, group_column="recording",
        test_size=0.2, stratify=True, group_identical_audio=False,
    )  # fmt: skip
    sides = {"train": set(splits.forget["recording"]) | set(splits.retain["recording"])}
    sides["validation"] = set(splits.validation["recording"])
    sides["test"] = set(splits.test["recording"]) | set(splits.forget_test["recording"])
    assert not sides["train"] & sides["validation"] and not sides["train"] & sides["test"]
    assert not sides["validation"] & sides["test"]
    for held in (splits.validation, splits.test):
        assert set(held["label"]) | ({1} if held is splits.test else set()) == {0, 1, 2, 3}
    # Stratified: every label gets its share of the test recordings up to one recording (5 windows), and the
    # speakers theirs up to two (the draw nests speakers within labels).
    test_speakers = list(splits.test["speaker"]) + list(splits.forget_test["speaker"])
    counts = [test_speakers.count(f"spk{s}") for s in range(6)]
    assert max(counts) - min(counts) <= 10, counts
    labels = list(splits.test["label"]) + list(splits.forget_test["label"])
    per_label = [labels.count(label) for label in range(4)]
    assert max(per_label) - min(per_label) <= 5, per_label


def test_unstratified_row_draw_leaks_windows_into_validation():
    """The check above can fail: the default row-by-row validation draw splits recordings."""
    from hf_unlearn.data import make_request_splits

    data = windowed_rows()
    splits = make_request_splits(
        data, {"by": "class", "values": ["w1"]}, 0, validation_size=0.15, group_column="recording", test_size=0.2,
        group_identical_audio=False,
    )  # fmt: skip
    trained = set(splits.forget["recording"]) | set(splits.retain["recording"])
    assert trained & set(splits.validation["recording"])


def test_grouped_test_holdout_is_stratified_and_warns_on_a_missing_label(caplog):
    import logging

    from hf_unlearn.data import make_forget_split

    data = windowed_rows(speakers=9, labels=3, recordings=2, windows=4)
    splits = make_forget_split(
        data, by="speaker", values=["spk0"], test_size=0.25, retain_eval_size=0.2, group_column="recording", seed=0,
        group_identical_audio=False,
    )  # fmt: skip
    held = list(splits.test["speaker"]) + list(splits.forget_test["speaker"] if splits.forget_test else [])
    assert {held.count(f"spk{s}") for s in range(9)} <= {4, 8}  # one or two recordings of every speaker
    assert set(splits.retain_eval["label"]) == {0, 1, 2}  # retain-eval covers every label
    # A label with a single recording cannot be on both sides: the split that misses it says so.
    rare = windowed_rows(speakers=1, labels=3, recordings=4, windows=2)
    rare = rare.select([i for i, (label, rec) in enumerate(zip(rare["label"], rare["recording"]))
                        if label != 2 or rec.endswith("r0")])  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="hf_unlearn.data.groups"):
        make_forget_split(rare, by="sample", fraction=0.1, test_size=0.25, retain_eval_size=0.1, seed=0,
                          group_column="recording", group_identical_audio=False)  # fmt: skip
    assert "holds no row of 1 label(s)" in caplog.text and "w2" in caplog.text


# ------------------------------------------------------------------------------------------ the generic benchmark
class Tripwire:
    """Stands in for test / forget_test while a tuning trial runs: any use of it fails."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attribute):
        raise AssertionError(f"a tuning trial read {self._name} ({attribute})")

    def __len__(self):
        raise AssertionError(f"a tuning trial read {self._name} (len)")

    def __iter__(self):
        raise AssertionError(f"a tuning trial read {self._name} (iter)")


@pytest.fixture(scope="module")
def many_speakers(tmp_path_factory):
    """An audiofolder of 3 words x 12 speakers (the first with 5 takes a word, the others 2) with a metadata.csv
    naming the speaker: 8 kHz, a quarter of a second each."""
    folder = tmp_path_factory.mktemp("keywords")
    lines = ["file_name,label,speaker"]
    for s in range(12):
        for w, word in enumerate(WORDS):
            for take in range(5 if s == 0 else 2):
                name = f"{word}/spk{s:02d}_{take}.wav"
                write_wav(os.path.join(folder, name), keyword_clip(w, s, take))
                lines.append(f"{name},{word},spk{s:02d}")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")
    return str(folder)


def test_generic_benchmark_on_a_many_speaker_folder_never_reads_test_while_tuning(many_speakers, tmp_path,
                                                                                  monkeypatch):  # fmt: skip
    import json

    from hf_unlearn.benchmark import loop
    from hf_unlearn.cli.main import main

    real_splits, real_run_job = loop.request_splits, loop.run_job
    current, seen = {}, []

    def guarded_run_job(job):
        current["mode"] = job["mode"]
        return real_run_job(job)

    def guarded_splits(data, request, seed, validation_size=0.1, args=None):
        splits = real_splits(data, request, seed, validation_size, args)
        seen.append((current.get("mode"), request["kind"], splits))
        if current.get("mode") == "trial":  # from the moment they exist, nothing of a trial may read them
            splits.test, splits.forget_test = Tripwire("test"), Tripwire("forget_test")
        return splits

    monkeypatch.setattr(loop, "_CACHE", {})
    monkeypatch.setattr(loop, "request_splits", guarded_splits)
    monkeypatch.setattr(loop, "run_job", guarded_run_job)
    out = tmp_path / "out"
    argv = ["--dataset_name", many_speakers, "--output_dir", str(out), "--cache_dir", str(tmp_path / "cache")]
    argv += ["--methods", "finetune", "scrub", "--kinds", "speaker", "class", "--top_speakers", "1"]
    argv += ["--forget_classes", "go", "--seeds", "0", "1", "--tune_learning_rates", "1e-4", "1e-2"]
    argv += ["--tune_epochs", "1", "--unlearning_max_steps", "2", "--reference_epochs", "2", "--num_workers", "0"]
    argv += ["--validation_size", "0.2", "--test_size", "0.2", "--no_write_settings", "--tune", "true"]
    assert main(["benchmark", *argv]) == 0

    modes = {mode for mode, _, _ in seen}
    assert {"references", "trial", "run"} <= modes
    result = json.loads((out / "keywords0.json").read_text())
    assert not result["errors"], result["errors"]
    assert result["command"].startswith("hf-unlearn benchmark --dataset_name path/to/keywords0 ")
    assert result["arguments"]["dataset_name"] == "path/to/keywords0"
    tuned = result["tuning"]["kinds"]
    assert set(tuned) == {"speaker", "class"} and all(len(tuned[k]["grid"]) == 2 for k in tuned)
    for kind in tuned.values():  # a trial that touched a tripwire is recorded as failed: none may be
        for entry in kind["methods"].values():
            assert "choice" in entry and not [t["error"] for t in entry["trials"] if t["error"]]
    assert len(result["runs"]) == 2 * 2 * 2  # requests x seeds x methods
    assert {run["request"] for run in result["runs"]} == {"speaker spk00", "class go"}
    # The split design, once per seed: held-out speakers never trained on, the requested speaker never held out.
    assert set(result["splits"]) == {"0", "1"}
    for seed, design in result["splits"].items():
        assert "spk00" not in design["test_speakers"] + design["unseen_speakers"]
        assert len(design["test_speakers"]) == 2 and len(design["unseen_speakers"]) == 1
    for mode, kind, splits in seen:
        if mode != "run":
            continue
        trained = set(splits.forget["speaker"]) | set(splits.retain["speaker"])
        held = set(splits.test["speaker"])
        assert held - trained, "test holds speakers no model trained on"
        assert set(splits.unseen_validation["speaker"]).isdisjoint(trained)
        assert splits.forget_test is not None and len(splits.forget_test)  # the request's own held-out recordings
        if kind == "speaker":
            assert set(splits.forget_test["speaker"]) == {"spk00"} and set(splits.forget_validation["speaker"]) == {
                "spk00"
            }
    rows = result["summary"]["class"]
    assert list(rows)[:2] == ["original", "gold"] and rows["gold"]["forget_accuracy"]["n"] == 2


def test_recipe_group_column_draws_whole_recordings():
    from hf_unlearn.experiment.prepare import request_splits

    data = windowed_rows()
    data_args = SimpleNamespace(group_column="recording", validation_size=0.15, test_size=0.2)
    splits = request_splits(data, {"by": "sample", "fraction": 0.05}, "audiofolder", 0, data_args, "label", "speaker")
    trained = set(splits.forget["recording"]) | set(splits.retain["recording"])
    assert trained.isdisjoint(splits.validation["recording"]) and trained.isdisjoint(splits.test["recording"])
    assert set(splits.validation["label"]) == set(splits.test["label"]) == {0, 1, 2, 3}


def test_tuned_settings_of_a_new_dataset_start_from_the_hand_written_defaults(tmp_path):
    import json

    from hf_unlearn.benchmark import write_settings
    from hf_unlearn.experiment import method_settings

    choice = {"settings": {"learning_rate": 3e-3, "num_train_epochs": 1.0, "per_device_train_batch_size": 32}}
    tuning = {"class": {"methods": {"scrub": {"choice": choice}, "npo": {"error": "every trial failed"}}}}
    path = write_settings(tuning, "hf-unlearn benchmark ...", str(tmp_path / "keywords_new.json"), name="keywords_new")
    written = json.loads(open(path).read())
    assert written["methods"]["scrub"]["class"] == {"learning_rate": 3e-3, "num_train_epochs": 1.0}
    assert "class" not in written["methods"].get("npo", {})
    fsdd_default = method_settings("scrub", "fsdd")  # the hand-written default entry is carried over
    assert {**written.get("common", {}), **written["methods"]["scrub"]["default"]}.items() <= fsdd_default.items()
    assert "hf-unlearn benchmark" in written["source"]


def test_generic_loading_of_a_saved_dataset_with_other_column_names(many_speakers, tmp_path):
    import datasets

    from hf_unlearn.benchmark.any_data import load_any, split_design, top_speakers
    from hf_unlearn.benchmark.benchmark_arguments import BenchmarkArguments, resolve_defaults

    folder = datasets.load_dataset("audiofolder", data_dir=many_speakers)["train"]
    folder = folder.rename_columns({"label": "word", "speaker": "who"}).rename_column("audio", "clip")
    folder.save_to_disk(str(tmp_path / "saved"))
    args = BenchmarkArguments(dataset_name=str(tmp_path / "saved"), label_column="word", speaker_column="who",
                              audio_column="clip", forget_classes=["go"])  # fmt: skip
    args = resolve_defaults(args)
    assert args.kinds == ["speaker", "class", "sample"] and args.top_speakers == 6 and args.name == "saved"
    data = load_any(args)
    train = data["train"]
    assert {"audio", "label", "speaker"} <= set(train.column_names) and list(data) == ["train"]
    assert train.features["label"].names == sorted(WORDS)
    assert train.features["audio"].sampling_rate == 16000  # the folder does not say: the default rate
    assert top_speakers(train, 1) == ["spk00"]  # 15 clips, the others 6
    design = split_design(train, 0, args, ["spk00"])
    rows = [set(design[k]) for k in ("train_rows", "test_rows", "unseen_rows")]
    assert not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2])
    assert set(range(len(train))) == rows[0] | rows[1] | rows[2]
    assert design == split_design(train, 0, args, ["spk00"])  # drawn once per seed: the same rows every time


def test_byte_identical_recordings_stay_on_one_side_of_every_split(tmp_path):
    """A file stored twice under two names (public keyword sets hold such pairs): without --group_column the two
    copies share a group, so no draw (held-out speakers and recordings, validation, a sample request) splits them."""
    import shutil

    from hf_unlearn.benchmark.any_data import IDENTICAL_AUDIO_GROUP, any_request_splits, load_any, split_design
    from hf_unlearn.benchmark.benchmark_arguments import BenchmarkArguments, resolve_defaults
    from hf_unlearn.benchmark.loop import build_requests
    from hf_unlearn.data.groups import audio_digests

    folder = tmp_path / "keywords"
    speakers = [f"spk{s:02d}" for s in range(10)]
    lines = ["file_name,label,speaker"]
    for s, speaker in enumerate(speakers):
        for w, word in enumerate(WORDS):
            for take in range(3):
                name = f"{word}/{speaker}_{take}.wav"
                write_wav(os.path.join(folder, name), keyword_clip(w, s, take))
                lines.append(f"{name},{word},{speaker}")
    copies = [(f"{word}/spk00_0.wav", f"{word}/spk00_9.wav") for word in WORDS]  # spk00 is a requested speaker
    for original, copy in copies:
        shutil.copy(folder / original, folder / copy)
        lines.append(f"{copy},{copy.split('/')[0]},spk00")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n")

    args = resolve_defaults(BenchmarkArguments(dataset_name=str(folder), forget_fraction=[0.3], top_speakers=1))
    data = load_any(args)
    train = data["train"]
    digests, groups = audio_digests(train, "audio"), train[IDENTICAL_AUDIO_GROUP]
    twins = [(i, j) for i in range(len(train)) for j in range(i + 1, len(train)) if digests[i] == digests[j]]
    assert len(twins) == len(WORDS) and all(groups[i] == groups[j] for i, j in twins)
    assert len(set(groups)) == len(train) - len(WORDS)  # every other row is a group of its own
    requests = build_requests(args, ["spk00"])
    for seed in range(3):
        design = split_design(train, seed, args, ["spk00"])
        for request in requests:
            splits = any_request_splits(data, request, seed, args, design)
            sides = {
                name: set(audio_digests(part, "audio"))
                for name, part in (
                    ("forget", splits.forget),
                    ("retain", splits.retain),
                    ("validation", splits.validation),
                    ("test", splits.test),
                )  # fmt: skip
            }
            for twin in {digests[i] for i, _ in twins}:
                assert sum(twin in found for found in sides.values()) <= 1, (seed, request["name"], sides)
