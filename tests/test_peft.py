"""PEFT (LoRA) variants of every method: the speech target-module map, adapter training, the adapter-disabled teacher,
saving the adapter and the merged model, refusals. The method table is generated from `list_methods()`, so a method
added later is covered (it runs on an adapter or refuses with its reason)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from conftest import SAMPLING_RATE, build_tiny_model, tiny_wav2vec2_kwargs, tone_clip

from hf_unlearn import UnlearningConfig, UnlearningTrainer, list_methods, lora_config_for, make_forget_split
from hf_unlearn.peft_utils import (
    SPEECH_LORA_TARGETS,
    load_adapter_model,
    resolve_module_names,
    running_stats_modules,
    speech_lora_targets,
)

peft = pytest.importorskip("peft")
from peft.tuners.lora import LoraLayer  # noqa: E402
from peft.utils import ModulesToSaveWrapper  # noqa: E402


# ----------------------------------------------------------------------------------- tiny models per architecture
def _tiny_wavlm():
    from transformers import WavLMConfig, WavLMForSequenceClassification

    config = WavLMConfig(**tiny_wav2vec2_kwargs(3), num_buckets=16, max_bucket_distance=32)
    return WavLMForSequenceClassification(config), {"input_values": torch.randn(2, 4000)}


def _tiny_ast():
    from transformers import ASTConfig, ASTForAudioClassification

    config = ASTConfig(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        num_mel_bins=16,
        max_length=32,
        patch_size=8,
        frequency_stride=8,
        time_stride=8,
        num_labels=3,
    )
    return ASTForAudioClassification(config), {"input_values": torch.randn(2, 32, 16)}


def _tiny_whisper():
    from transformers import WhisperConfig, WhisperForAudioClassification

    config = WhisperConfig(
        d_model=16,
        encoder_layers=2,
        encoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=32,
        num_mel_bins=8,
        max_source_positions=16,
        classifier_proj_size=8,
        num_labels=3,
    )
    # The encoder needs exactly 2 * max_source_positions frames.
    return WhisperForAudioClassification(config), {"input_features": torch.randn(2, 8, 32)}


def _tiny_from_conftest(kind):
    model, extractor = build_tiny_model(kind)
    clips = [tone_clip(300.0 * (i + 1), i, 0) for i in range(2)]
    inputs = extractor(clips, sampling_rate=SAMPLING_RATE, return_tensors="pt")
    return model, {name: inputs[name] for name in extractor.model_input_names if name in inputs}


# model_type -> builder of (model, inputs); one per entry of SPEECH_LORA_TARGETS (XLS-R is model_type wav2vec2).
TINY_ARCHITECTURES = {
    "wav2vec2": lambda: _tiny_from_conftest("wav2vec2"),
    "hubert": lambda: _tiny_from_conftest("hubert"),
    "wavlm": _tiny_wavlm,
    "whisper": _tiny_whisper,
    "audio-spectrogram-transformer": _tiny_ast,
    "mfcc_cnn": lambda: _tiny_from_conftest("cnn"),
}


def test_every_mapped_architecture_has_a_tiny_model():
    assert set(SPEECH_LORA_TARGETS) == set(TINY_ARCHITECTURES)


@pytest.mark.parametrize("model_type", sorted(TINY_ARCHITECTURES))
def test_mapped_names_exist_and_their_adapters_run(model_type):
    torch.manual_seed(0)
    model, inputs = TINY_ARCHITECTURES[model_type]()
    assert model.config.model_type == model_type
    mapped = speech_lora_targets(model)
    for name, paths in resolve_module_names(model, mapped.target_modules + mapped.head_modules).items():
        assert paths, f"{model_type}: mapped name {name!r} matches no module"

    config = lora_config_for(model)
    peft_model = peft.get_peft_model(model, config)
    lora_layers = {path: m for path, m in peft_model.named_modules() if isinstance(m, LoraLayer)}
    assert len(lora_layers) == len(config.target_modules) > 0
    wrappers = {path for path, m in peft_model.named_modules() if isinstance(m, ModulesToSaveWrapper)}
    for head in mapped.head_modules:
        assert any(path.endswith(head) for path in wrappers), f"{model_type}: head {head!r} is not trainable"
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)

    # Every adapted layer must run in the forward pass (WavLM's attention reads raw weights: a LoRA there never runs).
    calls = dict.fromkeys(lora_layers, 0)
    handles = [
        m.register_forward_hook(lambda *_, p=p: calls.__setitem__(p, calls[p] + 1)) for p, m in lora_layers.items()
    ]
    peft_model.eval()
    with torch.no_grad():
        for module in lora_layers.values():  # B = 0 at init: make the adapters do something
            for weight in module.lora_B.values():
                torch.nn.init.normal_(weight.weight, std=0.5)
        adapted = peft_model(**inputs).logits
        with peft_model.disable_adapter():
            base = peft_model(**inputs).logits
    for handle in handles:
        handle.remove()
    assert not [p for p, n in calls.items() if n == 0], f"{model_type}: LoRA layers never called"
    assert not torch.allclose(adapted, base), f"{model_type}: the adapter does not change the output"


def test_lora_config_for_unknown_architecture_and_missing_names():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with pytest.raises(ValueError, match="target_modules"):
        lora_config_for(model)
    config = lora_config_for(model, target_modules=["0"], modules_to_save=["2"])
    assert sorted(config.target_modules) == ["0"] and config.modules_to_save == ["2"]
    cnn, _ = build_tiny_model("cnn")
    with pytest.raises(ValueError, match="no_such_layer"):
        lora_config_for(cnn, target_modules=["no_such_layer"])


def test_frozen_feature_encoder_gets_no_gradient_path(toy_splits, tmp_path):
    """Under an adapter, wav2vec2's frozen convolutional encoder must not mark its output as requiring gradients (that
    would store all its activations); LoRA layers placed inside it still train."""
    for targets, inside in ((None, False), (["q_proj", "feature_extractor.conv_layers.1.conv"], True)):
        model, extractor = build_tiny_model("wav2vec2")
        config = lora_config_for(model, r=2, target_modules=targets)
        trainer = UnlearningTrainer(
            method="neggrad_plus",
            model=model,
            args=small_args(tmp_path),
            forget_dataset=toy_splits.forget,
            retain_dataset=toy_splits.retain,
            processing_class=extractor,
            peft_config=config,
        )
        encoder = trainer.model.get_base_model().wav2vec2.feature_extractor
        assert encoder._requires_grad is False
        encoder_trainable = [n for n, p in encoder.named_parameters() if p.requires_grad]
        assert bool(encoder_trainable) == inside and all("lora_" in n for n in encoder_trainable)
        encoder.train()
        output = encoder(torch.randn(1, 400))
        assert output.requires_grad == inside


def test_batch_norm_is_trained_in_full_so_the_base_keeps_its_statistics():
    cnn, _ = build_tiny_model("cnn", batch_norm=True)
    config = lora_config_for(cnn)
    assert set(running_stats_modules(cnn)) <= set(config.modules_to_save)
    assert running_stats_modules(cnn), "the CNN with batch norm has running statistics"


# ----------------------------------------------------------------------------------------------- method table
@pytest.fixture(scope="module")
def toy_splits(toy_dataset):
    return make_forget_split(toy_dataset, by="class", values=["tone1"], test_size=0.25, retain_eval_size=0.1, seed=0)


def small_args(tmp_path, **overrides):
    values = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        max_steps=3,
        learning_rate=1e-2,
        use_cpu=True,
        report_to="none",
        logging_steps=1,
        seed=0,
        disable_tqdm=True,
    )
    values.update(overrides)
    return UnlearningConfig(**values)


def lora_trainer(method, model, extractor, splits, tmp_path, args=None, **kwargs):
    return UnlearningTrainer(
        method=method,
        model=model,
        args=args or small_args(tmp_path),
        forget_dataset=splits.forget,
        retain_dataset=splits.retain,
        processing_class=extractor,
        peft_config=lora_config_for(model, r=4),
        **kwargs,
    )


def base_state(peft_model) -> dict[str, torch.Tensor]:
    """The frozen base's tensors under their original names (LoRA factors and trainable head copies left out)."""
    state = {}
    for key, value in peft_model.get_base_model().state_dict().items():
        if "lora_" in key or ".modules_to_save." in key:
            continue
        state[key.replace(".base_layer.", ".").replace(".original_module.", ".")] = value
    return state


METHODS = [info.key for info in list_methods()]


# The CNN (conv + dense LoRA, batch norm kept in full) runs by default; the transformer column is marked slow (the
# teacher and saving tests below run wav2vec2 by default).
@pytest.mark.parametrize("kind", ("cnn", pytest.param("wav2vec2", marks=pytest.mark.slow)))
@pytest.mark.parametrize("method", METHODS)
def test_method_with_lora(method, kind, toy_splits, tmp_path):
    trainer_class = next(info.trainer_class for info in list_methods() if info.key == method)
    model, extractor = build_tiny_model(kind)
    original = copy.deepcopy(model.state_dict())
    if trainer_class.peft_support == "refuse":
        assert trainer_class.peft_note, f"{method} refuses PEFT without giving a reason (peft_note)"
        refusal = rf"(?s)Method '{method}' does not run on a PEFT adapter.*full fine-tuning"
        with pytest.raises(ValueError, match=refusal):
            lora_trainer(method, model, extractor, toy_splits, tmp_path)
        return
    assert trainer_class.peft_support == "adapter"
    # What is checked here is the adapter's mechanics (its factors train, the base stays); the divergence guard has its
    # own tests, and at this test's lr 1e-2 it stops UNSIR on the tiny random wav2vec2 at step 3 and puts back the
    # weights of step 0, which would leave nothing to check.
    args = small_args(tmp_path, divergence_guard="off")
    trainer = lora_trainer(method, model, extractor, toy_splits, tmp_path, args=args)
    assert isinstance(trainer.model, peft.PeftModel)
    adapter_before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert adapter_before and all("lora_" in n or "modules_to_save" in n for n in adapter_before)
    trainer.train()

    after = dict(trainer.model.named_parameters())
    changed = [n for n in adapter_before if not torch.equal(adapter_before[n], after[n].detach())]
    assert any("lora_" in n for n in changed), f"no LoRA factor changed: {sorted(adapter_before)[:4]}"
    # The base (weights and batch-norm statistics) is the original, untouched.
    base = base_state(trainer.model)
    assert set(base) == set(original)
    moved = [k for k, v in original.items() if not torch.equal(v, base[k])]
    assert not moved, f"base tensors changed under the adapter: {moved[:5]}"


# -------------------------------------------------------------------------------------------------- teachers
TEACHER_METHODS = [
    info.key for info in list_methods() if info.requires_teacher and info.trainer_class.peft_support == "adapter"
]


def _storages(module) -> dict[int, int]:
    tensors = list(module.parameters()) + list(module.buffers())
    return {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}


@pytest.mark.parametrize("method", TEACHER_METHODS)
def test_teacher_is_the_adapter_disabled_base(method, toy_splits, tmp_path):
    assert {"scrub", "npo", "bad_teaching_lite"} <= set(TEACHER_METHODS)
    # Dropout on: the teacher must run in eval mode although the student trains.
    torch.manual_seed(0)
    from transformers import Wav2Vec2Config, Wav2Vec2ForSequenceClassification

    _, extractor = build_tiny_model("wav2vec2")
    model = Wav2Vec2ForSequenceClassification(
        Wav2Vec2Config(**{**tiny_wav2vec2_kwargs(4), "hidden_dropout": 0.2, "final_dropout": 0.2})
    )
    original = copy.deepcopy(model).eval()
    original_bytes = sum(_storages(original).values())
    trainer = lora_trainer(method, model, extractor, toy_splits, tmp_path)

    assert trainer.teacher_is_disabled_adapter and trainer.teacher is trainer.model
    # No copy: the storages reachable from the model and the teacher are the original's plus the trainable adapter and
    # head copies, nothing else.
    storages = {**_storages(trainer.model), **_storages(trainer.teacher)}
    trainable_bytes = sum(p.untyped_storage().nbytes() for p in trainer.model.parameters() if p.requires_grad)
    assert sum(storages.values()) == original_bytes + trainable_bytes

    trainer.train()
    clips = [row["array"] for row in toy_splits.retain[:4]["audio"]]
    batch = dict(extractor(clips, sampling_rate=SAMPLING_RATE, return_tensors="pt", padding=True))
    trainer.model.train()
    first, second = trainer.teacher_logits(batch), trainer.teacher_logits(batch)
    assert trainer.model.training and all(m.training for m in trainer.model.modules()), "training mode not restored"
    with torch.no_grad():
        expected = original(**{k: v for k, v in batch.items() if k != "labels"}).logits
        trainer.model.eval()
        student = trainer.model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    torch.testing.assert_close(first, second, rtol=0, atol=0)  # no dropout in the teacher
    torch.testing.assert_close(first, expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(student, expected), "the adapter did not move the student away from the original"


def test_explicit_teacher_is_used_under_lora(toy_splits, tmp_path):
    model, extractor = build_tiny_model("cnn")
    teacher, _ = build_tiny_model("cnn", seed=1)
    trainer = lora_trainer("scrub", model, extractor, toy_splits, tmp_path, teacher_model=teacher)
    assert not trainer.teacher_is_disabled_adapter and trainer.teacher is not trainer.model


# ---------------------------------------------------------------------------------------------------- saving
@pytest.mark.parametrize("kind", ("cnn", "wav2vec2"))
def test_save_adapter_and_merged_model(kind, toy_splits, tmp_path):
    from peft import PeftModel
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline
    from transformers.integrations import PeftAdapterMixin

    model, extractor = build_tiny_model(kind)
    original_dir = tmp_path / "original"
    model.save_pretrained(original_dir)
    extractor.save_pretrained(original_dir)
    model = AutoModelForAudioClassification.from_pretrained(original_dir)
    trainer = lora_trainer("neggrad_plus", model, extractor, toy_splits, tmp_path)
    trainer.train()
    trainer.model.eval()
    clip = tone_clip(700.0, 0, 0)
    inputs = {
        k: v
        for k, v in extractor([clip], sampling_rate=SAMPLING_RATE, return_tensors="pt").items()
        if k in extractor.model_input_names
    }
    with torch.no_grad():
        trained = trainer.model(**inputs).logits

    adapter_dir = tmp_path / "adapter"
    trainer.save_model(str(adapter_dir))
    files = {p.name for p in adapter_dir.iterdir()}
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "unlearning_config.json",
        "preprocessor_config.json",
    } <= files
    assert "model.safetensors" not in files
    record = json.loads((adapter_dir / "unlearning_config.json").read_text())["peft"]
    assert record["peft_type"] == "LORA" and record["r"] == 4 and 0 < record["trainable_parameters"]

    def logits_of(loaded):
        loaded.eval()
        with torch.no_grad():
            return loaded(**inputs).logits

    base = AutoModelForAudioClassification.from_pretrained(original_dir)
    torch.testing.assert_close(logits_of(PeftModel.from_pretrained(base, adapter_dir)), trained)
    adapted = load_adapter_model(str(adapter_dir))  # the base checkpoint named in adapter_config.json
    torch.testing.assert_close(logits_of(adapted), trained)
    # transformers' own PEFT integration loads adapter folders too, except where the model class has its own
    # `load_adapter` (wav2vec2's MMS language adapters), which shadows PEFT's and raises.
    integration_works = type(base).load_adapter is PeftAdapterMixin.load_adapter
    assert integration_works == (kind != "wav2vec2")
    if integration_works:
        torch.testing.assert_close(logits_of(AutoModelForAudioClassification.from_pretrained(adapter_dir)), trained)

    merged_dir = tmp_path / "merged"
    trainer.save_merged_model(str(merged_dir))
    files = {p.name for p in merged_dir.iterdir()}
    assert {"model.safetensors", "config.json", "preprocessor_config.json", "unlearning_config.json"} <= files
    # A complete folder: the card (of a plain transformers checkpoint) and the audit log too.
    assert {"README.md", "unlearning_log.jsonl"} <= files and "adapter_config.json" not in files
    from huggingface_hub import ModelCard

    assert ModelCard.load(merged_dir / "README.md").data.library_name == "transformers"
    assert json.loads((merged_dir / "unlearning_log.jsonl").read_text().splitlines()[-1])["method"] == "neggrad_plus"
    from safetensors import safe_open

    with safe_open(merged_dir / "model.safetensors", "pt") as handle:
        keys = list(handle.keys())
    assert not [k for k in keys if "lora_" in k or "base_layer" in k or "modules_to_save" in k]
    merged = AutoModelForAudioClassification.from_pretrained(merged_dir)
    assert not isinstance(merged, PeftModel)
    torch.testing.assert_close(logits_of(merged), trained, rtol=1e-4, atol=1e-5)
    # Merging worked on a copy: the trainer's model still has its adapter.
    assert isinstance(trainer.model, PeftModel)
    torch.testing.assert_close(logits_of(trainer.model), trained, rtol=0, atol=0)
    with pytest.raises(ValueError, match="adapter"):
        trainer.save_merged_model(str(adapter_dir))

    expected_label = model.config.id2label[int(trained.argmax())]
    extractor_of_adapter = AutoFeatureExtractor.from_pretrained(adapter_dir)
    pipelines = {
        "merged": pipeline("audio-classification", model=str(merged_dir), device="cpu"),
        "adapted": pipeline(
            "audio-classification",
            model=adapted.get_base_model(),
            feature_extractor=extractor_of_adapter,
            device="cpu",
        ),
    }
    if integration_works:
        pipelines["adapter folder"] = pipeline("audio-classification", model=str(adapter_dir), device="cpu")
    for name, classifier in pipelines.items():
        top = classifier({"raw": np.asarray(clip), "sampling_rate": SAMPLING_RATE}, top_k=1)[0]
        assert top["label"] == expected_label, name


# -------------------------------------------------------------------------------------------------- bad input
def test_bad_peft_input(toy_splits, tmp_path):
    from peft import LoraConfig, PromptTuningConfig

    model, extractor = build_tiny_model("cnn")
    common = dict(
        method="neggrad_plus",
        args=small_args(tmp_path),
        forget_dataset=toy_splits.forget,
        retain_dataset=toy_splits.retain,
        processing_class=extractor,
    )
    with pytest.raises(ValueError, match="peft.PeftConfig"):
        UnlearningTrainer(model=model, peft_config={"r": 8}, **common)
    with pytest.raises(ValueError, match="task_type=None"):
        UnlearningTrainer(
            model=model, peft_config=LoraConfig(target_modules=["dense_layers.0"], task_type="SEQ_CLS"), **common
        )
    with pytest.raises(ValueError, match="prompt-learning"):
        UnlearningTrainer(model=model, peft_config=PromptTuningConfig(num_virtual_tokens=2), **common)
    wrapped = peft.get_peft_model(model, lora_config_for(model))
    with pytest.raises(ValueError, match="already is a PeftModel"):
        UnlearningTrainer(model=wrapped, peft_config=lora_config_for(build_tiny_model("cnn")[0]), **common)
    # A PeftModel passed without peft_config trains as is.
    trainer = UnlearningTrainer(model=wrapped, **common)
    assert trainer.model is wrapped


# ------------------------------------------------------------------------------------- a bare LoraConfig
def test_bare_lora_config_trains_lora_and_the_head(toy_splits, tmp_path, caplog):
    """`peft_config=LoraConfig(r=4)` without targets: the speech map fills them in and the head trains in full."""
    from peft import LoraConfig

    model, extractor = build_tiny_model("wav2vec2")
    with caplog.at_level("INFO", logger="hf_unlearn.peft_utils"):
        trainer = UnlearningTrainer(
            method="neggrad_plus",
            model=model,
            args=small_args(tmp_path, max_steps=1),
            forget_dataset=toy_splits.forget,
            retain_dataset=toy_splits.retain,
            processing_class=extractor,
            peft_config=LoraConfig(r=4),
        )
    assert "hf-unlearn's map for model_type='wav2vec2'" in caplog.text
    config = trainer.model.peft_config["default"]
    assert {path.rsplit(".", 1)[-1] for path in config.target_modules} == {"q_proj", "v_proj"}
    assert {"classifier", "projector"} <= set(config.modules_to_save)
    parameters = dict(trainer.model.named_parameters())
    before = {name: p.detach().clone() for name, p in parameters.items()}
    trainable = {name for name, p in parameters.items() if p.requires_grad}
    assert trainable and all("lora_" in name or ".modules_to_save." in name for name in trainable)
    trainer.train()
    changed = {name for name, p in trainer.model.named_parameters() if not torch.equal(p.detach(), before[name])}
    assert any("lora_" in name for name in changed), "no LoRA factor changed"
    assert any(".classifier.modules_to_save." in name for name in changed), "the classifier head did not train"
    assert changed <= trainable, f"frozen parameters changed: {sorted(changed - trainable)[:5]}"


def test_target_list_that_freezes_the_head_warns(caplog):
    from peft import LoraConfig

    from hf_unlearn import get_trainer_class
    from hf_unlearn.peft_utils import prepare_peft_model

    trainer_class = get_trainer_class("neggrad_plus")
    with caplog.at_level("WARNING", logger="hf_unlearn.peft_utils"):
        prepare_peft_model(build_tiny_model("wav2vec2")[0], LoraConfig(target_modules=["q_proj"]), trainer_class)
    assert "classification head" in caplog.text and "stays frozen" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="hf_unlearn.peft_utils"):
        config = LoraConfig(target_modules=["q_proj"], modules_to_save=["classifier", "projector"])
        prepare_peft_model(build_tiny_model("wav2vec2")[0], config, trainer_class)
    assert "stays frozen" not in caplog.text


def test_adapter_without_base_path_fails_at_once(tmp_path):
    """A base built from a config (never saved) leaves `base_model_name_or_path` null: the loaders say so at once
    instead of asking the Hub for a repo named "None"."""
    from hf_unlearn.hub.loading import load_checkpoint

    model, extractor = build_tiny_model("wav2vec2")
    adapter = peft.get_peft_model(model, lora_config_for(model, r=4))
    adapter.save_pretrained(tmp_path / "adapter")
    extractor.save_pretrained(tmp_path / "adapter")
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"] is None
    with pytest.raises(ValueError, match="names no base model: pass base_model="):
        load_checkpoint(str(tmp_path / "adapter"))
    with pytest.raises(ValueError, match="does not name its base checkpoint.*base_model="):
        load_adapter_model(str(tmp_path / "adapter"))


# ------------------------------------------------------------------------------------------ several processes
def test_ddp_searches_unused_parameters_only_where_a_forward_may_skip_some(tmp_path):
    from transformers import Wav2Vec2Config, Wav2Vec2ForSequenceClassification

    from hf_unlearn.trainer.processes import find_unused_parameters, set_ddp_defaults

    cnn = build_tiny_model("cnn")[0]
    assert not find_unused_parameters(cnn)
    assert not find_unused_parameters(peft.get_peft_model(cnn, lora_config_for(cnn)))  # frozen base: not tracked
    config = Wav2Vec2Config(**{**tiny_wav2vec2_kwargs(3), "layerdrop": 0.1})
    assert find_unused_parameters(Wav2Vec2ForSequenceClassification(config))
    config = Wav2Vec2Config(**{**tiny_wav2vec2_kwargs(3), "layerdrop": 0.0, "apply_spec_augment": False})
    model = Wav2Vec2ForSequenceClassification(config)
    # wav2vec2 keeps SpecAugment's mask embedding when masking is configured; with SpecAugment off it goes unused.
    has_mask_embedding = any(name.endswith("masked_spec_embed") for name, _ in model.named_parameters())
    assert find_unused_parameters(model) == has_mask_embedding
    args = small_args(tmp_path)
    set_ddp_defaults(args, cnn)
    assert args.ddp_find_unused_parameters is False
    args = small_args(tmp_path, ddp_find_unused_parameters=True)  # the user's choice stays
    set_ddp_defaults(args, cnn)
    assert args.ddp_find_unused_parameters is True
