"""Bad Teaching (`hf_unlearn.methods.bad_teaching`): the loss, the incompetent teacher, the mixed stream."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import build_tiny_model, tiny_trainer

from hf_unlearn import BadTeachingConfig, BadTeachingTrainer, make_forget_split
from hf_unlearn.data.collator import FORGET_FLAG
from hf_unlearn.data.streams import MixedUnlearningDataset
from hf_unlearn.losses import bad_teaching_kl, kl_with_temperature
from hf_unlearn.trainer.teachers import incompetent_teacher


@pytest.fixture(scope="module")
def splits(toy_dataset):
    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, retain_eval_size=0.1, seed=0)


def bt_trainer(splits, tmp_path, kind="cnn", **fields):
    # Batch 8; the run's length comes from the test (max_steps or num_train_epochs).
    return tiny_trainer(
        "bt", splits, tmp_path, kind=kind, **{"per_device_train_batch_size": 8, "max_steps": -1, **fields}
    )


def softmax(row, temperature):
    exps = [math.exp(v / temperature) for v in row]
    return [v / sum(exps) for v in exps]


def test_bad_teaching_kl_by_hand():
    student = torch.tensor([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0], [0.0, 0.0, 1.0]])
    competent = torch.tensor([[0.0, 1.0, 1.0], [2.0, 0.0, -1.0], [4.0, 0.0, 0.0]])
    incompetent = torch.tensor([[3.0, -1.0, 0.0], [0.1, 0.2, 0.3], [-2.0, 1.0, 0.5]])
    flags = torch.tensor([1, 0, 1])
    temperature = 2.0
    expected = []
    for s, c, u, flag in zip(student.tolist(), competent.tolist(), incompetent.tolist(), flags.tolist()):
        q = softmax(s, temperature)
        p = softmax(u if flag else c, temperature)
        expected.append(sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q)))
    values = bad_teaching_kl(student, competent, incompetent, flags, temperature)
    torch.testing.assert_close(values, torch.tensor(expected))
    # All-retain rows: the distillation KL to the competent teacher (kl_with_temperature carries T^2).
    retain = bad_teaching_kl(student, competent, incompetent, torch.zeros(3, dtype=torch.long), temperature)
    torch.testing.assert_close(retain.mean() * temperature**2, kl_with_temperature(student, competent, temperature))
    # The student equal to its target costs nothing.
    assert bad_teaching_kl(incompetent, competent, incompetent, torch.ones(3)).abs().max() < 1e-6


def test_mixed_stream(splits, tmp_path):
    """All forget rows (flag 1) and round(0.3 * len(retain)) retain rows (flag 0), drawn by `pairing_seed`."""
    trainer = bt_trainer(splits, tmp_path, max_steps=1)
    stream = trainer.train_dataset
    num_forget, num_retain = len(splits.forget), len(splits.retain)
    expected_retain = round(0.3 * num_retain)
    assert len(stream) == num_forget + expected_retain
    flags = [stream[i][FORGET_FLAG] for i in range(len(stream))]
    assert flags == [1] * num_forget + [0] * expected_retain
    forget = trainer.train_dataset.forget
    for i in range(num_forget):
        assert stream[i]["input_features"].tobytes() == forget[i]["input_features"].tobytes()
    drawn = stream.retain_indices
    assert len(set(drawn.tolist())) == expected_retain and drawn.max() < num_retain
    retain = stream.retain
    assert stream[num_forget]["input_features"].tobytes() == retain[int(drawn[0])]["input_features"].tobytes()
    # Seeded: the same seed draws the same rows, another seed others; the share is a field.
    again = MixedUnlearningDataset(forget, retain, retain_share=0.3, seed=trainer.args.pairing_seed)
    assert again.retain_indices.tolist() == drawn.tolist()
    other = MixedUnlearningDataset(forget, retain, retain_share=0.3, seed=trainer.args.pairing_seed + 1)
    assert other.retain_indices.tolist() != drawn.tolist()
    assert len(MixedUnlearningDataset(forget, retain, retain_share=0.5)) == num_forget + round(0.5 * num_retain)
    # The collator carries the flag as a long tensor.
    batch = trainer.data_collator([stream[0], stream[len(stream) - 1]])
    assert batch[FORGET_FLAG].dtype == torch.long and batch[FORGET_FLAG].tolist() == [1, 0]


def test_incompetent_teacher_is_not_the_original(splits, tmp_path):
    trainer = bt_trainer(splits, tmp_path, max_steps=1)
    assert isinstance(trainer, BadTeachingTrainer)
    incompetent = trainer.incompetent_teacher
    assert incompetent is not trainer.model and incompetent is not trainer.teacher
    original = dict(trainer.model.named_parameters())
    random_weights = [name for name, parameter in incompetent.named_parameters() if parameter.dim() > 1]
    assert random_weights  # (constant-initialised biases and norm weights are equal by construction)
    for name in random_weights:
        assert not torch.equal(dict(incompetent.named_parameters())[name], original[name]), name
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    batch.pop(FORGET_FLAG)
    original_logits = trainer.teacher_logits(batch)
    incompetent_logits = trainer.incompetent_teacher_logits(batch)
    assert (original_logits.softmax(-1) - incompetent_logits.softmax(-1)).abs().max() > 0.05
    assert (original_logits.argmax(-1) != incompetent_logits.argmax(-1)).any()


def test_original_refused_as_incompetent_teacher(splits, tmp_path):
    model, extractor = build_tiny_model("cnn")
    with pytest.raises(ValueError, match="incompetent_teacher_model is the original model"):
        BadTeachingTrainer(
            model=model,
            args=BadTeachingConfig(output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none"),
            forget_dataset=splits.forget,
            retain_dataset=splits.retain,
            processing_class=extractor,
            incompetent_teacher_model=model,
        )
    # An untrained model built from the seed the incompetent teacher would use gets the same weights: refused.
    model, _ = build_tiny_model("cnn", seed=7)
    with pytest.raises(ValueError, match="exactly the model's weights"):
        incompetent_teacher(model, seed=7)


def test_both_teachers_frozen_and_unchanged_and_student_moves_to_the_bad_teacher(splits, tmp_path):
    """After training: both teachers frozen and bitwise unchanged; on forget rows the student is closer to the
    incompetent teacher than before."""
    trainer = bt_trainer(splits, tmp_path, num_train_epochs=2)
    teachers = {"competent": trainer.teacher, "incompetent": trainer.incompetent_teacher}
    before = {key: {n: p.detach().clone() for n, p in t.named_parameters()} for key, t in teachers.items()}
    forget_batch = trainer.data_collator([dict(row) for row in trainer.train_dataset.forget])
    forget_batch = {key: value.to(trainer.args.device) for key, value in forget_batch.items()}

    def forget_kl():
        trainer.model.eval()
        with torch.no_grad():
            student = trainer.task.logits(trainer.model, forget_batch)
        target = trainer.incompetent_teacher_logits(forget_batch)
        return kl_with_temperature(student, target, 1.0).item()

    kl_before = forget_kl()
    trainer.train()
    for key, teacher in teachers.items():
        assert not teacher.training, key
        for name, parameter in teacher.named_parameters():
            assert not parameter.requires_grad, (key, name)
            assert torch.equal(parameter.detach(), before[key][name]), (key, name)
    assert forget_kl() < kl_before
