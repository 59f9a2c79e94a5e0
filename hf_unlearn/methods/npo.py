"""NPO: Zhang et al., "Negative Preference Optimization: From Catastrophic Collapse to Effective Unlearning",
COLM 2024 (arXiv:2404.05868).

Loss: `L = w_f * L_NPO(forget) + w_r * CE(retain)` with
`L_NPO = -2/beta * mean_i log sigmoid(-beta * (log p_theta(y_i|x_i) - log p_ref(y_i|x_i)))` (eq. 3), `beta = 0.1`,
`p_ref` the frozen original model. The retain term is the paper's "NPO+RT" variant; `use_retain=False` gives plain NPO.

Deviations: for classification, `log p(y|x)` is the log-probability of the clip's label (minus its cross-entropy)
instead of a sequence log-likelihood. A curriculum (`curriculum="superloss"`, the library's option, not part of NPO's
paper) re-weights the per-sample NPO loss. With `use_retain=False` the trainer neither needs nor loads a retain set
(`trains_on` reads the config).
"""

from dataclasses import dataclass, field

from hf_unlearn.losses import npo_per_sample
from hf_unlearn.papers import ZHANG_2024
from hf_unlearn.trainer.config import UnlearningConfig
from hf_unlearn.trainer.trainer import UnlearningTrainer


@dataclass
class NPOConfig(UnlearningConfig):
    """NPO's inverse temperature `beta`, and whether to add the retain cross-entropy (NPO+RT).

    Args:
        beta (`float`, *optional*, defaults to 0.1):
            Inverse temperature of the NPO loss (paper: 0.1).
        use_retain (`bool`, *optional*, defaults to `True`):
            Add `retain_weight * CE(retain)` (NPO+RT); False gives plain NPO on the forget set.
    """

    beta: float = field(default=0.1, metadata={"help": "NPO inverse temperature beta (paper: 0.1)."})
    use_retain: bool = field(default=True, metadata={"help": "Add the retain cross-entropy (NPO+RT)."})

    PRESETS = {}  # UnSLU-BENCH does not run NPO: no benchmark preset.
    POSITIVE_FIELDS = ("beta",)


class NPOTrainer(UnlearningTrainer, method="npo"):
    config_class = NPOConfig
    ascends = True
    summary = "NPO (beta = 0.1) on forget + retain CE (`use_retain`)"
    paper = ZHANG_2024
    requires_teacher = True
    default_epoch_over = "forget"

    @classmethod
    def trains_on(cls, args) -> tuple[bool, bool]:
        return True, bool(args.use_retain)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        forget_batch = inputs["forget"]
        logp_theta = -self.per_sample_loss(model, forget_batch, "forget")[0]
        logp_ref = -self.task.per_sample_loss(self.teacher_logits(forget_batch), forget_batch["labels"])
        forget = self.reduce(npo_per_sample(logp_theta, logp_ref, self.args.beta), "forget")
        loss = self.args.forget_weight * forget
        terms = {"forget": forget}
        if self.uses_retain:
            retain = self.mean_loss(model, inputs["retain"], "retain")
            loss = loss + self.args.retain_weight * retain
            terms["retain"] = retain
        self.record_terms(**terms)
        return (loss, None) if return_outputs else loss
