"""Training and evaluation primitives of the reference models (original, gold, shadow): a plain
`transformers.Trainer` run with early stopping, its training-loop time, the share of dead ReLU units, and
predictions/metrics of any model on a dict of splits. `hf_unlearn.experiment.reference_cache` caches models trained
with these; the experiment pipeline, the relearning check and the Hub helpers share them."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time

from hf_unlearn.data.collator import UnlearningCollator
from hf_unlearn.data.features import featurize
from hf_unlearn.evaluation import metrics_from_outputs
from hf_unlearn.files import UNLEARNING_RESULTS_NAME
from hf_unlearn.hub.loading import LoadedCheckpoint, load_checkpoint, read_hub_json
from hf_unlearn.trainer.config import accelerator_present, launch_use_cpu

logger = logging.getLogger(__name__)

REFERENCE_INFO_NAME = "reference_training.json"


def _timer_callback():
    """A callback that times each epoch's training steps alone: `on_epoch_end` runs before the Trainer evaluates and
    saves, so per-epoch evaluation and checkpointing are not counted."""
    from transformers import TrainerCallback

    class EpochTimer(TrainerCallback):
        def __init__(self):
            self.epoch_seconds, self._start = [], None

        def on_epoch_begin(self, args, state, control, **kwargs):
            self._start = time.perf_counter()

        def on_epoch_end(self, args, state, control, **kwargs):
            self.epoch_seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def _best_epoch(log_history: list[dict]) -> int | None:
    """The epoch (1-based) of the lowest `eval_loss` in the Trainer's log history, or `None` without evaluations."""
    evaluations = [(entry["eval_loss"], round(entry["epoch"])) for entry in log_history if "eval_loss" in entry]
    return min(evaluations)[1] if evaluations else None


def dead_units_share(model, processing_class, dataset, audio_column="audio", label_column="label", batch_size=256):
    """Share of ReLU units that output zero for every row of `dataset` ("dead": they get no gradient either).

    A unit is a channel of a convolutional ReLU output or a feature of a dense one; every call of every `nn.ReLU`
    module counts separately (one module may serve several layers). Returns `{"dead_units_share", "dead_units",
    "relu_units"}`, or `{}` for a model without `nn.ReLU` modules (e.g. GELU transformers).
    """
    import torch

    relus = [module for module in model.modules() if isinstance(module, torch.nn.ReLU)]
    if not relus:
        return {}
    alive: dict[tuple[int, int], torch.Tensor] = {}
    calls: dict[int, int] = {}

    def hook(module, inputs, output):
        index = calls.get(id(module), 0)
        calls[id(module)] = index + 1
        fired = (output > 0).transpose(0, 1).reshape(output.shape[1], -1).any(dim=1).cpu()
        key = (id(module), index)
        alive[key] = fired if key not in alive else alive[key] | fired

    handles = [module.register_forward_hook(hook) for module in relus]
    features = featurize(dataset, processing_class, audio_column, label_column).with_format("numpy")
    collate = UnlearningCollator(processing_class.model_input_names)
    was_training, device = model.training, next(model.parameters()).device
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(features), batch_size):
                batch = collate([features[i] for i in range(start, min(start + batch_size, len(features)))])
                batch.pop("labels", None)
                calls.clear()
                model(**{key: value.to(device) for key, value in batch.items()})
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    units = sum(int(fired.numel()) for fired in alive.values())
    dead = sum(int((~fired).sum()) for fired in alive.values())
    return {"dead_units_share": dead / units if units else 0.0, "dead_units": dead, "relu_units": units}


def train_classifier(
    model,
    processing_class,
    train_dataset,
    output_dir: str,
    num_train_epochs: float = 30,
    learning_rate: float = 3e-3,
    batch_size: int = 32,
    seed: int = 0,
    eval_dataset=None,
    early_stopping_patience: int | None = None,
    disable_tqdm: bool | None = None,
    audio_column: str = "audio",
    label_column: str = "label",
    **training_kwargs,
):
    """Trains `model` on `train_dataset` (audio + label rows, or featurized rows) and saves it with its feature
    extractor and `reference_training.json` to `output_dir`. Returns `(model, info)`.

    With `eval_dataset` and `early_stopping_patience`, training stops when the validation loss has not improved for
    that many epochs and the best epoch's weights are kept. `training_kwargs` are further `TrainingArguments`
    (`weight_decay`, `warmup_steps`, `lr_scheduler_type`, `use_cpu` ...). Every process of a distributed launch must
    call this with the same `output_dir`: checkpoints go to the shared scratch folder `<output_dir>.scratch`, the main
    process writes `output_dir`, and all processes leave together.

    `info` (also in `reference_training.json`): `train_time`, the seconds of the training steps of the epochs up to
    and including the best one (per-epoch evaluation, checkpointing and the early-stopping patience epochs are not
    counted, so that it compares with an unlearning run's time), `train_time_all_epochs`, `epochs_run`,
    `best_epoch`, `num_train_rows`, the training settings, and the share of dead ReLU units on the training rows
    (`dead_units_share`, see `dead_units_share`).
    """
    from accelerate import PartialState
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

    train_dataset = featurize(train_dataset, processing_class, audio_column, label_column).with_format("numpy")
    early = eval_dataset is not None and early_stopping_patience is not None
    if eval_dataset is not None:
        eval_dataset = featurize(eval_dataset, processing_class, audio_column, label_column).with_format("numpy")
    scratch = output_dir.rstrip("/") + ".scratch"
    use_cpu = launch_use_cpu(training_kwargs.pop("use_cpu", None))
    if use_cpu is not None:
        training_kwargs["use_cpu"] = use_cpu
    args = TrainingArguments(
        output_dir=scratch,
        num_train_epochs=num_train_epochs,
        learning_rate=learning_rate,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=max(batch_size, 64),
        seed=seed,
        report_to="none",
        remove_unused_columns=False,
        logging_strategy="epoch",
        eval_strategy="epoch" if early else "no",
        save_strategy="epoch" if early else "no",
        save_total_limit=1 if early else None,
        load_best_model_at_end=early,
        metric_for_best_model="eval_loss" if early else None,
        disable_tqdm=disable_tqdm,
        **{"dataloader_pin_memory": accelerator_present(training_kwargs.get("use_cpu")), **training_kwargs},
    )
    timer = _timer_callback()
    callbacks = [timer] + ([EarlyStoppingCallback(early_stopping_patience)] if early else [])
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=UnlearningCollator(processing_class.model_input_names),
        callbacks=callbacks,
    )
    trainer.train()
    model = trainer.model
    best_epoch = _best_epoch(trainer.state.log_history) if early else None
    seconds = timer.epoch_seconds
    info = {
        "train_time": sum(seconds[:best_epoch] if best_epoch else seconds),
        "train_time_all_epochs": sum(seconds),
        "epochs_run": len(seconds),
        "best_epoch": best_epoch or len(seconds),
        "num_train_rows": len(train_dataset),
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "num_train_epochs": num_train_epochs,
        "early_stopping_patience": early_stopping_patience if early else None,
        "seed": seed,
        **{key: value for key, value in training_kwargs.items() if isinstance(value, (int, float, str, bool))},
        **dead_units_share(model, processing_class, train_dataset),
    }
    if trainer.args.should_save:
        os.makedirs(output_dir, exist_ok=True)
        model.save_pretrained(output_dir)
        processing_class.save_pretrained(output_dir)
        with open(os.path.join(output_dir, REFERENCE_INFO_NAME), "w") as handle:
            json.dump(info, handle, indent=2)
    PartialState().wait_for_everyone()
    if trainer.args.should_save:
        shutil.rmtree(scratch, ignore_errors=True)
    return model, info


def predict_splits(
    model,
    processing_class,
    splits: dict,
    batch_size: int = 64,
    use_cpu: bool | None = None,
    audio_column: str = "audio",
    label_column: str = "label",
) -> dict:
    """`{split: (logits, labels)}` for every split (audio or featurized rows), through `Trainer.predict` (gathered
    across processes)."""
    from transformers import Trainer, TrainingArguments

    use_cpu = launch_use_cpu(use_cpu)
    extra = {} if use_cpu is None else {"use_cpu": use_cpu}
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(
            model=model,
            args=TrainingArguments(
                output_dir=scratch,
                per_device_eval_batch_size=batch_size,
                report_to="none",
                remove_unused_columns=False,
                disable_tqdm=True,
                dataloader_pin_memory=accelerator_present(use_cpu),
                **extra,
            ),
            data_collator=UnlearningCollator(processing_class.model_input_names),
        )
        outputs = {}
        for name, dataset in splits.items():
            features = featurize(
                dataset, processing_class, audio_column, label_column, desc=f"Extracting features ({name})"
            )
            output = trainer.predict(features.with_format("numpy"))
            outputs[name] = (output.predictions, output.label_ids)
    return outputs


def evaluate_model(
    model,
    processing_class,
    splits: dict,
    original=None,
    gold=None,
    unlearning_time=None,
    batch_size: int = 64,
    use_cpu: bool | None = None,
    audio_column: str = "audio",
    label_column: str = "label",
) -> tuple[dict, dict]:
    """Unlearning metrics of `model` on `splits` (see `hf_unlearn.evaluation.unlearning_metrics`) and the per-sample
    losses per split. Works for the original and gold models as well as unlearned ones."""
    outputs = predict_splits(model, processing_class, splits, batch_size, use_cpu, audio_column, label_column)
    num_classes = getattr(getattr(model, "config", None), "num_labels", None)
    return metrics_from_outputs(
        outputs, original=original, gold=gold, unlearning_time=unlearning_time, num_classes=num_classes
    )


def load_gold_model(
    source: str,
    eval_dataset: dict | None = None,
    train_time: float | None = None,
    revision: str | None = None,
    token=None,
    trust_remote_code: bool = False,
    use_cpu: bool | None = None,
    batch_size: int = 64,
) -> LoadedCheckpoint:
    """Loads a gold model (retrained without the forget set) as the reference of GUM/CGUM and of the gaps to gold.

    Args:
        source (`str`): repo id or folder of the gold model.
        eval_dataset (`dict[str, datasets.Dataset]`, *optional*): the same splits the unlearned model is evaluated
            on (`{"forget": ..., "retain": ..., "test": ...}`). The gold model is evaluated on them, which is the
            comparison GUM assumes. Without them, the results the repo publishes are used
            (`unlearning_results.json`, else the card's model-index), which are only comparable on the same splits.
        train_time (`float`, *optional*): seconds the gold model took to train (GUM's time term). Default: the repo's
            `reference_training.json` (written by `hf_unlearn.experiment.reference_training.train_classifier`), else
            its results.
        revision, token, trust_remote_code: as in [`~hf_unlearn.hub.loading.load_checkpoint`].
        use_cpu (`bool`, *optional*), batch_size (`int`, *optional*, defaults to 64): of the evaluation.

    Returns:
        [`LoadedCheckpoint`] whose `results` is the `gold_results=` of `UnlearningTrainer`.
    """
    checkpoint = load_checkpoint(source, revision=revision, token=token, trust_remote_code=trust_remote_code)
    if eval_dataset is not None:
        results, _ = evaluate_model(
            checkpoint.model, checkpoint.feature_extractor, eval_dataset, batch_size=batch_size, use_cpu=use_cpu
        )
    else:
        results = dict(checkpoint.results or {})
        if not results:
            raise ValueError(
                f"{source!r} publishes no results (no {UNLEARNING_RESULTS_NAME}, no model-index): pass "
                "eval_dataset=<the evaluation splits> to evaluate the gold model."
            )
    if train_time is None:
        info = read_hub_json(source, REFERENCE_INFO_NAME, revision, token) or {}
        train_time = info.get("train_time", results.get("train_time"))
    if train_time is None:
        logger.warning("No training time for the gold model %r: GUM, CGUM and the speed-up need train_time=.", source)
    else:
        results["train_time"] = float(train_time)
    checkpoint.results = results
    return checkpoint
