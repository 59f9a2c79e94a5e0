"""Bad Teaching: Chundawat et al., "Can Bad Teaching Induce Forgetting? Unlearning in Deep Networks Using an
Incompetent Teacher", AAAI 2023 (code: github.com/vikram2000b/bad-teaching-unlearning).

The student (the model being unlearned, initialised from the original) is distilled from two frozen teachers over one
mixed stream: every forget row (`l_i = 1`) plus a seeded random share `retain_share` of the retain rows (`l_i = 0`).
On a retain row it matches the competent teacher (the original model), on a forget row the incompetent teacher (the
same architecture at random initialisation):

`L = 1/N * sum_i KL(p_i || softmax(s_i / T))`, `p_i = l_i * softmax(u_i / T) + (1 - l_i) * softmax(c_i / T)`

(`hf_unlearn.losses.bad_teaching_kl`), with `T = 1`. The paper's settings: 30 % of the retain set, one epoch, Adam
at lr 1e-4, `T = 1`.

The incompetent teacher is never the original model. UnSLU-BENCH's released code (Koudounas et al., Interspeech 2025)
queries the original's logits in its place, so the forget target there is the original's own prediction and its BT
cannot forget; here the incompetent teacher is built by `hf_unlearn.trainer.teachers.incompetent_teacher` (seeded by
`incompetent_teacher_seed`), which refuses a teacher with the original's weights, and the trainer refuses
`incompetent_teacher_model=` set to the model or the competent teacher. For BT-L, UnSLU-BENCH's variant with noise
logits in place of the incompetent teacher, see `bad_teaching_lite`.

Deviations: the authors' `F.kl_div(..., reduction="mean")` averages over classes too, so their loss is this one
divided by the number of classes (a constant factor: the same direction, a rescaled learning rate). `forget_weight`
and `retain_weight` weight the forget and retain rows (1 by default, the paper). Each teacher is queried only on the
rows whose target it gives (eval mode, so the logits are those of a full-batch forward). A mixed batch is a
forget-side pass: it leaves the student's batch-norm running statistics as they are (see `forget_bn_update`). The
retain share is drawn with `pairing_seed`, independently of the training seed; the Trainer's sampler shuffles the
stream. In several processes every process builds the same incompetent teacher (same seed) and draws the same retain
share. The rate decays linearly to 0 (the Trainer's schedule, kept by `UnlearningConfig`) where the authors' code
uses Adam without a scheduler.
"""

from dataclasses import dataclass, field

import torch

from hf_unlearn.data.collator import FORGET_FLAG, model_batch
from hf_unlearn.data.streams import MixedUnlearningDataset
from hf_unlearn.losses import bad_teaching_kl
from hf_unlearn.papers import CHUNDAWAT_2023, LORA_FORGETTING_RUNS, WHISPER_LORA_RUNS
from hf_unlearn.trainer.config import UnlearningConfig, unslu_preset
from hf_unlearn.trainer.sharding import is_sharded
from hf_unlearn.trainer.teachers import freeze, incompetent_teacher
from hf_unlearn.trainer.trainer import UnlearningTrainer


@dataclass
class BadTeachingConfig(UnlearningConfig):
    """Bad Teaching's hyperparameters (defaults: the paper's).

    Args:
        temperature (`float`, *optional*, defaults to 1.0):
            Distillation temperature `T` of both teachers and the student.
        retain_share (`float`, *optional*, defaults to 0.3):
            Share of the retain rows mixed with the forget rows (`round(retain_share * len(retain))` rows, drawn with
            `pairing_seed`).
        incompetent_teacher_seed (`int`, *optional*, defaults to 1234):
            Seed of the incompetent teacher's random initialisation.
    """

    temperature: float = field(default=1.0, metadata={"help": "KL temperature T (paper: 1.0)."})
    retain_share: float = field(default=0.3, metadata={"help": "Share of the retain set in the stream (paper: 0.3)."})
    incompetent_teacher_seed: int = field(
        default=1234, metadata={"help": "Seed of the incompetent teacher's random initialisation."}
    )

    PRESETS = {"unslu": unslu_preset(1e-6)}

    POSITIVE_FIELDS = ("temperature",)

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.retain_share <= 1.0:
            raise ValueError(f"retain_share must be in [0, 1], got {self.retain_share}.")


def mixed_batch_loss(trainer, per_sample: torch.Tensor, forget_rows: torch.Tensor) -> torch.Tensor:
    """`1/N sum_i w_i l_i` over a mixed batch, each side's per-sample losses passed through the curriculum
    (`trainer.reweight`, called for both sides on every batch, also when one is empty, since it is collective), and
    logs the `forget` / `retain` terms present in the batch. Shared by Bad Teaching and BT-L."""
    weighted = torch.zeros_like(per_sample)
    for side, rows, weight in (
        ("forget", forget_rows, trainer.args.forget_weight),
        ("retain", ~forget_rows, trainer.args.retain_weight),
    ):
        reweighted = trainer.reweight(per_sample[rows], side)
        weighted = weighted.index_put((rows,), weight * reweighted)
        if rows.any():
            trainer.record_terms(**{side: reweighted.mean()})
    return weighted.mean()


class BadTeachingTrainer(UnlearningTrainer, method="bad_teaching", aliases=("bt",)):
    """Bad Teaching. Takes the arguments of [`UnlearningTrainer`], plus:

    Args:
        incompetent_teacher_model (`torch.nn.Module`, *optional*):
            The incompetent teacher (e.g. a pretrained backbone with an untrained head); by default the model's
            architecture at random initialisation, seeded by `incompetent_teacher_seed`. It is frozen and prepared
            with the accelerator; it may not be the original model.
    """

    config_class = BadTeachingConfig
    summary = (
        "BT: KL to the original on retain rows and to a randomly initialised teacher on forget rows, over "
        "forget + 30 % of retain, T = 1"
    )
    paper = CHUNDAWAT_2023
    requires_teacher = True
    peft_note = (
        "under LoRA r=8 it forgets a class of FSDD digits only partly (forget accuracy 0.277 above gold's, full "
        "weights 0.152; " + LORA_FORGETTING_RUNS + "); the light variant (BT-L) reached gold there. On a Whisper "
        "encoder it forgot FSDD's class under LoRA (+0.012 above gold, test -0.009; " + WHISPER_LORA_RUNS + ")."
    )

    def __init__(self, *args, incompetent_teacher_model=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.teacher_is_sharded = is_sharded(self.teacher)
        if incompetent_teacher_model is None:
            incompetent_teacher_model = incompetent_teacher(self.model, seed=self.args.incompetent_teacher_seed)
        elif incompetent_teacher_model is self.model or incompetent_teacher_model is self.teacher:
            raise ValueError(
                "incompetent_teacher_model is the original model: Bad Teaching needs a teacher that does not know the "
                "task (leave incompetent_teacher_model=None for a randomly initialised copy of the architecture)."
            )
        self.incompetent_teacher = self.accelerator.prepare_model(
            freeze(incompetent_teacher_model), evaluation_mode=True
        )

    def make_train_dataset(self, forget, retain, args):
        return MixedUnlearningDataset(forget, retain, retain_share=args.retain_share, seed=args.pairing_seed)

    @torch.no_grad()
    def incompetent_teacher_logits(self, batch: dict) -> torch.Tensor:
        """Logits of the frozen incompetent teacher on `batch`, without gradients."""
        return self.task.logits(self.incompetent_teacher, batch)

    def _logits_on_rows(self, query, batch: dict, rows: torch.Tensor, num_classes: int) -> torch.Tensor:
        """`query(batch[rows])` on the `rows` (bool mask) of `batch`, zeros elsewhere (rows the loss weights by 0)."""
        logits = torch.zeros(rows.shape[0], num_classes, device=rows.device)
        if rows.any():
            logits[rows] = query({key: value[rows] for key, value in batch.items()}).float()
        elif self.teacher_is_sharded:
            # An FSDP2-sharded teacher (the model itself under PEFT, adapter disabled) all-gathers its weights in each
            # forward: every process must run it, so a process without such rows queries its batch, unused.
            query(batch)
        return logits

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        flags = inputs[FORGET_FLAG]
        batch = model_batch(inputs)
        student = self.logits(model, batch, "forget")  # a mixed batch: batch-norm statistics stay as they are
        forget_rows = flags == 1
        num_classes = student.shape[-1]
        competent = self._logits_on_rows(self.teacher_logits, batch, ~forget_rows, num_classes)
        incompetent = self._logits_on_rows(self.incompetent_teacher_logits, batch, forget_rows, num_classes)
        per_sample = bad_teaching_kl(student, competent, incompetent, flags, self.args.temperature)
        loss = mixed_batch_loss(self, per_sample, forget_rows)
        return (loss, None) if return_outputs else loss
