"""Forget splits: disjointness, speakers never on both sides, the UnSLU protocol, determinism, bad requests."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_toy_dataset

from hf_unlearn import make_forget_split


@pytest.fixture(scope="module")
def data():
    return make_toy_dataset(takes=5)


def _check_partition(splits, n_train):
    all_idx = splits.forget_indices + splits.retain_indices + splits.retain_eval_indices
    assert sorted(all_idx) == list(range(n_train)), "every training row must land in exactly one set"


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"by": "sample", "fraction": 0.05},
        {"by": "sample", "indices": [0, 3, 5]},
        {"by": "class", "values": ["tone2"]},
        {"by": "class", "values": [1]},
        {"by": "speaker", "values": ["bob"]},
    ],
)
def test_partition_and_disjoint(data, request_kwargs):
    splits = make_forget_split(data, test_size=0.2, seed=1, **request_kwargs)
    n_train = len(data) - len(splits.test) - (len(splits.forget_test) if splits.forget_test is not None else 0)
    _check_partition(splits, n_train)
    assert not set(splits.forget_indices) & set(splits.retain_indices)
    if request_kwargs["by"] == "speaker":
        assert set(splits.forget["speaker"]) == {"bob"}
        assert "bob" not in set(splits.retain["speaker"]) | set(splits.test["speaker"])
        assert set(splits.forget_test["speaker"]) == {"bob"}
    if request_kwargs["by"] == "class":
        forgotten = set(splits.forget["label"])
        assert len(forgotten) == 1 and not forgotten & set(splits.retain["label"])


def test_sample_fraction_size(data):
    splits = make_forget_split(data, by="sample", fraction=0.1, seed=0)
    n_train = len(splits.forget) + len(splits.retain) + len(splits.retain_eval)
    assert len(splits.forget) == round(0.1 * n_train)


def test_deterministic(data):
    a = make_forget_split(data, by="sample", fraction=0.05, seed=7)
    b = make_forget_split(data, by="sample", fraction=0.05, seed=7)
    c = make_forget_split(data, by="sample", fraction=0.05, seed=8)
    assert a.forget_indices == b.forget_indices and a.retain_eval_indices == b.retain_eval_indices
    assert a.forget_indices != c.forget_indices


def test_dataset_dict_uses_its_test_split(data):
    from datasets import DatasetDict

    dd = DatasetDict({"train": data.filter(lambda r: r["take"] > 0), "test": data.filter(lambda r: r["take"] == 0)})
    splits = make_forget_split(dd, by="speaker", values=["ann"])
    assert len(splits.test) + len(splits.forget_test) == len(dd["test"])
    assert set(splits.test["take"]) == {0}


def test_unslu_speaker_protocol_without_replacement():
    from datasets import Dataset

    # 30 speakers with 3..32 utterances each.
    speakers = [f"s{i}" for i in range(30) for _ in range(3 + i)]
    data = Dataset.from_dict({"speaker": speakers, "label": [0] * len(speakers)})
    splits = make_forget_split(
        data,
        by="speaker",
        forget_speaker_share=0.1,
        min_speaker_utterances=10,
        test_dataset=data.select(range(5)),
        seed=3,
    )
    chosen = splits.values
    assert len(chosen) == len(set(chosen)), "a speaker was drawn twice"
    counts = {s: speakers.count(s) for s in chosen}
    assert all(c > 10 for c in counts.values())
    assert len(splits.forget) >= 0.1 * len(data)
    # Minimal: removing the last drawn speaker would fall below the share.
    assert len(splits.forget) - counts[chosen[-1]] < 0.1 * len(data)
    again = make_forget_split(
        data,
        by="speaker",
        forget_speaker_share=0.1,
        min_speaker_utterances=10,
        test_dataset=data.select(range(5)),
        seed=3,
    )
    assert again.values == chosen


def test_unslu_protocol_impossible_share():
    from datasets import Dataset

    data = Dataset.from_dict({"speaker": ["a"] * 20 + ["b"] * 5, "label": [0] * 25})
    with pytest.raises(ValueError, match="fewer than the requested share"):
        make_forget_split(
            data, by="speaker", forget_speaker_share=0.9, min_speaker_utterances=10, test_dataset=data.select([0])
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"by": "speaker", "values": ["zed"]}, "do not exist"),
        ({"by": "class", "values": ["tone9"]}, "does not exist"),
        ({"by": "class", "values": [9]}, "does not occur"),
        ({"by": "sample", "fraction": 1.5}, "fraction in"),
        ({"by": "sample", "indices": [10**6]}, "out of range"),
        ({"by": "speaker", "values": ["ann"], "speaker_column": "voice"}, "speaker_column"),
        ({"by": "class", "values": [0], "label_column": "y"}, "label_column"),
        ({"by": "everything"}, "forget-request kind"),
        ({"by": "class", "values": []}, "needs values"),
    ],
)
def test_bad_requests(data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_forget_split(data, **kwargs)


def test_summary_has_no_identities(data):
    splits = make_forget_split(data, by="speaker", values=["dee"])
    summary = splits.summary()
    assert "dee" not in str(summary)
    assert summary["num_forget"] == len(splits.forget)
    assert np.isclose(
        summary["forget_share"], len(splits.forget) / (len(data) - len(splits.test) - len(splits.forget_test))
    )


@pytest.mark.parametrize(
    "request_kwargs, has_forget_test",
    [
        ({"by": "speaker", "values": ["bob"]}, True),
        ({"by": "class", "values": [1]}, True),
        ({"by": "sample", "fraction": 0.05}, False),
    ],
)
def test_eval_splits_hold_the_held_out_forget_recordings(data, request_kwargs, has_forget_test):
    splits = make_forget_split(data, seed=0, **request_kwargs)
    eval_splits = splits.eval_splits()
    assert eval_splits["forget"] is splits.forget and eval_splits["retain"] is splits.retain_eval
    assert eval_splits["test"] is splits.test
    if has_forget_test:
        assert eval_splits["forget_test"] is splits.forget_test and len(splits.forget_test) > 0
    else:
        assert splits.forget_test is None and "forget_test" not in eval_splits


# ---------------------------------------------------------------------------------------------------------------------
# Grouped splits: a recording (or byte-identical audio) never on two sides


def _grouped_toy_dataset():
    """The toy rows in recordings of 3 takes each, plus one byte-identical twin under another recording name."""
    data = make_toy_dataset(takes=6)
    data = data.add_column("recording", [f"{s}-{label}-{take // 3}" for s, label, take in zip(*_columns(data))])
    data = data.add_column("row", list(range(len(data))))
    twin = data[0]  # ann, tone0, take 0: recording "ann-0-0"
    twin.update(recording="copied-file", take=99, row=len(data))
    from datasets import concatenate_datasets

    return concatenate_datasets([data, data.from_list([twin], features=data.features)])


def _columns(data):
    return data["speaker"], data["label"], data["take"]


def _sides(splits, column):
    sides = {"forget": splits.forget, "retain": splits.retain, "retain_eval": splits.retain_eval, "test": splits.test}
    if splits.forget_test is not None:
        sides["forget_test"] = splits.forget_test
    return {name: set(data[column]) for name, data in sides.items()}


def _shared_groups(splits) -> set:
    sides = _sides(splits, "recording")
    shared = set()
    for first in sides:
        for second in sides:
            if first < second and {first, second} != {"forget_test", "test"}:
                shared |= sides[first] & sides[second]
    return shared


GROUPED_REQUESTS = [
    {"by": "sample", "fraction": 0.1},
    {"by": "sample", "indices": [0, 7, 30]},
    {"by": "class", "values": ["tone2"]},
    {"by": "speaker", "values": ["bob"]},
]


@pytest.mark.parametrize("request_kwargs", GROUPED_REQUESTS)
@pytest.mark.parametrize("seed", range(4))
def test_grouped_split_keeps_every_recording_on_one_side(request_kwargs, seed):
    data = _grouped_toy_dataset()
    splits = make_forget_split(
        data, seed=seed, test_size=0.2, retain_eval_size=0.2, group_column="recording", **request_kwargs
    )
    assert not _shared_groups(splits)
    n_train = len(splits.forget) + len(splits.retain) + len(splits.retain_eval)
    _check_partition(splits, n_train)
    assert n_train + len(splits.test) + (len(splits.forget_test) if splits.forget_test else 0) == len(data)
    assert len(splits.retain_eval) > 0 and len(splits.test) > 0
    # The twin (identical audio, another recording name) is on the same side as its original.
    sides = _sides(splits, "row")
    assert [name for name, rows in sides.items() if 0 in rows] == [
        name for name, rows in sides.items() if len(data) - 1 in rows
    ]
    if request_kwargs["by"] == "sample" and "indices" not in request_kwargs:
        assert abs(len(splits.forget) - 0.1 * n_train) <= 3  # within one group of 3 rows


def test_ungrouped_split_does_mix_recordings():
    """The grouped test above can fail: drawn row by row, recordings land on several sides."""
    data = _grouped_toy_dataset()
    splits = make_forget_split(data, by="sample", fraction=0.1, test_size=0.2, retain_eval_size=0.2, seed=0)
    assert _shared_groups(splits)


def _held_out_takes():
    """Take 6 of every tone and speaker: recordings (and audio) not in `_grouped_toy_dataset`."""
    held = make_toy_dataset(takes=7).filter(lambda row: row["take"] == 6)
    return held.add_column("recording", [f"held-{i}" for i in range(len(held))]).add_column("row", [-1] * len(held))


def test_grouped_sample_indices_forget_whole_recordings(caplog):
    data = _grouped_toy_dataset()
    # The logger named explicitly: an earlier test in the same process may have raised the package logger's level.
    with caplog.at_level("WARNING", logger="hf_unlearn"):
        splits = make_forget_split(
            data, by="sample", indices=[0], test_dataset=_held_out_takes(), group_column="recording", seed=0
        )
    # Row 0 is recording "ann-0-0" (takes 0-2) and has a byte-identical twin: 4 rows in all.
    assert sorted(splits.forget["row"]) == [0, 1, 2, len(data) - 1]
    assert "3 rows added" in caplog.text


def test_grouped_split_refuses_a_leaking_test_split():
    data = _grouped_toy_dataset()
    # Takes 1 are in the same recordings as takes 0 and 2.
    train, test = data.filter(lambda row: row["take"] != 1), data.filter(lambda row: row["take"] == 1)
    with pytest.raises(ValueError, match="test rows share a group"):
        make_forget_split(train, by="class", values=[1], test_dataset=test, group_column="recording")
    # Whole recordings held out, but the training side holds a byte-identical copy of a test row (the twin).
    train, test = data.filter(lambda row: row["take"] >= 3), data.filter(lambda row: row["take"] < 3)
    assert "copied-file" in train["recording"]
    with pytest.raises(ValueError, match="3 test rows share a group"):
        make_forget_split(train, by="class", values=[1], test_dataset=test, group_column="recording")
    splits = make_forget_split(
        train, by="class", values=[1], test_dataset=test, group_column="recording", group_identical_audio=False
    )
    assert not _shared_groups(splits)


def test_grouped_class_request_refuses_a_mixed_group():
    data = _grouped_toy_dataset()
    mixed = data.map(lambda row: {"recording": "one-big-file" if row["take"] == 5 else row["recording"]})
    with pytest.raises(ValueError, match="hold both rows to forget and rows to keep"):
        make_forget_split(
            mixed, by="class", values=["tone1"], group_column="recording", test_dataset=_held_out_takes()
        )


def test_grouped_split_needs_the_group_column():
    with pytest.raises(ValueError, match="group_column="):
        make_forget_split(_grouped_toy_dataset(), by="class", values=[1], group_column="utterance")


def test_verify_split_detects_a_shared_group():
    from hf_unlearn.data import verify_split

    data = _grouped_toy_dataset()
    splits = make_forget_split(data, by="sample", fraction=0.1, test_size=0.2, seed=0)
    with pytest.raises(ValueError, match="values of 'recording'"):
        verify_split(splits, group_column="recording")


# ---------------------------------------------------------------------------------------------------------------------
# window_clips: clips keep their recording's id


def test_window_clips_covers_every_recording_and_keeps_its_id():
    from datasets import Dataset

    from hf_unlearn.data import window_clips

    rate = 1000
    arrays = [np.arange(n, dtype=np.float32) for n in (1000, 250, 700)]
    data = Dataset.from_dict(
        {"audio": [{"array": a, "sampling_rate": rate} for a in arrays], "label": [0, 1, 0], "speaker": list("abc")}
    )
    clips = window_clips(data, seconds=0.3)
    assert clips.column_names == ["label", "speaker", "audio", "recording", "window", "window_start"]
    recordings = clips["recording"]
    assert len(set(recordings)) == 3 and all(r.startswith("sha1:") for r in recordings)
    assert [recordings.count(r) for r in dict.fromkeys(recordings)] == [4, 1, 3]
    assert clips["window_start"] == [0.0, 0.3, 0.6, 0.7, 0.0, 0.0, 0.3, 0.4]  # last clips flush with the end
    assert clips["speaker"] == list("aaaabccc") and clips["window"] == [0, 1, 2, 3, 0, 0, 1, 2]
    first = clips[3]["audio"]
    assert first["sampling_rate"] == rate and first["array"][-1] == 999 and len(first["array"]) == 300
    assert len(clips[4]["audio"]["array"]) == 250  # shorter than a clip: kept whole

    dropped = window_clips(data, seconds=0.3, hop=0.3, drop_last=True)
    assert dropped["window_start"] == [0.0, 0.3, 0.6, 0.0, 0.0, 0.3]
    overlapping = window_clips(data.add_column("recording", ["x", "y", "z"]), seconds=0.5, hop=0.25)
    assert overlapping["recording"] == ["x", "x", "x", "y", "z", "z"]
    with pytest.raises(ValueError, match="positive"):
        window_clips(data, seconds=0)


def test_window_clips_of_audio_files_are_grouped_by_file(tmp_path):
    import soundfile
    from datasets import Audio, Dataset

    from hf_unlearn.data import window_clips

    files = []
    for index in range(2):
        files.append(str(tmp_path / f"long{index}.wav"))
        soundfile.write(files[-1], np.full(2000, 0.1 * (index + 1), dtype=np.float32), 8000, subtype="PCM_16")
    data = Dataset.from_dict({"audio": files, "label": [0, 1]}).cast_column("audio", Audio(decode=False))
    clips = window_clips(data, seconds=0.1, sampling_rate=16000)
    assert clips["recording"] == [files[0]] * 3 + [files[1]] * 3
    assert {clip["sampling_rate"] for clip in clips["audio"]} == {16000}
    assert all(len(clip["array"]) == 1600 for clip in clips["audio"])


@pytest.mark.parametrize("request_kwargs", GROUPED_REQUESTS[::2] + [{"by": "speaker", "values": ["cid"]}])
def test_windowed_recordings_never_straddle_a_split(request_kwargs):
    from hf_unlearn.data import window_clips

    clips = window_clips(make_toy_dataset(takes=4), seconds=0.1)  # 3 clips of every 0.25 s recording
    assert len(clips) == 3 * 4 * 4 * 4
    for seed in range(3):
        grouped = make_forget_split(clips, seed=seed, test_size=0.2, group_column="recording", **request_kwargs)
        assert not _shared_groups(grouped)
    assert _shared_groups(make_forget_split(clips, seed=0, test_size=0.2, **request_kwargs))


# ---------------------------------------------------------------------------------------------------------------------
# Validation drawn before the request (make_request_splits)


def _legacy_request_splits(data, split: dict, seed: int, validation_size: float = 0.1):
    """The benchmark's former `request_splits` (FSDD, group_column="file"), kept verbatim as the reference the data
    layer must reproduce row for row: the benchmark's cached reference models are keyed by these rows."""
    from datasets import DatasetDict

    train = data["train"]
    order = np.random.default_rng(seed).permutation(len(train))
    count = int(round(validation_size * len(train)))
    held, rest = sorted(order[:count].tolist()), sorted(order[count:].tolist())
    reduced = DatasetDict({"train": train.select(rest), "test": data["test"]})
    splits = make_forget_split(reduced, seed=seed, group_column="file", retain_eval_size=0.0, **split)
    validation = train.select(held)
    by, values = split["by"], [str(v) for v in split.get("values", [])]
    if by == "speaker":
        forgotten = np.isin(np.asarray(validation["speaker"]).astype(str), values)
    elif by == "class":
        names = validation.features["label"].names
        ids = [names.index(v) if v in names else int(v) for v in values]
        forgotten = np.isin(np.asarray(validation["label"]), ids)
    else:
        forgotten = np.zeros(len(validation), dtype=bool)
    splits.retain_eval = validation.select(np.flatnonzero(~forgotten).tolist())
    splits.validation = validation
    splits.forget_indices = [rest[i] for i in splits.forget_indices]
    splits.retain_indices = [rest[i] for i in splits.retain_indices]
    splits.retain_eval_indices = [held[i] for i in np.flatnonzero(~forgotten).tolist()]
    extra = {}
    if forgotten.any():
        extra["forget_validation"] = validation.select(np.flatnonzero(forgotten).tolist())
    return splits, extra


def _fsdd_like():
    from datasets import DatasetDict

    data = make_toy_dataset(takes=6)
    names = [
        f"{label}_{speaker}_{take}.wav" for label, speaker, take in zip(data["label"], data["speaker"], data["take"])
    ]
    data = data.add_column("file", names)
    return DatasetDict(
        {
            "train": data.filter(lambda t: t >= 2, input_columns="take"),
            "test": data.filter(lambda t: t < 2, input_columns="take"),
        }
    )


def _rows(dataset):
    return None if dataset is None else dataset.to_dict()


@pytest.mark.parametrize(
    "split",
    [{"by": "class", "values": ["1"]}, {"by": "class", "values": ["tone2"]}, {"by": "speaker", "values": ["bob"]},
     {"by": "sample", "fraction": 0.1}],
)  # fmt: skip
@pytest.mark.parametrize("seed", [0, 3])
def test_make_request_splits_reproduces_the_benchmark_rows(split, seed):
    from hf_unlearn.data import make_request_splits

    data = _fsdd_like()
    old, extra = _legacy_request_splits(data, split, seed)
    new = make_request_splits(data, split, seed, validation_size=0.1, group_column="file")
    for name in ("forget", "retain", "retain_eval", "test", "forget_test", "validation"):
        assert _rows(getattr(new, name)) == _rows(getattr(old, name)), name
    assert _rows(new.forget_validation) == _rows(extra.get("forget_validation"))
    for name in ("forget_indices", "retain_indices", "retain_eval_indices"):
        assert list(getattr(new, name)) == list(getattr(old, name)), name
    assert (new.forget_validation is None) == (split["by"] == "sample")
    # Validation is request-independent; the three sides partition the training rows.
    other = make_request_splits(data, {"by": "speaker", "values": ["ann"]}, seed, group_column="file")
    assert _rows(other.validation) == _rows(new.validation)
    every = sorted(new.forget_indices + new.retain_indices + new.retain_eval_indices)
    held_forget = len(new.forget_validation) if new.forget_validation is not None else 0
    assert len(every) + held_forget == len(data["train"]) and len(set(every)) == len(every)
    assert "forget_validation" not in new.eval_splits()


def test_make_request_splits_without_a_test_split_keeps_indices_in_train_numbering():
    from hf_unlearn.data import make_request_splits

    train = make_toy_dataset(takes=5)
    splits = make_request_splits(train, {"by": "class", "values": ["tone0"]}, seed=1, test_size=0.2)
    assert splits.forget["label"] == train.select(splits.forget_indices)["label"]
    assert splits.retain.to_dict() == train.select(splits.retain_indices).to_dict()
    assert splits.retain_eval.to_dict() == train.select(splits.retain_eval_indices).to_dict()
    assert len(splits.test) + len(splits.forget_test) == round(0.2 * len(train))


def test_speaker_labels_make_a_speaker_identification_request(data):
    """A class (or speaker) request on a label column that names the speakers is speaker identification: its
    `request_kind` reads the `speaker_id` settings, and its public record never names the forgotten speaker."""
    from datasets import ClassLabel

    from hf_unlearn.hub.privacy import ForgetRequest

    assert make_forget_split(data, by="class", values=["tone1"]).request_kind == "class"
    assert make_forget_split(data, by="speaker", values=["dee"]).request_kind == "speaker"
    assert make_forget_split(data, by="sample", fraction=0.05).request_kind == "sample"
    speakers = sorted(set(data["speaker"]))
    by_speaker = data.map(lambda row: {"label": speakers.index(row["speaker"])}, desc=None)
    by_speaker = by_speaker.cast_column("label", ClassLabel(names=speakers))
    for kwargs in ({"by": "class", "values": ["dee"]}, {"by": "speaker", "values": ["dee"]}):
        splits = make_forget_split(by_speaker, **kwargs)
        assert splits.request_kind == "speaker_id" and splits.summary()["kind"] == "speaker_id", kwargs
        record = ForgetRequest.from_splits(splits).public_record()
        assert "dee" not in str(record) and "forgotten_classes" not in record, record
    # The label column being the speaker column itself (string speaker labels) counts too.
    splits = make_forget_split(data, by="class", values=["dee"], label_column="speaker")
    assert splits.request_kind == "speaker_id"
