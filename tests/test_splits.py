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
