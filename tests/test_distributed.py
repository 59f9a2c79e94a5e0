"""Evaluation over two processes (torchrun, gloo on CPU) gives the same metrics as in one process.

`tests/distributed_eval_script.py` evaluates the untrained toy model with `per_device_eval_batch_size=5`, so the split
sizes (21 / 5 / 21) are not multiples of the global batch: the gathered predictions must drop the samples the last
batch is padded with, and keep the dataset order (the MIA subsamples by position).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from launch import TORCHRUN_TWO, run_script

SCRIPT = Path(__file__).with_name("distributed_eval_script.py")


def _run_script(launcher: list[str], out_json: Path, work_dir: Path) -> dict:
    run_script(launcher, SCRIPT, out_json, work_dir)
    assert out_json.exists(), f"{SCRIPT.name} wrote no {out_json.name}"
    return json.loads(out_json.read_text())


@pytest.mark.distributed
def test_two_process_evaluation_matches_single_process(tmp_path):
    two = _run_script(
        TORCHRUN_TWO,
        tmp_path / "two.json",
        tmp_path / "two",
    )
    # The single-process reference runs in this process: the same code without a launcher, and no second start-up.
    from distributed_eval_script import main as evaluate_in_one_process

    evaluate_in_one_process(str(tmp_path / "one.json"), str(tmp_path / "one"))
    one = json.loads((tmp_path / "one.json").read_text())

    assert two["world_size"] == 2, two
    assert one["world_size"] == 1, one
    # Not multiples of the global eval batch (2 x 5): padding duplicates would show up here.
    assert one["split_sizes"] == two["split_sizes"]
    assert any(size % 10 for size in one["split_sizes"].values()), one["split_sizes"]
    for run, result in (("2 processes", two), ("1 process", one)):
        assert result["num_losses"] == result["split_sizes"], (
            f"{run}: per-sample losses {result['num_losses']} != split sizes {result['split_sizes']}"
        )
    # Same losses in the same order (the MIA's subsampling depends on the order).
    for split, losses in one["losses"].items():
        assert two["losses"][split] == pytest.approx(losses, abs=1e-6), split

    assert set(two["metrics"]) == set(one["metrics"])
    for key in (
        "eval_forget_accuracy",
        "eval_retain_accuracy",
        "eval_test_accuracy",
        "eval_forget_f1",
        "eval_test_f1",
        "eval_mia",
        "eval_mia_auc",
    ):
        assert key in one["metrics"], f"{key} missing from {sorted(one['metrics'])}"
    mismatched = {
        key: (two["metrics"][key], value)
        for key, value in one["metrics"].items()
        if two["metrics"][key] != pytest.approx(value, abs=1e-6)
    }
    assert not mismatched, f"metrics differ (2 processes, 1 process): {mismatched}"
