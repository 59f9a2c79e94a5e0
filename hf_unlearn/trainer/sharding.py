"""Models whose parameters are sharded with FSDP2 (`torch.distributed.fsdp.fully_shard`), e.g. loaded with
`from_pretrained(..., distributed_config=DistributedConfig(fsdp_size=N))`: their parameters are `DTensor` shards and
`copy.deepcopy` refuses them, so the trainer's copies (frozen teachers) are made here from the gathered weights.

Nothing here knows an architecture: a sharded model is recognised by its `DTensor` parameters, and its unsharded
class is the one FSDP2 derived its `FSDP<Name>` class from.
"""

from __future__ import annotations

import copy

import torch


def is_sharded(model: torch.nn.Module) -> bool:
    """True when `model` or a submodule is managed by FSDP2, or some parameter is a `DTensor`. (After a forward
    pass without backward, FSDP2 may leave the root's parameters gathered: plain tensors, yet the module is sharded.)
    """
    from torch.distributed.fsdp import FSDPModule

    return any(isinstance(m, FSDPModule) for m in model.modules()) or any(
        is_distributed_tensor(p) for p in model.parameters()
    )


def is_distributed_tensor(tensor) -> bool:
    """True for a `DTensor` (an FSDP2 parameter, its gradient)."""
    return hasattr(tensor, "full_tensor") and hasattr(tensor, "device_mesh")


def full_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` whole: a `DTensor` is gathered from every process (a collective: all processes must call it)."""
    return tensor.full_tensor() if is_distributed_tensor(tensor) else tensor


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """`model.state_dict()` with every sharded entry gathered whole (every process gets the whole dict)."""
    return {name: full_tensor(value).detach() for name, value in model.state_dict().items()}


def unsharded_class(model: torch.nn.Module) -> type:
    """The model's own class: FSDP2 turns a module's class `Name` into `FSDPName(FSDPModule, Name)`."""
    from torch.distributed.fsdp import FSDPModule

    return next(cls for cls in type(model).__mro__ if not issubclass(cls, FSDPModule))


def unsharded_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A plain (unsharded) copy of `model`: `copy.deepcopy` for an ordinary model; for an FSDP2-sharded
    `PreTrainedModel`, a fresh instance of its class built from its config and loaded with the gathered weights
    (every process must call it).

    Raises:
        `ValueError`: for a sharded model that is not a `PreTrainedModel` (no config to rebuild it from).
    """
    if not is_sharded(model):
        return copy.deepcopy(model)
    cls = unsharded_class(model)
    config = getattr(model, "config", None)
    if config is None or not hasattr(cls, "_from_config"):
        raise ValueError(
            f"{cls.__name__} is sharded with FSDP2 and is not a transformers PreTrainedModel: hf-unlearn cannot "
            "copy it (copy.deepcopy refuses FSDP modules). Pass teacher_model= (the original, unsharded), or shard "
            "a PreTrainedModel (from_pretrained(..., distributed_config=DistributedConfig(fsdp_size=N)))."
        )
    config = copy.deepcopy(config)
    if hasattr(config, "distributed_config"):
        config.distributed_config = None
    with torch.random.fork_rng(devices=[]):  # its random initialisation is overwritten: leave the stream as it was
        fresh = cls._from_config(config)
    fresh.load_state_dict(full_state_dict(model))
    reference = next(model.parameters())
    return fresh.to(device=full_tensor(reference).device, dtype=reference.dtype)


def like_parameter(whole: torch.Tensor, parameter: torch.Tensor) -> torch.Tensor:
    """`whole` (a tensor of the parameter's full shape, the same in every process) laid out like `parameter`: for a
    sharded parameter this process's shard of it (no communication), else `whole` on the parameter's device and dtype.
    """
    whole = whole.to(device=parameter.device, dtype=parameter.dtype)
    if not is_distributed_tensor(parameter):
        return whole
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(whole.contiguous(), parameter.device_mesh, parameter.placements, src_data_rank=None)


def summed_gradients(parameters: dict[str, torch.Tensor], accelerator) -> dict[str, torch.Tensor]:
    """Each parameter's gradient whole, in float32, summed over processes (zeros where there is none), every process
    getting the same dict. Plain gradients are summed with `accelerator.reduce`; FSDP2 has already reduce-scattered a
    sharded parameter's gradient as the mean over processes in the backward pass, so it is gathered and multiplied
    by the number of processes."""
    plain, sharded = {}, {}
    for name, p in parameters.items():
        grad = p.grad.detach() if p.grad is not None else None
        if is_distributed_tensor(p):
            grad = full_tensor(grad) * accelerator.num_processes if grad is not None else torch.zeros(p.shape)
            sharded[name] = grad.float()
        else:
            plain[name] = (grad.clone() if grad is not None else torch.zeros_like(p)).float()
    if plain:
        plain = accelerator.reduce(plain, reduction="sum")
    return {name: plain[name] if name in plain else sharded[name] for name in parameters}


@torch.no_grad()
def reset_parameters_whole(module: torch.nn.Module) -> None:
    """`module.reset_parameters()` with the values a whole (unsharded) module gets: a sharded module would draw each
    shard's values from the start of the random stream, so it is run on whole stand-ins of the module's own
    parameters and each process copies its shard of the result in."""
    own = {name: p for name, p in module.named_parameters(recurse=False) if is_distributed_tensor(p)}
    if not own:
        module.reset_parameters()
        return
    for name, parameter in own.items():
        module._parameters[name] = torch.nn.Parameter(torch.empty(parameter.shape, dtype=parameter.dtype))
    try:
        module.reset_parameters()
        whole = {name: module._parameters[name].detach() for name in own}
    finally:
        for name, parameter in own.items():
            module._parameters[name] = parameter
    for name, parameter in own.items():
        parameter.copy_(like_parameter(whole[name], parameter))


def check_peft_on_sharded_model(model, peft_config) -> None:
    """Refuses `modules_to_save` for a model sharded with FSDP2 (`DTensor` parameters, e.g. loaded with
    `distributed_config=`): PEFT copies those modules with `copy.deepcopy`, which fails on sharded parameters. The
    head can be adapted with LoRA instead (name it in `target_modules`)."""
    if is_sharded(model) and getattr(peft_config, "modules_to_save", None):
        raise ValueError(
            f"The model is sharded with FSDP2, and PEFT cannot copy the modules_to_save {peft_config.modules_to_save} "
            "(copy.deepcopy fails on sharded parameters): adapt them with LoRA instead, e.g. "
            "hf_unlearn.lora_config_for(model, target_modules=[<the layers>, <the head>], modules_to_save=[])."
        )
