"""The benchmark reports which requests were tuned on, and its group figures also over the other requests only
(`hf_unlearn.benchmark.untuned`), on a small synthetic result written by `finish`."""

from __future__ import annotations

import json

import pytest


def run(group, request, seed, method, forget_gap, test_gap=0.0, mia_gap=0.0, time_share=0.01):
    record = {
        "unlearned": {"forget_accuracy": 0.5 + forget_gap},
        "original": {"forget_accuracy": 1.0, "forget_accuracy_minus_gold": 0.5},
        "gold": {"forget_accuracy": 0.5},
        "forget_accuracy_minus_gold": forget_gap,
        "test_accuracy_minus_gold": test_gap,
        "mia_heldout_minus_gold": mia_gap,
        "time_share_of_gold": time_share,
    }
    return {"group": group, "request": request, "seed": seed, "method": method, "record": record}


@pytest.fixture
def runs():
    # Class: tuned on digit 0, where the method looks perfect; on digits 1 and 2 it misses the forget target.
    out = [run("class", "digit 0", seed, "npo", 0.0) for seed in (0, 1)]
    out += [run("class", f"digit {d}", seed, "npo", 0.2 + 0.1 * d) for d in (1, 2) for seed in (0, 1)]
    # Speaker: its only request was tuned on.
    out += [run("speaker", "speaker ann", seed, "npo", 0.01) for seed in (0, 1)]
    return out


def test_untuned_figures_leave_out_every_seed_of_the_tuned_requests(runs):
    from hf_unlearn.benchmark.group_summary import aggregate
    from hf_unlearn.benchmark.untuned import untuned_figures

    tuning = {"class": {"requests": ["digit 0"], "seed": 0}, "speaker": {"requests": ["speaker ann"], "seed": 0}}
    figures = untuned_figures(runs, tuning)
    assert figures["tuning_requests"] == {"class": ["digit 0"], "speaker": ["speaker ann"]}
    cell = figures["summary_untuned"]["class"]["npo"]["forget_accuracy_minus_gold"]
    # By hand: digits 1 and 2 under two seeds, gaps 0.3, 0.3, 0.4, 0.4.
    assert cell["n"] == 4 and cell["mean"] == pytest.approx(0.35)
    assert aggregate(runs)["class"]["npo"]["forget_accuracy_minus_gold"]["mean"] == pytest.approx((0.0 * 2 + 1.4) / 6)
    # The original counts each untuned (request, seed) once.
    assert figures["summary_untuned"]["class"]["original"]["forget_accuracy_minus_gold"]["n"] == 4
    assert "speaker" not in figures["summary_untuned"]  # every speaker request was tuned on
    assert figures["targets_met_untuned"] == {"class": []}


def test_finish_writes_the_tuned_requests_and_the_untuned_figures(runs, tmp_path):
    from hf_unlearn.benchmark import BenchmarkArguments, finish

    readme = tmp_path / "README.md"
    readme.write_text("# x\n")
    args = BenchmarkArguments(dataset_name="fsdd", output_dir=str(tmp_path), readme=str(readme), seeds=[0, 1])
    tuning = {
        "class": {"requests": ["digit 0"], "seed": 0, "grid": [], "methods": {}},
        "speaker": {"requests": ["speaker ann"], "seed": 0, "grid": [], "methods": {}},
    }
    result = finish(args, runs, [], tuning, "hf-unlearn benchmark", str(tmp_path), 1.0, log=lambda *a: None)
    saved = json.loads((tmp_path / "fsdd.json").read_text())
    for key in ("summary", "targets_met", "runs", "tuning"):  # the existing keys stay
        assert key in saved
    assert saved["tuning_requests"] == {"class": ["digit 0"], "speaker": ["speaker ann"]}
    assert saved["summary_untuned"]["class"]["npo"]["forget_accuracy_minus_gold"]["mean"] == pytest.approx(0.35)
    assert saved["summary_untuned"] == result["summary_untuned"]
    report = (tmp_path / "fsdd.md").read_text()
    assert "## class: requests not used for tuning" in report and "Tuned on: digit 0." in report
    assert "+0.350" in report  # the untuned table's forget gap
    assert "Every request of this group was used for tuning" in report  # speaker
    assert "Tuned on: digit 0." in readme.read_text()
