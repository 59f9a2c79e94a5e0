"""Unlearning in two processes (torchrun, gloo on CPU) gives the single-process result: NG+, SCRUB and SalUn.

`tests/distributed_methods_script.py` trains each method for 4 SGD steps of 4 samples, as two micro-batches of 2 (one
per process, or two gradient-accumulation steps in one process), and evaluates. Checked:

- training completes in both ranks, with the same number of steps;
- both ranks hold bitwise the same final weights (DDP averages the gradients, every rank takes the same step);
- the two-process weights equal the single-process ones within `WEIGHT_ATOL` (only the order of floating-point sums
  differs: the gradient all-reduce, and for SalUn the saliency gradients summed over processes), and so do the logged
  losses (`LOSS_ATOL`);
- the evaluation metrics equal the single-process ones: accuracies and F1 exactly (`abs=1e-9`), the MIA figures
  (a logistic regression on per-sample losses that may differ by round-off) within `MIA_ATOL`.

The script's docstring says why the single-process reference accumulates two micro-batches instead of one batch of 4.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hf_unlearn import list_methods

SCRIPT = Path(__file__).with_name("distributed_methods_script.py")
REPO_ROOT = SCRIPT.parent.parent
TIMEOUT_S = 300
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
WEIGHT_ATOL = 1e-6
LOSS_ATOL = 1e-6
MIA_ATOL = 0.02
EXACT_METRICS = ("accuracy", "f1")


def _methods() -> list[str]:
    # SalUn is included once it is registered: its forget-set saliency mask is the statistic that must be reduced
    # across processes.
    registered = {info.key for info in list_methods()}
    return ["neggrad_plus", "scrub"] + (["salun"] if "salun" in registered else [])


def _tail(text: str, limit: int = 4000) -> str:
    return text[-limit:] if text else "<empty>"


def _launch_two_processes(out_dir: Path, work_dir: Path, methods: list[str]) -> None:
    env = {key: value for key, value in os.environ.items() if key not in LAUNCHER_VARIABLES}
    env.update(OMP_NUM_THREADS="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1", TOKENIZERS_PARALLELISM="false")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(SCRIPT),
        str(out_dir),
        str(work_dir),
        *methods,
    ]
    # Own session: on a timeout the whole group (torchrun and its workers) is killed.
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
        pytest.fail(f"{' '.join(command)} timed out after {TIMEOUT_S} s.\n--- stderr ---\n{_tail(stderr)}")
    assert process.returncode == 0, (
        f"{' '.join(command)} failed (exit code {process.returncode}).\n"
        f"--- stdout ---\n{_tail(stdout)}\n--- stderr ---\n{_tail(stderr)}"
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from distributed_methods_script import run_methods

    methods = _methods()
    two = tmp_path_factory.mktemp("two")
    _launch_two_processes(two / "out", two / "work", methods)
    one = tmp_path_factory.mktemp("one")
    run_methods(methods, str(one / "out"), str(one / "work"))
    return {"two": two / "out", "one": one / "out"}


def _load(out_dir: Path, method: str, rank: int = 0) -> tuple[dict, dict]:
    weights = torch.load(out_dir / f"{method}.rank{rank}.pt", weights_only=True)
    result = json.loads((out_dir / f"{method}.json").read_text())
    return weights, result


def test_salun_is_covered_or_reported():
    if "salun" not in {info.key for info in list_methods()}:
        pytest.skip("SalUn is not registered (hf_unlearn/methods/salun.py missing): its two-process run is skipped.")
    assert "salun" in _methods()


@pytest.mark.distributed
@pytest.mark.parametrize("method", _methods())
def test_two_processes_match_one(method, runs):
    two_rank0, two = _load(runs["two"], method, 0)
    two_rank1 = torch.load(runs["two"] / f"{method}.rank1.pt", weights_only=True)
    one_weights, one = _load(runs["one"], method)
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert two["global_steps"] == one["global_steps"] == 4

    # Both ranks hold the same model.
    assert two_rank0.keys() == two_rank1.keys() == one_weights.keys()
    differing = [name for name in two_rank0 if not torch.equal(two_rank0[name], two_rank1[name])]
    assert not differing, f"ranks disagree on {differing}"
    # ... which is the single-process model; training moved it, so the comparison is not between untrained models.
    from conftest import build_tiny_model

    initial = dict(build_tiny_model("cnn", batch_norm=False)[0].named_parameters())
    assert any(not torch.equal(initial[name].detach(), value) for name, value in one_weights.items())
    for name, value in one_weights.items():
        torch.testing.assert_close(two_rank0[name], value, rtol=0, atol=WEIGHT_ATOL, msg=lambda m, n=name: f"{n}: {m}")
    assert two["losses"] == pytest.approx(one["losses"], abs=LOSS_ATOL)

    assert set(two["metrics"]) == set(one["metrics"])
    for key, value in one["metrics"].items():
        exact = any(key.endswith(f"_{suffix}") for suffix in EXACT_METRICS)
        tolerance = 1e-9 if exact else MIA_ATOL if "mia" in key or "forgetting" in key else None
        if tolerance is None:  # run-time figures (eval_runtime, samples per second) differ by nature
            continue
        assert two["metrics"][key] == pytest.approx(value, abs=tolerance), key
