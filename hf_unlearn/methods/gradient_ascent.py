"""NG / GradAscent: gradient ascent on the forget set.

Golatkar et al., "Eternal Sunshine of the Spotless Net", CVPR 2020 (as the NegGrad baseline); "NG" in UnSLU-BENCH
(Koudounas et al., Interspeech 2025), which clips gradients at norm 1.0.

Loss: `L = -w_f * CE(forget)`, minimised, i.e. the forget cross-entropy is maximised. Unbounded: stop after few steps
and watch retain accuracy. Deviations: the rate decays linearly to 0 (the Trainer's schedule, kept by
`UnlearningConfig`) where the reference code keeps it flat over runs this short.
"""

from dataclasses import dataclass, field

from hf_unlearn.papers import GOLATKAR_2020
from hf_unlearn.trainer.config import UnlearningConfig, unslu_preset
from hf_unlearn.trainer.trainer import UnlearningTrainer


@dataclass
class GradientAscentConfig(UnlearningConfig):
    """Gradient ascent. `max_grad_norm` defaults to 1.0 as in UnSLU-BENCH. Preset `"unslu"`: one epoch, lr 5e-6."""

    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm (UnSLU-BENCH: 1.0)."})

    PRESETS = {"unslu": unslu_preset(5e-6, max_grad_norm=1.0)}


class GradientAscentTrainer(UnlearningTrainer, method="gradient_ascent", aliases=("ng", "gradascent", "neggrad")):
    config_class = GradientAscentConfig
    ascends = True
    summary = "NG / GradAscent: ascend the forget CE, grad clip 1.0"
    paper = GOLATKAR_2020
    uses_retain = False
    default_epoch_over = "forget"

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        forget = self.side_loss(model, inputs, "forget")
        loss = -self.args.forget_weight * forget
        return (loss, None) if return_outputs else loss
