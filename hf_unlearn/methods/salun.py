"""SalUn: Fan et al., "SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency in Both Image
Classification and Generation", ICLR 2024.

1. Weight saliency, once, at the original weights `theta_o` (the paper's saliency map): with
   `g = grad_theta l_f(theta_o; D_f)`, the gradient of the forget loss (mean cross-entropy over the whole forget set),
   the mask keeps the weights whose `|g|` is in the top `threshold` share, ranked globally over all trainable
   parameters ([`top_share_mask`]): `m = 1(|g| >= gamma)`, `gamma` the `threshold`-quantile from the top.
2. Random-label fine-tuning of the salient weights only (the paper's classification objective), with RandLabel's
   schedule (the code's `RL`): per epoch a full pass over the forget set with `w_f * CE(forget, y')`, then a full pass
   over the retain set with `w_r * CE(retain, y)`, `y' != y` drawn once per forget sample (the base class's
   `random_labels` column), and `theta_u = m * (theta_o + delta) + (1 - m) * theta_o`: gradients are multiplied by `m`
   ([`UnlearningTrainer.set_gradient_masks`]), which, without weight decay, leaves the other weights bitwise unchanged.

Defaults: `threshold=0.5`, the paper's default saliency sparsity for classification (the authors' `generate_mask.py`
writes the masks for thresholds 0.1 to 0.5), and `w_f = w_r = 1` (the code trains on forget-with-random-labels and
retain with equal per-sample weights). The paper's CIFAR-10 / ResNet-18 optimiser settings (the code's SalUn command:
SGD with momentum 0.9, 10 epochs, lr 0.1, batch 256) are for a small image CNN and are left to the user (transformers'
defaults apply otherwise); UnSLU-BENCH does not run SalUn, so there is no "unslu" preset.

Multi-process: each process takes a strided shard of the forget set (rows `process_index`, `process_index +
num_processes`, ...), sums its per-sample losses' gradients, and the gradients are summed over processes
(`accelerator.reduce(..., reduction="sum")`) before taking magnitudes, so the mask is the single-process one (up to
floating-point summation order). The saliency pass batches by `per_device_eval_batch_size`, independent of the
training batch size and of gradient accumulation, and runs in eval mode (no dropout, batch-norm statistics untouched).

Deviations from the paper's code:
- the code accumulates the gradients of `-CE` batch means while taking SGD steps between batches (the model drifts
  during the pass); here every gradient is taken at `theta_o`, as the paper defines the map (the sign and the
  overall scale do not change the ranking);
- the code draws random labels among all classes (the true one included) anew each epoch; here `y' != y`, as in the
  paper's objective, fixed per sample (see `random_labels`);
- the code keeps `int(threshold * N)` weights ranked by an unstable `argsort`; here also `floor(threshold * N)`, with
  ties at the threshold broken deterministically (see [`top_share_mask`]);
- weight decay is refused (it would move masked weights; the code restores them after each step instead);
- the last batch of each pass is filled up with rows drawn again (see `random_labels`);
- the rate decays linearly to 0 (the Trainer's schedule, kept by `UnlearningConfig`) where the code keeps it flat
  over runs this short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from hf_unlearn.methods.random_labels import RandomLabelsTrainer
from hf_unlearn.papers import FAN_2024
from hf_unlearn.trainer.config import UnlearningConfig
from hf_unlearn.trainer.sharding import summed_gradients


@dataclass
class SalUnConfig(UnlearningConfig):
    """SalUn's saliency threshold; the loss uses `forget_weight` (random-label CE) and `retain_weight` (retain CE).

    Args:
        threshold (`float`, *optional*, defaults to 0.5):
            Share of the trainable weights that are salient (updated), ranked by the magnitude of the forget-loss
            gradient over all trainable parameters together (paper: 0.5). The rest stay at their original values.
    """

    threshold: float = field(default=0.5, metadata={"help": "Share of trainable weights updated (paper: 0.5)."})

    PRESETS = {}  # UnSLU-BENCH does not run SalUn: no benchmark preset.

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1] (the share of weights to update), got {self.threshold}.")


def top_share_mask(gradients: dict[str, torch.Tensor], threshold: float) -> dict[str, torch.Tensor]:
    """0/1 masks keeping the top `threshold` share of entries by gradient magnitude, ranked over all tensors at once.

    With all entries `a_j = |g_j|` of all tensors concatenated (`N` in total, in dict order, each tensor flattened in
    row-major order) and `k = floor(threshold * N)`: `m_j = 1` for the `k` largest `a_j`, i.e.
    `m_j = 1(a_j > gamma)` plus, among the entries equal to `gamma` (the `k`-th largest value), the first ones in
    that order until `k` entries are kept. So exactly `k` entries are kept, and ties are resolved by position
    (earlier parameter first, then lower flat index), deterministically.

    Args:
        gradients (`dict[str, torch.Tensor]`): gradient (or any score whose magnitude ranks the entries) per name.
        threshold (`float`): share of entries to keep, in (0, 1].

    Returns:
        `dict[str, torch.Tensor]`: masks with the shapes and dtypes of `gradients`, 1 for kept entries, 0 elsewhere.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}.")
    if not gradients:
        raise ValueError("top_share_mask needs at least one gradient tensor (are any parameters trainable?).")
    magnitudes = {name: grad.detach().abs().flatten().float() for name, grad in gradients.items()}
    total = sum(m.numel() for m in magnitudes.values())
    keep = math.floor(threshold * total)
    if keep == 0:
        return {name: torch.zeros_like(grad) for name, grad in gradients.items()}
    flat = torch.cat([m.cpu() for m in magnitudes.values()])
    # gamma = the keep-th largest magnitude = the (total - keep + 1)-th smallest.
    gamma = torch.kthvalue(flat, total - keep + 1).values
    del flat
    ties_left = keep - sum(int((m > gamma.to(m.device)).sum()) for m in magnitudes.values())
    masks = {}
    for name, grad in gradients.items():
        magnitude = magnitudes[name]
        level = gamma.to(magnitude.device)
        kept = magnitude > level
        ties = magnitude == level
        if ties_left > 0 and bool(ties.any()):
            # Keep the first `ties_left` tied entries (in flat order); later ones are dropped.
            taken = ties & (torch.cumsum(ties.long(), 0) <= ties_left)
            ties_left -= int(taken.sum())
            kept = kept | taken
        masks[name] = kept.reshape(grad.shape).to(grad.dtype)
    return masks


class SalUnTrainer(RandomLabelsTrainer, method="salun"):
    config_class = SalUnConfig
    peft_support = "refuse"
    peft_note = (
        "SalUn ranks the model's weights by forget-loss gradient; under LoRA the adapter's B factors start at zero, "
        "so the A factors' gradients are zero and the saliency mask would be meaningless. Run SalUn on the full model."
    )
    summary = (
        "weight saliency mask (top 50 % of forget-loss gradient magnitudes), then masked random-label fine-tuning"
    )
    paper = FAN_2024
    # The loss is RandLabel's (`RandomLabelsTrainer.compute_loss`); SalUn adds the saliency mask before training.

    @property
    def saliency_mask(self) -> dict[str, torch.Tensor] | None:
        """The saliency mask (name -> 0/1 tensor, 1 = salient, trained), `None` before training. It is the base
        class's `gradient_masks`, so it is saved and restored with them."""
        return self.gradient_masks or None

    def make_train_dataset(self, forget, retain, args):
        # The saliency pass needs the featurized forget set itself (true labels), not the training stream.
        self.saliency_forget = forget
        return super().make_train_dataset(forget, retain, args)

    @torch.enable_grad()
    def forget_gradients(self) -> dict[str, torch.Tensor]:
        """`grad_theta (1/N_f) sum_i CE(x_i, y_i)` over the whole forget set at the current weights, for every
        trainable parameter (zeros where a parameter gets no gradient), summed over processes (each process takes a
        strided shard of the forget set). The model's `.grad` fields are left empty."""
        model = self.model
        parameters = {name: p for name, p in model.named_parameters() if p.requires_grad}
        if not parameters:
            raise ValueError("SalUn found no trainable parameter: unfreeze the parameters to unlearn.")
        forget = self.saliency_forget
        shard = list(range(self.accelerator.process_index, len(forget), self.accelerator.num_processes))
        batch_size = self.args.per_device_eval_batch_size
        was_training = model.training
        model.eval()  # no dropout, and batch-norm running statistics are not updated by this pass
        model.zero_grad(set_to_none=True)
        # Every process makes as many passes as the one with the largest shard: an FSDP2-sharded model gathers its
        # weights in each forward and backward, so all processes must take part in each; a process out of rows
        # repeats one with weight 0.
        longest = math.ceil(len(forget) / self.accelerator.num_processes)
        try:
            for start in range(0, longest, batch_size):
                indices, weight = shard[start : start + batch_size], 1.0
                if not indices:
                    indices, weight = [0], 0.0
                batch = self._prepare_inputs(self.data_collator([forget[index] for index in indices]))
                with self.compute_loss_context_manager():
                    per_sample, _ = self.per_sample_loss(model, batch, "forget")
                # Sum here, divide by the global count below: the mean over the whole forget set, whatever the shards.
                (weight * per_sample.sum()).backward()
            gradients = summed_gradients(parameters, self.accelerator)
        finally:
            model.zero_grad(set_to_none=True)
            model.train(was_training)
        return {name: grad / len(forget) for name, grad in gradients.items()}

    def before_optimizer(self) -> None:
        # Computed once, at the original weights: a second train() reuses the mask rather than recomputing it at the
        # unlearned weights.
        self.set_gradient_masks(self.gradient_masks or top_share_mask(self.forget_gradients(), self.args.threshold))
