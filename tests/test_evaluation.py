"""Closed-form checks of hf_unlearn.evaluation: signals, split metrics, MIA, GUM/CGUM, the one-stop dict, report."""

from __future__ import annotations

import ast
import doctest
import json
import math
import os
import subprocess
import sys
import warnings
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit, cross_val_score

from hf_unlearn.evaluation import (
    MIN_SAMPLES_PER_CLASS,
    GUMResult,
    MIAResult,
    cgum,
    confidence,
    entropy,
    gaps_to_gold,
    gum,
    gum_undefined_reason,
    mia,
    per_sample_cross_entropy,
    results_figure,
    results_table,
    speedup,
    subset_metrics,
    unlearning_metrics,
)

EVALUATION_DIR = Path(__file__).resolve().parents[1] / "hf_unlearn" / "evaluation"


# ----------------------------------------------------------------------------------------------------- imports
def test_evaluation_package_imports_no_framework():
    """The maths must stay importable without torch, transformers or evaluate (and matplotlib only when drawing)."""
    forbidden = {"torch", "transformers", "evaluate", "matplotlib"}
    for path in EVALUATION_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only: matplotlib is imported inside results_figure
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            assert not {name.split(".")[0] for name in names} & forbidden, f"{path.name} imports {names}"


def test_evaluation_package_loads_alone():
    """Import hf_unlearn.evaluation under a bare parent package (hf_unlearn/__init__ pulls in transformers)."""
    code = (
        "import sys, types\n"
        f"parent = types.ModuleType('hf_unlearn'); parent.__path__ = [{str(EVALUATION_DIR.parent)!r}]\n"
        "sys.modules['hf_unlearn'] = parent\n"
        "import hf_unlearn.evaluation\n"
        "print(sorted(m for m in ('torch', 'transformers', 'evaluate', 'matplotlib') if m in sys.modules))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


# ----------------------------------------------------------------------------------------------------- signals
def test_cross_entropy_closed_form():
    logits = np.array([[0.0, 0.0], [1.0, 2.0], [1.0, 2.0], [1000.0, 0.0]])
    labels = np.array([0, 1, 0, 1])
    expected = [math.log(2), math.log(1 + math.e**-1), 1 + math.log(1 + math.e**-1), 1000.0]
    np.testing.assert_allclose(per_sample_cross_entropy(logits, labels), expected, rtol=1e-12)
    # Three classes: -log(e^3 / (e + e^2 + e^3)).
    value = per_sample_cross_entropy([[1.0, 2.0, 3.0]], [2])[0]
    assert value == pytest.approx(-math.log(math.e**3 / (math.e + math.e**2 + math.e**3)), abs=1e-12)


def test_confidence_and_entropy_closed_form():
    logits = np.array([[0.0, 0.0], [math.log(3.0), 0.0]])
    np.testing.assert_allclose(confidence(logits), [0.5, 0.75], rtol=1e-12)
    np.testing.assert_allclose(entropy(logits), [math.log(2), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))])
    np.testing.assert_allclose(entropy(np.zeros((1, 4))), [math.log(4)])
    # A saturated softmax: probability 0 underflows, the entropy is 0 and finite, the confidence 1.
    assert entropy([[1000.0, 0.0]])[0] == pytest.approx(0.0, abs=1e-12)
    assert confidence([[1000.0, 0.0]])[0] == 1.0


def test_signals_reject_bad_input():
    with pytest.raises(ValueError, match="-100"):
        per_sample_cross_entropy([[0.0, 1.0], [1.0, 0.0]], [0, -100])
    with pytest.raises(ValueError, match=r"1 of 2 labels are outside \[0, 2\)"):
        per_sample_cross_entropy([[0.0, 1.0], [1.0, 0.0]], [0, 2])
    with pytest.raises(ValueError, match="2 NaN and 1 inf"):
        per_sample_cross_entropy([[np.nan, 1.0], [np.inf, np.nan]], [0, 1])
    with pytest.raises(ValueError, match="1 NaN"):
        entropy([[np.nan, 0.0]])
    with pytest.raises(ValueError, match="shape"):
        confidence([0.0, 1.0])
    with pytest.raises(ValueError, match="shape"):
        per_sample_cross_entropy([[0.0, 1.0]], [0, 1])


# ----------------------------------------------------------------------------------------------------- subsets
def test_subset_metrics_closed_form():
    # class 0: TP 2, FP 0, FN 1 -> F1 4/5; class 1: TP 1, FP 1, FN 0 -> F1 2/3.
    result = subset_metrics([0, 1, 1, 0], [0, 1, 0, 0])
    assert result["accuracy"] == 0.75
    assert result["f1"] == pytest.approx((4 / 5 + 2 / 3) / 2, abs=1e-12)


def test_subset_metrics_single_class_split():
    assert subset_metrics([3, 3, 3], [3, 3, 3]) == {"accuracy": 1.0, "f1": 1.0}
    assert subset_metrics([1, 2, 1], [3, 3, 3]) == {"accuracy": 0.0, "f1": 0.0}
    # Classes {1, 3}: class 3 F1 = 2/3, class 1 (only predicted) F1 = 0.
    # F1 over the label classes only: on one class it is 2 acc / (1 + acc), whatever wrong classes are predicted.
    assert subset_metrics([3, 1], [3, 3])["f1"] == pytest.approx(2 / 3)
    assert subset_metrics([3] * 98 + [1, 2], [3] * 100)["f1"] == pytest.approx(2 * 0.98 / 1.98)


def test_subset_metrics_bad_input():
    with pytest.raises(ValueError, match="empty"):
        subset_metrics([], [])
    with pytest.raises(ValueError, match="differ in length"):
        subset_metrics([0, 1], [0])


def test_gaps_to_gold():
    results = {"a": 0.5, "b": 1, "c": "x", "d": True, "e": math.nan, "only_here": 0.3}
    gold = {"a": 0.25, "b": 3, "c": "y", "d": False, "e": 0.1, "only_gold": 1.0}
    assert gaps_to_gold(results, gold) == {"a_minus_gold": 0.25, "b_minus_gold": -2.0}


# ----------------------------------------------------------------------------------------------------- MIA
def test_mia_detects_a_memorising_model():
    rng = np.random.default_rng(0)
    result = mia(rng.uniform(0.01, 0.1, size=200), rng.uniform(1.0, 3.0, size=300))
    assert result.accuracy >= 0.9 and result.auc >= 0.9
    assert result.forgetting_score == pytest.approx(abs(0.5 - result.accuracy))
    assert float(result) == result.accuracy
    assert result.n_per_class == 200 and len(result.fold_accuracies) == 10


def test_mia_at_chance_on_one_distribution():
    rng = np.random.default_rng(1)
    result = mia(rng.gamma(2.0, 0.5, size=500), rng.gamma(2.0, 0.5, size=500))
    assert abs(result.accuracy - 0.5) <= 0.1
    assert abs(result.auc - 0.5) <= 0.1


def test_mia_subsampling_is_seeded_and_balanced():
    rng = np.random.default_rng(2)
    forget, test = rng.gamma(2.0, 0.4, size=40), rng.gamma(2.0, 0.6, size=25)
    assert mia(forget, test, seed=3) == mia(forget, test, seed=3)
    assert mia(forget, test, seed=3).n_per_class == 25
    assert mia(test, forget, seed=3).n_per_class == 25

    # The exact protocol: subsample with default_rng(seed).choice, non-members first, 10 stratified splits.
    members = np.random.default_rng(3).choice(forget, size=25, replace=False)
    samples = np.concatenate([test, members]).reshape(-1, 1)
    labels = np.array([0] * 25 + [1] * 25)
    scores = cross_val_score(
        LogisticRegression(), samples, labels, cv=StratifiedShuffleSplit(n_splits=10, random_state=0)
    )
    assert mia(forget, test, seed=3).accuracy == pytest.approx(scores.mean(), abs=1e-12)


def test_mia_bad_input():
    with pytest.raises(ValueError, match="StratifiedShuffleSplit"):
        mia(np.arange(MIN_SAMPLES_PER_CLASS - 1, dtype=float), np.arange(50, dtype=float))
    mia(np.arange(MIN_SAMPLES_PER_CLASS, dtype=float), np.arange(50, dtype=float))  # the minimum works
    with pytest.raises(ValueError, match="1 NaN"):
        mia([0.1] * 9 + [np.nan], [1.0] * 10)


def test_mia_result_is_frozen():
    result = MIAResult(accuracy=0.6, auc=0.7, forgetting_score=0.1, n_per_class=10)
    with pytest.raises(FrozenInstanceError):
        result.accuracy = 0.5


# ----------------------------------------------------------------------------------------------------- GUM/CGUM
@pytest.mark.parametrize(
    "args, expected",
    [
        ((0.8, 0.8, 0.5, 0.5, 0.8, 0, 100), 0.99999967),
        ((0.75, 0.8, 0.6, 0.5, 0.8, 10, 1000), 0.808796),
        ((0.7, 0.707, 0.55, 0.506, 0.628, 60, 6000), 0.740298),
    ],
)
def test_gum_reference_values(args, expected):
    assert gum(*args).value == pytest.approx(expected, abs=1e-6)


def test_gum_terms():
    result = gum(0.75, 0.8, 0.6, 0.5, 0.8, 10, 1000)
    assert isinstance(result, GUMResult) and float(result) == result.value
    assert (result.U, result.E, result.T) == pytest.approx((0.95, 0.888889, 0.652919), abs=1e-6)


@pytest.mark.parametrize(
    "args, num_classes, expected",
    [
        ((0.75, 0.8, 0.6, 0.5, 0.8, 10, 1000), 4, 0.726114),
        ((0.7, 0.707, 0.55, 0.506, 0.628, 60, 6000), 60, 0.671112),
        ((0.82, 0.90, 0.54, 0.60, 0.62, 120, 150), 10, 0.0),
    ],
)
def test_cgum_reference_values(args, num_classes, expected):
    assert cgum(*args, num_classes=num_classes).value == pytest.approx(expected, abs=1e-6)


def test_gum_when_full_equals_gold():
    # Denominator max(full, unl) - gold is 0 only when all three MIAs coincide: the model is at gold, E = 1.
    result = gum(0.8, 0.8, 0.7, 0.7, 0.7, 10, 100)
    assert result.E == 1.0 and math.isfinite(result.value)
    # Full == gold on input but the model below it: the clamping moves gold to the midpoint, E = 0, no division by 0.
    assert gum(0.8, 0.8, 0.6, 0.7, 0.7, 10, 100).E == pytest.approx(0.0, abs=1e-12)


def test_gum_time_term_is_clipped_unless_asked():
    slow = (0.8, 0.8, 0.6, 0.5, 0.8, 200, 100)  # unlearning slower than retraining
    assert gum(*slow).T == 0.0 and gum(*slow).value == 0.0
    released = gum(*slow, clip_time=False)
    assert released.T == pytest.approx(1 - math.log(201) / math.log(101)) and released.value < 0


def test_gum_undefined_reason():
    assert gum_undefined_reason(0.55, 0.8) is None
    assert "0.950" in gum_undefined_reason(0.95, 0.55) and gum_undefined_reason(0.7, 0.7) is not None


def test_cgum_when_original_equals_gold():
    assert cgum(0.8, 0.8, 0.7, 0.7, 0.7, 10, 100, num_classes=5).E == 1.0
    assert cgum(0.8, 0.8, 0.6, 0.7, 0.7, 10, 100, num_classes=5).E == 0.0


def test_cgum_terms_are_clipped():
    result = cgum(0.95, 0.9, 0.5, 0.5, 0.8, 200, 100, num_classes=10)  # beats gold, slower than retraining
    assert result.U == 1.0 and result.E == pytest.approx(1.0, abs=1e-5) and result.T == 0.0 and result.value == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"t_unl": -1.0}, "t_unl"),
        ({"t_gold": 0.0}, "t_gold"),
        ({"mia_unl": math.nan}, "NaN"),
        ({"f1_gold": math.nan}, "NaN"),
        ({"mia_gold": 1.2}, r"\[0, 1\]"),
        ({"f1_unl": 80.0}, "percentage"),
    ],
)
def test_gum_and_cgum_bad_input(kwargs, match):
    base = {"f1_unl": 0.7, "f1_gold": 0.7, "mia_unl": 0.6, "mia_gold": 0.55, "t_unl": 10.0, "t_gold": 100.0}
    with pytest.raises(ValueError, match=match):
        gum(**{**base, "mia_full": 0.7, **kwargs})
    with pytest.raises(ValueError, match=match):
        cgum(**{**base, "mia_orig": 0.7, "num_classes": 5, **kwargs})


def test_cgum_needs_two_classes():
    with pytest.raises(ValueError, match="num_classes"):
        cgum(0.7, 0.7, 0.6, 0.55, 0.7, 10, 100, num_classes=1)


def test_speedup():
    assert speedup(10, 1000) == 100.0
    assert speedup(0, 5) == math.inf
    with pytest.raises(ValueError):
        speedup(-1, 5)
    with pytest.raises(ValueError):
        speedup(1, 0)


# ----------------------------------------------------------------------------------------------------- one-stop dict
def _splits(seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = {"forget": rng.integers(0, 3, 30), "retain": rng.integers(0, 3, 40), "test": rng.integers(0, 3, 50)}
    predictions = {name: np.where(rng.random(y.size) < 0.8, y, (y + 1) % 3) for name, y in labels.items()}
    losses = {"forget": rng.gamma(2.0, 0.2, 30), "retain": rng.gamma(2.0, 0.2, 40), "test": rng.gamma(2.0, 0.5, 50)}
    return predictions, labels, losses


def test_unlearning_metrics_without_references():
    predictions, labels, losses = _splits()
    results = unlearning_metrics(predictions, labels, losses)
    assert list(results) == [
        "forget_accuracy", "forget_f1", "retain_accuracy", "retain_f1", "test_accuracy", "test_f1",
        "mia", "mia_auc", "forgetting_score",
    ]  # fmt: skip
    assert results["test_f1"] == subset_metrics(predictions["test"], labels["test"])["f1"]
    attack = mia(losses["forget"], losses["test"], seed=42)
    assert (results["mia"], results["mia_auc"]) == (attack.accuracy, attack.auc)
    # No losses: no MIA keys, and nothing is NaN.
    assert "mia" not in unlearning_metrics(predictions, labels)


def test_unlearning_metrics_with_references(tmp_path):
    predictions, labels, losses = _splits()
    gold = {"test_f1": 0.78, "forget_f1": 0.7, "mia": 0.55, "train_time": 600.0}
    gold_path = tmp_path / "gold.json"
    gold_path.write_text(json.dumps(gold))
    results = unlearning_metrics(
        predictions, labels, losses, original={"mia": 0.8}, gold=str(gold_path), unlearning_time=30.0, num_classes=3
    )
    expected_gum = gum(results["test_f1"], 0.78, results["mia"], 0.55, 0.8, 30.0, 600.0)
    expected_cgum = cgum(results["test_f1"], 0.78, results["mia"], 0.55, 0.8, 30.0, 600.0, num_classes=3)
    assert (results["gum"], results["gum_U"], results["gum_E"], results["gum_T"]) == (
        expected_gum.value,
        expected_gum.U,
        expected_gum.E,
        expected_gum.T,
    )
    assert results["cgum"] == expected_cgum.value and results["cgum_E"] == expected_cgum.E
    assert results["speedup"] == 20.0 and results["time_share_of_gold"] == 0.05
    assert results["forget_f1_minus_gold"] == pytest.approx(results["forget_f1"] - 0.7)
    assert results["test_f1_minus_gold"] == pytest.approx(results["test_f1"] - 0.78)
    assert results["mia_minus_gold"] == pytest.approx(results["mia"] - 0.55)
    assert all(math.isfinite(value) for value in results.values())


def test_unlearning_metrics_missing_inputs_mean_absent_keys():
    predictions, labels, losses = _splits()
    gold = {"test_f1": 0.78, "mia": 0.55, "train_time": 600.0}
    # No original: no GUM/CGUM, but the speed-up and the gaps are there.
    results = unlearning_metrics(predictions, labels, losses, gold=gold, unlearning_time=30.0)
    assert not {"gum", "cgum", "gum_U"} & set(results)
    assert {"speedup", "time_share_of_gold", "mia_minus_gold", "test_f1_minus_gold"} <= set(results)
    # No num_classes anywhere: GUM but no CGUM; num_classes in gold: CGUM too.
    results = unlearning_metrics(predictions, labels, losses, original={"mia": 0.8}, gold=gold, unlearning_time=30.0)
    assert "gum" in results and "cgum" not in results
    results = unlearning_metrics(
        predictions, labels, losses, original={"mia": 0.8}, gold={**gold, "num_classes": 3}, unlearning_time=30.0
    )
    assert "cgum" in results


def test_unlearning_metrics_heldout_mia():
    predictions, labels, losses = _splits()
    rng = np.random.default_rng(5)
    predictions["forget_test"], labels["forget_test"] = labels["forget"][:20], labels["forget"][:20]
    losses["forget_test"] = rng.gamma(2.0, 0.2, 20)
    results = unlearning_metrics(predictions, labels, losses)
    attack = mia(losses["forget"], losses["forget_test"], seed=42)
    assert (results["mia_heldout"], results["mia_heldout_auc"]) == (attack.accuracy, attack.auc)
    assert results["mia"] == mia(losses["forget"], losses["test"], seed=42).accuracy  # UnSLU's MIA is kept
    losses["forget_test"] = losses["forget_test"][:3]
    with pytest.warns(UserWarning, match="forget vs forget_test"):
        assert "mia_heldout" not in unlearning_metrics(predictions, labels, losses)


def test_unlearning_metrics_gum_undefined_when_gold_mia_not_below_original():
    predictions, labels, losses = _splits()
    gold = {"test_f1": 0.78, "mia": 0.95, "train_time": 600.0}
    results = unlearning_metrics(
        predictions, labels, losses, original={"mia": 0.55}, gold=gold, unlearning_time=30.0, num_classes=3
    )
    assert (
        results["gum"] is None and results["cgum"] is None and results["gum_E"] is None and results["cgum_E"] is None
    )
    assert "0.950" in results["gum_undefined_reason"] and "0.550" in results["gum_undefined_reason"]
    # The terms that do not depend on the MIAs, the speed-up and the gaps are still reported.
    assert results["gum_T"] == gum(0.7, 0.7, 0.5, 0.5, 0.6, 30.0, 600.0).T and results["speedup"] == 20.0
    assert "mia_minus_gold" in results
    defined = unlearning_metrics(predictions, labels, losses, original={"mia": 0.96}, gold=gold, unlearning_time=30.0)
    assert defined["gum"] is not None and "gum_undefined_reason" not in defined


def test_unlearning_metrics_accepts_trainer_keys():
    predictions, labels, losses = _splits()
    gold = {"eval_test_f1": 0.78, "eval_mia": 0.55, "train_runtime": 600.0}
    results = unlearning_metrics(
        predictions, labels, losses, original={"eval_mia": 0.8}, gold=gold, unlearning_time=60.0, num_classes=3
    )
    assert results["speedup"] == 10.0 and "gum" in results and "cgum" in results


def test_unlearning_metrics_bad_references():
    predictions, labels, losses = _splits()
    with pytest.raises(ValueError, match="finite"):
        unlearning_metrics(predictions, labels, losses, gold={"test_f1": math.nan, "mia": 0.5, "train_time": 1.0})
    with pytest.raises(ValueError, match="dict"):
        unlearning_metrics(predictions, labels, losses, gold=[0.5])


def test_unlearning_metrics_skips_mia_on_tiny_splits():
    predictions = {"forget": [0, 1, 0], "test": [1, 1, 0, 0]}
    labels = {"forget": [0, 1, 1], "test": [1, 0, 0, 0]}
    losses = {"forget": [0.1, 0.2, 0.3], "test": [1.0, 2.0, 1.5, 0.5]}
    with pytest.warns(UserWarning, match="MIA skipped"):
        results = unlearning_metrics(predictions, labels, losses)
    assert "mia" not in results and results["forget_accuracy"] == pytest.approx(2 / 3)


# ----------------------------------------------------------------------------------------------------- report
ROWS = {
    "original": {"test_f1": 0.81234, "test_accuracy": 0.85, "forget_f1": 0.99, "forget_accuracy": 1.0, "mia": 0.71,
                 "train_time": 5400.0},
    "gold": {"test_f1": 0.8, "forget_f1": 0.76, "mia": 0.58, "train_time": 5400.0},
    "neggrad_plus": {"test_f1": (0.812, 0.01), "mia": {"mean": 0.6, "std": 0.02}, "gum": 0.7512, "cgum": 0.6,
                     "time": 120.0, "speedup": 45.0},
}  # fmt: skip


def test_results_table():
    table = results_table(ROWS)
    lines = table.splitlines()
    assert lines[0] == (
        "| Model | Test F1 | Test Acc | Forget F1 | Forget Acc | MIA | GUM | CGUM | Time (s) | Speed-up |"
    )
    assert lines[2] == "| original | 0.812 | 0.850 | 0.990 | 1.000 | 0.710 | – | – | 5400.0 | – |"
    assert lines[3] == "| gold | 0.800 | – | 0.760 | – | 0.580 | – | – | 5400.0 | – |"
    assert lines[4] == "| neggrad_plus | 0.812 ± 0.010 | – | – | – | 0.600 ± 0.020 | 0.751 | 0.600 | 120.0 | 45.0× |"
    assert lines[5] == ""
    assert "forget: closest to gold is better" in lines[6] and "GUM/CGUM: higher is better" in lines[6]
    assert "∞×" in results_table({"instant": {"speedup": math.inf}})


def test_results_table_forget_column_and_undefined_cells():
    rows = {
        "original": {"forget_f1": 0.497, "forget_accuracy": 0.99, "mia": 0.55, "mia_heldout": 0.8},
        "noop": {"forget_accuracy": 0.99, "gum": None, "cgum": None, "gum_undefined_reason": "gold above original"},
    }
    for kwargs in ({"request_kind": "class"}, {"forget_metric": "accuracy"}):
        lines = results_table(rows, **kwargs).splitlines()
        assert "Forget F1" not in lines[0] and "| Forget Acc | MIA | MIA held-out | GUM |" in lines[0]
        assert lines[3] == "| noop | – | – | 0.990 | – | – | n/a | n/a | – | – |"
        assert lines[-1] == "n/a (noop): gold above original" and "MIA held-out" in lines[-2]
    assert "| Forget F1 |" in results_table(rows, request_kind="speaker").splitlines()[0]
    with pytest.raises(ValueError, match="forget_metric"):
        results_table(rows, forget_metric="loss")


def test_report_doctests():
    import hf_unlearn.evaluation.report as report

    outcome = doctest.testmod(report)
    assert outcome.attempted >= 2 and outcome.failed == 0


def test_results_figure(tmp_path):
    rng = np.random.default_rng(0)
    rows = {
        "gold": {"forget_accuracy": 0.7, "retain_accuracy": 0.95, "test_accuracy": 0.8, "mia": 0.55},
        "neggrad_plus": {"forget_accuracy": (0.6, 0.05), "retain_accuracy": 0.9, "test_accuracy": 0.78},
    }
    losses = {name: {"forget": rng.gamma(2, 0.3, 50), "test": rng.gamma(2, 0.5, 60)} for name in rows}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no tight-layout or backend warnings
        path = results_figure(rows, losses, path=tmp_path / "results.png")
    assert path == os.fspath(tmp_path / "results.png")
    data = Path(path).read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
    # Bars only.
    path = results_figure(rows, path=tmp_path / "bars.png")
    assert Path(path).stat().st_size > 1000


def test_table_cell_has_no_negative_zero():
    from hf_unlearn.evaluation.report import format_cell

    assert format_cell(-1e-12) == "0.000"
    assert format_cell(-0.0004) == "0.000"
    assert format_cell(-0.0006) == "-0.001"


def test_results_table_and_figure_show_forget_test():
    """Held-out recordings of what is forgotten get their own table column and bar group, read as "closest to gold"."""
    from hf_unlearn.evaluation.report import draw_results_figure

    rows = {
        "original": {
            "forget_accuracy": 1.0,
            "forget_test_accuracy": 0.97,
            "retain_accuracy": 1.0,
            "test_accuracy": 1.0,
        },
        "gold": {"forget_accuracy": 0.0, "forget_test_accuracy": 0.0, "retain_accuracy": 1.0, "test_accuracy": 0.99},
    }
    lines = results_table(rows, request_kind="speaker_id").splitlines()
    assert "| Forget Acc | Forget-test Acc | MIA |" in lines[0] and "Forget F1" not in lines[0]
    assert "| 1.000 | 0.970 |" in lines[2] and "Forget-test Acc (held-out" in results_table(rows)
    assert "Forget-test" not in results_table({"gold": {"forget_accuracy": 0.0}})

    figure = draw_results_figure(rows)
    axis = figure.axes[0]
    labels = [label.get_text() for label in axis.get_xticklabels()]
    assert [label.split("\n")[0] for label in labels] == ["forget", "forget_test", "retain", "test"]
    assert "closest to" in labels[1] and "higher" in labels[2]
    # Every bar carries its value, also a bar of height 0 (a forgotten split).
    values = [text.get_text() for text in axis.texts]
    assert values.count("0.00") == 2 and len(values) == 8


def test_results_figure_text_does_not_overlap():
    """No two x tick labels of the accuracy panel overlap, nor the legend and the bars, with four splits and three
    models next to the loss panels (the demo's layout)."""
    from hf_unlearn.evaluation.report import draw_results_figure

    rng = np.random.default_rng(0)
    splits = ("forget", "forget_test", "retain", "test")
    rows = {name: {f"{split}_accuracy": 0.5 for split in splits} for name in ("original", "gold", "neggrad_plus")}
    losses = {name: {"forget": rng.gamma(2, 0.3, 50), "test": rng.gamma(2, 0.5, 60)} for name in rows}
    figure = draw_results_figure(rows, losses)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    axis = figure.axes[0]
    boxes = [label.get_window_extent(renderer) for label in axis.get_xticklabels()]
    for left, right in zip(boxes, boxes[1:]):
        assert left.x1 < right.x0, (left, right)
    legend = axis.get_legend().get_window_extent(renderer)
    assert legend.y1 < axis.get_window_extent(renderer).y0  # below the panel, not over the bars
