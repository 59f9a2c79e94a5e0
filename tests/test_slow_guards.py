"""Cheap default-suite guards for paths whose full tests are marked slow (docs/mutation_testing.md, "Slow tests and
their guards"): the methods through the experiment pipeline (the demo's settings, `run_request` and `write_results`;
the full test, tests/test_demo.py::test_demo_runs_every_method, also synthesises keywords and trains references for
every method), LoRA on wav2vec2 for the adapter methods the default suite did not run there (the full column of
tests/test_peft.py runs all nine), and the shipped two-process accelerate config."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import build_tiny_model

from hf_unlearn import list_methods, make_forget_split

METHODS = [info.key for info in list_methods()]
ADAPTER_METHODS = [info.key for info in list_methods() if info.trainer_class.peft_support == "adapter"]
# On wav2vec2 + LoRA by default: the methods whose loss reaches past the logits into the model (UNSIR's noise is raw
# audio of the clips' lengths, Bad Teaching copies the architecture as its incompetent teacher, l1-sparse penalises the
# adapter's own parameters). The teacher methods (SCRUB, NPO, BT-L) run on wav2vec2 + LoRA in test_peft.py; the others
# differ from these only in the loss on the same logits, which the CNN + LoRA column of test_peft.py runs.
WAV2VEC2_LORA_GUARDED = ("unsir", "bad_teaching", "l1_sparse")


@pytest.fixture(scope="module")
def toy_splits(toy_dataset):
    # test_size 0.4: seven held-out rows of the forgotten tone, enough for the held-out MIA.
    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.4, retain_eval_size=0.1, seed=0)


@pytest.fixture(scope="module")
def pipeline(toy_splits, original_dir, tmp_path_factory):
    """(extractor, references, evaluation) shared by every method: the session's trained toy CNN as the original, an
    untrained CNN standing in for gold, both evaluated once."""
    from transformers import AutoFeatureExtractor

    from hf_unlearn.experiment.reference_cache import ReferenceModel
    from hf_unlearn.experiment.run import evaluate_references

    folder = tmp_path_factory.mktemp("gold")
    build_tiny_model("cnn", seed=1)[0].save_pretrained(folder)
    extractor = AutoFeatureExtractor.from_pretrained(original_dir)
    references = {
        "original": ReferenceModel(str(original_dir), {"train_time": 40.0}),
        "gold": ReferenceModel(str(folder), {"train_time": 30.0}, kind="gold"),
        "shadows": [],
    }
    evaluation = evaluate_references(references, toy_splits.eval_splits(), extractor, use_cpu=True)
    return extractor, references, evaluation


@pytest.mark.parametrize("method", METHODS)
def test_every_methods_demo_settings_make_its_config(method, tmp_path):
    """The settings file entries the demo reads for each method are fields of that method's config."""
    from hf_unlearn import get_trainer_class
    from hf_unlearn.experiment import method_settings

    settings = method_settings(method, "keywords")
    config = get_trainer_class(method).config_class(output_dir=str(tmp_path), use_cpu=True, **settings)
    assert all(getattr(config, key) == value for key, value in settings.items()), method


# One method per kind of training stream: paired forget + retain batches, alternating phases with a teacher, and
# mixed batches with two teachers (the other methods use one of these streams; each method's training runs in
# test_behaviour.py and its loss in test_method_losses.py).
@pytest.mark.parametrize("method", ["neggrad_plus", "scrub", "bad_teaching"])
def test_methods_run_through_the_pipeline(method, toy_splits, pipeline, tmp_path):
    """The method with the demo dataset's shipped settings, cut to one step, through `run_request` and
    `write_results` (what the demo runs per method)."""
    from hf_unlearn.experiment import method_settings, run_request, write_results

    extractor, references, evaluation = pipeline
    settings = {**method_settings(method, "keywords"), "max_steps": 1, "divergence_guard": "off"}
    record = run_request(
        method, settings, toy_splits, extractor, references, output_dir=str(tmp_path / method), use_cpu=True,
        disable_tqdm=True, save=False, evaluation=evaluation,
    )  # fmt: skip
    assert record["method"] == method and record["settings"]["max_steps"] == 1
    unlearned, gold = record["unlearned"], record["gold"]
    assert all(0.0 <= unlearned[f"{split}_accuracy"] <= 1.0 for split in ("forget", "retain", "test"))
    expected_gap = unlearned["forget_accuracy"] - gold["forget_accuracy"]
    assert record["forget_accuracy_minus_gold"] == pytest.approx(expected_gap)
    assert record["mia_heldout_minus_gold"] is not None and record["unlearning_time"] > 0
    written = write_results(record, str(tmp_path / "results"), figure=False)
    assert set(written["rows"]) == {"original", "gold", method} and method in written["table"]


@pytest.mark.parametrize("method", WAV2VEC2_LORA_GUARDED)
def test_two_lora_steps_on_wav2vec2(method, toy_splits, tmp_path):
    from test_peft import base_state, lora_trainer, small_args

    assert set(WAV2VEC2_LORA_GUARDED) <= set(ADAPTER_METHODS)
    model, extractor = build_tiny_model("wav2vec2")
    original = copy.deepcopy(model.state_dict())
    args = small_args(tmp_path, max_steps=2, divergence_guard="off")
    trainer = lora_trainer(method, model, extractor, toy_splits, tmp_path, args=args)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    assert any("lora_" in n and not torch.equal(before[n], after[n].detach()) for n in before), "no LoRA factor moved"
    base = base_state(trainer.model)
    assert set(base) == set(original) and all(torch.equal(value, base[key]) for key, value in original.items())


def test_shipped_two_process_accelerate_config_launches_two_ranks():
    """The config of the slow `accelerate launch` recipe test, read by accelerate's own loader: two processes on one
    machine through the multi-GPU launcher (torchrun underneath; the only CPU launch that starts two ranks here), the
    script itself kept on the CPU by `--use_cpu true`. The launch is covered by the two-process torchrun tests."""
    import os

    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    path = os.path.join(os.path.dirname(__file__), "..", "recipes", "accelerate_configs", "cpu_two_processes.yaml")
    config = load_config_from_file(path)
    assert config.num_processes == 2 and config.num_machines == 1
    assert config.distributed_type == DistributedType.MULTI_GPU and config.mixed_precision == "no"
