"""hf_unlearn.data: featurizing at one entry point (pass-through rule, one pass per split) and the training streams
(the random labels that random-label methods train on)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_toy_dataset

from hf_unlearn.data import featurize, is_featurized, make_forget_split
from hf_unlearn.data.collator import RANDOM_LABELS
from hf_unlearn.data.streams import PairedUnlearningDataset
from hf_unlearn.models import MFCCFeatureExtractor
from hf_unlearn.tasks import get_task


@pytest.fixture(scope="module")
def data():
    return make_toy_dataset(takes=3)


@pytest.fixture(scope="module")
def extractor():
    return MFCCFeatureExtractor(sampling_rate=16000, normalize="per_clip")


# ---------------------------------------------------------------------------------------------------------------------
# Features


def test_featurize_then_pass_through(data, extractor):
    features = featurize(data, extractor)
    main_input = extractor.model_input_names[0]
    assert main_input in features.column_names and "labels" in features.column_names
    assert "audio" not in features.column_names and "label" not in features.column_names
    assert features["labels"] == data["label"]
    assert is_featurized(features, extractor) and not is_featurized(data, extractor)
    # Featurized data (model inputs, no audio) passes through unchanged: no second extraction.
    assert featurize(features, extractor) is features


def test_featurize_computes_each_split_once(data, extractor, monkeypatch):
    calls = []
    original_call = type(extractor).__call__

    def counting_call(self, *args, **kwargs):
        calls.append(1)
        return original_call(self, *args, **kwargs)

    monkeypatch.setattr(type(extractor), "__call__", counting_call)
    subset = data.select(range(5, 15))
    first = featurize(subset, extractor)
    extracted = len(calls)
    assert extracted >= 1
    # Same rows (same fingerprint), same extractor configuration: the first result, no new extraction.
    again = featurize(data.select(range(5, 15)), extractor)
    assert again is first and len(calls) == extracted
    # Other rows, or another configuration, are extracted anew.
    featurize(data.select(range(0, 10)), extractor)
    assert len(calls) > extracted
    count = len(calls)
    featurize(subset, MFCCFeatureExtractor(sampling_rate=16000, normalize="none"))
    assert len(calls) > count


def test_featurize_refuses_audio_next_to_features(data, extractor):
    features = featurize(data, extractor)
    both = features.add_column("audio", data["audio"])
    with pytest.raises(ValueError, match="both the audio column"):
        featurize(both, extractor)


def test_featurize_warns_about_truncation_once_per_dataset(caplog):
    """Clips longer than the features cover: one warning with the total count for the whole dataset (several map
    batches of 64), not one per batch; none again when the featurized result is reused."""
    import logging

    data = make_toy_dataset(takes=6)  # 96 rows: two batches
    assert len(data) > 64
    short = MFCCFeatureExtractor(sampling_rate=16000, normalize="per_clip", num_frames=2, hop_length=160)
    with caplog.at_level(logging.WARNING):
        featurize(data, short)
    warnings = [record.getMessage() for record in caplog.records if "longer than" in record.getMessage()]
    assert warnings == [warnings[0]] and warnings[0].startswith(f"{len(data)} of {len(data)} clips")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        featurize(data, short)  # the cached result: lengths are not known again, and nothing new to say
    assert not [record for record in caplog.records if "longer than" in record.getMessage()]


# ---------------------------------------------------------------------------------------------------------------------
# Random labels: drawn once by the task, in the stream the random-label methods train on


def test_stream_random_labels_are_the_tasks_draw_never_true_and_fixed(data, extractor):
    splits = make_forget_split(data, by="speaker", values=["bob"], seed=0)
    forget = featurize(splits.forget, extractor).with_format("numpy")
    retain = featurize(splits.retain, extractor).with_format("numpy")
    num_labels = 4
    task = get_task("audio-classification")
    stream = PairedUnlearningDataset(forget, retain, seed=3, num_labels=num_labels, task=task)

    rows = [stream[i]["forget"] for i in range(len(stream))]
    drawn = np.array([row[RANDOM_LABELS] for row in rows])
    true = np.array([row["labels"] for row in rows])
    assert not np.any(drawn == true), "a random label must never be the true one"
    assert drawn.min() >= 0 and drawn.max() < num_labels
    # Fixed per sample: a second pass over the stream (the next epoch) sees the same labels.
    assert [stream[i]["forget"][RANDOM_LABELS] for i in range(len(stream))] == drawn.tolist()
    # Seeded: the same seed gives the same labels, another seed other labels.
    same = PairedUnlearningDataset(forget, retain, seed=3, num_labels=num_labels, task=task)
    other = PairedUnlearningDataset(forget, retain, seed=4, num_labels=num_labels, task=task)
    assert np.array_equal(same.random_labels, stream.random_labels)
    assert not np.array_equal(other.random_labels, stream.random_labels)
    with pytest.raises(ValueError, match="task"):
        PairedUnlearningDataset(forget, retain, num_labels=num_labels)


def test_task_random_labels_uniform_over_the_other_classes():
    import torch

    labels = torch.arange(5).repeat(2000)
    drawn = get_task("audio-classification").random_labels(labels, 5, torch.Generator().manual_seed(0))
    assert not (drawn == labels).any()
    for true_label in range(5):
        counts = torch.bincount(drawn[labels == true_label], minlength=5).float()
        others = counts[torch.arange(5) != true_label] / 2000
        assert torch.all((others - 0.25).abs() < 0.05), others
    with pytest.raises(ValueError, match="at least 2 classes"):
        get_task("audio-classification").random_labels(labels, 1)


def test_config_accepts_exactly_the_registered_tasks(monkeypatch, tmp_path):
    """`hf_unlearn.tasks.TASKS` is the one list of tasks: registering one there is all the config needs."""
    from hf_unlearn import tasks
    from hf_unlearn.trainer.config import UnlearningConfig

    with pytest.raises(ValueError, match="Unknown task 'toy-task'"):
        UnlearningConfig(output_dir=str(tmp_path), task="toy-task")
    monkeypatch.setitem(tasks.TASKS, "toy-task", tasks.AudioClassificationTask)
    assert UnlearningConfig(output_dir=str(tmp_path), task="toy-task").task == "toy-task"
    assert isinstance(get_task("toy-task"), tasks.AudioClassificationTask)
