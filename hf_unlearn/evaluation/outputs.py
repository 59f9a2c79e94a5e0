"""Unlearning metrics from raw model outputs (logits and labels per split, as `Trainer.predict` returns them), and
results dicts read from where they were given."""

from __future__ import annotations

import json

import numpy as np

from .signals import per_sample_cross_entropy
from .unlearning_metrics import unlearning_metrics


def metrics_from_outputs(
    outputs: dict,
    original=None,
    gold=None,
    unlearning_time=None,
    num_classes=None,
    gold_logits=None,
    shadow_logits=None,
):
    """Unlearning metrics from `{split: (logits, labels)}`; returns `(metrics, {split: per-sample losses})`.

    The other arguments are those of [`unlearning_metrics`]: the original and gold model's results, the wall time of
    the unlearning run, the number of classes, and the gold and shadow models' logits (for the KL to gold and LiRA;
    the model's own logits are `outputs`').
    """
    predictions, labels, losses, split_logits = {}, {}, {}, {}
    for name, (logits, label_ids) in outputs.items():
        logits, label_ids = np.asarray(logits), np.asarray(label_ids)
        split_logits[name] = logits
        predictions[name] = logits.argmax(-1)
        labels[name] = label_ids
        losses[name] = per_sample_cross_entropy(logits, label_ids)
    metrics = unlearning_metrics(
        predictions,
        labels,
        losses,
        original=original,
        gold=gold,
        unlearning_time=unlearning_time,
        num_classes=num_classes,
        split_logits=split_logits,
        gold_logits=gold_logits,
        shadow_logits=shadow_logits,
    )
    return metrics, losses


def load_results(results):
    """Results given as a dict (returned as is), as a path to a JSON file holding one, or `None`."""
    if results is None or isinstance(results, dict):
        return results
    with open(results) as handle:
        return json.load(handle)
