"""Values against independent expectations, for code whose breakage the rest of the suite used to miss.

Each test checks a figure against a closed form or a hand computation (not the code path that produced it): where
the tuner's gold figure comes from, the gaps a run records, the l1-sparse and NG+ losses, and the rows batch-norm
recalibration reads. docs/mutation_testing.md lists the mutation each one catches.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import SAMPLING_RATE, build_tiny_model, tiny_trainer
from torch.nn.modules.batchnorm import _BatchNorm

from hf_unlearn import make_forget_split
from hf_unlearn.data.collator import model_batch


@pytest.fixture(scope="module")
def toy_splits(toy_dataset):
    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, retain_eval_size=0.1, seed=0)


def features_of(extractor, dataset) -> torch.Tensor:
    """The model inputs of `dataset`'s clips, featurised here directly (not through the trainer's data path)."""
    clips = [np.asarray(row["audio"]["array"], dtype=np.float32) for row in dataset]
    return extractor(clips, sampling_rate=SAMPLING_RATE, return_tensors="pt")["input_features"]


def accuracy(model, extractor, dataset) -> float:
    model.eval()
    with torch.no_grad():
        predictions = model(input_features=features_of(extractor, dataset)).logits.argmax(-1).numpy()
    return float(np.mean(predictions == np.asarray(dataset["label"])))


# ---------------------------------------------------------------------------------------------------------------------
# The tuner's view: gold's figure is its forget-VALIDATION accuracy, never its accuracy on the forget training rows.


def test_trial_view_takes_gold_on_forget_validation_not_on_the_forget_rows():
    from hf_unlearn.benchmark.trials import trial_view
    from hf_unlearn.benchmark.tuning import trial_scores

    # Every model gets a different figure on every split, so a figure read from the wrong split or model shows.
    record = {
        "unlearned": {"forget_accuracy": 0.61, "retain_accuracy": 0.83, "forget_validation_accuracy": 0.37},
        "original": {"forget_accuracy": 0.99, "retain_accuracy": 0.91, "forget_validation_accuracy": 0.93},
        "gold": {"forget_accuracy": 0.05, "retain_accuracy": 0.89, "forget_validation_accuracy": 0.17},
    }
    eval_splits = {"forget": range(7), "retain": range(40), "forget_validation": range(9)}
    view = trial_view(record, eval_splits)
    assert view == {
        "retain_validation_accuracy": 0.83,
        "original_retain_validation_accuracy": 0.91,
        "num_retain_validation": 40,
        "forget_validation_accuracy": 0.37,
        "gold_forget_validation_accuracy": 0.17,
        "num_forget_validation": 9,
        "forget_accuracy": 0.61,
    }
    scores = trial_scores(view, standard_errors=2.0)
    assert scores["forgetting"] == pytest.approx(0.37 - 0.17)  # by hand: |0.37 - 0.17|
    assert scores["gold_free"] == pytest.approx(0.61 - 0.37)
    assert scores["utility_loss"] == pytest.approx(0.91 - 0.83)


# ---------------------------------------------------------------------------------------------------------------------
# The gaps a run records are the UNLEARNED model's, recomputed here from the saved models' predictions.


def test_run_request_records_the_unlearned_models_gaps(toy_dataset, original_dir, tmp_path):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    from hf_unlearn.experiment import run_request
    from hf_unlearn.experiment.reference_cache import ReferenceModel

    # Enough held-out rows of the forgotten tone (7) for the held-out MIA to be computed.
    splits = make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.4, retain_eval_size=0.1, seed=0)
    extractor = AutoFeatureExtractor.from_pretrained(original_dir)
    gold_model, _ = build_tiny_model("cnn", seed=1)  # an untrained stand-in: only its predictions matter here
    gold_model.save_pretrained(tmp_path / "gold")
    references = {
        "original": ReferenceModel(str(original_dir), {"train_time": 40.0}),
        "gold": ReferenceModel(str(tmp_path / "gold"), {"train_time": 30.0}, kind="gold"),
        "shadows": [],
    }
    settings = dict(max_steps=4, learning_rate=3e-2, per_device_train_batch_size=8, divergence_guard="off")
    record, trainer = run_request(
        "gradient_ascent", settings, splits, extractor, references, output_dir=str(tmp_path / "unlearned"),
        use_cpu=True, disable_tqdm=True, save=False, return_trainer=True,
    )  # fmt: skip

    unlearned = trainer.model
    gold = AutoModelForAudioClassification.from_pretrained(tmp_path / "gold")
    original = AutoModelForAudioClassification.from_pretrained(original_dir)
    for split, dataset in (("forget", splits.forget), ("test", splits.test)):
        expected = accuracy(unlearned, extractor, dataset) - accuracy(gold, extractor, dataset)
        assert record[f"{split}_accuracy_minus_gold"] == pytest.approx(expected, abs=1e-9), split
    # The test can tell the unlearned model's gap from the original's: gradient ascent moved the forget accuracy.
    assert accuracy(unlearned, extractor, splits.forget) != accuracy(original, extractor, splits.forget)
    assert record["unlearned"]["mia_heldout"] is not None
    expected_mia = record["unlearned"]["mia_heldout"] - record["gold"]["mia_heldout"]
    assert record["mia_heldout_minus_gold"] == pytest.approx(expected_mia)
    # Times: the unlearning run's, against gold's training time (30 s here; the original's is 40 s).
    assert record["unlearning_time"] == record["unlearned"]["unlearning_time"] == trainer.unlearning_time > 0
    assert record["gold_train_time"] == 30.0 and record["original"]["train_time"] == 40.0
    assert record["time_share_of_gold"] == pytest.approx(trainer.unlearning_time / 30.0)
    assert record["unlearned"]["speedup"] == pytest.approx(30.0 / trainer.unlearning_time)


# ---------------------------------------------------------------------------------------------------------------------
# Method losses in closed form on one real batch (eval mode: batch norm and dropout out of the way).


def retain_and_forget_cross_entropy(model, batch) -> dict:
    with torch.no_grad():
        return {
            side: F.cross_entropy(model(**model_batch(batch[side])).logits, batch[side]["labels"]).item()
            for side in ("retain", "forget")
            if side in batch
        }


def test_l1_sparse_loss_is_cross_entropy_plus_gamma_times_l1_norm(toy_splits, tmp_path):
    trainer = tiny_trainer("l1_sparse", toy_splits, tmp_path, l1_gamma=0.01, retain_weight=0.8)
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model.eval()
    cross_entropy = retain_and_forget_cross_entropy(model, batch)["retain"]
    l1_norm = sum(p.abs().sum().item() for p in model.parameters() if p.requires_grad)
    # Before the first step gamma_t = l1_gamma * (1 - 0 / T) = l1_gamma.
    expected = 0.8 * cross_entropy + 0.01 * l1_norm
    assert 0.01 * l1_norm > 0.1 * expected  # the penalty is a visible share of the loss
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch).item()
    assert loss == pytest.approx(expected, rel=1e-5)


def test_neggrad_plus_loss_descends_on_retain_and_ascends_on_forget(toy_splits, tmp_path):
    trainer = tiny_trainer("neggrad_plus", toy_splits, tmp_path, retain_weight=0.7, forget_weight=0.3)
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model.eval()
    terms = retain_and_forget_cross_entropy(model, batch)
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch).item()
    assert loss == pytest.approx(0.7 * terms["retain"] - 0.3 * terms["forget"], rel=1e-5)

    # And the step it takes: with the retain term off, one SGD step raises the forget loss (ascent).
    trainer = tiny_trainer(
        "neggrad_plus", toy_splits, tmp_path / "ascent", retain_weight=0.0, forget_weight=1.0, optim="sgd",
        learning_rate=1e-2, max_steps=1, divergence_guard="off",
    )  # fmt: skip
    batch = next(iter(trainer.get_train_dataloader()))
    before = retain_and_forget_cross_entropy(copy.deepcopy(trainer.model).eval(), batch)["forget"]
    trainer.train()
    after = retain_and_forget_cross_entropy(trainer.model.eval(), batch)["forget"]
    assert after > before


# ---------------------------------------------------------------------------------------------------------------------
# Batch-norm recalibration reads the retain rows: the first layer's statistics equal those of its input on retain.


def test_recalibrated_batch_norm_holds_the_retain_rows_statistics(toy_splits, tmp_path):
    model, extractor = build_tiny_model("cnn")
    initial = copy.deepcopy(model).eval()
    trainer = tiny_trainer(
        "gradient_ascent", toy_splits, tmp_path, model=model, extractor=extractor, max_steps=1, learning_rate=0.0,
        divergence_guard="off", recalibrate_bn=True, per_device_train_batch_size=len(toy_splits.retain),
    )  # fmt: skip
    trainer.train()

    def first_layer_input_statistics(dataset):
        """Per-channel mean and unbiased variance of the first batch-norm layer's input on `dataset` (the weights
        before it are the initial ones: lr 0)."""
        layer = next(m for m in initial.modules() if isinstance(m, _BatchNorm))
        seen = []
        handle = layer.register_forward_hook(lambda module, args, output: seen.append(args[0].detach()))
        with torch.no_grad():
            initial(input_features=features_of(extractor, dataset))
        handle.remove()
        values = seen[0].transpose(0, 1).reshape(seen[0].shape[1], -1)  # channels x (rows * positions)
        return values.mean(dim=1), values.var(dim=1, unbiased=True)

    layer = next(m for m in trainer.model.modules() if isinstance(m, _BatchNorm))
    retain_mean, retain_var = first_layer_input_statistics(toy_splits.retain)
    forget_mean, _ = first_layer_input_statistics(toy_splits.forget)
    assert not torch.allclose(retain_mean, forget_mean, atol=1e-3)  # the two row sets are told apart
    torch.testing.assert_close(layer.running_mean, retain_mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(layer.running_var, retain_var, rtol=1e-4, atol=1e-5)
