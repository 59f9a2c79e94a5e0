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
The tolerances and the comparison are `tests/launch.py`'s, shared by the DDP and FSDP tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from launch import TORCHRUN_TWO, assert_matches_one_process, assert_ranks_agree, load_run, run_script

SCRIPT = Path(__file__).with_name("distributed_methods_script.py")
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
        weights, _ = load_run(runs[run], "salun")
        moved = sum(int((weights[n] != initial[n]).sum()) for n in initial)
        total = sum(p.numel() for p in initial.values())
        assert 0.8 * threshold <= moved / total <= threshold, f"{run}: {moved} of {total} weights moved"


@pytest.mark.distributed
@pytest.mark.parametrize("method", METHODS)
def test_two_processes_match_one(method, runs):
    two_rank0, two = load_run(runs["two"], method, 0)
    two_rank1 = torch.load(runs["two"] / f"{method}.rank1.pt", weights_only=True)
    one_weights, one = load_run(runs["one"], method)
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert two["global_steps"] == one["global_steps"] == 4

    # Both ranks hold the same model ...
    assert_ranks_agree(two_rank0, two_rank1)
    # ... which is the single-process model; training moved it, so the comparison is not between untrained models.
    from conftest import build_tiny_model

    initial = dict(build_tiny_model("cnn", batch_norm=False)[0].named_parameters())
    assert any(not torch.equal(initial[name].detach(), value) for name, value in one_weights.items())
    assert_matches_one_process(one_weights, one, two_rank0, two)
