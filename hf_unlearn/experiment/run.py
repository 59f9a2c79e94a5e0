"""One unlearning request end to end: unlearn a copy of the original, evaluate it next to the original, gold and
shadow models on every split, and return a JSON-able record.

Every model is evaluated on `splits.eval_splits()` (forget, retain-validation as `retain`, test, and `forget_test`
when the request has held-out recordings): accuracy and F1 per split, the MIAs (`mia` against test, `mia_heldout`
against forget_test), KL to gold (`kl_to_gold`, `kl_to_gold_<split>`) when a gold model is at hand, LiRA
(`lira_auc`, `lira_tpr_at_*`) with two or more shadow models, GUM/CGUM (None with the reason when undefined), and the
gaps to gold. Times: the reference models' `train_time` and the unlearning run's time both count the training loop
alone (no evaluation, checkpointing or early-stopping patience epochs).
"""

from __future__ import annotations

import logging
import os
from numbers import Real

import numpy as np

from hf_unlearn.data.features import featurize
from hf_unlearn.evaluation import metrics_from_outputs
from hf_unlearn.evaluation.intervals import binomial_standard_error
from hf_unlearn.evaluation.metric_table import gap_key, metric, metric_keys

from .reference_cache import ReferenceModel, check_reference_agreement, predict_splits

logger = logging.getLogger(__name__)

# The gaps to gold copied to the top of the record (the benchmark's summary and targets read them there).
RECORD_GAPS = metric_keys("forget_accuracy", "test_accuracy", "mia_heldout")
TIME_SHARE = metric("time_share_of_gold").key


def _metrics(outputs: dict, **kwargs) -> tuple[dict, dict]:
    """`metrics_from_outputs` (the trainer's evaluation) with plain floats for the JSON record; returns (metrics,
    losses)."""
    metrics, losses = metrics_from_outputs(outputs, **kwargs)
    return {key: float(v) if isinstance(v, Real) else v for key, v in metrics.items()}, losses


def evaluate_references(references: dict, eval_splits: dict, extractor, audio_column="audio", label_column="label",
                        batch_size: int = 256, use_cpu: bool | None = None) -> dict:  # fmt: skip
    """Evaluates the original, gold and shadow models of `references` (see `reference_models`) on `eval_splits`.

    Returns `{"results": {"original": ..., "gold": ...}, "losses": {...}, "outputs": {kind: {split: (logits,
    labels)}}, "shadow_logits": {split: (K, n, C)} or None, "agreement_warning": str or None}`.
    """

    def outputs_of(reference: ReferenceModel) -> dict:
        model = reference.load()
        features = reference.load_extractor() if reference.own_extractor else extractor
        return predict_splits(model, features, eval_splits, batch_size, use_cpu, audio_column, label_column)

    counts = {f"num_{name}": len(dataset) for name, dataset in eval_splits.items()}
    outputs = {"original": outputs_of(references["original"])}
    if references.get("gold") is not None:
        outputs["gold"] = outputs_of(references["gold"])
    shadow_logits = None
    if len(references.get("shadows") or ()) >= 2:
        per_shadow = [outputs_of(shadow) for shadow in references["shadows"]]
        shadow_logits = {name: np.stack([np.asarray(out[name][0]) for out in per_shadow]) for name in eval_splits}
    gold_logits = {name: np.asarray(value[0]) for name, value in outputs.get("gold", {}).items()} or None
    num_classes = int(np.asarray(next(iter(outputs["original"].values()))[0]).shape[-1])
    results, losses = {}, {}
    if "gold" in outputs:
        results["gold"], losses["gold"] = _metrics(
            outputs["gold"], shadow_logits=shadow_logits, num_classes=num_classes
        )
    results["original"], losses["original"] = _metrics(
        outputs["original"], gold=results.get("gold"), gold_logits=gold_logits, shadow_logits=shadow_logits,
        num_classes=num_classes,
    )  # fmt: skip
    for kind, row in results.items():
        reference = references[kind]
        row.update(counts, num_classes=num_classes, train_time=reference.train_time, reference=reference.info)
    warning = check_reference_agreement(results["original"], results["gold"]) if "gold" in results else None
    return {
        "results": results,
        "losses": losses,
        "outputs": outputs,
        "gold_logits": gold_logits,
        "shadow_logits": shadow_logits,
        "agreement_warning": warning,
    }


def _after_label_removal(trainer, outputs: dict) -> dict:
    """`<split>_accuracy_after_label_removal` when the saved model loses the forgotten classes
    (`remove_forgotten_labels`, `hf_unlearn.hub.speaker_labels`): the accuracy of the saved, smaller head, next to
    the full head's figures (the saved model cannot predict a forgotten class: forget accuracy 0 by construction)."""
    from hf_unlearn.hub.speaker_labels import accuracy_without_labels, forgotten_ids, removes_forgotten_labels

    if not removes_forgotten_labels(trainer):
        return {}
    removed = forgotten_ids(trainer)
    return {
        f"{name}_accuracy_after_label_removal": accuracy_without_labels(logits, labels, removed)
        for name, (logits, labels) in outputs.items()
    }


def stopping_splits(splits) -> dict:
    """The rows the stopping rule (`hf_unlearn.trainer.stopping`) reads for a request, by default: retain-validation
    (utility), forget-validation when the request has it, and as `unseen` rows (the gold-free target) the request's
    held-out speakers when its splits carry them (`unseen_validation`), else retain-validation for class and sample
    requests (held-out recordings the original never trained on). Speaker requests without held-out speakers get no
    `unseen` rows: a seen speaker's held-out recordings are not unseen data for a speaker request."""
    out = {"retain_validation": splits.retain_eval}
    if getattr(splits, "forget_validation", None) is not None and len(splits.forget_validation):
        out["forget_validation"] = splits.forget_validation
    unseen = getattr(splits, "unseen_validation", None)  # speakers held out of all training (the benchmark's design)
    if unseen is None and getattr(splits, "kind", None) in ("class", "sample"):
        unseen = splits.retain_eval
    if unseen is not None:
        out["unseen"] = unseen
    return out


def gold_reference_target(config, splits, evaluation, references, extractor, audio_column="audio",
                          label_column="label", use_cpu=None) -> None:  # fmt: skip
    """Sets a `stop_target="reference"` config's target to the gold model's accuracy and mean true-label probability
    on the request's forget-validation rows (retain-validation rows for a sample request, whose forgotten rows have
    no held-out recordings): rows no model trained on, never the forget or test rows that are reported. Refuses a
    request without a gold model or such rows (give `stop_target_accuracy`, e.g. from a fold-out model)."""
    from hf_unlearn.trainer.stopping import figures_of_logits

    has_validation = getattr(splits, "forget_validation", None) is not None and len(splits.forget_validation) > 0
    name = "forget_validation" if has_validation else ("retain" if splits.kind == "sample" else None)
    if references.get("gold") is None or name is None:
        raise ValueError(
            "stop_target='reference' without stop_target_accuracy takes the gold model's figures on forget-validation "
            "rows: this request has no gold model or no such rows. Pass stop_target_accuracy (e.g. from a fold-out "
            "reference model, hf_unlearn.experiment.fold_out) or use stop_target='unseen'."
        )
    outputs = evaluation["outputs"]["gold"]
    if name not in outputs:  # the recipe's evaluation splits leave forget-validation out: predict it here
        gold = references["gold"]
        features = gold.load_extractor() if gold.own_extractor else extractor
        rows = {name: splits.forget_validation}
        outputs = predict_splits(gold.load(), features, rows, use_cpu=use_cpu, audio_column=audio_column,
                                 label_column=label_column)  # fmt: skip
    logits, labels = outputs[name]
    figures = figures_of_logits(logits, labels)
    config.stop_target_accuracy, config.stop_target_confidence = figures["accuracy"], figures["confidence"]
    rows_name = "forget-validation" if name == "forget_validation" else "retain-validation"
    # The target is a sample of gold's recognition: its standard error is about how far a run that lands exactly on
    # it still is from gold's figure on the forget rows, so the record says how many rows it was read on.
    error = binomial_standard_error(figures["accuracy"], len(labels))
    config.stop_target_source = config.stop_target_source or (
        f"the gold model's figures on {len(labels)} {rows_name} rows (standard error of its accuracy {error:.3f})"
    )


def run_request(method: str, settings, splits, extractor, references: dict, seed: int = 0,
                output_dir: str = "unlearned", *, audio_column: str = "audio", label_column: str = "label",
                use_cpu: bool | None = None, disable_tqdm: bool | None = None, trainer_kwargs: dict | None = None,
                card_options: dict | None = None, save: bool = True, evaluation: dict | None = None,
                return_trainer: bool = False, skip_failed_save: bool = False):  # fmt: skip
    """Unlearns `splits`' forget set from a copy of the original with `method` and evaluates everything.

    Args:
        method (`str`): a registered method key or alias.
        settings (`dict` or `UnlearningConfig`): the method config's fields (e.g. from `method_settings`), or a
            ready config (the recipe's parsed arguments; its `output_dir`, `seed` are used as they are).
        splits (`ForgetSplits`): the request.
        extractor: the (fitted) feature extractor shared by the reference models.
        references (`dict`): `reference_models(...)` output (original, gold or None, shadows).
        seed (`int`), output_dir (`str`): the unlearning run's seed and folder (never the original's folder).
        trainer_kwargs (`dict`, *optional*): more `UnlearningTrainer` arguments (e.g. `peft_config`).
        card_options (`dict`, *optional*): `create_model_card` options (dataset name, tags ...).
        save (`bool`): save the unlearned model, its extractor, config and card to `output_dir`.
        evaluation (`dict`, *optional*): a ready `evaluate_references` result (the benchmark reuses one per request).
        return_trainer (`bool`): return `(record, trainer)` instead of the record alone.
        skip_failed_save (`bool`): a run that stopped as a failure (`hf_unlearn.hub.stopped_runs`) is not saved, with
            a warning, instead of refused with an error (the benchmark: its record still holds `stop_reason`).

    Returns:
        `dict`: `{"method", "settings", "seed", "request", "unlearned", "original", "gold", "unlearning_time",
        "gold_train_time", "time_share_of_gold", "forget_accuracy_minus_gold", "test_accuracy_minus_gold",
        "mia_heldout_minus_gold", "stop_reason", "stopping" (the stopping rule's record, or None), "agreement_warning",
        "losses"}`; `losses` (per-sample losses per model and split, lists) feed the figure and are left out of
        `results.json` by `write_results`.
    """
    from hf_unlearn.methods import get_trainer_class
    from hf_unlearn.trainer.config import UnlearningConfig, launch_use_cpu
    from hf_unlearn.trainer.trainer import UnlearningTrainer

    trainer_class = get_trainer_class(method)
    original = references["original"]
    if os.path.realpath(output_dir) == os.path.realpath(original.path):
        raise ValueError(f"output_dir {output_dir!r} is the original model's folder: choose another folder.")
    if use_cpu is None and isinstance(settings, UnlearningConfig):
        use_cpu = settings.use_cpu  # the ready config's device choice holds for the reference evaluation too
    use_cpu = launch_use_cpu(use_cpu)
    eval_splits = splits.eval_splits()
    evaluation = evaluation or evaluate_references(
        references, eval_splits, extractor, audio_column, label_column, use_cpu=use_cpu
    )
    results = evaluation["results"]
    if isinstance(settings, UnlearningConfig):
        config, recorded = settings, None
    else:
        extra = {"use_cpu": use_cpu} if use_cpu is not None else {}
        config = trainer_class.config_class(
            output_dir=output_dir, seed=seed, disable_tqdm=disable_tqdm, audio_column=audio_column,
            label_column=label_column, **extra, **settings,
        )  # fmt: skip
        recorded = dict(settings)
    if config.stop_target == "reference" and config.stop_target_accuracy is None:
        gold_reference_target(config, splits, evaluation, references, extractor, audio_column, label_column, use_cpu)
    trainer_kwargs = dict(trainer_kwargs or {})
    if config.stop_target is not None and "stopping_splits" not in trainer_kwargs:
        trainer_kwargs["stopping_splits"] = stopping_splits(splits)
    trainer = UnlearningTrainer(
        method=trainer_class.method_key,
        model=original.load(),
        args=config,
        forget_dataset=splits.forget,
        retain_dataset=splits.retain,
        eval_dataset=eval_splits,
        processing_class=extractor,
        original_results=results["original"],
        gold_results=results.get("gold"),
        forget_request=splits,  # published as kind, counts and a salted digest only (hf_unlearn.hub.privacy)
        **trainer_kwargs,
    )
    if card_options:
        trainer.create_model_card(**card_options)
    trainer.train()

    outputs = {}
    for name, dataset in eval_splits.items():
        features = featurize(dataset, extractor, audio_column, label_column, desc=f"Extracting features ({name})")
        prediction = trainer.predict(features.with_format("numpy"), metric_key_prefix=f"eval_{name}")
        outputs[name] = (prediction.predictions, prediction.label_ids)
    unlearned, unlearned_losses = _metrics(
        outputs, original=results["original"], gold=results.get("gold"), unlearning_time=trainer.unlearning_time,
        num_classes=results["original"]["num_classes"], gold_logits=evaluation["gold_logits"],
        shadow_logits=evaluation["shadow_logits"],
    )  # fmt: skip
    unlearned["unlearning_time"] = trainer.unlearning_time
    unlearned.update(_after_label_removal(trainer, outputs))  # speaker ID: what the saved model predicts
    # The card written at save time reads the trainer's last evaluation: give it the full set (KL, LiRA included).
    trainer.last_eval_results, trainer.last_eval_losses = dict(unlearned), unlearned_losses
    trainer.log({f"eval_{key}": value for key, value in unlearned.items() if isinstance(value, float)})
    if save and skip_failed_save and not trainer.args.save_stopped_runs:
        from hf_unlearn.hub.stopped_runs import stopped_run

        stopped = stopped_run(trainer)
        if stopped and stopped["failed"]:
            logger.warning("Not saved (the run stopped as a failure): %s", stopped["reason"])
            save = False
    if save:
        trainer.save_model(output_dir if not isinstance(settings, UnlearningConfig) else None)

    gold, audit = results.get("gold"), trainer.unlearning_record()
    record = {
        "method": trainer_class.method_key,
        "settings": recorded if recorded is not None else {**audit["training"], **audit["config"]},
        "seed": seed if recorded is not None else config.seed,
        "request": splits.summary(),
        "unlearned": unlearned,
        "original": {k: v for k, v in results["original"].items()},
        "gold": gold,
        "unlearning_time": trainer.unlearning_time,
        "gold_train_time": gold.get("train_time") if gold else None,
        TIME_SHARE: unlearned.get(TIME_SHARE),
        **{gap_key(key): unlearned.get(gap_key(key)) for key in RECORD_GAPS},
        "stop_reason": trainer.stop_reason,
        "stopping": trainer.stopping.record() if trainer.stopping is not None else None,
        "peft": audit["peft"],  # the adapter and its trainable share (None: every weight)
        "agreement_warning": evaluation["agreement_warning"],
        "losses": {
            kind: {split: np.asarray(values).tolist() for split, values in split_losses.items()}
            for kind, split_losses in {**evaluation["losses"], trainer_class.method_key: unlearned_losses}.items()
        },
    }
    return (record, trainer) if return_trainer else record
