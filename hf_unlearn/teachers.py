"""Frozen teachers: the competent teacher is the original model; the incompetent one the same architecture at random
initialisation. Both are frozen and in eval mode, and prepared by the trainer's accelerator in every process."""

from __future__ import annotations

import copy

import torch


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """Puts `model` in eval mode with every parameter frozen, and returns it."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def competent_teacher(model: torch.nn.Module) -> torch.nn.Module:
    """A frozen copy of `model` as it is now (call before training: it is the original model)."""
    return freeze(copy.deepcopy(model))


def incompetent_teacher(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """The same architecture with freshly initialised weights (never the original's), frozen.

    Built from the model's config when it is a `PreTrainedModel`, else by re-running every module's
    `reset_parameters`.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        config = getattr(model, "config", None)
        if config is not None and hasattr(type(model), "_from_config"):
            teacher = type(model)._from_config(copy.deepcopy(config))
        else:
            teacher = copy.deepcopy(model)
            for module in teacher.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
    return freeze(teacher.to(next(model.parameters()).device))
