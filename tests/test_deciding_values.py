"""Hand-computed values of the code that decides results: the tuner's criterion, the evaluation's choice of splits and
references, and what `write_results` publishes. Each test fails under a mutant of `perf/mutations.py` that the
suite missed before (see docs/mutation_testing.md)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hf_unlearn.benchmark import tuning


def view(rv, fv, forget=0.9, original_rv=0.9, gold_fv=0.0, n_rv=100, n_fv=50):
    return {
        "retain_validation_accuracy": rv,
        "original_retain_validation_accuracy": original_rv,
        "num_retain_validation": n_rv,
        "forget_validation_accuracy": fv,
        "gold_forget_validation_accuracy": gold_fv,
        "num_forget_validation": n_fv,
        "forget_accuracy": forget,
    }


def trials(by_setting: dict) -> list[dict]:
    return [
        {"settings": {"num_train_epochs": epochs, "learning_rate": lr}, "request": request, "view": value}
        for (epochs, lr), value in by_setting.items()
        for request in ("a", "b")
    ]


# ---------------------------------------------------------------------------------------------------------------------
# The tuner


def test_tuning_grid_is_every_pair_shortest_first():
    grid = tuning.tuning_grid([1e-3, 1e-4], [2, 1])
    assert grid == [
        {"learning_rate": 1e-4, "num_train_epochs": 1.0},
        {"learning_rate": 1e-3, "num_train_epochs": 1.0},
        {"learning_rate": 1e-4, "num_train_epochs": 2.0},
        {"learning_rate": 1e-3, "num_train_epochs": 2.0},
    ]


def test_tuner_binomial_standard_error_by_hand():
    assert tuning.binomial_standard_error(0.5, 100) == pytest.approx(0.05)  # sqrt(0.25 / 100)
    assert tuning.binomial_standard_error(1.0, 40) == pytest.approx(1 / 40)  # floor: one row's worth
    assert tuning.binomial_standard_error(0.99, 4) == pytest.approx(0.25)  # sqrt(0.0099 / 4) < 1 / 4
    assert tuning.binomial_standard_error(0.5, 0) == math.inf


def test_tuner_utility_tolerance_is_inclusive():
    # p = 0.5, n = 4: standard error sqrt(0.25 / 4) = 0.25 exactly, one standard error allowed: losing 0.25 is kept.
    at_edge = tuning.trial_scores(view(rv=0.25, fv=0.1, original_rv=0.5, n_rv=4), standard_errors=1.0)
    assert at_edge["utility_tolerance"] == 0.25 and at_edge["utility_loss"] == 0.25 and at_edge["utility_kept"]
    past = tuning.trial_scores(view(rv=0.0, fv=0.1, original_rv=0.5, n_rv=4), standard_errors=1.0)
    assert not past["utility_kept"]


def test_tuner_forgetting_score_reads_forget_validation_against_gold():
    scores = tuning.trial_scores(view(rv=0.9, fv=0.3, forget=0.8, gold_fv=0.1), 2.0)
    assert scores["forgetting"] == pytest.approx(0.2)  # |0.3 - 0.1|, not |0.8 - 0.1|
    assert scores["gold_free"] == pytest.approx(0.5)  # |0.8 - 0.3|
    assert scores["tie"] == pytest.approx(math.sqrt(0.1 * 0.9 / 50))


def test_tuner_near_ties_go_to_the_fewest_epochs():
    # Gold 0.0 on 50 forget-validation rows: a tie is one standard error, max(0, 1 / 50) = 0.02.
    chosen = tuning.choose_setting(trials({(1, 1e-3): view(rv=0.9, fv=0.015), (2, 1e-3): view(rv=0.9, fv=0.0)}))
    assert chosen["settings"]["num_train_epochs"] == 1 and chosen["score"] == pytest.approx(0.015)
    # Outside a standard error the better score wins, however long.
    chosen = tuning.choose_setting(trials({(1, 1e-3): view(rv=0.9, fv=0.05), (2, 1e-3): view(rv=0.9, fv=0.0)}))
    assert chosen["settings"]["num_train_epochs"] == 2


def test_tuner_charges_utility_lost_beyond_the_tolerance():
    # Tolerance 2 * sqrt(0.9 * 0.1 / 100) = 0.06. Forgetting like gold while losing 0.5 costs 2 * (0.5 - 0.06) = 0.88;
    # forgetting half as well as needed (0.3) at no utility cost scores 0.3 and wins.
    chosen = tuning.choose_setting(trials({(1, 1e-2): view(rv=0.4, fv=0.0), (1, 1e-3): view(rv=0.9, fv=0.3)}))
    assert chosen["settings"]["learning_rate"] == 1e-3 and chosen["utility_kept"]
    lost = next(c for c in chosen["candidates"] if c["settings"]["learning_rate"] == 1e-2)
    assert lost["score"] == pytest.approx(2 * (0.5 - 2 * math.sqrt(0.09 / 100)))


# ---------------------------------------------------------------------------------------------------------------------
# Evaluation: which split or reference each figure reads


def test_kl_to_gold_is_kl_of_gold_from_the_model_by_hand():
    from hf_unlearn.evaluation import mean_kl_to_gold, unlearning_metrics

    gold_logits = np.array([[0.0, 0.0]])  # p = (0.5, 0.5)
    model_logits = np.array([[math.log(9.0), 0.0]])  # q = (0.9, 0.1)
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)  # KL(p || q) = 0.5108; KL(q || p) = 0.3681
    results = unlearning_metrics(
        {"forget": [0]}, {"forget": [0]}, split_logits={"forget": model_logits}, gold_logits={"forget": gold_logits}
    )
    assert results["kl_to_gold"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="empty"):
        mean_kl_to_gold(np.zeros((0, 2)), np.zeros((0, 2)))


def test_gaps_leave_out_non_finite_figures():
    from hf_unlearn.evaluation import gaps_to_gold

    gaps = gaps_to_gold({"a": 0.5, "b": float("nan"), "c": 1.0}, {"a": 0.25, "b": 0.1, "c": float("inf")})
    assert gaps == {"a_minus_gold": 0.25}


def _losses(rng, n=40):
    """Forget and forget_test losses from one distribution, test losses far above both."""
    return {
        "forget": rng.uniform(0.0, 1.0, n),
        "forget_test": rng.uniform(0.0, 1.0, n),
        "test": rng.uniform(5.0, 6.0, n),
    }


def test_heldout_mia_uses_forget_test_and_the_time_share_is_unlearning_over_gold():
    from hf_unlearn.evaluation import unlearning_metrics

    losses = _losses(np.random.default_rng(0))
    predictions = {name: np.zeros(len(v), dtype=int) for name, v in losses.items()}
    results = unlearning_metrics(
        predictions, predictions, losses, gold={"train_time": 60.0, "mia": 0.7, "test_f1": 1.0, "num_classes": 4},
        original={"mia": 0.9}, unlearning_time=3.0,
    )  # fmt: skip
    assert results["mia"] == pytest.approx(1.0)  # test losses are all far above the forget losses
    assert 0.2 <= results["mia_heldout"] <= 0.8  # forget and forget_test come from one distribution
    assert results["time_share_of_gold"] == pytest.approx(3.0 / 60.0) and results["speedup"] == pytest.approx(20.0)
    # num_classes comes from gold's figures when not given: CGUM exists.
    assert results["cgum"] is not None and results["mia_minus_gold"] == pytest.approx(1.0 - 0.7)


def test_lira_in_unlearning_metrics_scores_against_forget_test_when_present():
    from hf_unlearn.evaluation import lira, unlearning_metrics

    rng = np.random.default_rng(1)
    n, k, classes = 30, 4, 3
    labels = {name: rng.integers(0, classes, n) for name in ("forget", "test", "forget_test")}
    shadow = {name: rng.normal(0, 1, (k, n, classes)) for name in labels}
    model = {name: rng.normal(0, 1, (n, classes)) for name in labels}
    # The model is very confident on test rows only: against test the forget rows look like non-members.
    model["test"][np.arange(n), labels["test"]] += 10.0
    results = unlearning_metrics(
        {name: v.argmax(-1) for name, v in model.items()}, labels, split_logits=model, shadow_logits=shadow
    )
    expected = lira(model["forget"], model["forget_test"], shadow["forget"], shadow["forget_test"],
                    forget_labels=labels["forget"], heldout_labels=labels["forget_test"])  # fmt: skip
    assert results["lira_auc"] == pytest.approx(expected.auc)
    assert 0.2 <= results["lira_auc"] <= 0.8


# ---------------------------------------------------------------------------------------------------------------------
# What write_results publishes


def test_write_results_rows_are_each_models_own_figures(tmp_path):
    from hf_unlearn.experiment.results import redacted_arguments, write_results

    record = {
        "method": "finetune",
        "request": {"kind": "class", "num_forget": 5},
        "original": {"forget_accuracy": 1.0, "forget_f1": 1.0, "test_accuracy": 0.9},
        "gold": {"forget_accuracy": 0.0, "forget_f1": 0.0, "test_accuracy": 0.88},
        "unlearned": {"forget_accuracy": 0.2, "forget_f1": 0.33, "test_accuracy": 0.87},
        "losses": {"original": {"forget": [0.1, 0.2]}},
    }
    written = write_results(record, str(tmp_path), figure=False)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["rows"] == {"original": record["original"], "gold": record["gold"], "finetune": record["unlearned"]}
    assert "losses" not in saved["runs"][0] and saved["method"] == "finetune"
    # A class request's forget set is one class: the table shows forget accuracy, not forget F1.
    assert "Forget F1" not in written["table"] and "0.200" in written["table"]
    published = redacted_arguments({"forget_speakers": ["george", "jackson"], "hub_token": "hf_x", "seed": 3})
    assert published == {"forget_speakers": "<2 speaker(s)>", "hub_token": "<redacted>", "seed": 3}


# ---------------------------------------------------------------------------------------------------------------------
# GUM / CGUM, subsets and the flat metrics: cases the reference values (alpha = beta = 1, gold below the original)
# leave open


def test_gum_weights_alpha_and_beta_by_hand():
    from hf_unlearn.evaluation import EPS, gum

    result = gum(0.75, 0.8, 0.6, 0.5, 0.8, 10, 1000, alpha=2.0, beta=0.5)
    u, e, t = result.U, result.E, result.T
    assert (u, e, t) == pytest.approx((0.95, 1 - (0.1 / 0.3) ** 2, 1 - math.log(11) / math.log(1001)))
    # (alpha + beta + 1) U E T / (alpha E T + beta U T + U E + eps)
    assert result.value == pytest.approx(3.5 * u * e * t / (2.0 * e * t + 0.5 * u * t + u * e + EPS))


def test_cgum_saturates_on_the_far_side_of_gold():
    from hf_unlearn.evaluation import cgum

    # Original below gold (0.4 < 0.6): a model moved past the original towards gold (0.5) is half-way, E = 0.5.
    result = cgum(0.8, 0.8, 0.5, 0.6, 0.4, 10, 100, num_classes=4)
    assert result.E == pytest.approx(0.5, abs=1e-4)
    # One that moved away from gold (0.3) saturates at the original's value: E = 0.
    assert cgum(0.8, 0.8, 0.3, 0.6, 0.4, 10, 100, num_classes=4).E == pytest.approx(0.0, abs=1e-4)


def test_subset_metrics_refuse_an_empty_split():
    from hf_unlearn.evaluation import subset_metrics

    with pytest.raises(ValueError, match="empty split"):
        subset_metrics([], [])


def test_unlearning_metrics_forgetting_score_is_the_distance_from_chance():
    from hf_unlearn.evaluation import unlearning_metrics

    losses = _losses(np.random.default_rng(0))
    predictions = {name: np.zeros(len(v), dtype=int) for name, v in losses.items()}
    results = unlearning_metrics(predictions, predictions, losses)
    assert results["mia"] == pytest.approx(1.0) and results["forgetting_score"] == pytest.approx(0.5)
    # Forget losses far ABOVE the test losses: the attacker is again right every time (mia 1), distance 0.5.
    flipped = {"forget": losses["test"], "test": losses["forget"]}
    results = unlearning_metrics({k: predictions[k] for k in flipped}, predictions, flipped)
    assert results["forgetting_score"] == pytest.approx(abs(0.5 - results["mia"]))
    assert results["mia_auc"] == pytest.approx(0.0)  # members now have the higher losses


def test_lira_scores_pool_the_variance_below_64_shadows():
    from hf_unlearn.evaluation import lira_scores

    rng = np.random.default_rng(2)
    target = rng.normal(0, 1, 5)
    few = rng.normal(0, rng.uniform(0.1, 3.0, 5), (4, 5))  # 4 shadows, very different spreads per example
    np.testing.assert_allclose(lira_scores(target, few), lira_scores(target, few, global_variance=True))
    assert not np.allclose(lira_scores(target, few), lira_scores(target, few, global_variance=False))
    many = rng.normal(0, rng.uniform(0.1, 3.0, 5), (64, 5))
    np.testing.assert_allclose(lira_scores(target, many), lira_scores(target, many, global_variance=False))
