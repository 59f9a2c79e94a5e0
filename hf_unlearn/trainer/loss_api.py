"""The loss API of [`UnlearningTrainer`] (a mixin): what methods call to get logits, per-sample losses and teacher
outputs, how a per-sample loss is reduced (the curriculum) and how loss terms are recorded for logging. Every forward
pass of a method goes through `logits` (or `teacher_logits`), which keeps batch-norm running statistics out of
forget-side and teacher passes (`hf_unlearn.trainer.batchnorm`)."""

from __future__ import annotations

from contextlib import nullcontext

import torch

from hf_unlearn.losses import superloss_curriculum
from hf_unlearn.peft_utils import adapter_disabled
from hf_unlearn.trainer.batchnorm import frozen_batch_norm


class UnlearningLossMixin:
    """Needs `self.task`, `self.args`, `self.accelerator`, `self.teacher`, `self.teacher_is_disabled_adapter`,
    `self.curriculum_state` and the term accumulators `self._term_sums` / `self._term_counts` (set by the trainer)."""

    def logits(self, model, batch: dict, side: str) -> torch.Tensor:
        """Logits of `model` on `batch`, rows of the `side` set: `"retain"`, or `"forget"` for anything else (forget
        rows, UNSIR's noise, mixed forget + retain batches). A forget-side pass leaves batch-norm running statistics
        untouched unless `args.forget_bn_update` ([`~hf_unlearn.trainer.batchnorm.frozen_batch_norm`]): the one
        mechanism
        every method goes through, whatever the model."""
        frozen = side != "retain" and not self.args.forget_bn_update
        with frozen_batch_norm(model) if frozen else nullcontext():
            return self.task.logits(model, batch)

    def per_sample_loss(self, model, batch: dict, side: str, labels_key: str = "labels"):
        """`(per-sample task loss against batch[labels_key], logits)` of `model` on `batch` of `side` (`logits`)."""
        logits = self.logits(model, batch, side)
        return self.task.per_sample_loss(logits, batch[labels_key]), logits

    @torch.no_grad()
    def teacher_logits(self, batch: dict) -> torch.Tensor:
        """Logits of the frozen teacher on `batch`, without gradients and without touching batch-norm statistics (the
        one place methods query the teacher)."""
        if self.teacher_is_disabled_adapter:
            # `self.model` at call time: under FSDP the Trainer replaces it with the wrapped model during training.
            with adapter_disabled(self.model), frozen_batch_norm(self.model):
                return self.task.logits(self.model, batch)
        with frozen_batch_norm(self.teacher):
            return self.task.logits(self.teacher, batch)

    def reweight(self, per_sample: torch.Tensor, side: str, term: str | None = None) -> torch.Tensor:
        """A per-sample loss of the `side` set as the curriculum weighs it: unchanged, or with
        `args.curriculum="superloss"` (for the sides in `args.curriculum_sides`) the per-sample SuperLoss with a
        running threshold ([`~hf_unlearn.losses.superloss_curriculum`]) whose statistics are kept, summed over
        processes, in `self.curriculum_state[side]` (`"<side>_<term>"` for a named term, e.g. SCRUB's `retain_kl`, so
        that terms of different scales keep their own threshold). The update happens once per call (micro-batch), so
        gradient accumulation changes the threshold's path; every process must make the same calls."""
        if self.args.curriculum is None or side not in self.args.curriculum_sides:
            return per_sample
        state = self.curriculum_state.setdefault(side if term is None else f"{side}_{term}", {})
        global_sum = lambda tensor: self.accelerator.reduce(tensor, reduction="sum")  # noqa: E731
        return superloss_curriculum(per_sample, state, self.args.superloss_lambda, global_sum)

    def reduce(self, per_sample: torch.Tensor, side: str, term: str | None = None) -> torch.Tensor:
        """`reweight(...)`, averaged over the batch: the scalar loss of one term of one side."""
        return self.reweight(per_sample, side, term).mean()

    def mean_loss(self, model, batch: dict, side: str, labels_key: str = "labels") -> torch.Tensor:
        """`reduce(per_sample_loss(...))`: the usual batch loss of one side."""
        return self.reduce(self.per_sample_loss(model, batch, side, labels_key)[0], side)

    def side_loss(self, model, inputs: dict, side: str, labels_key: str = "labels") -> torch.Tensor:
        """`mean_loss` of the `side` rows of a nested batch (`inputs[side]`), recorded as the term `side`."""
        loss = self.mean_loss(model, inputs[side], side, labels_key)
        self.record_terms(**{side: loss})
        return loss

    def record_terms(self, **terms: torch.Tensor) -> None:
        """Stores loss terms to be logged as `loss/<name>` (averaged since the last log, over all processes)."""
        for name, value in terms.items():
            self._term_sums[name] = self._term_sums[name] + value.detach().double().cpu()
            self._term_counts[name] += 1

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Adds the recorded terms (`loss/<name>`, means over all processes since the last log) to the training
        logs."""
        if "loss" in logs and self._term_counts:
            names = sorted(self._term_counts)
            means = torch.stack([self._term_sums[n] / self._term_counts[n] for n in names]).to(self.args.device)
            means = self.accelerator.reduce(means, reduction="mean")
            logs.update({f"loss/{n}": round(float(v), 6) for n, v in zip(names, means.tolist())})
            self._term_sums.clear()
            self._term_counts.clear()
        super().log(logs, start_time)
