"""Gradient masks: per-parameter multiplicative masks applied on every backward pass (SalUn's saliency mask,
reset-perturb's frozen layers), installed by [`~hf_unlearn.UnlearningTrainer.set_gradient_masks`]."""

from __future__ import annotations

import torch

from hf_unlearn.trainer.sharding import is_distributed_tensor, like_parameter


class ShardedGradientMask:
    """The mask of an FSDP2-sharded parameter. Its gradient never passes through autograd (FSDP2 reduce-scatters the
    gradient of the gathered copy into `.grad`), so no tensor hook can see it: [`apply_sharded_masks`] multiplies
    `.grad` after each backward pass instead, i.e. after the reduction, which is the same for a mask that is the
    same in every process (only 0/1 masks: applying one again after each micro-batch changes nothing)."""

    def __init__(self, parameter: torch.Tensor, mask: torch.Tensor):
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("Gradient masks of FSDP2-sharded parameters must hold only 0s and 1s.")
        self.parameter, self.mask = parameter, like_parameter(mask, parameter)

    def apply(self) -> None:
        if self.parameter.grad is not None:
            self.parameter.grad.mul_(self.mask)

    def remove(self) -> None:
        self.parameter = self.mask = None


def apply_sharded_masks(handles) -> None:
    """Applies the [`ShardedGradientMask`]s among `handles` (call after each backward pass)."""
    for handle in handles:
        if isinstance(handle, ShardedGradientMask) and handle.parameter is not None:
            handle.apply()


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
        if is_distributed_tensor(parameter):
            installed[name] = mask.to(dtype=parameter.dtype)  # whole, as saved with the method's state
            handles.append(ShardedGradientMask(parameter, mask))
            continue
        mask = mask.to(device=parameter.device, dtype=parameter.dtype)
        installed[name] = mask
        handles.append(parameter.register_hook(lambda grad, mask=mask: grad * mask))
    return installed, handles
