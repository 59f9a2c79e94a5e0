"""Gradient masks: per-parameter multiplicative masks applied on every backward pass (SalUn's saliency mask,
reset-perturb's frozen layers), installed by [`~hf_unlearn.UnlearningTrainer.set_gradient_masks`]."""

from __future__ import annotations

import torch


def install_gradient_masks(model, masks: dict[str, torch.Tensor], weight_decay: float, method_key: str):
    """Registers a hook on each named parameter of `model` multiplying its gradient by its mask (same shape; 0 freezes
    an entry). Returns `(masks on the parameters' devices, hook handles)`; remove the handles to lift the masks.

    With a mask fixed from the first step and no weight decay, Adam/AdamW/SGD never move a masked entry (their moments
    stay zero); weight decay would still shrink it, so masks refuse `weight_decay > 0`.
    """
    parameters = dict(model.named_parameters())
    unknown = sorted(set(masks) - set(parameters))
    if unknown:
        raise ValueError(f"Gradient masks name parameters the model does not have: {unknown[:5]}.")
    if masks and weight_decay > 0:
        raise ValueError(
            f"Method {method_key!r} masks gradients, but weight_decay={weight_decay} would still move the masked "
            "weights: set weight_decay=0."
        )
    installed, handles = {}, []
    for name, mask in masks.items():
        parameter = parameters[name]
        if mask.shape != parameter.shape:
            raise ValueError(f"Mask of {name} has shape {tuple(mask.shape)}, parameter {tuple(parameter.shape)}.")
        mask = mask.to(device=parameter.device, dtype=parameter.dtype)
        installed[name] = mask
        handles.append(parameter.register_hook(lambda grad, mask=mask: grad * mask))
    return installed, handles
