"""Frozen teachers: the competent teacher is the original model; the incompetent one the same architecture at random
initialisation. Both are frozen and in eval mode, and prepared by the trainer's accelerator in every process."""

from __future__ import annotations

import copy
import os

import torch

from hf_unlearn.checks import check_checkpoint_folder
from hf_unlearn.trainer.sharding import full_state_dict, is_sharded, unsharded_class, unsharded_copy


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """Puts `model` in eval mode with every parameter frozen, and returns it."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def competent_teacher(model: torch.nn.Module) -> torch.nn.Module:
    """A frozen copy of `model` as it is now (call before training: it is the original model).

    Under PEFT the trainer does not call this: the base model with the adapter disabled is the original
    (`hf_unlearn.peft_utils.adapter_disabled`), so the weights are not held twice. An FSDP2-sharded model gets a
    whole (unsharded) copy in every process (`hf_unlearn.trainer.sharding.unsharded_copy`): a sharded teacher would
    all-gather its weights at each forward, so every process would have to query it on every step, and methods
    query teachers on the rows of one kind only (a process whose batch has none skips the call).
    """
    return freeze(unsharded_copy(model))


def load_teacher(teacher) -> torch.nn.Module:
    """`teacher_model` as given: a model, or a path / Hub id of the original checkpoint, loaded and frozen."""
    if not isinstance(teacher, (str, os.PathLike)):
        return freeze(teacher)
    from transformers import AutoModelForAudioClassification

    if os.path.isdir(teacher):  # a truncated weights file is named here, not by the safetensors reader
        check_checkpoint_folder(teacher, "teacher")
    try:
        return freeze(AutoModelForAudioClassification.from_pretrained(teacher))
    except (OSError, ValueError) as error:
        raise ValueError(
            f"The teacher (the original model) could not be loaded from {str(teacher)!r}: {error}. Pass "
            "teacher_model=<the original model> or a folder holding its config.json and weights, or leave it out "
            "to use a frozen copy of `model` taken before training."
        ) from error


def original_teacher(model: torch.nn.Module, teacher_model=None) -> torch.nn.Module:
    """The frozen original model for a teacher-based method: `teacher_model` (a model, path or Hub id) when given,
    else a frozen copy of `model` (call before training). Its number of labels must be the model's."""
    teacher = competent_teacher(model) if teacher_model is None else load_teacher(teacher_model)
    num_labels = getattr(getattr(model, "config", None), "num_labels", None)
    if getattr(getattr(teacher, "config", None), "num_labels", num_labels) != num_labels:
        raise ValueError(
            f"The teacher has {teacher.config.num_labels} labels but the model {num_labels}: the teacher "
            "must be the original of the model being unlearned."
        )
    return teacher


def frozen_teacher(trainer, teacher_model=None):
    """The teacher of a teacher-based method, ready for the trainer's processes: under PEFT without `teacher_model`,
    the trainer's own model (its adapter is disabled at each teacher pass); else [`original_teacher`], prepared by
    the accelerator for evaluation."""
    if trainer.teacher_is_disabled_adapter:
        return trainer.model
    teacher = original_teacher(trainer.model, teacher_model)
    return trainer.accelerator.prepare_model(teacher, evaluation_mode=True)


def incompetent_teacher(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """The same architecture with freshly initialised weights (never the original's), frozen.

    Built from the model's config when it is a `PreTrainedModel` (under PEFT, the base model's, without adapter),
    else by re-running every module's `reset_parameters`, under `torch.manual_seed(seed)` (the global RNG state is
    restored afterwards).

    Raises:
        `ValueError`: when every parameter equals the model's, e.g. an untrained model built from the same seed (its
        logits would make Bad Teaching's forget target the original's own prediction).

    A `PeftModel` is unwrapped first: the teacher is the bare architecture, without adapters.
    """
    if hasattr(model, "peft_config") and hasattr(model, "get_base_model"):
        # A PEFT model: the architecture is the base model's (a fresh one holds no adapter layers).
        model = model.get_base_model()
    sharded = is_sharded(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = getattr(model, "config", None)
        model_class = unsharded_class(model) if sharded else type(model)
        if config is not None and hasattr(model_class, "_from_config"):
            config = copy.deepcopy(config)
            if sharded and hasattr(config, "distributed_config"):
                config.distributed_config = None  # built whole (every process the same seed), sharded below
            teacher = model_class._from_config(config)
        else:
            teacher = unsharded_copy(model)
            for module in teacher.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
    reference = next(model.parameters())
    teacher = teacher.to(device=reference.device, dtype=reference.dtype)
    # A sharded model is compared whole (its gathered weights); the teacher stays whole (see `competent_teacher`).
    original_weights = full_state_dict(model) if sharded else dict(model.named_parameters())
    if _same_parameters(dict(teacher.named_parameters()), original_weights):
        raise ValueError(
            f"The incompetent teacher built with seed {seed} has exactly the model's weights (an untrained model "
            "built from the same seed?): choose another seed."
        )
    return freeze(teacher)


def same_weights(first: torch.nn.Module, second: torch.nn.Module) -> bool:
    """True when both modules have the same parameter names, shapes and values."""
    first_parameters, second_parameters = dict(first.named_parameters()), dict(second.named_parameters())
    same_names = first_parameters.keys() == second_parameters.keys()
    return same_names and _same_parameters(first_parameters, second_parameters)


def _same_parameters(first_parameters: dict, second_parameters: dict) -> bool:
    # `second_parameters` may hold buffers too (a state dict): only the first's names are compared.
    if not first_parameters.keys() <= second_parameters.keys():
        return False
    with torch.no_grad():
        return all(
            a.shape == second_parameters[name].shape and torch.equal(a, second_parameters[name].to(a.device))
            for name, a in first_parameters.items()
        )
