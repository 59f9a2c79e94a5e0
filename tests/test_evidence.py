"""Intervals on every gap, decisions by equivalence, the gold floor, and the summary regenerated from stored runs
(`hf-unlearn benchmark --report_only`), on small known inputs."""

from __future__ import annotations

import json
import math

import pytest

from hf_unlearn.benchmark import BenchmarkArguments, report_markdown, run_benchmark
from hf_unlearn.benchmark import evidence as ev
from hf_unlearn.benchmark import group_summary as summary
from hf_unlearn.evaluation.intervals import auc_interval, run_gap_intervals, wilson_interval


def run(method, request, seed, forget_gap, test_gap=0.0, mia_gap=0.0, share=0.01, gold_forget=0.5, group="speaker"):
    """A stored run with the given gaps; the gold model's forget accuracy may differ between seeds."""
    record = {
        "request": {"num_forget": 100, "num_test": 200},
        "unlearned": {"forget_accuracy": gold_forget + forget_gap, "test_accuracy": 0.9 + test_gap},
        "original": {"forget_accuracy": 1.0},
        "gold": {"forget_accuracy": gold_forget, "test_accuracy": 0.9, "num_forget": 100, "num_test": 200},
        "forget_accuracy_minus_gold": forget_gap,
        "test_accuracy_minus_gold": test_gap,
        "mia_heldout_minus_gold": mia_gap,
        "time_share_of_gold": share,
    }
    return {"group": group, "request": request, "seed": seed, "method": method, "settings": {}, "record": record}


def group_runs():
    """Three requests x two seeds. `tight`: every gap about 0.005, inside the forget window; `wide`: mean forget gap
    0.01 (inside the window) but spread over requests so that its interval is not; `far`: forget gap about 0.3."""
    runs = []
    for r, request in enumerate(("speaker a", "speaker b", "speaker c")):
        for seed in (0, 1):
            runs.append(run("tight", request, seed, 0.004 + 0.001 * seed, gold_forget=0.5 + 0.02 * seed))
            runs.append(run("wide", request, seed, (-0.07, 0.01, 0.09)[r], gold_forget=0.5 + 0.02 * seed))
            runs.append(run("far", request, seed, 0.3 + 0.01 * r, gold_forget=0.5 + 0.02 * seed))
    return runs


def test_a_mean_inside_the_margin_with_an_interval_outside_cannot_be_resolved():
    runs = group_runs()
    result = {"command": "c", "date": "d", "runs": runs, "summary": summary.aggregate(runs)}
    result["targets_met"] = summary.methods_meeting_targets(result["summary"])
    result.update(ev.evidence(runs))
    rows = result["summary"]["speaker"]
    assert rows["wide"][summary.FORGET_GAP]["mean"] == pytest.approx(0.01)
    assert summary.target_marks(rows["wide"])["forget"] is True  # the mean alone says "met"
    low, high = result["intervals"]["speaker"]["wide"][summary.FORGET_GAP]
    assert low < -0.02 < 0.02 < high
    marks = result["equivalence"]["speaker"]
    assert marks["wide"]["forget"] == ev.UNRESOLVED
    assert marks["tight"]["forget"] == ev.MET
    assert marks["far"]["forget"] == ev.NOT_MET
    assert result["targets_met_equivalence"] == {"speaker": ["tight"]}
    assert result["targets_met"] == {"speaker": ["tight", "wide"]}

    report = report_markdown.markdown_report(result)
    table = {line.split(" | ")[0].strip("| "): line for line in report.splitlines() if line.startswith("| ")}
    assert table["wide"].endswith("| ✓ ✓ ✓ ✓ | ? ✓ ✓ ✓ |")  # mean-in-window beside the equivalence decision
    assert table["tight"].endswith("| ✓ ✓ ✓ ✓ | ✓ ✓ ✓ ✓ |")
    assert table["far"].endswith("| ✗ ✓ ✓ ✓ | ✗ ✓ ✓ ✓ |")
    assert "+0.010 [" in table["wide"]
    assert (
        "All four targets met by equivalence (each target's whole 90 % interval inside its window): tight." in report
    )
    assert "Smallest gap the data resolve" in report and "Gold floor" in report
    block = report_markdown.readme_block({**result, "arguments": {"seeds": [0, 1]}})
    assert "? ✓ ✓ ✓ |" in block


def test_the_bootstrap_draws_requests_as_the_unit():
    # Seeds agree within each request and requests disagree: the interval spans the requests, which drawing six
    # runs independently would narrow.
    low, high = ev.hierarchical_bootstrap([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    assert low == 0.0 and high == 1.0
    low, high = ev.hierarchical_bootstrap([[0.1, 0.3]])  # one request: over its seeds only
    assert 0.1 <= low < high <= 0.3
    assert ev.hierarchical_bootstrap([[0.5]]) is None
    low, high = ev.hierarchical_bootstrap([[0.2, 0.2], [0.2]])
    assert low == high == pytest.approx(0.2)


def test_gold_floor_is_the_mean_seed_to_seed_spread_per_request():
    runs = []
    for method in ("m1", "m2"):  # a reference row counts once however many methods ran on it
        runs += [run(method, "speaker a", s, 0.0, gold_forget=g) for s, g in enumerate((0.5, 0.6, 0.7))]
        runs += [run(method, "speaker b", s, 0.0, gold_forget=0.2) for s in range(3)]
    floor = ev.gold_floor(runs)["speaker"]
    assert floor["forget_accuracy"] == pytest.approx((0.1 + 0.2 + 0.1) / 3 / 2)
    assert floor["test_accuracy"] == 0.0


def test_target_windows_agree_with_the_targets():
    assert [name for name, *_ in summary.TARGETS] == list(summary.TARGET_WINDOWS)
    for name, _, test, _ in summary.TARGETS:
        edges = [edge for edge in summary.TARGET_WINDOWS[name] if math.isfinite(edge)]
        for edge in edges:
            assert test(edge), (name, edge)  # the window's edges are inside
        low, high = summary.TARGET_WINDOWS[name]
        for outside in (low - 1e-6, high + 1e-6):
            assert math.isinf(outside) or not test(outside), (name, outside)


def test_run_intervals_wilson_and_hanley_mcneil():
    low, high = wilson_interval(0.5, 100)  # 90 %: z = 1.645
    assert (low, high) == pytest.approx((0.419, 0.581), abs=1e-3)
    assert wilson_interval(0.0, 20)[0] == 0.0 and wilson_interval(0.0, 20)[1] > 0.0
    assert wilson_interval(0.9, 1000)[1] - wilson_interval(0.9, 1000)[0] < wilson_interval(0.9, 100)[1] - 0.8
    low, high = auc_interval(0.5, 50, 50)
    assert (low, high) == pytest.approx((0.5 - 0.0954, 0.5 + 0.0954), abs=1e-3)
    gaps = run_gap_intervals(
        {"forget_accuracy": 0.6, "mia_heldout_auc": 0.55, "test_accuracy": 0.9},
        {"forget_accuracy": 0.5, "mia_heldout_auc": 0.5, "test_accuracy": 0.9, "num_forget": 100},
        {"num_forget": 100, "num_forget_test": 30},  # no test count: no test interval
    )
    assert set(gaps) == {"forget_accuracy_minus_gold", "mia_heldout_auc_minus_gold"}
    low, high = gaps["forget_accuracy_minus_gold"]
    assert low < 0.1 < high and low > 0.0  # 0.6 on 100 rows is told apart from 0.5
    assert gaps["mia_heldout_auc_minus_gold"][0] < 0 < gaps["mia_heldout_auc_minus_gold"][1]  # 30 rows: it is not


def test_the_card_gives_each_gap_its_interval():
    from hf_unlearn.hub.card import build_model_card

    results = {"forget_accuracy": 0.6, "test_accuracy": 0.9, "mia_heldout": 0.55, "mia_heldout_auc": 0.58}
    gold = {"forget_accuracy": 0.5, "test_accuracy": 0.91, "mia_heldout": 0.5, "mia_heldout_auc": 0.52}
    gold.update(num_forget=100, num_test=200, num_forget_test=40)
    text = str(build_model_card("finetune", results=results, gold_results=gold, request={"kind": "speaker"}))
    assert "- forget_accuracy − gold: +0.100 [+" in text and "(100 forget rows)" in text
    assert "- mia_heldout_auc − gold: +0.060 [-" in text and "what it cannot" not in text
    assert "cannot show that the forgotten rows are unrecognisable" in text
    assert "Hanley-McNeil" not in str(build_model_card("finetune", results=results))  # no gold: no gap


def test_report_only_rewrites_the_summary_from_stored_runs(tmp_path):
    runs = group_runs()
    (tmp_path / "runs").mkdir()
    for index, stored in enumerate(runs):
        with open(tmp_path / "runs" / f"r{index}.json", "w") as handle:
            json.dump({**stored, "card": f"# card {stored['method']} {index}\n\n## Limitations\n\n- none\n"}, handle)
    previous = {
        "command": "hf-unlearn benchmark --seeds 0 1",
        "date": "2000-01-01",
        "wall_time": 60.0,
        "arguments": {"seeds": [0, 1]},
        "tuning": {"kinds": {}},
        "summary": {"stale": {}},
        "runs": runs,
        "errors": [],
        # What the run knew of its data (a run on other data than FSDD): the report keeps it.
        "benchmark": "keywords: speaker unlearning",
        "splits": {"0": {"test_speakers": ["a"], "num_test": 3}},
    }
    (tmp_path / "fsdd.json").write_text(json.dumps(previous))
    readme = tmp_path / "benchmarks.md"
    readme.write_text(f"intro\n{report_markdown.README_START}\nSTALE\n{report_markdown.README_END}\n")
    args = BenchmarkArguments(
        output_dir=str(tmp_path), report_only=True, model_cards_dir=str(tmp_path / "cards"), readme=str(readme)
    )
    result = run_benchmark(args, argv=["--report_only"], log=lambda *_: None)
    written = json.loads((tmp_path / "fsdd.json").read_text())
    assert written["command"] == previous["command"] and written["date"] == "2000-01-01"  # the runs' own
    assert written["report"]["command"] == "hf-unlearn benchmark --report_only"
    assert written["benchmark"] == previous["benchmark"] and written["splits"] == previous["splits"]
    assert (
        list(written["summary"]) == ["speaker"]
        and written["equivalence"]["speaker"]["wide"]["forget"] == ev.UNRESOLVED
    )
    assert (
        written["runs"][0]["intervals"]["forget_accuracy_minus_gold"][0]
        < 0.004
        < written["runs"][0]["intervals"]["forget_accuracy_minus_gold"][1]
    )
    assert "? ✓ ✓ ✓ |" in (tmp_path / "fsdd.md").read_text()
    assert report_markdown.readme_block(result, "x") != "" and "STALE" not in readme.read_text()
    (card,) = result["model_cards"]
    text = open(card).read()
    assert text.startswith("# card tight") and text.index("## Uncertainty") < text.index("## Limitations")
    assert "forget_accuracy_minus_gold: +0.005 [" in text and "target |forget acc - gold| <= 0.02: met" in text
    assert (tmp_path / "fsdd.png").stat().st_size > 0


def test_heldout_auc_uses_every_row_with_a_bootstrap_interval():
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from hf_unlearn.evaluation import unlearning_metrics
    from hf_unlearn.evaluation.intervals import bootstrap_auc

    rng = np.random.default_rng(0)
    members, non_members = rng.normal(0.3, 1, 200).round(1), rng.normal(0, 1, 30).round(1)  # ties included
    auc, low, high = bootstrap_auc(members, non_members, seed=42)  # the evaluation seeds it with mia_seed (42)
    labels = np.r_[np.ones(200), np.zeros(30)]
    assert auc == pytest.approx(roc_auc_score(labels, np.r_[members, non_members]))
    assert low < auc < high and high - low > 0.1  # 30 non-members: a wide interval
    assert bootstrap_auc(np.ones(20) * 2, np.zeros(20))[1:] == (1.0, 1.0)

    losses = {"forget": -members, "forget_test": -non_members, "test": rng.normal(0, 1, 50)}
    gold = {"mia_heldout_auc_all": 0.5, "mia_heldout_auc_all_low": 0.4, "mia_heldout_auc_all_high": 0.6}
    preds = {name: np.zeros(len(v), int) for name, v in losses.items()}
    results = unlearning_metrics(preds, preds, losses, gold=gold)
    assert results["mia_heldout_auc_all"] == pytest.approx(auc)  # every row, not the 30 + 30 subsample
    assert results["mia_heldout_auc_all"] != pytest.approx(results["mia_heldout_auc"], abs=1e-6)
    assert (results["mia_heldout_auc_all_low"], results["mia_heldout_auc_all_high"]) == pytest.approx((low, high))
    assert results["mia_heldout_auc_all_minus_gold"] == pytest.approx(auc - 0.5)
    assert "mia_heldout_auc_all_low_minus_gold" not in results
    gaps = run_gap_intervals(results, gold, {"num_forget": 200, "num_forget_test": 30})
    assert gaps["mia_heldout_auc_all_minus_gold"] == pytest.approx([low - 0.5, high - 0.5])


def test_attack_separation_says_where_lira_tells_the_original_from_gold():
    runs = []
    for request, original_auc in (("speaker a", 0.65), ("speaker b", 0.52)):
        for seed in range(3):
            stored = run("m", request, seed, 0.0)
            counts = {"num_forget": 400, "num_forget_test": 50}
            stored["record"]["original"].update(lira_auc=original_auc)
            stored["record"]["gold"].update(lira_auc=0.5, **counts)
            runs += [stored, {**stored, "method": "other"}]  # the references count once per (request, seed)
    separation = ev.attack_separation(runs)["speaker"]
    assert separation["speaker a"]["seeds"] == 3 and separation["speaker a"]["difference"] == pytest.approx(0.15)
    assert separation["speaker a"]["resolved"] and not separation["speaker b"]["resolved"]
    low, high = separation["speaker b"]["interval"]
    assert low < 0 < 0.02 < high
    text = ev.separation_markdown(ev.attack_separation(runs))
    assert "| speaker | speaker a | 3 | 0.650 | 0.500 | +0.150 [" in text and text.count("| yes |") == 1
