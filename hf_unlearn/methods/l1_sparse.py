"""l1-sparse: Jia et al., "Model Sparsity Can Simplify Machine Unlearning", NeurIPS 2023 (sparsity-aware unlearning).

Loss: `L_t = CE(retain) + gamma_t * ||w||_1` over the trainable parameters, with `gamma_t` decaying linearly from
`l1_gamma` to 0 over training: `gamma_t = l1_gamma * (1 - t / T)`, `t = state.global_step`, `T = state.max_steps`
(eq. 4 and the "linearly decaying" scheduler of the paper's Sec. 4).

Default `l1_gamma = 5e-5`: our reading of the authors' code (Unlearn-Sparse, `FT_l1` with `--alpha`) for the l1-sparse
baseline; we could not check it offline, so treat it as a starting point and tune it (the paper searches gamma).

Deviations: the decay is per optimizer step rather than per epoch (the authors' code), and the penalty runs over the
trainable parameters only. Unlike MU-Bench's implementation, the penalty is actually added to the loss; it is logged
as `loss/l1` (the unweighted `||w||_1`, like the other terms, which are logged before weighting). With a PEFT adapter
(`peft_config=`) the trainable parameters are the LoRA factors and the head: the penalty then sparsifies the update,
not the model. The rate decays linearly to 0 (the Trainer's schedule, kept by `UnlearningConfig`) where the
authors' code keeps it flat over runs this short. The optimizer is the Trainer's AdamW, where the authors' code uses
SGD: Adam divides each weight's update by its own gradient scale, so the L1 term pulls every weight by about the
learning rate per step whatever `gamma_t` is, far more strongly than the same `gamma` under SGD (pass `optim="sgd"`
for the reference's behaviour; the shipped `l1_gamma` was not re-tuned for it).
"""

from dataclasses import dataclass, field

from hf_unlearn.losses import l1_penalty
from hf_unlearn.papers import JIA_2023
from hf_unlearn.trainer.config import UnlearningConfig
from hf_unlearn.trainer.trainer import UnlearningTrainer


@dataclass
class L1SparseConfig(UnlearningConfig):
    """The L1 penalty's weight.

    Args:
        l1_gamma (`float`, *optional*, defaults to 5e-5):
            Initial weight `gamma_0` of the L1 penalty, decayed linearly to 0 over training.
    """

    l1_gamma: float = field(default=5e-5, metadata={"help": "Initial L1 weight gamma_0, decayed linearly to 0."})

    PRESETS = {}  # UnSLU-BENCH does not run l1-sparse: no benchmark preset.
    NON_NEGATIVE_FIELDS = ("l1_gamma",)


class L1SparseTrainer(UnlearningTrainer, method="l1_sparse", aliases=("l1-sparse", "l1")):
    config_class = L1SparseConfig
    summary = "fine-tune on retain + `gamma_t * L1(w)`, gamma linearly 5e-5 -> 0"
    paper = JIA_2023
    uses_forget = False
    default_epoch_over = "retain"
    peft_note = (
        "the L1 penalty covers the trainable parameters, i.e. the LoRA factors and the fully trained head: it makes "
        "the update sparse, not the model's weights (the paper's sparsity of the whole model does not hold)."
    )

    def current_gamma(self) -> float:
        """`gamma_t = l1_gamma * (1 - global_step / max_steps)`, read from the trainer state (resumption keeps it)."""
        max_steps = max(self.state.max_steps, 1)
        return self.args.l1_gamma * max(0.0, 1.0 - self.state.global_step / max_steps)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        retain = self.mean_loss(model, inputs["retain"], "retain")
        l1 = l1_penalty(p for p in model.parameters() if p.requires_grad)
        self.record_terms(retain=retain, l1=l1)
        loss = self.args.retain_weight * retain + self.current_gamma() * l1
        return (loss, None) if return_outputs else loss
