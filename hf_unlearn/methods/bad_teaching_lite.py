"""BT-L (Bad Teaching, lite): UnSLU-BENCH's variant (Koudounas et al., Interspeech 2025) of Chundawat et al., "Can Bad
Teaching Induce Forgetting? Unlearning in Deep Networks Using an Incompetent Teacher", AAAI 2023.

The student (the model being unlearned) matches the competent teacher (the frozen original) on retain rows and an
incompetent teacher on forget rows, whose logits are standard normal noise. As in UnSLU-BENCH, the training stream is
one shuffled mix of all forget rows and all retain rows ([`MixedUnlearningDataset`] with the whole retain set), and
the loss is one batch mean of the per-row KL:

`L = 1/N * sum_i w_i * KL_T(student_i, target_i)`, `target_i = noise_i ~ N(0, 1)` on a forget row, the original's
logits on a retain row, with `KL_T(s, t) = T^2 * KL(softmax(t/T) || softmax(s/T))`, `T = 1` and `w_i` =
`forget_weight` or `retain_weight` (1 by default).

Deviations: the noise is drawn on the CPU from the global torch RNG (seeded by the Trainer with `seed`), one row at a
time so that gradient accumulation does not change it, and is redrawn at every step. A mixed batch is a forget-side
pass: it leaves batch-norm running statistics as they are (see `forget_bn_update`). The rate decays linearly to 0 (the
Trainer's schedule, kept by `UnlearningConfig`) where UnSLU-BENCH keeps it constant (the `unslu` preset does).
"""

from dataclasses import dataclass, field

import torch

from hf_unlearn.data.collator import FORGET_FLAG, model_batch
from hf_unlearn.data.streams import MixedUnlearningDataset
from hf_unlearn.losses import per_sample_kl_with_temperature
from hf_unlearn.methods.bad_teaching import mixed_batch_loss
from hf_unlearn.papers import CHUNDAWAT_2023
from hf_unlearn.trainer.config import UnlearningConfig, unslu_preset
from hf_unlearn.trainer.sharding import is_sharded
from hf_unlearn.trainer.trainer import UnlearningTrainer


@dataclass
class BadTeachingLiteConfig(UnlearningConfig):
    """BT-L's distillation temperature.

    Args:
        temperature (`float`, *optional*, defaults to 1.0):
            Distillation temperature `T` (paper: 1).
    """

    temperature: float = field(default=1.0, metadata={"help": "KL temperature T (paper: 1.0)."})

    PRESETS = {"unslu": unslu_preset(1e-6)}
    POSITIVE_FIELDS = ("temperature",)


class BadTeachingLiteTrainer(UnlearningTrainer, method="bad_teaching_lite", aliases=("bt-l", "btl")):
    config_class = BadTeachingLiteConfig
    summary = "BT-L: one shuffled stream of all forget + retain rows; KL to N(0, 1) logits (forget) or the original"
    paper = CHUNDAWAT_2023
    requires_teacher = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # An FSDP2-sharded teacher (the model itself under PEFT) all-gathers its weights in each forward: every
        # process must then query it on every step, also when its batch has no retain row.
        self.teacher_is_sharded = is_sharded(self.teacher)

    def make_train_dataset(self, forget, retain, args):
        return MixedUnlearningDataset(forget, retain, retain_share=1.0, seed=args.pairing_seed)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        forget_rows = inputs[FORGET_FLAG] == 1
        batch = model_batch(inputs)
        student = self.logits(model, batch, "forget")  # a mixed batch: batch-norm statistics stay as they are
        # Row by row: one batch's noise is then the same however it is split into micro-batches (gradient
        # accumulation), since torch's batched normal sampler draws differently from per-row calls.
        # Several processes: each draws, from the same seeded stream, the noise of the whole global micro-batch
        # (processes in rank order, equal micro-batches) and keeps its own rows, so the targets are those of one
        # process accumulating the same micro-batches.
        rank, processes = self.accelerator.process_index, self.accelerator.num_processes
        draws = [torch.randn(student.shape[1:], dtype=torch.float32) for _ in range(len(student) * processes)]
        noise = torch.stack(draws[rank * len(student) : (rank + 1) * len(student)]).to(student.device)
        target = self.teacher_logits(batch).float() if (~forget_rows).any() or self.teacher_is_sharded else noise
        target = torch.where(forget_rows[:, None], noise, target)
        per_sample = per_sample_kl_with_temperature(student, target, self.args.temperature)
        loss = mixed_batch_loss(self, per_sample, forget_rows)
        return (loss, None) if return_outputs else loss
