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

SCRIPT = Path(__file__).with_name("distributed_methods_script.py")
WEIGHT_ATOL = 1e-6
LOSS_ATOL = 1e-6
MIA_ATOL = 0.02
EXACT_METRICS = ("accuracy", "f1")
# SalUn: its forget-set saliency mask is a statistic that must be reduced across processes.
METHODS = ["neggrad_plus", "scrub", "salun"]


def _launch_two_processes(out_dir: Path, work_dir: Path, methods: list[str]) -> None:
    run_script(TORCHRUN_TWO, SCRIPT, out_dir, work_dir, *methods)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from distributed_methods_script import run_methods

    two = tmp_path_factory.mktemp("two")
    _launch_two_processes(two / "out", two / "work", METHODS)
    one = tmp_path_factory.mktemp("one")
    run_methods(METHODS, str(one / "out"), str(one / "work"))
    return {"two": two / "out", "one": one / "out"}


def _load(out_dir: Path, method: str, rank: int = 0) -> tuple[dict, dict]:
    weights = torch.load(out_dir / f"{method}.rank{rank}.pt", weights_only=True)
    result = json.loads((out_dir / f"{method}.json").read_text())
    return weights, result


@pytest.mark.distributed
def test_salun_trains_only_its_masked_share(runs):
    """SalUn's mask is neither empty nor everything: the weights outside it keep their initial values exactly (SGD, no
    weight decay), so the share of weights that moved is at most `threshold`, and it is not far below (a trivial mask,
    or plain random labels on every weight, would fail). Both runs train the same share: the mask was reduced."""
    import dataclasses

    from conftest import build_tiny_model

    from hf_unlearn import get_trainer_class

    threshold = {f.name: f.default for f in dataclasses.fields(get_trainer_class("salun").config_class)}["threshold"]
    initial = {n: p.detach() for n, p in build_tiny_model("cnn", batch_norm=False)[0].named_parameters()}
    for run in ("one", "two"):
        weights, _ = _load(runs[run], "salun")
        moved = sum(int((weights[n] != initial[n]).sum()) for n in initial)
        total = sum(p.numel() for p in initial.values())
        assert 0.8 * threshold <= moved / total <= threshold, f"{run}: {moved} of {total} weights moved"


@pytest.mark.distributed
@pytest.mark.parametrize("method", METHODS)
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
