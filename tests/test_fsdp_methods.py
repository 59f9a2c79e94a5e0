"""Unlearning with FSDP2 in two processes (torchrun, gloo on CPU) gives the single-process result, for every method,
with full weights and, where the method accepts one, a LoRA adapter.

The sharding is transformers' own: `tests/distributed_methods_script.py --fsdp` loads the model with
`from_pretrained(..., distributed_config=DistributedConfig(fsdp_size=2))`, which `fully_shard`s it over a gloo device
mesh; the Trainer then trains it as it is (no DDP). `accelerate launch` with `distributed_type: FSDP`, and the
Trainer's `fsdp=` arguments, do not shard on a CPU: accelerate turns a CPU launch into `MULTI_CPU` (DDP) whatever the
config says (docs/multi_process.md). The script records whether the trained parameters were sharded (`DTensor`s),
so a run that silently fell back to DDP fails here.

Every method trains 4 SGD steps of 4 samples (two micro-batches of 2: one per process, or two accumulation steps in
one process) and evaluates; one launch runs all of them (the start-up of two processes costs more than the runs).
Checked per method and mode:

- the two-process run was sharded, took the same number of steps, and both processes gathered the same weights;
- the weights equal the single-process ones within `WEIGHT_ATOL`: FSDP2 reduce-scatters the mean of the two
  micro-batch gradients where accumulation adds the halves, so only the order of floating-point sums differs (as
  under DDP, `tests/test_distributed_methods.py`); the logged losses within `LOSS_ATOL`;
- accuracies and F1 are equal (`abs=1e-9`), the MIA figures within `MIA_ATOL` (a logistic regression on losses that
  may differ by round-off);
- SalUn's mask and reset-perturb's frozen layers hold under sharding: weights they freeze keep their initial values.

The tolerances and the comparison are `tests/launch.py`'s, shared by the DDP and FSDP tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from launch import TORCHRUN_TWO, assert_matches_one_process, assert_ranks_agree, load_run, run_script

SCRIPT = Path(__file__).with_name("distributed_methods_script.py")


def _runs() -> tuple[list[str], list[str]]:
    """(default-suite runs, slow-suite runs): every registered method with full weights, and `<method>:lora` for
    those that accept an adapter. The default suite holds the full-weight runs and the LoRA runs whose teacher is
    the sharded model itself with its adapter disabled (the path sharding changes most); the other LoRA runs are
    marked slow (they share their code paths with the full-weight runs, and a second launch costs ~20 s)."""
    import hf_unlearn

    methods = hf_unlearn.list_methods()
    lora = [m for m in methods if m.peft_support == "adapter"]
    default = [m.key for m in methods] + [f"{m.key}:lora" for m in lora if m.requires_teacher]
    slow = [f"{m.key}:lora" for m in lora if not m.requires_teacher]
    return default, slow


RUNS, SLOW_RUNS = _runs()


def _launch_and_compare_with_one_process(tmp_path_factory, runs: list[str]) -> dict[str, Path]:
    from distributed_methods_script import run_methods

    two = tmp_path_factory.mktemp("fsdp_two")
    run_script(TORCHRUN_TWO, SCRIPT, "--fsdp", two / "out", two / "work", *runs)
    one = tmp_path_factory.mktemp("fsdp_one")
    run_methods(runs, str(one / "out"), str(one / "work"))
    return {"two": two / "out", "one": one / "out"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return _launch_and_compare_with_one_process(tmp_path_factory, RUNS)


@pytest.fixture(scope="module")
def slow_runs(tmp_path_factory):
    return _launch_and_compare_with_one_process(tmp_path_factory, SLOW_RUNS)


def _initial_weights() -> dict[str, torch.Tensor]:
    from conftest import build_tiny_model

    return {n: p.detach() for n, p in build_tiny_model("cnn", batch_norm=False)[0].named_parameters()}


def test_every_method_is_covered():
    """Every built-in method runs with full weights, and with LoRA every one that accepts an adapter (between the
    default and the slow suite); a method registered later joins."""
    import hf_unlearn

    methods = hf_unlearn.list_methods()
    assert {run.partition(":")[0] for run in RUNS if ":" not in run} == {m.key for m in methods}
    assert len(methods) >= 13
    lora = {run.partition(":")[0] for run in RUNS + SLOW_RUNS if run.endswith(":lora")}
    assert lora == {m.key for m in methods if m.peft_support == "adapter"} and lora


@pytest.mark.distributed
@pytest.mark.parametrize("run", RUNS)
def test_fsdp_two_processes_match_one(run, runs):
    _check_run(run, runs)


@pytest.mark.slow
@pytest.mark.distributed
@pytest.mark.parametrize("run", SLOW_RUNS)
def test_fsdp_two_processes_match_one_lora(run, slow_runs):
    _check_run(run, slow_runs)


def _check_run(run: str, runs: dict[str, Path]) -> None:
    two_rank0, two = load_run(runs["two"], run, 0)
    two_rank1 = torch.load(runs["two"] / f"{run}.rank1.pt", weights_only=True)
    one_weights, one = load_run(runs["one"], run)
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert two["sharded"] and not one["sharded"], "the two-process model was not sharded with FSDP2"
    assert two["global_steps"] == one["global_steps"] == 4

    assert_ranks_agree(two_rank0, two_rank1)
    # Training moved the weights (full weights: some base weight; LoRA: some adapter or head weight).
    initial = _initial_weights()
    if run.endswith(":lora"):
        moved = [n for n in one_weights if "lora_" in n or "modules_to_save" in n]
        assert moved and any(one_weights[n].abs().sum() > 0 for n in moved if "lora_B" in n)
    else:
        assert any(not torch.equal(initial[n], value) for n, value in one_weights.items())
    assert_matches_one_process(one_weights, one, two_rank0, two)


@pytest.mark.distributed
@pytest.mark.parametrize("method", ["salun", "reset_perturb"])
def test_gradient_masks_hold_under_sharding(method, runs):
    """The sharded parameters' masks are applied to `.grad` after the reduction (no tensor hook sees an FSDP2
    gradient): SalUn moves at most its `threshold` share of the weights (SGD, no weight decay), reset-perturb some
    but not all of them (the layers outside the round stay frozen)."""
    initial = _initial_weights()
    total = sum(p.numel() for p in initial.values())
    for run in ("one", "two"):
        weights, _ = load_run(runs[run], method)
        moved = sum(int((weights[n] != initial[n]).sum()) for n in initial) / total
        if method == "salun":
            assert 0.4 <= moved <= 0.5, f"{run}: {moved:.3f} of the weights moved"
        else:
            assert 0 < moved < 1, f"{run}: {moved:.3f} of the weights moved"


@pytest.mark.parametrize("request_fsdp", ["accelerate", "trainer"])
def test_fsdp_on_cpu_through_accelerate_is_refused(request_fsdp, monkeypatch):
    """accelerate enables FSDP for accelerator devices only: a CPU launch with an FSDP config (or the Trainer's
    `fsdp=`) would silently run DDP, so it is refused, naming the supported path."""
    from types import SimpleNamespace

    from hf_unlearn.checks import check_launch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    args = SimpleNamespace(use_cpu=True, fsdp="")
    check_launch(args)  # plain two-process CPU launch (DDP): fine
    if request_fsdp == "accelerate":
        monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    else:
        args.fsdp = "full_shard"
    with pytest.raises(ValueError, match="DistributedConfig"):
        check_launch(args)
    monkeypatch.setenv("WORLD_SIZE", "1")  # one process: nothing to shard over, nothing refused
    check_launch(args)
