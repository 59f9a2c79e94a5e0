"""Runs a script in one process or several (torchrun, gloo on CPU) for the distributed tests, with a clean launcher
environment and a timeout that kills the whole process group."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).parent.parent
# A guard against a hung launch, not a speed check: generous, so that a machine busy with other work (two processes
# on two shared cores) does not turn a slow run into a failure. Override with HF_UNLEARN_TEST_LAUNCH_TIMEOUT (s).
TIMEOUT_S = int(os.environ.get("HF_UNLEARN_TEST_LAUNCH_TIMEOUT", "1800"))
# Set by torchrun; stripped so that a single-process run really is one process.
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
# `accelerate launch --cpu --num_processes 2` starts only one process (accelerate 1.15); torchrun really starts two.
TORCHRUN_TWO = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def _tail(text: str, limit: int = 4000) -> str:
    return text[-limit:] if text else "<empty>"


def run_script(launcher: list[str], script, *arguments, timeout_s: int = TIMEOUT_S, expect_success: bool = True):
    """Runs `launcher + [script, *arguments]` from the repository root; fails the test (with the output's tail) on a
    timeout, or on a non-zero exit when `expect_success`. Returns stdout, or with `expect_success=False`
    `(returncode, stdout, stderr)`."""
    env = {key: value for key, value in os.environ.items() if key not in LAUNCHER_VARIABLES}
    env.update(OMP_NUM_THREADS="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1", TOKENIZERS_PARALLELISM="false")
    command = [*launcher, str(script), *map(str, arguments)]
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
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(
            f"{' '.join(command)} timed out after {timeout_s} s.\n"
            f"--- stdout ---\n{_tail(stdout)}\n--- stderr ---\n{_tail(stderr)}"
        )
    if not expect_success:
        return process.returncode, stdout, stderr
    assert process.returncode == 0, (
        f"{' '.join(command)} failed (exit code {process.returncode}).\n"
        f"--- stdout ---\n{_tail(stdout)}\n--- stderr ---\n{_tail(stderr)}"
    )
    return stdout


# What "two processes give the one-process result" means, for the DDP and the FSDP tests alike: only the order of
# floating-point sums differs (an all-reduce or reduce-scatter against accumulation in one process), so weights and
# logged losses agree within round-off; accuracies and F1 are equal; the MIA figures (a logistic regression on losses
# that may differ by round-off) within `MIA_ATOL`; run-time figures are not compared.
WEIGHT_ATOL = 1e-6
LOSS_ATOL = 1e-6
MIA_ATOL = 0.02
EXACT_METRICS = ("accuracy", "f1")


def load_run(out_dir: Path, name: str, rank: int = 0) -> tuple[dict, dict]:
    """`(weights, result)` that `tests/distributed_methods_script.py` saved for run `name` on `rank`."""
    import torch

    weights = torch.load(out_dir / f"{name}.rank{rank}.pt", weights_only=True)
    return weights, json.loads((out_dir / f"{name}.json").read_text())


def assert_ranks_agree(rank0: dict, rank1: dict) -> None:
    """Both processes hold bitwise the same weights."""
    import torch

    assert rank0.keys() == rank1.keys()
    differing = [name for name in rank0 if not torch.equal(rank0[name], rank1[name])]
    assert not differing, f"processes disagree on {differing}"


def assert_matches_one_process(one_weights: dict, one: dict, two_weights: dict, two: dict) -> None:
    """The two-process weights, losses and metrics equal the one-process ones within the tolerances above."""
    import torch

    assert two_weights.keys() == one_weights.keys()
    for name, value in one_weights.items():
        torch.testing.assert_close(
            two_weights[name], value, rtol=0, atol=WEIGHT_ATOL, msg=lambda m, n=name: f"{n}: {m}"
        )
    assert two["losses"] == pytest.approx(one["losses"], abs=LOSS_ATOL)
    assert set(two["metrics"]) == set(one["metrics"])
    for key, value in one["metrics"].items():
        exact = any(key.endswith(f"_{suffix}") for suffix in EXACT_METRICS)
        tolerance = 1e-9 if exact else MIA_ATOL if "mia" in key or "forgetting" in key else None
        if tolerance is None:  # run-time figures (eval_runtime, samples per second) differ by nature
            continue
        assert two["metrics"][key] == pytest.approx(value, abs=tolerance), key
