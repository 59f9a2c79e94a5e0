"""The method table: every registered method x tiny models. Generated from `list_methods()`, so a new method without a
case here fails `test_every_method_has_a_case`."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY_MODELS, build_tiny_model

from hf_unlearn import UnlearningConfig, UnlearningTrainer, list_methods, make_forget_split

# Per-method settings of the table: the loss terms it must log.
METHOD_CASES = {
    "finetune": {"terms": {"retain"}},
    "gradient_ascent": {"terms": {"forget"}},
    "neggrad_plus": {"terms": {"forget", "retain"}},
    "random_labels": {"terms": {"forget", "retain"}},
}


def test_every_method_has_a_case():
    assert {info.key for info in list_methods()} == set(METHOD_CASES)


@pytest.fixture(scope="module")
def toy_splits(toy_dataset):
    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, retain_eval_size=0.1, seed=0)


def small_args(tmp_path, **overrides):
    values = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        max_steps=3,
        learning_rate=1e-3,
        use_cpu=True,
        report_to="none",
        logging_steps=1,
        seed=0,
        disable_tqdm=True,
    )
    values.update(overrides)
    return UnlearningConfig(**values)


def make_trainer(method, kind, splits, tmp_path, **overrides):
    model, extractor = build_tiny_model(kind)
    return UnlearningTrainer(
        method=method,
        model=model,
        args=small_args(tmp_path, **overrides),
        forget_dataset=splits.forget,
        retain_dataset=splits.retain,
        processing_class=extractor,
    )


@pytest.mark.parametrize("kind", TINY_MODELS)
@pytest.mark.parametrize("method", sorted(METHOD_CASES))
def test_method_trains(method, kind, toy_splits, tmp_path):
    trainer = make_trainer(method, kind, toy_splits, tmp_path)
    assert type(trainer).method_key == method
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    changed = [n for n, p in before.items() if not torch.equal(p, after[n].detach())]
    assert changed, "no trainable parameter changed"
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert logged and all(torch.isfinite(torch.tensor(entry["loss"])) for entry in logged)
    terms = {key.split("/", 1)[1] for entry in logged for key in entry if key.startswith("loss/")}
    assert terms == METHOD_CASES[method]["terms"]


@pytest.mark.parametrize("method", sorted(METHOD_CASES))
def test_gradient_accumulation_invariance(method, toy_splits, tmp_path):
    """Batch 4 x 1 step gives the same update as batch 2 x 2 accumulation steps. The CNN is built without batch norm:
    batch-norm statistics depend on the micro-batch by definition."""
    results = []
    for batch, accumulation in ((4, 1), (2, 2)):
        model, extractor = build_tiny_model("cnn", batch_norm=False)
        args = small_args(
            tmp_path / f"{batch}x{accumulation}",
            per_device_train_batch_size=batch,
            gradient_accumulation_steps=accumulation,
            max_steps=1,
            optim="sgd",
            learning_rate=0.1,
            max_grad_norm=1e9,
            dataloader_drop_last=True,
        )
        trainer = UnlearningTrainer(
            method=method,
            model=model,
            args=args,
            forget_dataset=toy_splits.forget,
            retain_dataset=toy_splits.retain,
            processing_class=extractor,
        )
        # The same sampler order in both runs: no shuffling.
        trainer._get_train_sampler = lambda *a, **k: torch.utils.data.SequentialSampler(trainer.train_dataset)
        trainer.train()
        results.append({n: p.detach().clone() for n, p in trainer.model.named_parameters()})
    for name in results[0]:
        torch.testing.assert_close(results[0][name], results[1][name], rtol=1e-5, atol=1e-6, msg=name)


def test_dispatch_returns_registered_subclass(toy_splits, tmp_path):
    from hf_unlearn import NegGradPlusConfig, NegGradPlusTrainer

    trainer = make_trainer("neggrad_plus", "cnn", toy_splits, tmp_path)
    assert type(trainer) is NegGradPlusTrainer
    assert isinstance(trainer.args, NegGradPlusConfig) and trainer.args.method == "neggrad_plus"
    # The subclass works directly, and aliases resolve to it.
    model, extractor = build_tiny_model("cnn")
    direct = NegGradPlusTrainer(
        model=model,
        args=small_args(tmp_path),
        forget_dataset=toy_splits.forget,
        retain_dataset=toy_splits.retain,
        processing_class=extractor,
    )
    assert type(direct) is NegGradPlusTrainer
    model, extractor = build_tiny_model("cnn")
    alias = UnlearningTrainer(
        method="NG+",
        model=model,
        args=small_args(tmp_path),
        forget_dataset=toy_splits.forget,
        retain_dataset=toy_splits.retain,
        processing_class=extractor,
    )
    assert type(alias) is NegGradPlusTrainer


def test_method_from_args(toy_splits, tmp_path):
    from hf_unlearn import FinetuneTrainer

    model, extractor = build_tiny_model("cnn")
    trainer = UnlearningTrainer(
        model=model,
        args=small_args(tmp_path, method="finetune"),
        retain_dataset=toy_splits.retain,
        processing_class=extractor,
    )
    assert type(trainer) is FinetuneTrainer


def test_neggrad_plus_forgets_class_and_keeps_retain(toy_splits, tmp_path):
    """On the learnable toy task: train an original model, then NG+ drops forget accuracy while retain accuracy
    stays within 5 points."""
    from transformers import Trainer, TrainingArguments

    from hf_unlearn.collators import UnlearningCollator, featurize

    model, extractor = build_tiny_model("cnn")
    train = featurize(toy_splits.forget, extractor)
    from datasets import concatenate_datasets

    train = concatenate_datasets([train, featurize(toy_splits.retain, extractor)])
    Trainer(
        model=model,
        args=TrainingArguments(
            output_dir=str(tmp_path / "orig"),
            num_train_epochs=15,
            per_device_train_batch_size=8,
            learning_rate=3e-3,
            use_cpu=True,
            report_to="none",
            disable_tqdm=True,
            save_strategy="no",
            seed=0,
            remove_unused_columns=False,
        ),
        train_dataset=train,
        data_collator=UnlearningCollator(extractor.model_input_names),
    ).train()

    def accuracies(trainer):
        metrics = trainer.evaluate(
            {"forget": toy_splits.forget, "retain": toy_splits.retain_eval, "test": toy_splits.test}
        )
        return metrics["eval_forget_accuracy"], metrics["eval_retain_accuracy"]

    trainer = UnlearningTrainer(
        method="neggrad_plus",
        model=model,
        args=small_args(tmp_path, max_steps=-1, num_train_epochs=3, learning_rate=3e-4),
        forget_dataset=toy_splits.forget,
        retain_dataset=toy_splits.retain,
        processing_class=extractor,
    )
    forget_before, retain_before = accuracies(trainer)
    assert forget_before >= 0.9 and retain_before >= 0.9, "the original model did not learn the toy task"
    trainer.train()
    forget_after, retain_after = accuracies(trainer)
    assert forget_after <= 0.2, forget_after
    assert retain_after >= retain_before - 0.05, (retain_before, retain_after)


def test_unlearning_config_json_written(toy_splits, tmp_path):
    import json

    trainer = make_trainer("neggrad_plus", "cnn", toy_splits, tmp_path)
    trainer.train()
    trainer.save_model()
    record = json.loads((tmp_path / "out" / "unlearning_config.json").read_text())
    assert record["method"] == "neggrad_plus"
    assert record["request"]["num_forget"] == len(toy_splits.forget)
    assert record["config"]["retain_weight"] == 1.0


def test_evaluation_loss_not_negated(toy_splits, tmp_path):
    trainer = make_trainer("gradient_ascent", "cnn", toy_splits, tmp_path)
    loss, logits, labels = trainer.prediction_step(
        trainer.model,
        trainer.data_collator(
            [dict(toy_splits_row) for toy_splits_row in trainer.train_dataset.forget.select(range(4))]
        ),
        False,
    )
    assert loss.item() > 0
    expected = torch.nn.functional.cross_entropy(logits, labels)
    torch.testing.assert_close(loss, expected)


def test_presets():
    from hf_unlearn import NegGradPlusConfig

    config = NegGradPlusConfig.preset("scrub_repo", output_dir="x", use_cpu=True)
    assert config.retain_weight == pytest.approx(0.9999) and config.forget_weight == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="known presets"):
        NegGradPlusConfig.preset("nope", output_dir="x")
