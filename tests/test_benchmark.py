"""The FSDD benchmark (`recipes/benchmark.py`, `hf-unlearn benchmark`): `--quick` end to end on a generated FSDD-like
folder of synthetic WAV files, the reference-model cache, and the table writers on known inputs."""

from __future__ import annotations

import importlib.util
import json
import os
import sys

import pytest
from conftest import tone_clip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def benchmark():
    path = os.path.join(ROOT, "recipes", "benchmark.py")
    spec = importlib.util.spec_from_file_location("fsdd_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def synthetic_fsdd(tmp_path_factory):
    """3 digits x 3 speakers x 11 takes of 8 kHz tones named like FSDD (takes 0-4 are FSDD's test split)."""
    import soundfile

    folder = tmp_path_factory.mktemp("fsdd") / "recordings"
    folder.mkdir()
    for digit, frequency in enumerate((300.0, 900.0, 2000.0)):
        for s, speaker in enumerate(("ann", "bob", "cid")):
            for take in range(11):
                clip = tone_clip(frequency, s, take, sampling_rate=8000)
                soundfile.write(folder / f"{digit}_{speaker}_{take}.wav", clip, 8000, subtype="PCM_16")
    return str(folder.parent)


METHODS = ["finetune", "scrub"]  # retain-only, and teacher + forget


def test_quick_benchmark_end_to_end_and_cached_references(benchmark, synthetic_fsdd, tmp_path, capsys, monkeypatch):
    # Two learning rates instead of the grid's four: half the tuning runs (the rule is checked on crafted runs below).
    monkeypatch.setattr(benchmark, "LEARNING_RATE_GRID", benchmark.LEARNING_RATE_GRID[::2])
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["--fsdd", synthetic_fsdd, "--quick", "--output_dir", str(out), "--cache_dir", str(cache)]
    argv += ["--reference_max_epochs", "3"]  # smaller than --quick's 10: a smoke test of the pipeline
    assert benchmark.main([*argv, "--methods", *METHODS, "--sample_fractions", "0.2"]) == 0
    printed = capsys.readouterr().out
    assert "[1/3] speaker ann, seed 0" in printed and "original: trained on" in printed

    result = json.loads((out / "fsdd.json").read_text())
    assert not result["errors"]
    assert set(result["summary"]) == {"speaker", "class", "sample 20%"}
    assert len(result["runs"]) == 3 and result["command"].startswith("python recipes/benchmark.py")
    for group, rows in result["summary"].items():
        assert list(rows) == ["original", "gold", *METHODS], group
        for method in METHODS:
            row = rows[method]
            for key in ("test_f1", "forget_f1", "mia", "gum", "cgum", "time", "speedup", "time_share_of_gold"):
                assert row[key]["n"] == 1 and row[key]["std"] is None, (group, method, key)
            gap = row["forget_f1_minus_gold"]["mean"]
            assert gap == pytest.approx(row["forget_f1"]["mean"] - rows["gold"]["forget_f1"]["mean"])
    # The learning rate of each method was tuned per forget kind over the whole grid, which is recorded (the rule
    # that picks it is checked on crafted grids in test_tuning_picks_the_largest_learning_rate_that_keeps_validation).
    for group in ("speaker", "class"):
        tuned = result["tuning"][group]
        assert 0.0 <= tuned["original"] <= 1.0
        for method in METHODS:
            grid = tuned[method]["grid"]
            assert [g["learning_rate"] for g in grid] == list(benchmark.LEARNING_RATE_GRID)
            assert all(0.0 <= g["validation_accuracy"] <= 1.0 for g in grid)
            assert tuned[method]["learning_rate"] in benchmark.LEARNING_RATE_GRID
    speaker_run = result["runs"][0]
    assert speaker_run["split"]["num_forget"] == 18  # ann: 3 digits x 6 training takes (--quick)
    assert "forget_test_f1" in speaker_run["rows"]["gold"]  # ann's takes 0-4, never trained on
    # The class request: the gold model never saw digit 0, so it never predicts it on the forget set.
    assert result["summary"]["class"]["gold"]["forget_accuracy"]["mean"] == 0.0
    report = (out / "fsdd.md").read_text()
    assert "## speaker (1 run, mean ± std)" in report and "| scrub |" in report and "Relearn AUC" in report
    for name in ("fsdd_speaker.png", "fsdd_class.png", "fsdd_sample_20pct.png"):
        assert (out / name).stat().st_size > 0

    # Again through the console script: the original and gold models come from the cache.
    from hf_unlearn.cli import main as cli

    assert cli(["benchmark", *argv, "--kinds", "speaker", "--methods", "finetune"]) == 0
    printed = capsys.readouterr().out
    assert "trained on" not in printed and "[1/1] speaker ann, seed 0" in printed
    again = json.loads((out / "fsdd.json").read_text())
    assert again["runs"][0]["rows"]["gold"] == result["runs"][0]["rows"]["gold"]


# Per grid value (0.1, 0.2, 0.3, 0.4): (validation accuracy, stopped by the divergence guard); the original's
# validation accuracy is 0.9 and the tolerance 0.01, so 0.895 is kept and 0.88 is not.
TUNING_CASES = {
    "all_kept_largest": ([(0.9, False), (0.9, False), (0.895, False), (0.9, False)], 0.4),
    "largest_lost_accuracy": ([(0.9, False), (0.9, False), (0.9, False), (0.88, False)], 0.3),
    "largest_guard_stopped": ([(0.9, False), (0.9, False), (0.9, False), (0.95, True)], 0.3),
    "largest_kept_not_first_lost": ([(0.9, False), (0.5, False), (0.9, False), (0.88, False)], 0.3),
    "none_kept_smallest": ([(0.8, False), (0.9, True), (0.7, False), (0.2, False)], 0.1),
}


@pytest.mark.parametrize("outcomes, expected", list(TUNING_CASES.values()), ids=list(TUNING_CASES))
def test_tuning_picks_the_largest_learning_rate_that_keeps_validation(benchmark, monkeypatch, outcomes, expected):
    """`tune_learning_rate` on crafted runs: the largest learning rate whose run kept validation accuracy within the
    tolerance and was not stopped by the guard, else the smallest; it only ever evaluates the validation split."""
    from types import SimpleNamespace

    grid_values = (0.1, 0.2, 0.3, 0.4)
    by_rate = dict(zip(grid_values, outcomes))
    evaluated = []

    def crafted_run(key, original_path, splits, eval_splits, *args, learning_rate=None, for_tuning=False):
        evaluated.append((learning_rate, list(eval_splits), for_tuning))
        accuracy, stopped = by_rate[learning_rate]
        return {"validation_accuracy": accuracy, "guard_stopped": float(stopped), "time": 1.0}

    monkeypatch.setattr(benchmark, "LEARNING_RATE_GRID", grid_values)
    monkeypatch.setattr(benchmark, "run_method", crafted_run)
    splits = SimpleNamespace(forget="forget", retain="retain", retain_eval="validation rows")
    learning_rate, grid = benchmark.tune_learning_rate(
        "m", "original", splits, None, 0.9, 0, SimpleNamespace(tune_tolerance=0.01), "scratch"
    )
    assert learning_rate == expected
    assert grid == [
        {"learning_rate": rate, "validation_accuracy": accuracy, "guard_stopped": stopped}
        for rate, (accuracy, stopped) in by_rate.items()
    ]
    assert evaluated == [(rate, ["validation"], True) for rate in grid_values]


def test_benchmark_rejects_bad_arguments(benchmark, synthetic_fsdd, tmp_path):
    with pytest.raises(ValueError, match="--fsdd"):
        benchmark.main(["--quick"])
    with pytest.raises(ValueError, match="Unknown method"):
        benchmark.main(["--fsdd", synthetic_fsdd, "--methods", "forget_all", "--cache_dir", str(tmp_path)])
    args = benchmark.BenchmarkArguments(dataset_name=synthetic_fsdd, kinds=["voice"])
    with pytest.raises(ValueError, match="Unknown forget kind"):
        benchmark.requests(args, ["ann"])


def test_aggregate_and_tables_on_known_inputs(benchmark):
    runs = [
        {"group": "speaker", "rows": {"gold": {"test_f1": 0.9, "mia": 0.5}, "m": {"test_f1": 0.8, "mia": 0.6}}},
        {
            "group": "speaker",
            "rows": {"gold": {"test_f1": 0.7, "mia": 0.5}, "m": {"test_f1": 0.6, "mia": float("inf")}},
        },
        {"group": "class", "rows": {"m": {"test_f1": 0.5}}},
    ]
    summary = benchmark.aggregate(runs)
    assert summary["speaker"]["gold"]["test_f1"] == {
        "mean": pytest.approx(0.8),
        "std": pytest.approx(0.1414, abs=1e-4),
        "n": 2,
    }
    assert summary["speaker"]["m"]["mia"] == {"mean": 0.6, "std": None, "n": 1}  # the infinite value is dropped
    assert summary["class"]["m"]["test_f1"] == {"mean": 0.5, "std": None, "n": 1}

    rows = {
        "gold": {"test_f1": {"mean": 0.9, "std": 0.01}},
        "m": {
            "forget_f1_minus_gold": {"mean": 0.01, "std": 0.005},
            "test_f1_minus_gold": {"mean": -0.02, "std": None},
            "mia_minus_gold": {"mean": -0.0001, "std": None},
            "time_share_of_gold": {"mean": 0.04, "std": 0.001},
            "relearn_auc_gap": {"mean": 0.25, "std": None},
        },
        "slow": {"forget_f1_minus_gold": {"mean": 0.3}, "time_share_of_gold": {"mean": 0.5}},
    }
    lines = benchmark.gaps_table(rows).splitlines()
    assert lines[0] == (
        "| Model | Forget F1 − gold | Test F1 − gold | MIA − gold | Time / gold | Relearn AUC − gold | Targets |"
    )
    assert lines[2] == "| gold | – | – | – | – | – | – |"
    assert lines[3] == "| m | +0.010 ± 0.005 | -0.020 | 0.000 | 4.0 ± 0.1 % | +0.250 | ✓ ✗ ✓ ✓ |"
    assert lines[4] == "| slow | +0.300 | – | – | 50.0 % | – | ✗ – – ✗ |"
    report = benchmark.markdown_report({"speaker": rows}, "# title\n")
    assert report.startswith("# title\n") and "## speaker (1 run, mean ± std)" in report
    assert "| gold | 0.900 ± 0.010 |" in report


def test_best_cards_are_the_highest_mean_cgum_runs(benchmark, tmp_path):
    from types import SimpleNamespace

    summary = {"speaker": {"gold": {}, "a": {"cgum": {"mean": 0.4}}, "b": {"cgum": {"mean": 0.7}}}}
    runs = [
        {"group": "speaker", "cards": {"a": "card a1", "b": "card b1"}},
        {"group": "speaker", "cards": {"a": "card a2", "b": "card b2"}},
    ]
    paths = benchmark.write_best_cards(summary, runs, SimpleNamespace(model_cards_dir=str(tmp_path)))
    assert [os.path.basename(p) for p in paths] == ["fsdd_speaker_b.md"]
    assert (tmp_path / "fsdd_speaker_b.md").read_text() == "card b1"
    summary["speaker"]["b"]["cgum"]["mean"] = summary["speaker"]["a"]["cgum"]["mean"] = 1e-6  # CGUM's epsilon
    assert benchmark.write_best_cards(summary, runs, SimpleNamespace(model_cards_dir=str(tmp_path / "none"))) == []
