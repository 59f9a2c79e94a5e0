"""The original checkpoint is never written to: every public write API of a trainer is pointed at the original's folder
(or at a copy of its files inside it) and refused, while the original's files are hashed before and after."""

from __future__ import annotations

import hashlib
import shutil

import pytest
from conftest import build_tiny_model

from hf_unlearn import UnlearningConfig, UnlearningTrainer, make_forget_split
from hf_unlearn.checks import check_write_path


@pytest.fixture(scope="module")
def splits(toy_dataset):
    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, seed=0)


def folder_digest(folder) -> dict[str, str]:
    """SHA-256 of every file under `folder` (relative path -> digest)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def original(tmp_path):
    model, extractor = build_tiny_model("cnn")
    folder = tmp_path / "original"
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)
    (folder / "README.md").write_text("the original's card\n")
    return folder


def make_trainer(original, splits, tmp_path, **fields):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    config = UnlearningConfig(
        output_dir=str(tmp_path / "unlearned"), use_cpu=True, max_steps=2, report_to="none", **fields
    )
    return UnlearningTrainer(
        method="neggrad_plus",
        model=AutoModelForAudioClassification.from_pretrained(original),
        args=config,
        forget_dataset=splits.forget,
        retain_dataset=splits.retain,
        processing_class=AutoFeatureExtractor.from_pretrained(original),
    )


def _point_output_dir(trainer, folder):
    trainer.args.output_dir = str(folder)  # what a user may do after construction


# (id, write(trainer, target)): each public write API aimed at `target`
WRITES = [
    ("save_model", lambda t, target: t.save_model(str(target))),
    ("save_model_default_folder", lambda t, target: (_point_output_dir(t, target), t.save_model())),
    ("train_with_checkpoints", lambda t, target: (_point_output_dir(t, target), t.train())),
    ("push_to_hub", lambda t, target: (_point_output_dir(t, target), t.push_to_hub())),
    ("create_model_card", lambda t, target: t.create_model_card(output_dir=str(target))),
    ("save_state", lambda t, target: (_point_output_dir(t, target), t.save_state())),
    ("save_metrics", lambda t, target: (_point_output_dir(t, target), t.save_metrics("eval", {"x": 1.0}))),
    ("save_merged_model", lambda t, target: t.save_merged_model(str(target))),
]


@pytest.mark.parametrize("inside", [False, True], ids=["original_folder", "copy_inside_original"])
@pytest.mark.parametrize("write", [pytest.param(w, id=name) for name, w in WRITES])
def test_every_public_write_refuses_the_original(write, inside, original, splits, tmp_path):
    trainer = make_trainer(original, splits, tmp_path, save_strategy="steps", save_steps=1)
    target = original
    if inside:
        target = original / "nested" / "copy"
        shutil.copytree(original, target)
    before = folder_digest(original)
    with pytest.raises(ValueError, match="original model's folder") as refused:
        write(trainer, target)
    assert str(target) in str(refused.value)
    assert folder_digest(original) == before


def test_training_with_checkpoints_and_saving_leaves_the_original_byte_identical(original, splits, tmp_path):
    before = folder_digest(original)
    trainer = make_trainer(original, splits, tmp_path, save_strategy="steps", save_steps=1)
    trainer.train()
    trainer.save_model()
    trainer.save_state()
    trainer.create_model_card()
    # A new folder inside the original's, holding none of its files, is a legitimate place to write.
    trainer.save_model(str(original / "unlearned"))
    assert (original / "unlearned" / "model.safetensors").is_file()
    after = folder_digest(original)
    assert {name: digest for name, digest in after.items() if name in before} == before
    assert (tmp_path / "unlearned" / "checkpoint-2" / "unlearning_checkpoint_complete").is_file()


def test_the_helper_for_front_ends(original, tmp_path):
    """`check_write_path` is what a front end calls before writing its own outputs (results, reference models)."""
    check_write_path(tmp_path / "results", original)
    check_write_path(original / "results", original)  # a new folder inside: nothing of the original's there
    with pytest.raises(ValueError, match="original model's folder"):
        check_write_path(original, original)
    with pytest.raises(ValueError, match="original model's folder"):
        check_write_path(tmp_path / "link" / ".." / "original", original)
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "to_original").symlink_to(original)
    with pytest.raises(ValueError, match="original model's folder"):
        check_write_path(tmp_path / "link" / "to_original", original)
