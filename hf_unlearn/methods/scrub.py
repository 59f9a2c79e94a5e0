"""SCRUB: Kurmanji et al., "Towards Unbounded Machine Unlearning", NeurIPS 2023.

The student (the model being unlearned) starts from the original; the teacher is the frozen original. With
`KL_T(s, t) = T^2 * KL(softmax(t/T) || softmax(s/T))` (batch mean):

- max step (forget): `L = -KL_T(student, teacher)` on the forget batch: move away from the teacher;
- min step (retain): `L = gamma * CE(retain) + alpha * KL_T(student, teacher)` on the retain batch: stay close.

Max steps happen only in the first `max_steps_phase` epochs (the paper's `msteps`); afterwards only min steps.

Deviations: the paper runs, per epoch, one loop over the forget set (max) then one over the retain set (min). Here each
training batch holds a forget and a retain part and the two steps alternate on optimizer steps: even `global_step` is
a max step (forget part only), odd is a min step (retain part only); once `state.epoch >= max_steps_phase` every step
is a min step. The decision reads only `self.state` (`is_max_step`), so resuming from a checkpoint resumes the phase,
and all micro-batches of one optimizer step are in the same phase. The default epoch runs over the retain set (the
paper's min loop); the forget set is cycled.

Note (as in the paper): at the very first max step the student equals the teacher, so the forget KL sits at its
minimum and its gradient is zero; max steps start to act once min steps have moved the student.
"""

from dataclasses import dataclass, field

from hf_unlearn.config import UnlearningConfig, unslu_preset
from hf_unlearn.losses import kl_with_temperature
from hf_unlearn.papers import KURMANJI_2023
from hf_unlearn.trainer import UnlearningTrainer


@dataclass
class SCRUBConfig(UnlearningConfig):
    """SCRUB's hyperparameters (defaults: the paper's large-scale settings).

    Args:
        temperature (`float`, *optional*, defaults to 4.0):
            Distillation temperature `T` (the KL is scaled by `T^2`).
        gamma (`float`, *optional*, defaults to 0.99):
            Weight of the retain cross-entropy in the min step.
        alpha (`float`, *optional*, defaults to 0.001):
            Weight of the retain KL to the teacher in the min step.
        max_steps_phase (`int`, *optional*, defaults to 2):
            Number of epochs in which max steps happen (the paper's `msteps`).
    """

    temperature: float = field(default=4.0, metadata={"help": "KL temperature T (paper: 4.0)."})
    gamma: float = field(default=0.99, metadata={"help": "Weight of the retain CE in the min step."})
    alpha: float = field(default=0.001, metadata={"help": "Weight of the retain KL in the min step."})
    max_steps_phase: int = field(default=2, metadata={"help": "Number of epochs in which max steps happen."})

    PRESETS = {
        "small_scale": {"gamma": 1.0, "alpha": 0.5},
        "unslu": unslu_preset(5e-6),
    }

    def __post_init__(self):
        super().__post_init__()
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}.")
        if self.max_steps_phase < 0:
            raise ValueError(f"max_steps_phase must be >= 0, got {self.max_steps_phase}.")


class SCRUBTrainer(UnlearningTrainer, method="scrub"):
    config_class = SCRUBConfig
    ascends = True
    summary = "SCRUB: alternating max (forget KL) / min (retain CE + KL) steps, T = 4; preset `small_scale`"
    paper = KURMANJI_2023
    requires_teacher = True
    default_epoch_over = "retain"

    def is_max_step(self) -> bool:
        """True when the current optimizer step is a max (forget) step: in the first `max_steps_phase` epochs, on even
        `global_step`. Reads only the trainer state, so a resumed run continues in the same phase."""
        return (self.state.epoch or 0.0) < self.args.max_steps_phase and self.state.global_step % 2 == 0

    def _distill(self, model, batch):
        student = self.task.logits(model, batch)
        return student, kl_with_temperature(student, self.teacher_logits(batch), self.args.temperature)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.is_max_step():
            _, forget_kl = self._distill(model, inputs["forget"])
            self.record_terms(forget_kl=forget_kl)
            loss = -forget_kl
        else:
            retain_batch = inputs["retain"]
            logits, retain_kl = self._distill(model, retain_batch)
            retain_ce = self.reduce(self.task.per_sample_loss(logits, retain_batch["labels"]), "retain")
            self.record_terms(retain_ce=retain_ce, retain_kl=retain_kl)
            loss = self.args.gamma * retain_ce + self.args.alpha * retain_kl
        return (loss, None) if return_outputs else loss
