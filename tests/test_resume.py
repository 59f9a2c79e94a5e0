"""Resumable unlearning: for every method, a run interrupted at a checkpoint and resumed ends with the same weights as
the uninterrupted run, bitwise on CPU.

The uninterrupted run saves a checkpoint every 3 steps; a second trainer, built from a fresh copy of the same original
model, resumes from the middle checkpoint (`trainer.train(resume_from_checkpoint=...)`). Weights, optimizer,
scheduler, RNG and data position are the Trainer's part; the method's own state (phase, masks, noise, curriculum
statistics) travels in `unlearning_state.pt` (`UnlearningTrainer.method_state`).
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
    assert (checkpoint / "unlearning_state.pt").is_file()
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
    (checkpoint / "unlearning_state.pt").unlink()
    with pytest.raises(ValueError, match="not written by an UnlearningTrainer"):
        run("finetune", splits, tmp_path / "resumed", resume_from=str(checkpoint))
    assert full.state.global_step == TOTAL_STEPS
