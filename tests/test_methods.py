"""The method table: every registered method x tiny models. Generated from `list_methods()`, so a new method without a
case here fails `test_every_method_has_a_case`."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY_MODELS, build_tiny_model, tiny_args, tiny_trainer

from hf_unlearn import UnlearningConfig, UnlearningTrainer, get_trainer_class, list_methods, make_forget_split

# Per-method settings of the table: the loss terms it must log, and `steps` when 3 steps are not enough to reach every
# phase (phased streams: on the toy split, 21 forget rows are 6 steps of 4 before the first retain step).
METHOD_CASES = {
    # Bad Teaching: one flat stream of forget rows + 30 % of the retain rows; terms are the KL on each kind of row.
    "bad_teaching": {"terms": {"forget", "retain"}},
    "bad_teaching_lite": {"terms": {"forget", "retain"}},
    "cf_k": {"terms": {"retain"}},
    "eu_k": {"terms": {"retain"}},
    "finetune": {"terms": {"retain"}},
    "gradient_ascent": {"terms": {"forget"}},
    "l1_sparse": {"terms": {"retain", "l1"}},
    "neggrad_plus": {"terms": {"forget", "retain"}},
    "npo": {"terms": {"forget", "retain"}},
    "random_labels": {"terms": {"forget", "retain"}, "steps": 8},
    # With max_steps=3 the stages are one step each (reset, perturb round 0, repair); tests/test_reset_perturb.py
    # covers the rounds. The invariance test (max_steps=1) runs the reset and one repair step.
    "reset_perturb": {"terms": {"retain"}},
    # SalUn: saliency mask in before_optimizer, then random labels on forget + retain CE on the masked weights.
    "salun": {"terms": {"forget", "retain"}, "steps": 8},
    # 8 steps: the max pass over forget (6 steps), then 2 min steps. The table's invariance test runs one step, a max
    # step; test_scrub_min_steps_gradient_accumulation covers the min step.
    "scrub": {"terms": {"forget_kl", "retain_ce", "retain_kl"}, "steps": 8},
    # UNSIR: with max_steps=3 every step is in the impair phase (noise CE + retain CE); tests/test_unsir.py covers the
    # switch to repair (retain only).
    "unsir": {"terms": {"noise", "retain"}},
}


def test_every_method_has_a_case():
    assert {info.key for info in list_methods()} == set(METHOD_CASES)


@pytest.fixture(scope="module")
def toy_splits(toy_dataset):
    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, retain_eval_size=0.1, seed=0)


def make_trainer(method, kind, splits, tmp_path, **overrides):
    # The shared UnlearningConfig, which the trainer upgrades to the method's config (its fields at their defaults).
    # The models are untrained, so the divergence guard's retain-accuracy floor means nothing here (tests/test_guard.py
    # covers it): it is off unless a test asks for it.
    overrides.setdefault("divergence_guard", "off")
    return tiny_trainer(method, splits, tmp_path, kind=kind, config_class=UnlearningConfig, **overrides)


@pytest.mark.parametrize("kind", TINY_MODELS)
@pytest.mark.parametrize("method", sorted(METHOD_CASES))
def test_method_trains(method, kind, toy_splits, tmp_path):
    trainer = make_trainer(method, kind, toy_splits, tmp_path, max_steps=METHOD_CASES[method].get("steps", 3))
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
    assert_accumulation_invariant(method, toy_splits, tmp_path)


def assert_accumulation_invariant(method, toy_splits, tmp_path, config_class=UnlearningConfig, max_steps=1, **fields):
    results = []
    for batch, accumulation in ((4, 1), (2, 2)):
        model, extractor = build_tiny_model("cnn", batch_norm=False)
        trainer = tiny_trainer(
            method,
            toy_splits,
            tmp_path / f"{batch}x{accumulation}",
            model=model,
            extractor=extractor,
            config_class=config_class,
            per_device_train_batch_size=batch,
            gradient_accumulation_steps=accumulation,
            max_steps=max_steps,
            optim="sgd",
            learning_rate=0.1,
            max_grad_norm=1e9,
            dataloader_drop_last=True,
            **fields,
        )
        # The same sampler order in both runs: no shuffling (a phased stream's own sampler depends only on the seed
        # and the rows per optimizer step, 4 in both runs).
        if not hasattr(trainer.train_dataset, "make_sampler"):
            trainer._get_train_sampler = lambda *a, **k: torch.utils.data.SequentialSampler(trainer.train_dataset)
        trainer.train()
        results.append({n: p.detach().clone() for n, p in trainer.model.named_parameters()})
    for name in results[0]:
        torch.testing.assert_close(
            results[0][name], results[1][name], rtol=1e-5, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}"
        )


def test_dispatch_returns_registered_subclass(toy_splits, tmp_path):
    from hf_unlearn import NegGradPlusConfig, NegGradPlusTrainer

    trainer = make_trainer("neggrad_plus", "cnn", toy_splits, tmp_path)
    assert type(trainer) is NegGradPlusTrainer
    assert isinstance(trainer.args, NegGradPlusConfig) and trainer.args.method == "neggrad_plus"
    # The subclass works directly, and aliases resolve to it.
    model, extractor = build_tiny_model("cnn")
    direct = NegGradPlusTrainer(
        model=model,
        args=tiny_args(UnlearningConfig, tmp_path),
        forget_dataset=toy_splits.forget,
        retain_dataset=toy_splits.retain,
        processing_class=extractor,
    )
    assert type(direct) is NegGradPlusTrainer
    model, extractor = build_tiny_model("cnn")
    alias = UnlearningTrainer(
        method="NG+",
        model=model,
        args=tiny_args(UnlearningConfig, tmp_path),
        forget_dataset=toy_splits.forget,
        retain_dataset=toy_splits.retain,
        processing_class=extractor,
    )
    assert type(alias) is NegGradPlusTrainer


def test_positional_args_dispatch(toy_splits, tmp_path):
    """As with a plain Trainer, `args` may come second positionally: the method is read from it."""
    from hf_unlearn import FinetuneTrainer, NegGradPlusTrainer

    model, extractor = build_tiny_model("cnn")
    args = tiny_args(UnlearningConfig, tmp_path, method="finetune")
    trainer = UnlearningTrainer(
        model, args, forget_dataset=toy_splits.forget, retain_dataset=toy_splits.retain, processing_class=extractor
    )
    assert type(trainer) is FinetuneTrainer
    model, extractor = build_tiny_model("cnn")
    with pytest.raises(ValueError, match="runs 'neggrad_plus', not 'finetune'"):
        NegGradPlusTrainer(model, args, forget_dataset=toy_splits.forget, retain_dataset=toy_splits.retain)


@pytest.mark.parametrize("use_retain", [True, False])
def test_npo_capabilities_follow_the_config(use_retain, toy_splits, tmp_path):
    """NPO with `use_retain=False` trains on no retain data, so it neither needs nor loads a retain set."""
    from hf_unlearn import NPOConfig, NPOTrainer

    args = tiny_args(NPOConfig, tmp_path, use_retain=use_retain, divergence_guard="off")
    assert NPOTrainer.trains_on(args) == (True, use_retain)
    model, extractor = build_tiny_model("cnn")
    kwargs = {"retain_dataset": toy_splits.retain} if use_retain else {}
    trainer = NPOTrainer(model, args, forget_dataset=toy_splits.forget, processing_class=extractor, **kwargs)
    assert (trainer.uses_forget, trainer.uses_retain) == (True, use_retain)
    assert NPOTrainer.uses_retain is True  # the class default (the methods table) is unchanged
    batch = next(iter(trainer.get_train_dataloader()))
    assert ("retain" in batch) is use_retain


def test_method_from_args(toy_splits, tmp_path):
    from hf_unlearn import FinetuneTrainer

    model, extractor = build_tiny_model("cnn")
    trainer = UnlearningTrainer(
        model=model,
        args=tiny_args(UnlearningConfig, tmp_path, method="finetune"),
        forget_dataset=toy_splits.forget,
        retain_dataset=toy_splits.retain,
        processing_class=extractor,
    )
    assert type(trainer) is FinetuneTrainer


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


# UnSLU-BENCH's best-GUM learning rate per method (modal over its 10 model x dataset pairs); methods it does not run
# have no "unslu" preset.
UNSLU_LEARNING_RATES = {
    "finetune": 1e-4,
    "gradient_ascent": 5e-6,
    "neggrad_plus": 1e-6,
    "cf_k": 1e-4,
    "unsir": 1e-5,
    "bad_teaching": 1e-6,
    "bad_teaching_lite": 1e-6,
    "scrub": 5e-6,
}


@pytest.mark.parametrize("method", sorted(METHOD_CASES))
def test_unslu_presets(method):
    config_class = get_trainer_class(method).config_class
    preset = config_class.PRESETS.get("unslu")
    if method not in UNSLU_LEARNING_RATES:
        assert preset is None, f"{method} is not in UnSLU-BENCH but has an 'unslu' preset"
        return
    config = config_class.preset("unslu", output_dir="x", use_cpu=True)
    assert config.learning_rate == UNSLU_LEARNING_RATES[method]
    # Constant-lr AdamW; only NG clips gradients (at 1.0).
    assert config.lr_scheduler_type == "constant"
    assert config.max_grad_norm == (1.0 if method == "gradient_ascent" else 0.0)
    # One epoch; UNSIR's run is one impair epoch + one repair epoch (num_train_epochs = impair + repair = 2).
    epochs = config.impair_epochs + config.repair_epochs if method == "unsir" else 1
    assert config.num_train_epochs == epochs and config.optim == "adamw_torch"


def test_presets():
    from hf_unlearn import NegGradPlusConfig

    config = NegGradPlusConfig.preset("scrub_repo", output_dir="x", use_cpu=True)
    assert config.retain_weight == pytest.approx(0.9999) and config.forget_weight == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="known presets"):
        NegGradPlusConfig.preset("nope", output_dir="x")
    from hf_unlearn import SCRUBConfig

    small = SCRUBConfig.preset("small_scale", output_dir="x", use_cpu=True)
    assert (small.temperature, small.gamma, small.alpha, small.max_steps_phase) == (2.0, 1.0, 0.5, 3)
    assert small.num_train_epochs > small.max_steps_phase
    unslu = SCRUBConfig.preset("unslu", output_dir="x", use_cpu=True)
    assert (unslu.gamma, unslu.alpha, unslu.max_steps_phase) == (1.0, 1.0, None)


@pytest.mark.parametrize("kind", ["cnn", "wav2vec2"])
@pytest.mark.parametrize("reinit", [False, True])
def test_cf_k_trains_only_the_last_k_modules(kind, reinit, toy_splits, tmp_path):
    """CF-k (and EU-k with reinit): parameters and buffers (batch-norm statistics) outside the last k top-level
    modules are bitwise unchanged, the head changed."""
    model, extractor = build_tiny_model(kind)
    original = {n: p.detach().clone() for n, p in model.named_parameters()}
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    from hf_unlearn import CFkConfig

    args = tiny_args(CFkConfig, tmp_path, k=1, reinit=reinit)
    trainer = UnlearningTrainer(
        method="cf_k",
        model=model,
        args=args,
        forget_dataset=toy_splits.forget,
        retain_dataset=toy_splits.retain,
        processing_class=extractor,
    )
    trainer.train()  # the blocks are chosen in before_optimizer(), when train() creates the optimizer
    assert trainer.trainable_module_names == ["classifier"]
    for name, parameter in trainer.model.named_parameters():
        if name.startswith("classifier."):
            assert parameter.requires_grad
            assert not torch.equal(parameter.detach(), original[name]), name
        else:
            assert not parameter.requires_grad
            assert torch.equal(parameter.detach(), original[name]), name
    assert buffers or kind != "cnn"  # the CNN's batch norm has running statistics to keep
    assert all(torch.equal(b, buffers[n]) for n, b in trainer.model.named_buffers()), "frozen buffers moved"


def test_eu_k_is_cf_k_with_reinit(toy_splits, tmp_path):
    """`method="eu_k"` re-initialises by default: under one seed it ends bitwise where CF-k with `reinit=True` ends,
    and away from CF-k's fine-tuned head."""
    from hf_unlearn import CFkConfig, EUkConfig

    def run(method, config_class, **fields):
        model, extractor = build_tiny_model("cnn")
        trainer = UnlearningTrainer(
            method=method,
            model=model,
            args=tiny_args(config_class, tmp_path / f"{method}-{fields}", **fields),
            forget_dataset=toy_splits.forget,
            retain_dataset=toy_splits.retain,
            processing_class=extractor,
        )
        trainer.train()
        return trainer.model.state_dict()

    eu_k, cf_k_reinit, cf_k = run("eu_k", EUkConfig), run("cf_k", CFkConfig, reinit=True), run("cf_k", CFkConfig)
    assert all(torch.equal(eu_k[name], cf_k_reinit[name]) for name in eu_k)
    assert not torch.equal(eu_k["classifier.weight"], cf_k["classifier.weight"])


@pytest.mark.parametrize("method", ["npo", "scrub", "bad_teaching_lite"])
def test_teacher_frozen_and_unchanged(method, toy_splits, tmp_path):
    trainer = make_trainer(method, "cnn", toy_splits, tmp_path)
    teacher = trainer.teacher
    before = {n: p.detach().clone() for n, p in teacher.named_parameters()}
    trainer.train()
    assert teacher is not trainer.model
    for name, parameter in teacher.named_parameters():
        assert not parameter.requires_grad, name
        assert torch.equal(parameter.detach(), before[name]), name
    # The student moved away from the teacher.
    assert any(not torch.equal(p.detach(), before[n]) for n, p in trainer.model.named_parameters())


def test_scrub_passes_follow_the_epoch(toy_splits, tmp_path):
    """A max pass over forget then a min pass over retain in the first `max_steps_phase` epochs, then min passes only
    (tests/test_schedules.py counts the steps); `max_steps_phase=None` keeps max passes in every epoch (UnSLU)."""
    trainer = make_trainer("scrub", "cnn", toy_splits, tmp_path)
    assert trainer.args.max_steps_phase == 2 and trainer.args.num_train_epochs == 3
    assert [trainer.passes_at(epoch) for epoch in range(3)] == [("forget", "retain")] * 2 + [("retain", "retain")]
    trainer.args.max_steps_phase = None
    assert trainer.passes_at(10) == ("forget", "retain")


def test_l1_sparse_gamma_decays(toy_splits, tmp_path):
    trainer = make_trainer("l1_sparse", "cnn", toy_splits, tmp_path)
    trainer.state.max_steps, trainer.state.global_step = 10, 0
    assert trainer.current_gamma() == pytest.approx(trainer.args.l1_gamma)
    trainer.state.global_step = 5
    assert trainer.current_gamma() == pytest.approx(trainer.args.l1_gamma / 2)
    trainer.state.global_step = 10
    assert trainer.current_gamma() == 0.0


def test_scrub_min_steps_gradient_accumulation(toy_splits, tmp_path):
    """SCRUB's min steps (retain CE + KL) are invariant to gradient accumulation too. `max_steps_phase=0` makes every
    step a min step: at the start the student equals the teacher, so a max step's gradient is round-off (the KL is at
    its minimum), which SGD at lr 0.1 would amplify differently in the two runs."""
    from hf_unlearn import SCRUBConfig

    assert_accumulation_invariant(
        "scrub", toy_splits, tmp_path, config_class=SCRUBConfig, max_steps=2, max_steps_phase=0
    )
