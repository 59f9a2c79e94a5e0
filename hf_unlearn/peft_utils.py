"""PEFT (LoRA) for unlearning speech models: target modules per architecture, wrapping, the adapter-disabled teacher,
merged saving.

Every trainer takes `peft_config=` (a `peft.PeftConfig`); [`prepare_peft_model`] wraps the model with
`peft.get_peft_model` before the trainer builds anything from it. Teacher-based methods (SCRUB, BT-L, NPO, Bad
Teaching's competent teacher) then use the base model with the adapter disabled as the frozen original
([`adapter_disabled`]), so the original weights are held once, not twice.

PEFT's built-in LoRA target map has no speech architectures, so [`SPEECH_LORA_TARGETS`] names them here, by
`config.model_type` (the one place that knows architectures; methods never do):

| model_type | LoRA targets (default) | head (`modules_to_save`) |
| --- | --- | --- |
| `wav2vec2` (also XLS-R), `hubert` | attention `q_proj`, `v_proj` | `projector`, `classifier` |
| `wavlm` | feed-forward `intermediate_dense`, `output_dense` | `projector`, `classifier` |
| `whisper` (`WhisperForAudioClassification`) | encoder attention `q_proj`, `v_proj` | `projector`, `classifier` |
| `audio-spectrogram-transformer` | attention `q_proj`, `v_proj` | `classifier` |
| `mfcc_cnn` (hf-unlearn's CNN) | `conv` of every block, every `dense_layers.<i>` | `classifier` |

Why these choices:

- Attention `q_proj`/`v_proj` are the LoRA paper's default (Hu et al., ICLR 2022, Sec. 7.1) and keep a base-sized
  model under 1 % trainable parameters.
- WavLM's attention passes `q_proj.weight` etc. straight to `torch.nn.functional.multi_head_attention_forward`
  instead of calling the modules, so a LoRA layer wrapped around them would never run; its feed-forward is targeted
  instead (a test checks that every targeted layer runs in the forward pass).
- The classification head is trained in full (`modules_to_save`): its classes are what unlearning changes.
- Every module with running statistics (batch norm) is also put in `modules_to_save`. Otherwise training would
  update the frozen base's statistics, so the adapter-disabled teacher would drift from the original and the saved
  adapter would not reproduce the trained model on the original base.
- wav2vec2-style models get `freeze_feature_encoder()` called (their public method): otherwise they mark the
  frozen convolutional encoder's output as requiring gradients, and autograd would store its activations and
  back-propagate through it for nothing (LoRA layers placed inside it stay trainable).
- `use_weighted_layer_sum=True` models have a bare `layer_weights` parameter, which PEFT cannot keep trainable: it
  stays frozen under an adapter.

Names resolve against the model: a name matches a module whose dotted path ends with it, or with it plus one
`ModuleList` index (`dense_layers` matches `dense_layers.0`, `dense_layers.1`), and the resolved full paths are what
the `LoraConfig` holds.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import re
from dataclasses import dataclass

import torch

from hf_unlearn.checks import check_output_dir
from hf_unlearn.files import UNLEARNING_CONFIG_NAME

logger = logging.getLogger(__name__)

# Module types PEFT's LoRA can wrap (a target must be one of these).
LORA_LAYER_TYPES = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Embedding)
PEFT_SUPPORT_CHOICES = ("adapter", "refuse")


@dataclass(frozen=True)
class SpeechLoraTargets:
    """LoRA target names and the classification head of one architecture.

    Args:
        target_modules (`tuple[str]`): layers that get a LoRA adapter (names resolved as described in the module doc).
        head_modules (`tuple[str]`): the classification head, trained in full (`modules_to_save`).
    """

    target_modules: tuple[str, ...]
    head_modules: tuple[str, ...]


_ATTENTION_QV = ("q_proj", "v_proj")
_PROJECTOR_HEAD = ("projector", "classifier")

SPEECH_LORA_TARGETS: dict[str, SpeechLoraTargets] = {
    "wav2vec2": SpeechLoraTargets(_ATTENTION_QV, _PROJECTOR_HEAD),  # XLS-R checkpoints are wav2vec2 too
    "hubert": SpeechLoraTargets(_ATTENTION_QV, _PROJECTOR_HEAD),
    "wavlm": SpeechLoraTargets(("intermediate_dense", "output_dense"), _PROJECTOR_HEAD),
    "whisper": SpeechLoraTargets(_ATTENTION_QV, _PROJECTOR_HEAD),
    "audio-spectrogram-transformer": SpeechLoraTargets(_ATTENTION_QV, ("classifier",)),
    "mfcc_cnn": SpeechLoraTargets(("conv", "dense_layers"), ("classifier",)),
}


# ------------------------------------------------------------------------------------------------- targets
def _matches(path: str, name: str) -> bool:
    return re.search(rf"(^|\.){re.escape(name)}(\.\d+)?$", path) is not None


def resolve_module_names(model: torch.nn.Module, names, layer_types: tuple | None = None) -> dict[str, list[str]]:
    """For each of `names`, the full paths of the modules of `model` it matches (a path ending with the name, or with
    the name plus one `ModuleList` index), restricted to instances of `layer_types` when given."""
    modules = list(model.named_modules())
    resolved = {}
    for name in names:
        resolved[name] = [
            path
            for path, module in modules
            if path and _matches(path, name) and (layer_types is None or isinstance(module, layer_types))
        ]
    return resolved


def running_stats_modules(model: torch.nn.Module) -> list[str]:
    """Paths of the modules that update running statistics in training mode (batch norm with
    `track_running_stats=True`)."""
    return [
        path
        for path, module in model.named_modules()
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.track_running_stats
    ]


def speech_lora_targets(model: torch.nn.Module) -> SpeechLoraTargets:
    """The [`SpeechLoraTargets`] of `model`'s architecture (by `config.model_type`)."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in SPEECH_LORA_TARGETS:
        raise ValueError(
            f"No LoRA target modules are known for model_type={model_type!r} (known: "
            f"{sorted(SPEECH_LORA_TARGETS)}): pass target_modules=[...] (e.g. the attention projections) and "
            "modules_to_save=[<the classification head>] to lora_config_for, or build a peft.LoraConfig yourself."
        )
    return SPEECH_LORA_TARGETS[model_type]


def lora_config_for(
    model: torch.nn.Module,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.0,
    target_modules: list[str] | None = None,
    modules_to_save: list[str] | None = None,
    **lora_kwargs,
):
    """A `peft.LoraConfig` for a speech classifier: LoRA on the architecture's mapped layers, the head trained in full.

    Args:
        model (`torch.nn.Module`): the model to be wrapped (not yet a `PeftModel`).
        r (`int`, *optional*, defaults to 8): LoRA rank.
        alpha (`int`, *optional*, defaults to 16): LoRA `lora_alpha` (the update is scaled by `alpha / r`).
        dropout (`float`, *optional*, defaults to 0.0): LoRA `lora_dropout`.
        target_modules (`list[str]`, *optional*): layer names to adapt, instead of the architecture's defaults
            ([`SPEECH_LORA_TARGETS`]); needed for architectures not in the map.
        modules_to_save (`list[str]`, *optional*): modules trained in full, instead of the mapped head. Batch-norm
            modules are always added (see the module docstring).
        lora_kwargs: further `LoraConfig` fields (`bias`, `use_rslora`, ...).

    Returns:
        `peft.LoraConfig` with `target_modules` and `modules_to_save` resolved to full module paths of `model`.
    """
    from peft import LoraConfig

    if target_modules is None or modules_to_save is None:
        mapped = speech_lora_targets(model)
        target_modules = list(mapped.target_modules) if target_modules is None else list(target_modules)
        modules_to_save = list(mapped.head_modules) if modules_to_save is None else list(modules_to_save)
    targets = resolve_module_names(model, target_modules, LORA_LAYER_TYPES)
    heads = resolve_module_names(model, modules_to_save)
    missing = [name for name, paths in {**targets, **heads}.items() if not paths]
    if missing:
        raise ValueError(
            f"{type(model).__name__} has no module matching {missing} (LoRA targets must be "
            f"{[t.__name__ for t in LORA_LAYER_TYPES]}): check the names against model.named_modules() and pass "
            "target_modules=/modules_to_save= that exist."
        )
    head_paths = [path for paths in heads.values() for path in paths]
    # A target inside the head would be both adapted and fully trained: PEFT excludes it, so drop it here too.
    target_paths = sorted(
        {path for paths in targets.values() for path in paths if not any(_inside(path, h) for h in head_paths)}
    )
    save_paths = sorted(set(head_paths) | {p for p in running_stats_modules(model) if p not in head_paths})
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_paths,
        modules_to_save=save_paths,
        **lora_kwargs,
    )


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent + ".")


# ------------------------------------------------------------------------------------------------ wrapping
def is_peft_model(model) -> bool:
    """Whether `model` is a `peft.PeftModel` (or `PeftMixedModel`)."""
    try:
        from peft import PeftMixedModel, PeftModel
    except ImportError:  # peft is a dependency, but keep the check harmless without it
        return False
    return isinstance(model, (PeftModel, PeftMixedModel))


def check_peft_support(trainer_class) -> None:
    """Raises the method's refusal (a `ValueError` giving its `peft_note`) when `trainer_class` does not run on a PEFT
    adapter; front ends call it before any work, the trainer when it wraps the model."""
    if trainer_class.peft_support not in PEFT_SUPPORT_CHOICES:
        raise ValueError(
            f"{trainer_class.__name__}.peft_support={trainer_class.peft_support!r}: use one of {PEFT_SUPPORT_CHOICES}."
        )
    if trainer_class.peft_support == "refuse":
        raise ValueError(
            f"Method {trainer_class.method_key!r} does not run on a PEFT adapter: {trainer_class.peft_note} Train it "
            "without peft_config= (full fine-tuning), or choose a method that supports adapters "
            "(hf_unlearn.list_methods())."
        )


def prepare_peft_model(model, peft_config, trainer_class):
    """Wraps `model` with `peft.get_peft_model(model, peft_config)` for `trainer_class`, after checking that the method
    accepts adapters (`trainer_class.peft_support`) and that the config suits audio models. Returns `model` unchanged
    when `peft_config` is None (a model that already is a `PeftModel` is checked the same way)."""
    if peft_config is None and not is_peft_model(model):
        return model
    method = trainer_class.method_key
    check_peft_support(trainer_class)
    if peft_config is None:
        peft_model = model
    else:
        from peft import PeftConfig, get_peft_model

        if not isinstance(peft_config, PeftConfig):
            raise ValueError(
                f"peft_config must be a peft.PeftConfig (e.g. hf_unlearn.lora_config_for(model) or peft.LoraConfig), "
                f"got {type(peft_config).__name__}."
            )
        if is_peft_model(model):
            raise ValueError(
                "The model already is a PeftModel: pass either the base model with peft_config=, or the PeftModel "
                "without peft_config."
            )
        _check_peft_config(peft_config)
        peft_config = complete_lora_config(model, peft_config)
        peft_model = get_peft_model(model, peft_config)
    _check_peft_model(peft_model)
    _warn_if_head_frozen(peft_model)
    _stop_gradients_into_frozen_feature_encoder(peft_model)
    if trainer_class.peft_note:
        logger.info("Method %r on a PEFT adapter: %s", method, trainer_class.peft_note)
    return peft_model


def complete_lora_config(model: torch.nn.Module, peft_config):
    """A copy of a `LoraConfig` without targets (`LoraConfig(r=4)`, which PEFT refuses for speech models) with the
    architecture's map filled in: [`SPEECH_LORA_TARGETS`], head and batch norm added to `modules_to_save`."""
    from peft import LoraConfig

    if not isinstance(peft_config, LoraConfig) or peft_config.target_modules or peft_config.target_parameters:
        return peft_config
    mapped = lora_config_for(model, modules_to_save=None)
    completed = copy.deepcopy(peft_config)
    completed.target_modules = set(mapped.target_modules)
    completed.modules_to_save = sorted(set(mapped.modules_to_save) | set(peft_config.modules_to_save or []))
    logger.info(
        "LoraConfig without target_modules: using hf-unlearn's map for model_type=%r: LoRA on %d layers (%s), "
        "trained in full (modules_to_save): %s.",
        model.config.model_type,
        len(mapped.target_modules),
        ", ".join(sorted({path.rsplit(".", 1)[-1] for path in mapped.target_modules})),
        completed.modules_to_save,
    )
    return completed


def _warn_if_head_frozen(peft_model) -> None:
    """Warns when the classification head (the mapped head, else a `classifier` module) has no trainable parameter
    under the adapter (e.g. `target_modules` given without `modules_to_save`)."""
    base = peft_model.get_base_model() if hasattr(peft_model, "get_base_model") else peft_model
    names = SPEECH_LORA_TARGETS.get(getattr(base.config, "model_type", None), SpeechLoraTargets((), ("classifier",)))
    heads = [path for paths in resolve_module_names(base, names.head_modules).values() for path in paths]
    trainable = ["." + name for name, parameter in peft_model.named_parameters() if parameter.requires_grad]
    frozen = [head for head in heads if not any(f".{head}." in name for name in trainable)]
    if frozen:
        logger.warning(
            "The classification head %s stays frozen under this PEFT config (not in modules_to_save, no LoRA layer "
            "in it), so unlearning changes the adapted layers only. Add modules_to_save=%s to the LoraConfig, or "
            "leave target_modules out to use hf-unlearn's speech map.",
            frozen,
            frozen,
        )


def _check_peft_config(peft_config) -> None:
    if getattr(peft_config, "is_prompt_learning", False) or getattr(peft_config, "is_adaption_prompt", False):
        raise ValueError(
            f"{type(peft_config).__name__} is a prompt-learning tuner, which prepends learned tokens to text inputs: "
            "audio models take waveforms or spectrograms. Use an adapter tuner such as peft.LoraConfig."
        )
    task_type = getattr(peft_config, "task_type", None)
    if task_type is not None:
        raise ValueError(
            f"peft_config.task_type={task_type!r}: leave task_type=None for audio models (PEFT's task classes, e.g. "
            "PeftModelForSequenceClassification, call the model with input_ids=, which speech models do not take)."
        )


def _check_peft_model(peft_model) -> None:
    from peft.utils import ModulesToSaveWrapper

    if not any(p.requires_grad for p in peft_model.parameters()):
        raise ValueError("The PEFT model has no trainable parameter: check the config's target_modules.")
    # Batch norm outside modules_to_save: its running statistics would move although the base is "frozen".
    wrapped = [path for path, module in peft_model.named_modules() if isinstance(module, ModulesToSaveWrapper)]
    drifting = [p for p in running_stats_modules(peft_model) if not any(_inside(p, w) for w in wrapped)]
    if drifting:
        logger.warning(
            "Batch-norm modules %s are not in modules_to_save: training updates their running statistics in the "
            "frozen base, so the adapter-disabled teacher is no longer the original and the saved adapter does not "
            "reproduce the trained model. Add them to modules_to_save (hf_unlearn.lora_config_for does).",
            drifting[:5],
        )


def _stop_gradients_into_frozen_feature_encoder(peft_model) -> None:
    """wav2vec2-style models (wav2vec2, HuBERT, WavLM, ...) mark their convolutional feature encoder's output as
    requiring gradients in training mode unless `freeze_feature_encoder()` was called, so autograd keeps every
    activation of the frozen convolution stack and back-propagates through it for nothing (most of a LoRA step's
    memory and time). Calling the model's public `freeze_feature_encoder()` stops that; parameters that were trainable
    before (e.g. LoRA layers placed inside the feature encoder) are made trainable again."""
    base = peft_model.get_base_model() if hasattr(peft_model, "get_base_model") else peft_model
    freeze = getattr(base, "freeze_feature_encoder", None)
    if not callable(freeze):
        return
    trainable = [parameter for parameter in base.parameters() if parameter.requires_grad]
    try:
        freeze()
    except AttributeError:  # the feature encoder itself is wrapped (e.g. in modules_to_save): leave it as it is
        pass
    for parameter in trainable:
        parameter.requires_grad_(True)


def trainable_parameters(model) -> tuple[int, int]:
    """`(trainable, total)` parameter counts, counting each tensor once (a `modules_to_save` copy counts in total)."""
    seen, trainable, total = set(), 0, 0
    for parameter in model.parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return trainable, total


def peft_record(model) -> dict | None:
    """What `unlearning_config.json` says about the adapter (None without one)."""
    if not is_peft_model(model):
        return None
    config = model.peft_config[model.active_adapter]
    trainable, total = trainable_parameters(model)
    record = {"peft_type": str(getattr(config.peft_type, "value", config.peft_type))}
    for name in ("r", "lora_alpha", "lora_dropout", "target_modules", "modules_to_save"):
        value = getattr(config, name, None)
        record[name] = sorted(value) if isinstance(value, (set, list, tuple)) else value
    record.update(trainable_parameters=trainable, total_parameters=total)
    return record


# ------------------------------------------------------------------------------------------------- teacher
@contextlib.contextmanager
def adapter_disabled(model):
    """Runs `model` (a `PeftModel`) as its base model: adapters and `modules_to_save` copies off, every module in eval
    mode (no dropout, batch-norm statistics read, not updated); both restored on exit.

    With the adapter disabled the forward uses the frozen base weights, which are the original model's: the teacher
    of SCRUB / BT-L / NPO without a second copy of the weights. Call it under `torch.no_grad()`.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with model.disable_adapter():
            yield model
    finally:
        for module, training in modes:
            module.training = training


# ------------------------------------------------------------------------------------------------- saving
def load_adapter_model(adapter_dir: str, base_model=None, **from_pretrained_kwargs):
    """The `PeftModel` of an adapter saved by `trainer.save_model()`, on its base checkpoint.

    `AutoModelForAudioClassification.from_pretrained(adapter_dir)` and `pipeline("audio-classification",
    model=adapter_dir)` also load an adapter folder (transformers' PEFT integration), except for wav2vec2 / XLS-R:
    `Wav2Vec2PreTrainedModel.load_adapter` (MMS language adapters) shadows the PEFT method and raises. This helper
    works for every architecture; give the pipeline `model=peft_model.get_base_model()` (the adapted model) and
    `feature_extractor=adapter_dir`.

    Args:
        adapter_dir (`str`): the folder with `adapter_config.json` and `adapter_model.safetensors`.
        base_model (`PreTrainedModel`, *optional*): the original model; loaded from the adapter config's
            `base_model_name_or_path` with `AutoModelForAudioClassification` when omitted.
        from_pretrained_kwargs: passed to `AutoModelForAudioClassification.from_pretrained`.
    """
    from peft import PeftConfig, PeftModel

    if base_model is None:
        from transformers import AutoModelForAudioClassification

        source = PeftConfig.from_pretrained(adapter_dir).base_model_name_or_path
        if not source:
            raise ValueError(
                f"The adapter in {adapter_dir!r} does not name its base checkpoint (the original model was not loaded "
                "from a folder or the Hub): pass base_model=<the original model>."
            )
        base_model = AutoModelForAudioClassification.from_pretrained(source, **from_pretrained_kwargs)
    return PeftModel.from_pretrained(base_model, adapter_dir)


def merged_copy(model) -> torch.nn.Module:
    """A copy of the base model with the adapter merged into its weights (`merge_and_unload`), for saving as a plain
    transformers checkpoint. The copy is needed because `merge_and_unload` rewrites the model it is called on; it
    costs one more copy of the weights while it exists."""
    if not is_peft_model(model):
        raise ValueError("The model has no PEFT adapter to merge: save it with save_model().")
    merged = copy.deepcopy(model).merge_and_unload()
    merged.train(False)
    return merged


def save_merged(trainer, output_dir: str) -> None:
    """Saves `trainer`'s PEFT model with its adapter merged into the weights (`merge_and_unload` on a copy), with the
    feature extractor and `unlearning_config.json`: a plain checkpoint for `from_pretrained` and `pipeline`. Only the
    main process writes."""
    if not trainer.args.should_save:
        return
    if os.path.isfile(os.path.join(output_dir, "adapter_config.json")):
        raise ValueError(
            f"{output_dir!r} holds a saved adapter: save the merged model to another folder (from_pretrained "
            "would read the adapter config instead of the merged weights)."
        )
    check_output_dir(trainer.model, output_dir)
    merged = merged_copy(trainer.accelerator.unwrap_model(trainer.model))
    os.makedirs(output_dir, exist_ok=True)
    merged.save_pretrained(output_dir)
    if trainer.processing_class is not None:
        trainer.processing_class.save_pretrained(output_dir)
    record = trainer.unlearning_record()
    record["peft"] = {**(record["peft"] or {}), "merged": True}
    with open(os.path.join(output_dir, UNLEARNING_CONFIG_NAME), "w") as handle:
        json.dump(record, handle, indent=2)
