"""Reset-perturb-repair (`reset_perturb`): the reset at the start, the BatchNorm variants, frozen layers during the
perturbation rounds, and a schedule that is a function of the step (so resuming resumes the stage and round)."""

from __future__ import annotations

import pytest
import torch
from conftest import build_tiny_model, tiny_trainer
from torch import nn
from transformers import TrainerCallback

from hf_unlearn import ResetPerturbConfig, make_forget_split
from hf_unlearn.methods.reset_perturb import dense_layers_to_reset


@pytest.fixture(scope="module")
def splits(toy_dataset):
    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, retain_eval_size=0.1, seed=0)


def make_trainer(splits, tmp_path, model=None, extractor=None, **overrides):
    # Trains on retain rows only (the forget set is given for the request's checks, never trained on); the run's
    # length from the test or the config's stages.
    return tiny_trainer(
        "reset_perturb",
        splits,
        tmp_path,
        model=model,
        extractor=extractor,
        **{"max_steps": -1, **overrides},
    )


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def test_config_derives_num_train_epochs_and_validates():
    config = ResetPerturbConfig(output_dir="x", use_cpu=True)
    assert config.num_train_epochs == 15.0  # 5 + 5 + 5, the paper's stages
    config = ResetPerturbConfig(output_dir="x", use_cpu=True, reset_epochs=1, perturb_epochs=2, repair_epochs=3)
    assert config.num_train_epochs == 6.0
    with pytest.raises(ValueError, match="bn_reset"):
        ResetPerturbConfig(output_dir="x", use_cpu=True, bn_reset="some")
    with pytest.raises(ValueError, match="weight_decay"):
        ResetPerturbConfig(output_dir="x", use_cpu=True, weight_decay=0.01)
    with pytest.raises(ValueError, match="perturb_rounds"):
        ResetPerturbConfig(output_dir="x", use_cpu=True, perturb_rounds=0)
    with pytest.raises(ValueError, match="must be positive"):
        ResetPerturbConfig(output_dir="x", use_cpu=True, reset_epochs=0, perturb_epochs=0, repair_epochs=0)


def test_dense_head_selection_by_module_type():
    cnn, _ = build_tiny_model("cnn")
    assert [name for name, _ in dense_layers_to_reset(cnn)] == ["dense_layers.0", "classifier"]
    wav2vec2, _ = build_tiny_model("wav2vec2")
    assert [name for name, _ in dense_layers_to_reset(wav2vec2)] == ["projector", "classifier"]
    every = [name for name, _ in dense_layers_to_reset(wav2vec2, "all")]
    assert "projector" in every and any(name.endswith("attention.q_proj") for name in every)


def test_dense_layers_reinitialised_at_start(splits, tmp_path):
    trainer = make_trainer(splits, tmp_path)
    before = snapshot(trainer.model)
    rng_state = torch.get_rng_state()
    trainer.create_optimizer()  # runs before_optimizer(): stage 1's reset
    assert torch.equal(torch.get_rng_state(), rng_state), "the seeded reset must not consume the global RNG"
    after = snapshot(trainer.model)
    reset = ("dense_layers.0.", "classifier.")
    for name in before:
        if name.startswith(reset):
            assert not torch.equal(before[name], after[name]), name
        else:  # convolutions and batch norm (bn_reset="none") untouched
            assert torch.equal(before[name], after[name]), name
    # Seeded: a second trainer on the same original gets the same re-initialised weights.
    other = make_trainer(splits, tmp_path / "other")
    other.create_optimizer()
    for name, value in snapshot(other.model).items():
        assert torch.equal(value, after[name]), name
    # A resumed run (global_step > 0) keeps the checkpoint's weights: no second reset.
    resumed = make_trainer(splits, tmp_path / "resumed")
    resumed_before = snapshot(resumed.model)
    resumed.state.global_step = 3
    resumed.create_optimizer()
    for name, value in snapshot(resumed.model).items():
        assert torch.equal(value, resumed_before[name]), name


def cnn_with_dense_batch_norm():
    """The tiny CNN with a BatchNorm1d after its dense layer (not after a convolution), statistics populated."""
    model, extractor = build_tiny_model("cnn")
    dense = model.dense_layers[0]
    model.dense_layers[0] = nn.Sequential(dense, nn.BatchNorm1d(dense.out_features))
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(input_features=torch.randn(8, model.config.n_mfcc, model.config.num_frames))
    return model, extractor


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("none", set()),
        ("conv", {"conv_blocks.0.batch_norm", "conv_blocks.1.batch_norm"}),
        ("all", {"conv_blocks.0.batch_norm", "conv_blocks.1.batch_norm", "dense_layers.0.1"}),
    ],
)
def test_bn_reset_all_vs_conv(mode, expected, splits, tmp_path):
    model, extractor = cnn_with_dense_batch_norm()
    batch_norms = {name: m for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    assert len(batch_norms) == 3
    before = {name: (m.running_mean.clone(), m.running_var.clone()) for name, m in batch_norms.items()}
    trainer = make_trainer(splits, tmp_path, model=model, extractor=extractor, bn_reset=mode)
    assert set(trainer.bn_reset_names) == expected
    trainer.create_optimizer()
    for name, module in batch_norms.items():
        mean, var = before[name]
        assert not torch.equal(mean, torch.zeros_like(mean)), "statistics were not populated"
        if name in expected:
            assert torch.equal(module.running_mean, torch.zeros_like(mean)), name
            assert torch.equal(module.running_var, torch.ones_like(var)), name
            assert module.num_batches_tracked.item() == 0
        else:
            assert torch.equal(module.running_mean, mean) and torch.equal(module.running_var, var), name


def test_schedule_is_a_function_of_the_step(splits, tmp_path):
    trainer = make_trainer(splits, tmp_path)
    # The paper's 5 + 5 + 5 epochs over 45 steps (3 per epoch): 15 reset, 15 perturb (5 rounds of 3), 15 repair.
    phases = [trainer.phase_at(step, total_steps=45) for step in range(45)]
    assert phases[:15] == [("reset", None)] * 15
    assert phases[15:30] == [("perturb", k) for k in range(5) for _ in range(3)]
    assert phases[30:] == [("repair", None)] * 15
    assert [trainer.round_start_step(k, total_steps=45) for k in range(5)] == [15, 18, 21, 24, 27]
    # Short runs scale the stages: 3 steps are one per stage; 1 step is repair only (the reset still happens first).
    assert [trainer.phase_at(s, total_steps=3) for s in range(3)] == [
        ("reset", None),
        ("perturb", 0),
        ("repair", None),
    ]
    assert trainer.phase_at(0, total_steps=1) == ("repair", None)
    # Fewer perturb steps (2) than rounds (5): the rounds without a step are skipped.
    assert [trainer.phase_at(s, total_steps=6)[1] for s in (2, 3)] == [0, 2]
    # The same state in another trainer (e.g. after resuming) gives the same round and the same layer choice.
    other = make_trainer(splits, tmp_path / "other")
    other.state.max_steps, other.state.global_step = 45, 22
    assert other.phase_at(other.state.global_step) == ("perturb", 2)
    assert [other.round_layers(k) for k in range(5)] == [trainer.round_layers(k) for k in range(5)]
    assert all(len(trainer.round_layers(k)) == trainer.args.layers_per_round for k in range(5))
    # ... and the choice depends on the seed.
    schedules = set()
    for seed in range(4):
        other.args.seed = seed
        schedules.add(tuple(tuple(other.round_layers(k)) for k in range(5)))
    assert len(schedules) > 1


class ParameterSnapshots(TrainerCallback):
    """Parameters after the reset (index 0) and after every optimizer step (index = global_step)."""

    def __init__(self):
        self.snapshots = []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.snapshots.append({n: p.detach().clone() for n, p in model.named_parameters()})

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.snapshots.append({n: p.detach().clone() for n, p in model.named_parameters()})


# 12 steps, stages 1 : 1 : 1 -> reset steps 0-3, round 0 steps 4-5, round 1 steps 6-7, repair steps 8-11.
TWO_ROUNDS = dict(max_steps=12, reset_epochs=1, perturb_epochs=1, repair_epochs=1, perturb_rounds=2)


def run_rounds(splits, tmp_path, clear_optimizer_state=True):
    trainer = make_trainer(splits, tmp_path, **TWO_ROUNDS, layers_per_round=2, lr_scheduler_type="constant")
    if not clear_optimizer_state:
        trainer._clear_optimizer_state = lambda parameters: None
    callback = ParameterSnapshots()
    trainer.add_callback(callback)
    trainer.train()
    return trainer, callback.snapshots


def layer_of(parameter_name: str, layers: list[str]) -> bool:
    return any(parameter_name.startswith(layer + ".") for layer in layers)


def test_non_chosen_layers_bitwise_unchanged_during_a_round(splits, tmp_path):
    trainer, snapshots = run_rounds(splits, tmp_path)
    assert len(snapshots) == 13
    assert trainer.perturbed_layers == {0: trainer.round_layers(0), 1: trainer.round_layers(1)}
    for round_index, (start, end) in enumerate(((4, 6), (6, 8))):
        chosen = trainer.perturbed_layers[round_index]
        # snapshots[start] holds the parameters before the round's first step (after step start - 1).
        for step in range(start + 1, end + 1):
            for name, value in snapshots[step].items():
                if layer_of(name, chosen):
                    assert not torch.equal(value, snapshots[start][name]), (round_index, step, name)
                else:
                    assert torch.equal(value, snapshots[start][name]), (round_index, step, name)
    # Outside the rounds every layer trains: the reset stage and the repair stage move every weight.
    for start, end in ((0, 4), (8, 12)):
        for name, value in snapshots[end].items():
            if name.endswith("weight"):
                assert not torch.equal(value, snapshots[start][name]), name
    assert not trainer.gradient_masks, "the masks must be lifted for the repair stage"


def test_frozen_layers_move_without_clearing_optimizer_state(splits, tmp_path):
    """The control of the test above: with Adam's moments from stage 1 kept, masked layers still move."""
    trainer, snapshots = run_rounds(splits, tmp_path, clear_optimizer_state=False)
    chosen = trainer.perturbed_layers[0]
    moved = [n for n, v in snapshots[5].items() if not layer_of(n, chosen) and not torch.equal(v, snapshots[4][n])]
    assert moved


def test_resume_mid_round_masks_without_new_noise(splits, tmp_path):
    """Entering a round at its first step adds noise to the chosen layers only; entering it later (a resumed run)
    sets the same masks and adds nothing."""
    for step, expect_noise in ((4, True), (5, False)):
        trainer = make_trainer(splits, tmp_path / str(step), **TWO_ROUNDS)
        trainer.create_optimizer()
        trainer.state.max_steps, trainer.state.global_step = 12, step
        before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
        trainer.on_step_begin()
        chosen = trainer.round_layers(0)
        assert trainer.perturbed_layers == {0: chosen}
        assert set(trainer.gradient_masks) == {n for n in before if not layer_of(n, chosen)}
        for name, parameter in trainer.model.named_parameters():
            changed = not torch.equal(parameter.detach(), before[name])
            noisy = expect_noise and layer_of(name, chosen) and before[name].abs().sum() > 0
            assert changed == bool(noisy), (step, name)


def test_resume_from_checkpoint_mid_round_matches_uninterrupted_run(splits, tmp_path):
    overrides = dict(TWO_ROUNDS, save_strategy="steps", save_steps=5, dataloader_num_workers=0)
    full = make_trainer(splits, tmp_path / "full", **overrides)
    full.train()
    # Checkpoint 5 is mid round 0 (steps 4-5): the resumed run must not reset or perturb again.
    resumed = make_trainer(splits, tmp_path / "resumed", **overrides)
    resumed.train(resume_from_checkpoint=str(tmp_path / "full" / "out" / "checkpoint-5"))
    assert resumed.perturbed_layers == full.perturbed_layers
    for (name, a), (_, b) in zip(full.model.named_parameters(), resumed.model.named_parameters()):
        torch.testing.assert_close(a, b, msg=lambda m, name=name: f"{name}: {m}")
