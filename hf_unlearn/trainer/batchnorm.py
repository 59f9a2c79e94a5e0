"""Batch-norm running statistics during unlearning.

The Trainer runs the model in train mode, so every forward pass moves the running means and variances of its
batch-norm layers, whatever the loss does with the output: a pass over forget rows writes forget-set statistics into
the model even at a zero learning rate (measured on FSDD: docs/methods.md, "Batch-norm statistics"). So forget-side
passes (forget rows, UNSIR's noise, mixed forget + retain batches) and teacher passes run under
[`frozen_batch_norm`], and [`recalibrate_batch_norm`] can re-estimate the statistics on retain data after unlearning.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch.nn.modules.batchnorm import _BatchNorm


@contextmanager
def frozen_batch_norm(model: torch.nn.Module):
    """Within the block, batch-norm layers of `model` in train mode still normalise with the batch's statistics (the
    forward and its gradient are unchanged) but leave `running_mean`, `running_var` and `num_batches_tracked`
    untouched: `_BatchNorm.forward` updates them only when `training and track_running_stats`, and passes no running
    buffers to `F.batch_norm` in train mode without `track_running_stats`. The flag is restored on exit."""
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    for layer in layers:
        layer.track_running_stats = False
    try:
        yield
    finally:
        for layer in layers:
            layer.track_running_stats = True


@torch.no_grad()
def recalibrate_batch_norm(model: torch.nn.Module, batches, forward) -> int:
    """Re-estimates the running statistics of every batch-norm layer of `model` from `batches`: resets them, then
    runs `forward(model, batch)` on each batch in train mode with `momentum=None` (the cumulative average over all
    batches), without gradients; momentum and mode are restored afterwards. Returns the number of layers
    recalibrated (0 when the model has none, in which case nothing runs)."""
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not layers:
        return 0
    momenta, was_training = [layer.momentum for layer in layers], model.training
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
    model.train()
    try:
        for batch in batches:
            forward(model, batch)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        model.train(was_training)
    return len(layers)


def row_batches(rows, batch_size: int, collate):
    """Collated batches of `batch_size` consecutive rows of `rows` (a featurized dataset), in order, the last one
    shorter: a pass over every row, as the recalibration needs."""
    for start in range(0, len(rows), batch_size):
        yield collate([dict(rows[i]) for i in range(start, min(start + batch_size, len(rows)))])
