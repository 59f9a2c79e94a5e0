"""Evaluation of an [`UnlearningTrainer`] over a dict of splits (forget / retain / test ...): per-sample outputs from
`Trainer.predict` (which gathers across processes, so this works in several) turned into unlearning metrics by
`hf_unlearn.evaluation`. A plain function of the trainer, called from its `evaluate()`."""

from __future__ import annotations

import logging
from numbers import Real

from hf_unlearn.evaluation import metrics_from_outputs

logger = logging.getLogger(__name__)


def evaluate_splits(trainer, splits: dict, ignore_keys, metric_key_prefix: str) -> dict[str, float]:
    """The unlearning metrics of `trainer.model` on each featurized split of `splits`, as numbers keyed
    `<prefix>_<metric>`. Sets `trainer.last_eval_results` (every figure, an undefined one as `None` beside its
    reason: the card and the results keep those) and `trainer.last_eval_losses` (per-sample losses per split)."""
    outputs = {}
    for name, dataset in splits.items():
        output = trainer.predict(dataset, ignore_keys=ignore_keys, metric_key_prefix=f"{metric_key_prefix}_{name}")
        outputs[name] = (output.predictions, output.label_ids)
    metrics, trainer.last_eval_losses = metrics_from_outputs(
        outputs,
        original=trainer.original_results,
        gold=trainer.gold_results,
        unlearning_time=trainer.unlearning_time,
        num_classes=trainer.num_labels,
    )
    # The Trainer's logs and return value take numbers only (`log_metrics` formats every value as one).
    trainer.last_eval_results = {key: float(v) if isinstance(v, Real) else v for key, v in metrics.items()}
    for key, reason in trainer.last_eval_results.items():
        if key.endswith("_undefined_reason") and reason:
            logger.warning("%s: %s", key.removesuffix("_undefined_reason"), reason)
    numbers = {key: v for key, v in trainer.last_eval_results.items() if isinstance(v, float)}
    return {f"{metric_key_prefix}_{key}": value for key, value in numbers.items()}
