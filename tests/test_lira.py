"""Offline LiRA and KL to gold: closed forms, and the attack on models that did and did not memorise a forget set."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from hf_unlearn.evaluation import (
    kl_divergence,
    lira,
    lira_scores,
    logit_scaled_confidence,
    mean_kl_to_gold,
    unlearning_metrics,
)
from hf_unlearn.evaluation.lira import tpr_at_fpr


# ----------------------------------------------------------------------------------------------------- closed forms
def test_logit_scaled_confidence_closed_form_and_stable():
    logits = np.array([[0.0, 0.0, 0.0], [2.0, 1.0, -1.0], [1000.0, 0.0, 0.0]])
    labels = np.array([1, 0, 0])
    phi = logit_scaled_confidence(logits, labels)
    p = np.exp(logits[1]) / np.exp(logits[1]).sum()
    assert phi[0] == pytest.approx(math.log(0.5))  # p = 1/3: log((1/3) / (2/3))
    assert phi[1] == pytest.approx(math.log(p[0] / (1 - p[0])))
    # p rounds to 1 in float64, yet phi is exact: 1000 - log(e^0 + e^0).
    assert phi[2] == pytest.approx(1000 - math.log(2))
    # Leading axes (one per shadow model) are kept.
    assert logit_scaled_confidence(np.stack([logits, logits]), labels).shape == (2, 3)


def test_lira_scores_closed_form():
    shadow = np.array([[0.0, 0.0], [2.0, 4.0]])  # per example: mean (1, 2), unbiased variance (2, 8)
    scores = lira_scores([1.0, 2.0 + math.sqrt(8)], shadow, global_variance=False)
    # z = 0 -> -log P(Z > mu) = log 2; z = 1 -> -log(1 - Phi(1)).
    assert scores[0] == pytest.approx(math.log(2))
    assert scores[1] == pytest.approx(-math.log(0.15865525393145707))
    # Pooled variance (2 + 8) / 2 = 5 for both examples.
    pooled = lira_scores([1.0 + math.sqrt(5), 2.0], shadow, global_variance=True)
    assert pooled == pytest.approx([-math.log(0.15865525393145707), math.log(2)])


def test_tpr_at_fpr():
    members = [1, 1, 1, 1, 0, 0, 0, 0]
    scores = [9, 8, 3, 1, 7, 2, 0, -1]
    assert tpr_at_fpr(members, scores, 0.0) == 0.5  # above 7: two of four members, no false positive
    assert tpr_at_fpr(members, scores, 0.25) == 0.75


def test_kl_closed_form():
    gold = np.log([[0.5, 0.5], [0.2, 0.8]])
    model = np.log([[0.75, 0.25], [0.2, 0.8]])
    expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert kl_divergence(gold, model) == pytest.approx([expected, 0.0], abs=1e-12)
    assert mean_kl_to_gold(gold, model) == pytest.approx(expected / 2)
    assert kl_divergence(model, model).max() == 0.0
    with pytest.raises(ValueError, match="same shape"):
        kl_divergence(gold, model[:1])


def test_lira_bad_input():
    phi = np.zeros(5)
    with pytest.raises(ValueError, match="at least 2 shadow"):
        lira(phi, phi, np.zeros((1, 5)), np.zeros((1, 5)))
    with pytest.raises(ValueError, match="both forget_labels"):
        lira(phi, phi, np.zeros((3, 5)), np.zeros((3, 5)), forget_labels=[0] * 5)
    with pytest.raises(ValueError, match="shape"):
        lira(phi, phi, np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="shape"):  # the sizes add up, but each set must match its own target
        lira(phi, phi, np.zeros((3, 4)), np.zeros((3, 6)))
    with pytest.raises(ValueError, match="same shadow models"):
        lira(phi, phi, np.zeros((3, 5)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="labels"):
        logit_scaled_confidence(np.zeros((2, 3)), [0, 3])


# ----------------------------------------------------------------------------------------------------- attack
DIM, NUM_CLASSES, NUM_SHADOWS = 300, 3, 16


def _random_label_task(seed: int = 0):
    """Random features with random labels: nothing generalises, so any confidence above chance is memorisation."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(2000, DIM))
    labels = rng.integers(0, NUM_CLASSES, 2000)
    forget, heldout, pool = np.arange(0, 100), np.arange(100, 300), np.arange(300, 2000)
    return rng, features, labels, forget, heldout, pool


def _fit(features, labels, rows):
    # Weak regularisation in more dimensions than half the samples: the model fits its training labels.
    return LogisticRegression(C=1e4, max_iter=5000).fit(features[rows], labels[rows])


def _attack(target, shadows, features, labels, forget, heldout):
    shadow_forget = np.stack([model.decision_function(features[forget]) for model in shadows])
    shadow_heldout = np.stack([model.decision_function(features[heldout]) for model in shadows])
    return lira(
        target.decision_function(features[forget]),
        target.decision_function(features[heldout]),
        shadow_forget,
        shadow_heldout,
        forget_labels=labels[forget],
        heldout_labels=labels[heldout],
    )


def test_lira_detects_a_memorising_model_and_not_an_unseen_one():
    rng, features, labels, forget, heldout, pool = _random_label_task()
    # Shadow models: never trained on the forget or held-out examples.
    shadows = [_fit(features, labels, rng.choice(pool, 150, replace=False)) for _ in range(NUM_SHADOWS)]

    memorising = _fit(features, labels, np.concatenate([forget, rng.choice(pool, 50, replace=False)]))
    assert (memorising.predict(features[forget]) == labels[forget]).mean() > 0.9  # it did memorise
    remembered = _attack(memorising, shadows, features, labels, forget, heldout)
    assert remembered.auc > 0.8
    assert remembered.tpr_at_5fpr > 0.3 and remembered.global_variance

    unseen = _fit(features, labels, rng.choice(pool, 150, replace=False))
    forgotten = _attack(unseen, shadows, features, labels, forget, heldout)
    assert abs(forgotten.auc - 0.5) < 0.1
    assert forgotten.tpr_at_5fpr < 0.2


def test_lira_and_kl_in_unlearning_metrics():
    rng, features, labels, forget, heldout, pool = _random_label_task(seed=1)
    shadows = [_fit(features, labels, rng.choice(pool, 100, replace=False)) for _ in range(4)]
    model = _fit(features, labels, np.concatenate([forget, rng.choice(pool, 50, replace=False)]))
    gold = shadows[0]
    splits = {"forget": forget, "forget_test": heldout, "test": pool[:200]}
    logits = {name: model.decision_function(features[rows]) for name, rows in splits.items()}
    results = unlearning_metrics(
        {name: values.argmax(1) for name, values in logits.items()},
        {name: labels[rows] for name, rows in splits.items()},
        split_logits=logits,
        gold_logits={name: gold.decision_function(features[rows]) for name, rows in splits.items()},
        shadow_logits={
            name: np.stack([shadow.decision_function(features[splits[name]]) for shadow in shadows[1:]])
            for name in ("forget", "forget_test")
        },
    )
    direct = _attack(model, shadows[1:], features, labels, forget, heldout)
    assert results["lira_auc"] == direct.auc and results["lira_auc"] > 0.8
    assert results["lira_tpr_at_1fpr"] == direct.tpr_at_1fpr and results["lira_tpr_at_5fpr"] == direct.tpr_at_5fpr
    assert results["kl_to_gold"] == pytest.approx(
        mean_kl_to_gold(gold.decision_function(features[forget]), logits["forget"])
    )
    # The memorised forget set is further from gold than unseen test data.
    assert results["kl_to_gold"] > results["kl_to_gold_test"] > 0
    with pytest.raises(ValueError, match="held-out split"):
        unlearning_metrics(
            {}, {}, split_logits={"forget": logits["forget"]}, shadow_logits={"forget": np.zeros((2, 100, 3))}
        )
