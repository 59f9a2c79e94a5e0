"""The `unlearning` evaluate module: loads offline from its local folder, gives the numbers of unlearning_metrics."""

from __future__ import annotations

import doctest
import importlib.util
import json
import os
import socket

import numpy as np
import pytest

import hf_unlearn
from hf_unlearn.evaluation import unlearning_metrics
from hf_unlearn.metrics import METRICS_DIR, available_metrics, load_metric, metric_path


@pytest.fixture
def offline(monkeypatch):
    """No network at all: the offline flags, and sockets that refuse to connect."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
        monkeypatch.setenv(name, "1")

    def refuse(*args, **kwargs):
        raise OSError("network access attempted during an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _rows(seed: int = 0):
    rng = np.random.default_rng(seed)
    splits = ["forget"] * 20 + ["retain"] * 15 + ["test"] * 25
    references = rng.integers(0, 4, len(splits))
    predictions = np.where(rng.random(len(splits)) < 0.8, references, (references + 1) % 4)
    losses = np.concatenate([rng.gamma(2, 0.2, 20), rng.gamma(2, 0.2, 15), rng.gamma(2, 0.5, 25)])
    return predictions.tolist(), references.tolist(), losses.tolist(), splits


def _grouped(predictions, references, losses, splits):
    grouped = ({}, {}, {})
    for row in zip(predictions, references, losses, splits):
        for target, value in zip(grouped, row[:3]):
            target.setdefault(row[3], []).append(value)
    return grouped


def test_metric_path_and_unknown_names():
    assert available_metrics() == ["unlearning"]
    path = metric_path("unlearning")
    assert path == os.path.join(METRICS_DIR, "unlearning")
    for name in ("unlearning.py", "README.md", "requirements.txt"):
        assert os.path.isfile(os.path.join(path, name))
    with pytest.raises(ValueError, match="available: unlearning"):
        metric_path("accuracy")
    with pytest.raises(ValueError, match="available: unlearning"):
        load_metric("accuracy")


def test_evaluate_load_local_path_offline(offline, tmp_path):
    import evaluate

    metric = evaluate.load(metric_path("unlearning"), cache_dir=str(tmp_path))
    assert [set(features) for features in metric.features] == [
        {"predictions", "references", "losses", "splits"},
        {"predictions", "references", "losses", "splits", "logits"},
    ]
    assert "closest to the gold" in metric.description
    predictions, references, losses, splits = _rows()
    results = metric.compute(predictions=predictions, references=references, losses=losses, splits=splits)
    assert results == unlearning_metrics(*_grouped(predictions, references, losses, splits))


def test_load_metric_matches_unlearning_metrics(offline, tmp_path):
    predictions, references, losses, splits = _rows(seed=1)
    gold = {"test_f1": 0.75, "forget_f1": 0.7, "mia": 0.55, "train_time": 900.0}
    gold_path = tmp_path / "gold.json"
    gold_path.write_text(json.dumps(gold))
    references_kwargs = {"original": {"mia": 0.8}, "unlearning_time": 45.0, "num_classes": 4, "mia_seed": 7}

    metric = hf_unlearn.load_metric("unlearning", cache_dir=str(tmp_path))
    results = metric.compute(
        predictions=predictions,
        references=references,
        losses=losses,
        splits=splits,
        gold=str(gold_path),
        **references_kwargs,
    )
    expected = unlearning_metrics(*_grouped(predictions, references, losses, splits), gold=gold, **references_kwargs)
    assert results == expected
    assert {"gum", "cgum", "speedup", "forget_f1_minus_gold", "time_share_of_gold"} <= set(results)


def test_heldout_mia_and_undefined_gum(offline, tmp_path):
    """Splits forget, forget_test and test give mia_heldout; gold's MIA above the original's makes GUM undefined."""
    rng = np.random.default_rng(3)
    splits = ["forget"] * 20 + ["forget_test"] * 15 + ["test"] * 25
    references = rng.integers(0, 4, len(splits)).tolist()
    losses = np.concatenate([rng.gamma(2, 0.2, 20), rng.gamma(2, 0.5, 40)]).tolist()
    metric = load_metric("unlearning", cache_dir=str(tmp_path))
    gold = {"test_f1": 0.6, "mia": 0.95, "train_time": 100.0}
    results = metric.compute(
        predictions=references,
        references=references,
        losses=losses,
        splits=splits,
        original={"mia": 0.55},
        gold=gold,
        unlearning_time=10.0,
        num_classes=4,
    )
    expected = unlearning_metrics(
        *_grouped(references, references, losses, splits),
        original={"mia": 0.55},
        gold=gold,
        unlearning_time=10.0,
        num_classes=4,
    )
    assert results == expected and results["mia_heldout"] > 0.5
    assert results["gum"] is None and results["cgum"] is None and "0.950" in results["gum_undefined_reason"]


def test_logits_gold_and_shadow_inputs(offline, tmp_path):
    rng = np.random.default_rng(4)
    splits = ["forget"] * 10 + ["forget_test"] * 10 + ["test"] * 10
    logits = rng.normal(size=(30, 3))
    references = rng.integers(0, 3, 30)
    gold_logits = {"forget": logits[:10] + 1.0, "test": logits[20:]}
    shadow_logits = {"forget": rng.normal(size=(3, 10, 3)), "forget_test": rng.normal(size=(3, 10, 3))}
    metric = load_metric("unlearning", cache_dir=str(tmp_path))
    kwargs = {"gold_logits": gold_logits, "shadow_logits": shadow_logits}
    results = metric.compute(
        predictions=logits.argmax(1).tolist(),
        references=references.tolist(),
        losses=[0.5] * 30,
        splits=splits,
        logits=logits.tolist(),
        **kwargs,
    )
    grouped = _grouped(logits.argmax(1).tolist(), references.tolist(), [0.5] * 30, splits)
    split_logits = {"forget": logits[:10], "forget_test": logits[10:20], "test": logits[20:]}
    assert results == unlearning_metrics(*grouped, split_logits=split_logits, **kwargs)
    # A shift of all logits leaves the softmax unchanged.
    assert results["kl_to_gold"] == pytest.approx(0.0, abs=1e-12) and results["kl_to_gold_test"] == 0.0
    assert {"lira_auc", "lira_tpr_at_1fpr", "lira_tpr_at_5fpr"} <= set(results)
    with pytest.raises(ValueError, match="logits="):
        metric.compute(predictions=[0], references=[0], losses=[0.1], splits=["forget"], gold_logits=gold_logits)


def test_add_batch_then_compute(offline, tmp_path):
    predictions, references, losses, splits = _rows(seed=2)
    metric = load_metric("unlearning", cache_dir=str(tmp_path))
    for start in range(0, len(splits), 16):
        end = start + 16
        metric.add_batch(
            predictions=predictions[start:end],
            references=references[start:end],
            losses=losses[start:end],
            splits=splits[start:end],
        )
    assert metric.compute() == unlearning_metrics(*_grouped(predictions, references, losses, splits))


def test_module_doctests(offline):
    """The Examples of the module docstring run as written (they load the module by its local path)."""
    script = os.path.join(metric_path("unlearning"), "unlearning.py")
    spec = importlib.util.spec_from_file_location("unlearning_metric_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    outcome = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert outcome.attempted >= 6 and outcome.failed == 0


def test_metric_card_example(offline):
    outcome = doctest.testfile(os.path.join(metric_path("unlearning"), "README.md"), module_relative=False)
    assert outcome.attempted >= 3 and outcome.failed == 0


def test_metric_card_states_every_output():
    with open(os.path.join(metric_path("unlearning"), "README.md"), encoding="utf-8") as handle:
        card = handle.read()
    predictions, references, losses, splits = _rows()
    splits = ["forget_test" if index % 4 == 0 and split == "test" else split for index, split in enumerate(splits)]
    logits = np.random.default_rng(0).normal(size=(len(splits), 4))
    split_logits = {name: logits[[s == name for s in splits]] for name in set(splits)}
    results = unlearning_metrics(
        *_grouped(predictions, references, losses, splits),
        split_logits=split_logits,
        gold_logits=split_logits,
        shadow_logits={name: np.stack([split_logits[name]] * 2) + 0.1 for name in ("forget", "forget_test")},
        original={"mia": 0.5},
        gold={"test_f1": 0.75, "forget_f1": 0.7, "mia": 0.55, "train_time": 900.0},
        unlearning_time=45.0,
        num_classes=4,
    )
    for key in results:
        documented = f"`{key}`" in card or (key.endswith("_minus_gold") and "`<key>_minus_gold`" in card)
        assert documented, f"{key} is not in the metric card"
