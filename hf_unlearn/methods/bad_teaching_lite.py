"""BT-L (Bad Teaching, lite): UnSLU-BENCH's variant (Koudounas et al., Interspeech 2025) of Chundawat et al., "Can Bad
Teaching Induce Forgetting? Unlearning in Deep Networks Using an Incompetent Teacher", AAAI 2023.

The student (the model being unlearned) matches the competent teacher (the frozen original) on the retain set and an
incompetent teacher on the forget set, whose logits are standard normal noise:

`L = KL_T(student, original; retain) + KL_T(student, noise; forget)`, `noise ~ N(0, 1)` of the logits' shape,
with `KL_T(s, t) = T^2 * KL(softmax(t/T) || softmax(s/T))` (batch mean) and `T = 1`.

Deviations: the two parts are summed as two batch means (the paper takes one mean over a mixed batch; with equal
forget and retain batch sizes this is twice that mean). The noise is drawn on the CPU from the global torch RNG
(seeded by the Trainer with `seed`), one sample at a time so that gradient accumulation does not change it, and is
redrawn at every step. `forget_weight` and `retain_weight` weight the two terms (1 by default).
"""

from dataclasses import dataclass, field

import torch

from hf_unlearn.config import UnlearningConfig, unslu_preset
from hf_unlearn.losses import kl_with_temperature
from hf_unlearn.papers import CHUNDAWAT_2023
from hf_unlearn.trainer import UnlearningTrainer


@dataclass
class BadTeachingLiteConfig(UnlearningConfig):
    """BT-L's distillation temperature.

    Args:
        temperature (`float`, *optional*, defaults to 1.0):
            Distillation temperature `T` (paper: 1).
    """

    temperature: float = field(default=1.0, metadata={"help": "KL temperature T (paper: 1.0)."})

    PRESETS = {"unslu": unslu_preset(1e-6)}

    def __post_init__(self):
        super().__post_init__()
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}.")


class BadTeachingLiteTrainer(UnlearningTrainer, method="bad_teaching_lite", aliases=("bt-l", "btl")):
    config_class = BadTeachingLiteConfig
    summary = "BT-L: KL to the original on retain + KL to N(0, 1) noise logits on forget, T = 1"
    paper = CHUNDAWAT_2023
    requires_teacher = True
    default_epoch_over = "forget"

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        temperature = self.args.temperature
        forget_logits = self.task.logits(model, inputs["forget"])
        # Row by row: one batch's noise is then the same however it is split into micro-batches (gradient
        # accumulation), since torch's batched normal sampler draws differently from per-row calls.
        noise = torch.stack([torch.randn(forget_logits.shape[1:], dtype=torch.float32) for _ in forget_logits])
        noise = noise.to(forget_logits.device)
        forget = kl_with_temperature(forget_logits, noise, temperature)
        retain_logits = self.task.logits(model, inputs["retain"])
        retain = kl_with_temperature(retain_logits, self.teacher_logits(inputs["retain"]), temperature)
        self.record_terms(forget=forget, retain=retain)
        loss = self.args.forget_weight * forget + self.args.retain_weight * retain
        return (loss, None) if return_outputs else loss
