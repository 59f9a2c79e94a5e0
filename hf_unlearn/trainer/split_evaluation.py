"""Evaluation of [`UnlearningTrainer`] (a mixin): flat evaluation batches through the task's loss, and `evaluate()`
over a dict of splits (forget / retain / test ...) turned into unlearning metrics by `hf_unlearn.evaluation`.
Evaluation works in several processes because per-sample outputs come from `predict`, which gathers across ranks."""

from __future__ import annotations

import logging
from numbers import Real

import torch

from hf_unlearn.evaluation import load_results, metrics_from_outputs

logger = logging.getLogger(__name__)


class UnlearningEvaluationMixin:
    """Needs `self.task`, `self.num_labels`, `self.unlearning_time`, `self.original_results`, `self.gold_results` and
    `self._featurize_eval` (set by the trainer); sets `self.last_eval_results` and `self.last_eval_losses`."""

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        labels = inputs.get("labels")
        with torch.no_grad():
            logits = self.task.logits(model, inputs)
            loss = self.task.per_sample_loss(logits, labels).mean().detach() if labels is not None else None
        if prediction_loss_only:
            return loss, None, None
        return loss, logits.detach(), labels

    def evaluate(
        self,
        eval_dataset=None,
        ignore_keys=None,
        metric_key_prefix: str = "eval",
        original_results=None,
        gold_results=None,
    ) -> dict[str, float]:
        """Evaluates on each split of a dict of datasets (forget / retain / test ...) and returns the unlearning
        metrics (`<prefix>_forget_accuracy`, ..., `<prefix>_mia`, `<prefix>_gum` ...). A single dataset gives the
        stock `Trainer.evaluate` result."""
        if eval_dataset is not None:
            eval_dataset = self._featurize_eval(eval_dataset)
        splits = eval_dataset if eval_dataset is not None else self.eval_dataset
        if not isinstance(splits, dict):
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        # Results given here are the run's from now on (unlearning_results.json, the card's rows, the audit log).
        self.original_results = load_results(original_results) or self.original_results
        self.gold_results = load_results(gold_results) or self.gold_results
        outputs = {}
        for name, dataset in splits.items():
            output = self.predict(dataset, ignore_keys=ignore_keys, metric_key_prefix=f"{metric_key_prefix}_{name}")
            outputs[name] = (output.predictions, output.label_ids)
        metrics, self.last_eval_losses = metrics_from_outputs(
            outputs,
            original=self.original_results,
            gold=self.gold_results,
            unlearning_time=self.unlearning_time,
            num_classes=self.num_labels,
        )
        # The card and the results keep an undefined figure as `None` with its reason (a string); the Trainer's
        # logs and return value take numbers only (`log_metrics` formats every value as one).
        self.last_eval_results = {key: float(v) if isinstance(v, Real) else v for key, v in metrics.items()}
        for key, reason in self.last_eval_results.items():
            if key.endswith("_undefined_reason") and reason:
                logger.warning("%s: %s", key.removesuffix("_undefined_reason"), reason)
        numbers = {key: v for key, v in self.last_eval_results.items() if isinstance(v, float)}
        metrics = {f"{metric_key_prefix}_{key}": value for key, value in numbers.items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics
