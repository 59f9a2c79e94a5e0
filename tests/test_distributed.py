"""Evaluation over two processes (torchrun, gloo on CPU) gives the same metrics as in one process.

`tests/distributed_eval_script.py` evaluates the untrained toy model with `per_device_eval_batch_size=5`, so the split
sizes (21 / 5 / 21) are not multiples of the global batch: the gathered predictions must drop the samples the last
batch is padded with, and keep the dataset order (the MIA subsamples by position).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("distributed_eval_script.py")
REPO_ROOT = SCRIPT.parent.parent
TIMEOUT_S = 300
# Set by torchrun; stripped so that the single-process run really is one process.
LAUNCHER_VARIABLES = (
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "ROLE_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
)


def _tail(text: str, limit: int = 4000) -> str:
    return text[-limit:] if text else "<empty>"


def _run_script(launcher: list[str], out_json: Path, work_dir: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in LAUNCHER_VARIABLES}
    env.update(OMP_NUM_THREADS="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1", TOKENIZERS_PARALLELISM="false")
    command = [*launcher, str(SCRIPT), str(out_json), str(work_dir)]
    # Own session: on a timeout the whole group (torchrun and its workers) is killed, not just the launcher.
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(
            f"{' '.join(command)} timed out after {TIMEOUT_S} s.\n"
            f"--- stdout ---\n{_tail(stdout)}\n--- stderr ---\n{_tail(stderr)}"
        )
    assert process.returncode == 0 and out_json.exists(), (
        f"{' '.join(command)} failed (exit code {process.returncode}, output written: {out_json.exists()}).\n"
        f"--- stdout ---\n{_tail(stdout)}\n--- stderr ---\n{_tail(stderr)}"
    )
    return json.loads(out_json.read_text())


@pytest.mark.distributed
def test_two_process_evaluation_matches_single_process(tmp_path):
    two = _run_script(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
        tmp_path / "two.json",
        tmp_path / "two",
    )
    one = _run_script([sys.executable], tmp_path / "one.json", tmp_path / "one")

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
