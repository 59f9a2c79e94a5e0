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
from pathlib import Path

import pytest
import torch
from launch import TORCHRUN_TWO, run_script

from hf_unlearn import list_methods

SCRIPT = Path(__file__).with_name("distributed_methods_script.py")
WEIGHT_ATOL = 1e-6
LOSS_ATOL = 1e-6
MIA_ATOL = 0.02
EXACT_METRICS = ("accuracy", "f1")


def _methods() -> list[str]:
    # SalUn is included once it is registered: its forget-set saliency mask is the statistic that must be reduced
    # across processes.
    registered = {info.key for info in list_methods()}
    return ["neggrad_plus", "scrub"] + (["salun"] if "salun" in registered else [])


def _launch_two_processes(out_dir: Path, work_dir: Path, methods: list[str]) -> None:
    run_script(TORCHRUN_TWO, SCRIPT, out_dir, work_dir, *methods)


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
