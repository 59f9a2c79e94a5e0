"""UNSIR: Tarun et al., "Fast Yet Effective Machine Unlearning", IEEE TNNLS 2023 (code:
github.com/vikram2000b/Fast-Machine-Unlearning).

1. Noise. With the model frozen, learn error-maximising noise `n_k` shaped like the model input (raw audio for
   wav2vec2/HuBERT, MFCC grids for the CNN): minimise `J_k = -CE(f(n_k), y_k) + lambda * sum_j n_kj^2` (the authors'
   `-CE + 0.1 * mean_k sum_j n_kj^2`, `lambda = 0.1`) with Adam at lr 0.1 for 40 steps (their 5 x 8)
   (`hf_unlearn.losses.unsir_noise_objective`), from `n_k ~ N(0, 1)`. One noise per forget class (class unlearning)
   or one per forget sample (sample / speaker unlearning): `noise_mode="auto"` picks per-class when none of the forget
   labels occurs in the retain set.
2. Impair (the first `impair_epochs` epochs): `L = w_f * CE(f(noise), y_forget) + w_r * CE(retain)`.
3. Repair (the next `repair_epochs` epochs): `L = w_r * CE(retain)`.

One epoch runs over the retain set; each retain row is paired with a forget row (seeded, cycled), whose noise and
label make the noise half of an impair batch. `num_train_epochs` is the run's length (default 2): the repair phase
takes what the impair phase leaves (`repair_epochs` unset), or, when `repair_epochs` is given, the two must add up to
it, so a tuner that sets only the length tunes the repair phase; with `max_steps > 0` the run stops at `max_steps` and
the phase still switches after `impair_epochs` epochs. The phase reads only `self.state.epoch` (`is_impair_phase`), so
a resumed run resumes the phase, and all micro-batches of one optimizer step share it. The noise is learnt in
`before_optimizer()` and kept in `self.noise` (`(num_noises, *input_shape)`, on the CPU; `self.noise_lengths` holds
the valid length of each along the last axis) and saved in every checkpoint's method state (`method_state`), so a
resumed run reuses the noise learnt from the original weights; a trainer that already holds a noise does not learn it
again.

Several processes: every process learns every noise itself, from the same seed (`seed`) and the same weights. Each
noise's objective involves only its own sample or class, not a statistic over the forget set, so nothing needs
reducing across processes (learning it shard-locally is fine; nondeterministic GPU kernels could make the copies
differ by round-off, which does not matter).

Deviations from the paper and the authors' notebook (Adam lr 0.1 for 5 x 8 steps on one noise batch of 256 per class,
penalty `0.1 * mean_k sum_j n_kj^2`, impair at lr 0.02 and repair at lr 0.01, each one epoch): the objective of a chunk
of noises is the sum of their `J_k` rather than the mean (Adam is invariant to that scale, up to its `eps`); on raw
audio the sum of squares grows with clip length (`noise_penalty="mean"` makes `lambda` independent of it); one noise
per class instead of a batch of 256 (the same noise is repeated in each impair batch), or one per sample; impair and
repair share one optimizer and learning-rate schedule (the Trainer's linear decay to 0, where the notebook keeps each
phase's rate flat); impair batches hold as many noise rows as retain rows, with the two means summed rather than one
mean over a shuffled mix. The model is in eval mode while the noise is learnt (batch-norm statistics and dropout
untouched), and the impair steps' noise passes leave batch-norm running statistics as they are (see
`forget_bn_update`).

The `unslu` preset takes UnSLU-BENCH's learning rate and length only: its procedure is not UnSLU-BENCH's UNSIR,
which learns a fresh noise per batch (5 Adam steps against the forget logits), trains it with retain labels, runs
|forget| / batch impair steps, and repairs with SGD. Here the procedure above (the UNSIR authors') runs with those
two settings.

Stopping rule: only steps of the repair phase may end a run (`stopping_point`).
"""

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from hf_unlearn.data.collator import LABELS, ROW_INDEX
from hf_unlearn.data.streams import PairedUnlearningDataset
from hf_unlearn.losses import unsir_noise_objective
from hf_unlearn.papers import TARUN_2023
from hf_unlearn.trainer.config import UnlearningConfig, unslu_preset
from hf_unlearn.trainer.trainer import UnlearningTrainer

logger = logging.getLogger(__name__)

NOISE_MODES = ("auto", "per_class", "per_sample")


@dataclass
class UNSIRConfig(UnlearningConfig):
    """UNSIR's hyperparameters.

    Args:
        impair_epochs (`int`, *optional*, defaults to 1):
            Epochs of the impair phase (noise + retain), the first of the run.
        repair_epochs (`int`, *optional*):
            Epochs of the repair phase (retain only), after the impair phase; defaults to `num_train_epochs -
            impair_epochs` (1 with the defaults).
        num_train_epochs (`float`, *optional*, defaults to 2.0):
            Total epochs; must equal `impair_epochs + repair_epochs` when both are given (unless `max_steps > 0`).
        noise_mode (`str`, *optional*, defaults to `"auto"`):
            `"per_class"` (one noise per forget class), `"per_sample"` (one per forget sample) or `"auto"` (per-class
            when no forget label occurs in the retain set, else per-sample).
        noise_learning_rate (`float`, *optional*, defaults to 0.1):
            Adam learning rate of the noise (the authors' notebook).
        noise_steps (`int`, *optional*, defaults to 40):
            Adam steps on each noise (the notebook's 5 epochs x 8 steps).
        noise_l2_weight (`float`, *optional*, defaults to 0.1):
            Weight `lambda` of the noise's norm penalty.
        noise_penalty (`str`, *optional*, defaults to `"sum"`):
            `"sum"`: sum of squares over the noise's positions (the authors' notebook); `"mean"`: mean square.
    """

    impair_epochs: int = field(default=1, metadata={"help": "Epochs of the impair phase (noise + retain)."})
    repair_epochs: int | None = field(
        default=None,
        metadata={"help": "Epochs of the repair phase (retain only); default: num_train_epochs - impair_epochs."},
    )
    num_train_epochs: float = field(
        default=2.0, metadata={"help": "Total epochs (impair_epochs + repair_epochs when both are given)."}
    )
    noise_mode: str = field(default="auto", metadata={"help": f"One of {NOISE_MODES}."})
    noise_learning_rate: float = field(default=0.1, metadata={"help": "Adam learning rate of the noise."})
    noise_steps: int = field(default=40, metadata={"help": "Adam steps on each noise."})
    noise_l2_weight: float = field(default=0.1, metadata={"help": "Weight lambda of the noise's norm penalty."})
    noise_penalty: str = field(default="sum", metadata={"help": "'mean' or 'sum' of squares over positions."})

    PRESETS = {"unslu": unslu_preset(1e-5, num_train_epochs=2)}

    def __post_init__(self):
        super().__post_init__()
        if self.repair_epochs is None:
            derived = self.num_train_epochs - self.impair_epochs
            if self.max_steps <= 0 and (derived < 0 or derived != int(derived)):
                raise ValueError(
                    f"UNSIR's repair phase takes num_train_epochs - impair_epochs = {derived:g} epochs: set "
                    f"num_train_epochs to a whole number of epochs >= impair_epochs ({self.impair_epochs})."
                )
            self.repair_epochs = max(int(derived), 0)
        if self.impair_epochs < 0 or self.repair_epochs < 0 or self.impair_epochs + self.repair_epochs == 0:
            raise ValueError(
                f"impair_epochs={self.impair_epochs} and repair_epochs={self.repair_epochs} must be >= 0, not both 0."
            )
        if self.max_steps <= 0 and self.num_train_epochs != self.impair_epochs + self.repair_epochs:
            raise ValueError(
                f"UNSIR runs impair_epochs + repair_epochs = {self.impair_epochs + self.repair_epochs} epochs, but "
                f"num_train_epochs={self.num_train_epochs}: set num_train_epochs to their sum (or set max_steps)."
            )
        if self.noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode={self.noise_mode!r} is not valid: choose one of {NOISE_MODES}.")
        if self.noise_penalty not in ("mean", "sum"):
            raise ValueError(f"noise_penalty={self.noise_penalty!r} is not valid: choose 'mean' or 'sum'.")
        if self.noise_steps < 0 or not self.noise_learning_rate > 0 or self.noise_l2_weight < 0:
            raise ValueError(
                "noise_steps must be >= 0, noise_learning_rate > 0 and noise_l2_weight >= 0; got "
                f"{self.noise_steps}, {self.noise_learning_rate}, {self.noise_l2_weight}."
            )


class UNSIRTrainer(UnlearningTrainer, method="unsir"):
    config_class = UNSIRConfig
    summary = (
        "UNSIR: learn error-maximising input noise for the forget labels; impair on noise + retain, repair on retain"
    )
    paper = TARUN_2023
    default_epoch_over = "retain"
    stops_in_repair = True  # the stopping rule: forget accuracy climbs back during the repair steps it admits

    noise: torch.Tensor | None = None

    def make_train_dataset(self, forget, retain, args):
        forget_labels = np.asarray(forget[LABELS], dtype=np.int64)
        mode = args.noise_mode
        if mode == "auto":
            shared = set(forget_labels.tolist()) & set(np.asarray(retain[LABELS]).tolist())
            mode = "per_sample" if shared else "per_class"
            logger.info("UNSIR noise_mode='auto' chose %r.", mode)
        self.noise_mode = mode
        if mode == "per_class":
            self.noise_labels, noise_of_row = np.unique(forget_labels, return_inverse=True)
        else:
            self.noise_labels, noise_of_row = forget_labels, np.arange(len(forget_labels))
        self.noise_of_row = torch.as_tensor(noise_of_row, dtype=torch.long)  # forget row -> its noise
        # Kept for the noise's shapes; the impair batches only need each forget row's index and label.
        self._forget_features = forget
        forget_side = forget.select_columns([LABELS]).add_column(ROW_INDEX, np.arange(len(forget)).tolist())
        return PairedUnlearningDataset(
            forget_side.with_format("numpy"),
            retain,
            epoch_over=args.epoch_over or self.default_epoch_over,
            seed=args.pairing_seed,
        )

    # ------------------------------------------------------------------------------------------------ phases
    def is_impair_phase(self) -> bool:
        """True in the first `impair_epochs` epochs. Reads only the trainer state: a resumed run resumes the phase."""
        return (self.state.epoch or 0.0) < self.args.impair_epochs

    def stopping_point(self, step: int, epoch_end: bool) -> bool:
        """Only steps of the repair phase may end a run of the stopping rule (an impaired model is not an end)."""
        return (self.state.epoch or 0.0) > self.args.impair_epochs or self.args.impair_epochs == 0

    def before_optimizer(self) -> None:
        if self.noise is None and self.args.impair_epochs > 0:
            self.noise, self.noise_lengths = self.optimise_noise(*self.initial_noise())

    def method_state(self) -> dict:
        # The noise was learnt from the original weights: a resumed run must reuse it, not learn it from its own.
        return {**super().method_state(), "noise": self.noise, "noise_lengths": getattr(self, "noise_lengths", None)}

    def load_method_state(self, state: dict) -> None:
        super().load_method_state(state)
        self.noise, self.noise_lengths = state.get("noise"), state.get("noise_lengths")
        if self.noise is None:
            self.before_optimizer()

    # ------------------------------------------------------------------------------------------------- noise
    @property
    def _input_name(self) -> str:
        return self.processing_class.model_input_names[0]

    def initial_noise(self) -> tuple[torch.Tensor, torch.Tensor]:
        """`(noise, lengths)`: `N(0, 1)` noise (seeded by `seed`), one per class or sample, shaped like the model input
        of its rows (the longest along the last axis for a class), padded at the end of the last axis with the
        extractor's padding value; `lengths` are the valid lengths."""
        shapes = [np.shape(value) for value in self._forget_features[self._input_name]]
        leading = {shape[:-1] for shape in shapes}
        if len(leading) != 1:
            raise ValueError(f"Forget inputs differ in more than their last axis ({sorted(leading)[:3]}...).")
        lengths = torch.zeros(len(self.noise_labels), dtype=torch.long)
        row_lengths = torch.as_tensor([shape[-1] for shape in shapes], dtype=torch.long)
        lengths.scatter_reduce_(0, self.noise_of_row, row_lengths, reduce="amax")
        generator = torch.Generator().manual_seed(self.args.seed)
        noise = torch.randn((len(lengths), *leading.pop(), int(lengths.max())), generator=generator)
        padding_value = float(getattr(self.processing_class, "padding_value", 0.0))
        noise = torch.where(self._valid(lengths, noise), noise, padding_value)
        return noise, lengths

    @staticmethod
    def _valid(lengths: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Bool mask of the valid (non-padding) positions, broadcastable to `like` (K, ..., L)."""
        positions = torch.arange(like.shape[-1], device=like.device)
        valid = positions < lengths.to(like.device)[:, None]
        return valid.view(valid.shape[0], *([1] * (like.dim() - 2)), valid.shape[1])

    def noise_batch(self, noise: torch.Tensor, lengths: torch.Tensor) -> dict:
        """Model inputs made of `noise` (trimmed to its longest valid length), with an attention mask when the model
        takes one."""
        longest = int(lengths.max())
        noise = noise[..., :longest]
        batch = {self._input_name: noise}
        if "attention_mask" in self._forget_features.column_names:
            positions = torch.arange(longest, device=noise.device)
            batch["attention_mask"] = (positions < lengths.to(noise.device)[:, None]).long()
        return batch

    def noise_losses(self, noise: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Per-noise cross-entropy of the model (eval mode, no gradient) against each noise's forget label."""
        model, was_training = self.model, self.model.training
        model.eval()
        losses = []
        with torch.no_grad():
            for start in range(0, len(noise), self.args.per_device_eval_batch_size):
                chunk = slice(start, start + self.args.per_device_eval_batch_size)
                batch = self.noise_batch(noise[chunk].to(self.args.device), lengths[chunk])
                labels = torch.as_tensor(self.noise_labels[chunk], device=self.args.device)
                losses.append(self.task.per_sample_loss(self.logits(model, batch, "forget"), labels).cpu())
        model.train(was_training)
        return torch.cat(losses)

    def optimise_noise(self, noise: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Runs `noise_steps` Adam steps on each noise, the model frozen (eval mode; gradients only w.r.t. the noise),
        in chunks of `per_device_eval_batch_size` noises. Adam is element-wise and each noise has its own objective,
        so chunking does not change the result. Padding positions get no gradient and stay as they are."""
        model, was_training = self.model, self.model.training
        model.eval()
        learnt = []
        for start in range(0, len(noise), self.args.per_device_eval_batch_size):
            chunk = slice(start, start + self.args.per_device_eval_batch_size)
            values = noise[chunk].to(self.args.device).clone().requires_grad_(True)
            valid = self._valid(lengths[chunk], values)
            labels = torch.as_tensor(self.noise_labels[chunk], device=self.args.device)
            optimizer = torch.optim.Adam([values], lr=self.args.noise_learning_rate)
            for _ in range(self.args.noise_steps):
                logits = self.logits(model, self.noise_batch(values, lengths[chunk]), "forget")
                objective = unsir_noise_objective(
                    self.task.per_sample_loss(logits, labels),
                    values,
                    valid,
                    self.args.noise_l2_weight,
                    self.args.noise_penalty,
                ).sum()
                (gradient,) = torch.autograd.grad(objective, values)
                values.grad = gradient * valid
                optimizer.step()
            learnt.append(values.detach().cpu())
        model.train(was_training)
        return torch.cat(learnt), lengths

    # -------------------------------------------------------------------------------------------------- loss
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        retain = self.mean_loss(model, inputs["retain"], "retain")
        if not self.is_impair_phase():
            self.record_terms(retain=retain)
            return (retain, None) if return_outputs else retain
        forget = inputs["forget"]
        noise_ids = self.noise_of_row[forget[ROW_INDEX].cpu()]
        lengths = self.noise_lengths[noise_ids]
        batch = self.noise_batch(self.noise[noise_ids].to(forget[LABELS].device), lengths)
        noise_loss = self.reduce(self.per_sample_loss(model, {**batch, LABELS: forget[LABELS]}, "forget")[0], "forget")
        self.record_terms(noise=noise_loss, retain=retain)
        loss = self.args.forget_weight * noise_loss + self.args.retain_weight * retain
        return (loss, None) if return_outputs else loss
