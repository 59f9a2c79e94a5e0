"""Each phased method's schedule, counted step by step against its reference, on 4 forget rows and 12 retain rows with
batches of 2 (so a pass over forget is 2 steps and a pass over retain 6):

- NG+ (UnSLU-BENCH `advancedneggrad`, SCRUB repository `train_negrad`): an epoch is one pass over retain, each retain
  batch paired with a forget batch, the forget set cycled (3 times per epoch);
- SCRUB: per epoch a max pass over forget, then a min pass over retain; max passes only in the first `msteps` epochs;
- BT-L (UnSLU-BENCH): one shuffled mixed stream of all forget and all retain rows;
- RandLabel / SalUn (SalUn's `RL`): per epoch a full forget pass, then a full retain pass;
- UNSIR: an impair epoch (noise + retain) over retain, then a repair epoch (retain only).
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from conftest import tiny_trainer

from hf_unlearn.data.collator import FORGET_FLAG, ROW_INDEX

NUM_FORGET, NUM_RETAIN, BATCH = 4, 12, 2


@pytest.fixture(scope="module")
def small_request(class_request):
    """4 forget rows (class tone1) and 12 retain rows of the toy task."""
    from types import SimpleNamespace

    return SimpleNamespace(
        forget=class_request.forget.select(range(NUM_FORGET)), retain=class_request.retain.select(range(NUM_RETAIN))
    )


def _key(row_inputs: torch.Tensor) -> bytes:
    return row_inputs.detach().cpu().numpy().tobytes()


def _keys(batch: dict, name: str) -> list:
    # UNSIR's forget side carries no audio, only each row's index and label.
    return [_key(x) for x in batch[name]] if name in batch else [int(i) for i in batch[ROW_INDEX]]


def run_schedule(method, request, tmp_path, epochs, **fields):
    """Trains `method` for `epochs` epochs with batches of 2 and returns, per optimizer step, the rows the method saw:
    `(phase, forget row keys, retain row keys)` (phase: UNSIR's impair flag, else None), and the trainer."""
    trainer = tiny_trainer(
        method,
        request,
        tmp_path,
        per_device_train_batch_size=BATCH,
        max_steps=-1,
        num_train_epochs=epochs,
        learning_rate=1e-6,
        divergence_guard="off",
        logging_steps=100,
        **fields,
    )
    name = trainer.processing_class.model_input_names[0]
    steps = []
    compute_loss = trainer.compute_loss

    def spy(model, inputs, *args, **kwargs):
        if FORGET_FLAG in inputs:  # a mixed batch
            flags = inputs[FORGET_FLAG] == 1
            forget = [_key(x) for x in inputs[name][flags]]
            retain = [_key(x) for x in inputs[name][~flags]]
        else:
            forget = _keys(inputs["forget"], name) if "forget" in inputs else []
            retain = _keys(inputs["retain"], name) if "retain" in inputs else []
        steps.append((getattr(trainer, "is_impair_phase", lambda: None)(), forget, retain))
        return compute_loss(model, inputs, *args, **kwargs)

    trainer.compute_loss = spy
    trainer.train()
    return steps, trainer


def featurized_keys(trainer, rows, name):
    return Counter(_key(torch.as_tensor(row[name])) for row in rows)


def side_keys(trainer):
    """Counters of the featurized forget and retain rows' keys."""
    name = trainer.processing_class.model_input_names[0]
    stream = trainer.train_dataset
    forget = featurized_keys(trainer, stream.forget, name) if name in stream.forget.column_names else None
    return forget, featurized_keys(trainer, stream.retain, name)


def epochs_of(steps, per_epoch):
    return [steps[i : i + per_epoch] for i in range(0, len(steps), per_epoch)]


def test_neggrad_plus_epoch_runs_over_retain_with_forget_cycled(small_request, tmp_path):
    steps, trainer = run_schedule("neggrad_plus", small_request, tmp_path, epochs=2)
    forget_keys, retain_keys = side_keys(trainer)
    assert len(steps) == 2 * NUM_RETAIN // BATCH  # 6 steps per epoch, not 2 (an epoch over forget)
    for epoch in epochs_of(steps, NUM_RETAIN // BATCH):
        assert all(len(forget) == len(retain) == BATCH for _, forget, retain in epoch)  # paired batches
        assert Counter(k for _, _, retain in epoch for k in retain) == retain_keys  # every retain row once
        # The forget set cycled alongside: every forget row 12 / 4 = 3 times.
        assert Counter(k for _, forget, _ in epoch for k in forget) == {k: 3 for k in forget_keys}


def test_scrub_max_pass_then_min_pass_for_msteps_epochs(small_request, tmp_path):
    steps, trainer = run_schedule("scrub", small_request, tmp_path, epochs=3, max_steps_phase=2)
    forget_keys, retain_keys = side_keys(trainer)
    per_epoch = (NUM_FORGET + NUM_RETAIN) // BATCH  # 2 max + 6 min steps
    assert len(steps) == 3 * per_epoch
    for index, epoch in enumerate(epochs_of(steps, per_epoch)):
        kinds = ["max" if forget else "min" for _, forget, _ in epoch]
        assert all(not (forget and retain) for _, forget, retain in epoch)  # a step is one phase
        if index < 2:
            assert kinds == ["max"] * 2 + ["min"] * 6
            assert Counter(k for _, forget, _ in epoch for k in forget) == forget_keys
            assert Counter(k for _, _, retain in epoch[2:] for k in retain) == retain_keys
        else:  # after msteps: min steps only, the forget slot filled with retain rows
            assert kinds == ["min"] * 8
            assert Counter(k for _, _, retain in epoch[2:] for k in retain) == retain_keys
    # The phase is in the data: the same epoch draws the same order again (a resumed run resumes it).
    sampler = trainer.train_dataset.make_sampler(trainer.args)
    sampler.set_epoch(1)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) == first and all(i < NUM_FORGET for i in first[:NUM_FORGET])


def test_bad_teaching_lite_one_mixed_stream_of_all_rows(small_request, tmp_path):
    steps, trainer = run_schedule("bad_teaching_lite", small_request, tmp_path, epochs=2)
    forget_keys, retain_keys = side_keys(trainer)
    per_epoch = (NUM_FORGET + NUM_RETAIN) // BATCH
    assert len(steps) == 2 * per_epoch
    for epoch in epochs_of(steps, per_epoch):
        assert Counter(k for _, forget, _ in epoch for k in forget) == forget_keys
        assert Counter(k for _, _, retain in epoch for k in retain) == retain_keys  # all retain rows, not a share
    # Shuffled: some batch mixes forget and retain rows, or forget rows are not all first.
    order = ["f" * len(forget) + "r" * len(retain) for _, forget, retain in steps[:per_epoch]]
    assert "".join(order) != "f" * NUM_FORGET + "r" * NUM_RETAIN


@pytest.mark.parametrize("method", ["random_labels", "salun"])
def test_forget_pass_then_retain_pass(method, small_request, tmp_path):
    steps, trainer = run_schedule(method, small_request, tmp_path, epochs=2)
    forget_keys, retain_keys = side_keys(trainer)
    per_epoch = (NUM_FORGET + NUM_RETAIN) // BATCH
    assert len(steps) == 2 * per_epoch
    for epoch in epochs_of(steps, per_epoch):
        assert [bool(forget) for _, forget, _ in epoch] == [True] * 2 + [False] * 6
        assert Counter(k for _, forget, _ in epoch for k in forget) == forget_keys
        assert Counter(k for _, _, retain in epoch for k in retain) == retain_keys


def test_unsir_impair_epoch_then_repair_epoch(small_request, tmp_path):
    steps, trainer = run_schedule("unsir", small_request, tmp_path, epochs=2, noise_steps=2)
    _, retain_keys = side_keys(trainer)
    per_epoch = NUM_RETAIN // BATCH
    assert len(steps) == 2 * per_epoch
    impair, repair = epochs_of(steps, per_epoch)
    for epoch in (impair, repair):
        assert Counter(k for _, _, retain in epoch for k in retain) == retain_keys
    assert all(phase is True for phase, _, _ in impair) and all(phase is False for phase, _, _ in repair)
    # Each impair step pairs its retain rows with as many forget rows (whose noise it trains on), cycled.
    assert all(len(forget) == len(retain) == BATCH for _, forget, retain in impair)
    assert Counter(i for _, forget, _ in impair for i in forget) == {i: 3 for i in range(NUM_FORGET)}


@pytest.mark.parametrize("method", ["scrub", "random_labels"])
def test_phased_stream_resumes_mid_epoch(method, small_request, tmp_path):
    """Resuming in the middle of the second epoch (after the max epochs, for SCRUB) gives the uninterrupted run's
    weights and batch-norm statistics bitwise: the pass order is a function of (seed, epoch, slot)."""

    def run(folder, resume_from=None):
        trainer = tiny_trainer(
            method,
            small_request,
            folder,
            output_dir=str(folder),
            per_device_train_batch_size=BATCH,
            max_steps=-1,
            num_train_epochs=3,
            learning_rate=1e-2,
            divergence_guard="off",
            save_strategy="steps",
            save_steps=11,
            **({"max_steps_phase": 1} if method == "scrub" else {}),
        )
        trainer.train(resume_from_checkpoint=resume_from)
        return trainer

    full = run(tmp_path / "full")
    resumed = run(tmp_path / "resumed", resume_from=str(tmp_path / "full" / "checkpoint-11"))
    assert resumed.state.global_step == full.state.global_step == 3 * (NUM_FORGET + NUM_RETAIN) // BATCH
    expected = full.model.state_dict()
    for name, value in resumed.model.state_dict().items():
        assert torch.equal(value, expected[name]), name
