"""Several processes (`accelerate launch`, `torchrun`): what only the main process shows, and DDP's defaults.

- The `Trainer` shows its progress bars and log lines on the main process only and sets the log level of
  transformers' loggers per process (`log_level` / `log_level_replica`). [`quiet_replica`] does the same for
  hf-unlearn's own loggers and for `datasets`' progress bars (feature extraction runs in every process), so two
  ranks do not print everything twice.
- `DistributedDataParallel(find_unused_parameters=True)` (the `Trainer`'s default for a `PreTrainedModel`) searches
  the autograd graph for unused parameters at every step and warns when there are none. [`find_unused_parameters`]
  turns the search off for models whose forward uses every trainable parameter. Frozen parameters
  (`requires_grad=False`: CF-k's frozen blocks, a PEFT adapter's base) are not tracked by DDP, so freezing does not
  need the search; what needs it is a trainable parameter left out of some forward passes: LayerDrop (`layerdrop > 0`
  in wav2vec2 / HuBERT / WavLM configs skips whole layers at random) or SpecAugment's mask embedding when SpecAugment
  is off.
"""

from __future__ import annotations

import logging


def quiet_replica(args) -> None:
    """On a process other than the main one (`args.should_log` is False), hf-unlearn's loggers take the replicas' level
    (`args.log_level_replica`, warnings by default) and `datasets`' progress bars are turned off."""
    if args.should_log:
        return
    import datasets

    logging.getLogger("hf_unlearn").setLevel(args.get_process_log_level())
    datasets.disable_progress_bars()


def find_unused_parameters(model) -> bool:
    """Whether DDP must search for trainable parameters that a forward pass may leave out (see the module
    docstring): True for LayerDrop, or for a SpecAugment mask embedding that is never applied."""
    config = getattr(model, "config", None)
    if float(getattr(config, "layerdrop", 0.0) or 0.0) > 0:
        return True
    spec_augment_off = not getattr(config, "apply_spec_augment", True)
    return spec_augment_off and any(
        name.endswith("masked_spec_embed") and parameter.requires_grad for name, parameter in model.named_parameters()
    )


def set_ddp_defaults(args, model) -> None:
    """Sets `args.ddp_find_unused_parameters` from the model ([`find_unused_parameters`]) when the user left it unset
    (None)."""
    if getattr(args, "ddp_find_unused_parameters", False) is None:
        args.ddp_find_unused_parameters = find_unused_parameters(model)
