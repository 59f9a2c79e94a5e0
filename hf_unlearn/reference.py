"""The reference models of an unlearning evaluation: the original (trained on forget + retain) and the gold model
(retrained on retain only), trained with a plain `transformers.Trainer`, and evaluation of any model on the splits."""

from __future__ import annotations

import json
import os
import tempfile
import time

from hf_unlearn.data.collator import UnlearningCollator
from hf_unlearn.data.features import featurize
from hf_unlearn.evaluation import metrics_from_outputs

REFERENCE_INFO_NAME = "reference_training.json"


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
    extractor and `reference_training.json` (wall time, epochs, rows) to `output_dir`.

    With `eval_dataset` and `early_stopping_patience`, training stops when the validation loss has not improved for
    that many epochs and the best checkpoint is kept (training "to convergence"). Audio rows are featurized here
    (`hf_unlearn.data.featurize`, with `audio_column` and `label_column`). Returns `(model, seconds)`.
    """
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

    train_dataset = featurize(train_dataset, processing_class, audio_column, label_column).with_format("numpy")
    early = eval_dataset is not None and early_stopping_patience is not None
    if eval_dataset is not None:
        eval_dataset = featurize(eval_dataset, processing_class, audio_column, label_column).with_format("numpy")
    with tempfile.TemporaryDirectory() as scratch:
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
            **training_kwargs,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            data_collator=UnlearningCollator(processing_class.model_input_names),
            callbacks=[EarlyStoppingCallback(early_stopping_patience)] if early else None,
        )
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    model = trainer.model
    if trainer.args.should_save:
        model.save_pretrained(output_dir)
        processing_class.save_pretrained(output_dir)
        info = {
            "train_time": seconds,
            "epochs_run": trainer.state.epoch,
            "num_train_rows": len(train_dataset),
            "learning_rate": learning_rate,
            "batch_size": batch_size,
            "seed": seed,
        }
        with open(os.path.join(output_dir, REFERENCE_INFO_NAME), "w") as handle:
            json.dump(info, handle, indent=2)
    return model, seconds


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
