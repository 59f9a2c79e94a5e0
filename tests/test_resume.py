"""Resumable unlearning: for every method, a run interrupted at a checkpoint and resumed ends with the same weights as
the uninterrupted run, bitwise on CPU.

The uninterrupted run saves a checkpoint every 3 steps; a second trainer, built from a fresh copy of the same original
model, resumes from the middle checkpoint (`trainer.train(resume_from_checkpoint=...)`). Weights, optimizer,
scheduler, RNG and data position are the Trainer's part; the method's own state (phase, masks, noise, curriculum
statistics) travels as safetensors + JSON (`UnlearningTrainer.method_state`, `hf_unlearn.trainer.saving`).

A checkpoint is resumed only by the run it was written for (same method, forget set and hyperparameters), only when
it was completely written, and reading it never unpickles anything.
"""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_trainer

from hf_unlearn import list_methods, make_forget_split

TOTAL_STEPS, CHECKPOINT_STEP = 6, 3
# Method fields that make the 6-step run cross its phase boundaries, so that resuming must restore the phase.
PHASE_FIELDS = {
    "scrub": {"max_steps_phase": 1},
}


@pytest.fixture(scope="module")
def splits(toy_dataset):
    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, seed=0)


def run(method, splits, output_dir, resume_from=None, **fields):
    trainer = tiny_trainer(
        method,
        splits,
        output_dir,
        output_dir=str(output_dir),  # checkpoints straight in `output_dir`, not in an "out" folder below it
        max_steps=TOTAL_STEPS,
        save_strategy="steps",
        save_steps=CHECKPOINT_STEP,
        **{**PHASE_FIELDS.get(method, {}), **fields},
    )
    trainer.train(resume_from_checkpoint=resume_from)
    return trainer


@pytest.mark.parametrize("method", sorted(info.key for info in list_methods()))
def test_resume_gives_the_uninterrupted_weights(method, splits, tmp_path):
    full = run(method, splits, tmp_path / "full")
    checkpoint = tmp_path / "full" / f"checkpoint-{CHECKPOINT_STEP}"
    assert (checkpoint / "unlearning_state.json").is_file() and (
        checkpoint / "unlearning_checkpoint_complete"
    ).is_file()
    resumed = run(method, splits, tmp_path / "resumed", resume_from=str(checkpoint))
    assert resumed.state.global_step == TOTAL_STEPS
    expected = dict(full.model.named_parameters())
    for name, parameter in resumed.model.named_parameters():
        assert torch.equal(parameter.detach(), expected[name].detach()), f"{name} differs after resuming"
    for name, buffer in resumed.model.named_buffers():
        assert torch.equal(buffer, dict(full.model.named_buffers())[name]), f"buffer {name} differs after resuming"


def test_resume_from_a_foreign_checkpoint_is_refused(splits, tmp_path):
    full = run("finetune", splits, tmp_path / "full")
    checkpoint = tmp_path / "full" / f"checkpoint-{CHECKPOINT_STEP}"
    (checkpoint / "unlearning_state.json").unlink()
    with pytest.raises(ValueError, match="not written by an UnlearningTrainer"):
        run("finetune", splits, tmp_path / "resumed", resume_from=str(checkpoint))
    assert full.state.global_step == TOTAL_STEPS


@pytest.fixture(scope="module")
def neggrad_plus_run(splits, tmp_path_factory):
    """A 6-step NG+ run with checkpoints at steps 3 and 6, and its final weights."""
    folder = tmp_path_factory.mktemp("ngp")
    trainer = run("neggrad_plus", splits, folder)
    return folder, {name: p.detach().clone() for name, p in trainer.model.named_parameters()}


def _copy_checkpoint(folder, tmp_path, step=CHECKPOINT_STEP):
    import shutil

    return shutil.copytree(folder / f"checkpoint-{step}", tmp_path / f"copy-{step}")


@pytest.mark.parametrize(
    "method, fields, words",
    [
        ("salun", {}, ["checkpoint of method 'neggrad_plus', not 'salun'"]),
        ("neggrad_plus", {"learning_rate": 0.1}, ["learning_rate: checkpoint", "this run 0.1"]),
        ("neggrad_plus", {"forget_weight": 0.5}, ["forget_weight: checkpoint 1.0, this run 0.5"]),
    ],
    ids=["other_method", "other_learning_rate", "other_forget_weight"],
)
def test_resume_with_another_method_or_hyperparameters_is_refused(
    method, fields, words, splits, neggrad_plus_run, tmp_path
):
    folder, _ = neggrad_plus_run
    checkpoint = folder / f"checkpoint-{CHECKPOINT_STEP}"
    with pytest.raises(ValueError) as refused:
        run(method, splits, tmp_path / "resumed", resume_from=str(checkpoint), **fields)
    assert all(word in str(refused.value) for word in words), refused.value
    assert str(checkpoint) in str(refused.value)
    assert not (tmp_path / "resumed").exists() or not list((tmp_path / "resumed").glob("checkpoint-*"))


def test_resume_with_another_forget_set_is_refused(splits, neggrad_plus_run, tmp_path):
    from types import SimpleNamespace

    folder, _ = neggrad_plus_run
    other = SimpleNamespace(forget=splits.forget.select(range(len(splits.forget) - 1)), retain=splits.retain)
    with pytest.raises(ValueError, match="another forget set"):
        run("neggrad_plus", other, tmp_path / "resumed", resume_from=str(folder / f"checkpoint-{CHECKPOINT_STEP}"))


def test_an_incomplete_checkpoint_is_skipped_by_resume_true(splits, neggrad_plus_run, tmp_path):
    """A run interrupted while writing checkpoint-6 left it without its completion marker: `True` resumes from
    checkpoint-3 (the last complete one) and ends with the uninterrupted weights; naming it explicitly is refused."""
    import shutil

    folder, final = neggrad_plus_run
    output = tmp_path / "interrupted"
    shutil.copytree(folder, output)
    (output / f"checkpoint-{TOTAL_STEPS}" / "unlearning_checkpoint_complete").unlink()
    (output / f"checkpoint-{TOTAL_STEPS}" / "unlearning_state.json").unlink()
    with pytest.raises(ValueError, match="not completely written|has no unlearning_state.json"):
        run("neggrad_plus", splits, tmp_path / "explicit", resume_from=str(output / f"checkpoint-{TOTAL_STEPS}"))
    resumed = run("neggrad_plus", splits, output, resume_from=True)
    assert resumed.state.global_step == TOTAL_STEPS
    for name, parameter in resumed.model.named_parameters():
        assert torch.equal(parameter.detach(), final[name]), f"{name} differs: the incomplete checkpoint was used"


class _Exploit:
    """Unpickling this runs `open(<marker>, "w")`: what a hostile checkpoint would do, harmlessly."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickled_method_state_is_never_unpickled(splits, neggrad_plus_run, tmp_path):
    folder, _ = neggrad_plus_run
    checkpoint = _copy_checkpoint(folder, tmp_path)
    for name in ("unlearning_state.json", "unlearning_state.safetensors"):
        (checkpoint / name).unlink()
    marker = tmp_path / "code_ran"
    torch.save({"payload": _Exploit(str(marker))}, checkpoint / "unlearning_state.pt")
    with pytest.raises(ValueError, match="pickle") as refused:
        run("neggrad_plus", splits, tmp_path / "resumed", resume_from=str(checkpoint))
    assert "not read" in str(refused.value)
    assert not marker.exists(), "the checkpoint's pickle ran code"


def test_a_truncated_checkpoint_is_refused_naming_the_file(splits, neggrad_plus_run, tmp_path):
    folder, _ = neggrad_plus_run
    checkpoint = _copy_checkpoint(folder, tmp_path)
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or corrupt") as refused:
        run("neggrad_plus", splits, tmp_path / "resumed", resume_from=str(checkpoint))
    assert str(weights) in str(refused.value)
