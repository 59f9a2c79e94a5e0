"""`UnlearningTrainer`: a `transformers.Trainer` that trains on forget/retain pairs, one subclass per method.

Defining `class XTrainer(UnlearningTrainer, method="x")` registers the method; `UnlearningTrainer(method="x", ...)`
then returns an `XTrainer`. Subclasses override `compute_loss`, which receives nested batches
`{"forget": {...}, "retain": {...}}` during training only: evaluation batches are flat and go through
`prediction_step` here, so an ascent loss is never negated at evaluation (see CONVENTIONS.md, "Pitfalls").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import defaultdict

import numpy as np
import torch
from transformers import Trainer

from hf_unlearn.collators import PairedUnlearningDataset, UnlearningCollator, featurize
from hf_unlearn.config import UnlearningConfig, convert_config
from hf_unlearn.registry import get_trainer_class, register
from hf_unlearn.tasks import get_task
from hf_unlearn.teachers import competent_teacher

logger = logging.getLogger(__name__)

UNLEARNING_CONFIG_NAME = "unlearning_config.json"
# TrainingArguments fields worth recording next to a checkpoint (the rest are run plumbing).
RECORDED_TRAINING_FIELDS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "weight_decay",
    "max_grad_norm",
    "optim",
    "lr_scheduler_type",
    "warmup_steps",
    "seed",
)


class UnlearningTrainer(Trainer):
    """Base class of every unlearning method, and the dispatcher `UnlearningTrainer(method="key", ...)`.

    Args:
        model (`PreTrainedModel`): the original (trained) model; it is trained in place, so load a fresh copy.
        args ([`UnlearningConfig`] or the method's config, *optional*): hyperparameters; a plain
            `TrainingArguments`/`UnlearningConfig` is upgraded to the method's config with its paper defaults.
        forget_dataset (`datasets.Dataset`): the samples to forget (audio + label columns, or model inputs + labels).
        retain_dataset (`datasets.Dataset`): the samples to keep.
        eval_dataset (`dict[str, datasets.Dataset]` or `datasets.Dataset`, *optional*): e.g.
            `{"forget": ..., "retain": ..., "test": ...}`; with `forget` and `test`, `evaluate()` adds the MIA.
        processing_class (`FeatureExtractionMixin`, *optional*): the feature extractor; loaded from the model's folder
            when omitted and the model was loaded from a local folder.
        teacher_model (`torch.nn.Module`, *optional*): the frozen original model for teacher-based methods; a frozen
            copy of `model` is made when omitted.
        original_results, gold_results (`dict` or path to a JSON file, *optional*): evaluation results of the original
            and the gold (retrained) model, for GUM/CGUM and the gaps to gold.
        method (`str`, *optional*): the method key, when instantiating `UnlearningTrainer` itself.
    """

    method_key: str | None = None
    config_class = UnlearningConfig
    paper: str = ""
    supported_tasks: tuple[str, ...] = ("audio-classification",)
    requires_teacher: bool = False
    uses_forget: bool = True
    uses_retain: bool = True
    default_epoch_over: str = "forget"
    uses_random_labels: bool = False

    def __init_subclass__(cls, method: str | None = None, aliases: tuple[str, ...] = (), **kwargs):
        super().__init_subclass__(**kwargs)
        if method is not None:
            cls.method_key = method
            register(method, cls, tuple(aliases))

    def __new__(cls, *args, method: str | None = None, **kwargs):
        if method is None:
            method = getattr(kwargs.get("args"), "method", None)
        if cls is UnlearningTrainer:
            if method is None:
                raise ValueError(
                    "UnlearningTrainer needs method=<key> (see hf_unlearn.list_methods()), or use a "
                    "method's trainer class directly, e.g. NegGradPlusTrainer."
                )
            cls = get_trainer_class(method)
        elif method is not None and get_trainer_class(method) is not cls:
            raise ValueError(
                f"{cls.__name__} runs {cls.method_key!r}, not {method!r}: use UnlearningTrainer(method=...)."
            )
        return super().__new__(cls)

    def __init__(
        self,
        model=None,
        args=None,
        forget_dataset=None,
        retain_dataset=None,
        eval_dataset=None,
        processing_class=None,
        data_collator=None,
        teacher_model=None,
        original_results=None,
        gold_results=None,
        callbacks=None,
        optimizers=(None, None),
        method: str | None = None,
        **kwargs,
    ):
        if self.method_key is None:
            raise TypeError("Instantiate UnlearningTrainer with method=<key> or a registered subclass.")
        if model is None:
            raise ValueError("UnlearningTrainer needs the original model: model=<PreTrainedModel>.")
        args = convert_config(args, self.config_class, self.method_key)
        if args.task not in self.supported_tasks:
            raise ValueError(f"Method {self.method_key!r} supports tasks {self.supported_tasks}, not {args.task!r}.")
        self._check_output_dir(model, args)
        processing_class = processing_class or self._load_feature_extractor(model)
        self.task = get_task(args.task)
        self.num_labels = getattr(getattr(model, "config", None), "num_labels", None)

        forget = self._prepare_side(forget_dataset, "forget", processing_class, args) if self.uses_forget else None
        retain = self._prepare_side(retain_dataset, "retain", processing_class, args) if self.uses_retain else None
        if forget is not None and retain is not None:
            self._check_disjoint(forget, retain, processing_class)
        self.num_forget = len(forget) if forget is not None else len(forget_dataset or [])
        self.num_retain = len(retain) if retain is not None else len(retain_dataset or [])
        train_dataset = self.make_train_dataset(forget, retain, args)
        if eval_dataset is not None:
            eval_dataset = self._featurize_eval(eval_dataset, processing_class, args)

        super().__init__(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            data_collator=data_collator
            or UnlearningCollator(processing_class.model_input_names, getattr(processing_class, "padding_value", 0.0)),
            processing_class=processing_class,
            callbacks=callbacks,
            optimizers=optimizers,
            **kwargs,
        )
        # Our losses are batch means of per-sample losses: the Trainer must scale them for gradient accumulation.
        self.model_accepts_loss_kwargs = False
        self.original_results = _load_results(original_results)
        self.gold_results = _load_results(gold_results)
        self.unlearning_time = None
        self.last_eval_losses = None  # per-sample losses of the last evaluate(), per split (for MIA plots)
        self._term_sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), dtype=torch.float64))
        self._term_counts: dict[str, int] = defaultdict(int)
        self.gradient_masks: dict[str, torch.Tensor] = {}
        self._gradient_mask_handles = []
        self._optimizer_prepared = False
        self._last_step_begun = None
        self.teacher = None
        if self.requires_teacher:
            teacher = teacher_model if teacher_model is not None else competent_teacher(self.model)
            self.teacher = self.accelerator.prepare_model(teacher, evaluation_mode=True)

    # ----------------------------------------------------------------------------------------------- checks
    @staticmethod
    def _check_output_dir(model, args) -> None:
        source = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", "")
        if source and os.path.isdir(source) and os.path.realpath(source) == os.path.realpath(args.output_dir):
            raise ValueError(
                f"output_dir {args.output_dir!r} is the original model's folder: unlearning would overwrite the "
                "original checkpoint. Choose another output_dir."
            )

    @staticmethod
    def _load_feature_extractor(model):
        from transformers import AutoFeatureExtractor

        source = getattr(model, "name_or_path", "")
        if source and os.path.isdir(source):
            try:
                return AutoFeatureExtractor.from_pretrained(source)
            except (OSError, ValueError) as error:
                raise ValueError(
                    f"No feature extractor could be loaded from {source!r} ({error}): pass "
                    "processing_class=<the model's feature extractor>."
                ) from error
        raise ValueError(
            "Pass processing_class=<the model's feature extractor> (e.g. AutoFeatureExtractor."
            "from_pretrained(<checkpoint>)): it turns audio into model inputs and is saved with the model."
        )

    def _check_labels(self, dataset, name: str) -> None:
        if self.num_labels is None:
            return
        labels = np.asarray(dataset["labels"])
        bad = labels[(labels < 0) | (labels >= self.num_labels)]
        if bad.size:
            raise ValueError(
                f"The {name} set has labels {sorted(set(bad.tolist()))[:10]} outside the model's "
                f"num_labels={self.num_labels} (ids 0..{self.num_labels - 1}): fix the label mapping or load the "
                "model with the right num_labels / id2label."
            )

    def _featurize_checked(self, dataset, name: str, extractor, args):
        """Model inputs + labels of `dataset` (features computed once), with labels checked against the model."""
        dataset = featurize(
            dataset, extractor, args.audio_column, args.label_column, desc=f"Extracting features ({name})"
        ).with_format("numpy")
        self._check_labels(dataset, name)
        return dataset

    def _prepare_side(self, dataset, name: str, extractor, args):
        if dataset is None:
            raise ValueError(f"Method {self.method_key!r} trains on the {name} set: pass {name}_dataset=<Dataset>.")
        if len(dataset) == 0:
            raise ValueError(f"The {name} set is empty: method {self.method_key!r} needs {name} samples.")
        return self._featurize_checked(dataset, name, extractor, args)

    def _featurize_eval(self, eval_dataset, extractor, args):
        if isinstance(eval_dataset, dict):
            for name, dataset in eval_dataset.items():
                if len(dataset) == 0:
                    raise ValueError(f"The evaluation split {name!r} is empty: drop it or give it samples.")
            return {name: self._featurize_checked(ds, name, extractor, args) for name, ds in eval_dataset.items()}
        return self._featurize_checked(eval_dataset, "eval", extractor, args)

    @staticmethod
    def _row_digests(dataset, input_name: str) -> set[str]:
        column = dataset[input_name]
        return {
            hashlib.sha1(np.ascontiguousarray(np.asarray(row, dtype=np.float32)).tobytes()).hexdigest()
            for row in column
        }

    def _check_disjoint(self, forget, retain, extractor) -> None:
        # Same model input = same recording: a sample cannot be both forgotten and kept.
        input_name = extractor.model_input_names[0]
        shared = self._row_digests(forget, input_name) & self._row_digests(retain, input_name)
        if shared:
            raise ValueError(
                f"{len(shared)} sample(s) appear in both the forget and the retain set: remove them from one side "
                "(hf_unlearn.make_forget_split builds disjoint sets)."
            )

    # ------------------------------------------------------------------------------------------- method hooks
    def make_train_dataset(self, forget, retain, args):
        """The training stream. Default: forget/retain pairs ([`PairedUnlearningDataset`]); a method with another
        stream (e.g. Bad Teaching's mixed forget + retain share) overrides this. `forget`/`retain` are featurized
        datasets, or `None` for a side the method does not use."""
        return PairedUnlearningDataset(
            forget,
            retain,
            epoch_over=args.epoch_over or self.default_epoch_over,
            seed=args.pairing_seed,
            num_labels=self.num_labels if self.uses_random_labels else None,
        )

    def before_optimizer(self) -> None:
        """Runs once per `train()`, with the model on its device, before the optimizer is created: the one place
        where a method selects parameters (`requires_grad_`), sets gradient masks ([`set_gradient_masks`], SalUn) or
        learns something from the model before training (UNSIR's noise). Default: nothing."""

    def set_gradient_masks(self, masks: dict[str, torch.Tensor]) -> None:
        """Multiplies the gradient of each named parameter (names of `self.model.named_parameters()`) by its mask
        (same shape; 0 freezes an entry) on every backward pass, before gradients are reduced across processes.

        With a mask fixed from the first step and no weight decay, Adam/AdamW/SGD never move a masked entry (their
        moments stay zero); weight decay would still shrink it, so masked methods refuse `weight_decay > 0`.
        """
        for handle in self._gradient_mask_handles:
            handle.remove()
        self._gradient_mask_handles = []
        parameters = dict(self.model.named_parameters())
        unknown = sorted(set(masks) - set(parameters))
        if unknown:
            raise ValueError(f"Gradient masks name parameters the model does not have: {unknown[:5]}.")
        if masks and self.args.weight_decay > 0:
            raise ValueError(
                f"Method {self.method_key!r} masks gradients, but weight_decay={self.args.weight_decay} would still "
                "move the masked weights: set weight_decay=0."
            )
        self.gradient_masks = {}
        for name, mask in masks.items():
            parameter = parameters[name]
            if mask.shape != parameter.shape:
                raise ValueError(f"Mask of {name} has shape {tuple(mask.shape)}, parameter {tuple(parameter.shape)}.")
            mask = mask.to(device=parameter.device, dtype=parameter.dtype)
            self.gradient_masks[name] = mask
            self._gradient_mask_handles.append(parameter.register_hook(lambda grad, mask=mask: grad * mask))

    def on_step_begin(self) -> None:
        """Runs before the first micro-batch of every optimizer step (`self.state.global_step` is the step about to
        be taken): the hook of phase-based methods (UNSIR impair/repair, the reset-perturb rounds). Phases must be a
        function of `self.state` alone, so that resuming a checkpoint resumes the phase. Default: nothing."""

    def create_optimizer(self, model=None):
        if self.optimizer is None and not self._optimizer_prepared:
            self.before_optimizer()
            self._optimizer_prepared = True
        return super().create_optimizer(model)

    def training_step(self, model, inputs, num_items_in_batch=None):
        if self._last_step_begun != self.state.global_step:
            self._last_step_begun = self.state.global_step
            self.on_step_begin()
        return super().training_step(model, inputs, num_items_in_batch)

    # ---------------------------------------------------------------------------------------- the loss API
    def per_sample_loss(self, model, batch: dict, labels_key: str = "labels") -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample task loss of `model` on `batch` (against `batch[labels_key]`) and the logits."""
        logits = self.task.logits(model, batch)
        return self.task.per_sample_loss(logits, batch[labels_key]), logits

    @torch.no_grad()
    def teacher_logits(self, batch: dict) -> torch.Tensor:
        """Logits of the frozen teacher on `batch`, without gradients (the one place methods query the teacher)."""
        return self.task.logits(self.teacher, batch)

    def reduce(self, per_sample: torch.Tensor, side: str) -> torch.Tensor:
        """Reduces a per-sample loss of the `side` set to a scalar (the mean; curricula re-weight here)."""
        return per_sample.mean()

    def mean_loss(self, model, batch: dict, side: str, labels_key: str = "labels") -> torch.Tensor:
        """`reduce(per_sample_loss(...))`: the usual batch loss of one side."""
        return self.reduce(self.per_sample_loss(model, batch, labels_key)[0], side)

    def record_terms(self, **terms: torch.Tensor) -> None:
        """Stores loss terms to be logged as `loss/<name>` (averaged since the last log, over all processes)."""
        for name, value in terms.items():
            self._term_sums[name] = self._term_sums[name] + value.detach().double().cpu()
            self._term_counts[name] += 1

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        raise NotImplementedError(f"{type(self).__name__} must implement compute_loss.")

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._term_counts:
            names = sorted(self._term_counts)
            means = torch.stack([self._term_sums[n] / self._term_counts[n] for n in names]).to(self.args.device)
            means = self.accelerator.reduce(means, reduction="mean")
            logs.update({f"loss/{n}": round(float(v), 6) for n, v in zip(names, means.tolist())})
            self._term_sums.clear()
            self._term_counts.clear()
        super().log(logs, start_time)

    # ------------------------------------------------------------------------------------------ evaluation
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
        splits = eval_dataset if eval_dataset is not None else self.eval_dataset
        if not isinstance(splits, dict):
            if eval_dataset is not None:
                eval_dataset = self._featurize_eval(eval_dataset, self.processing_class, self.args)
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        if eval_dataset is not None:
            splits = self._featurize_eval(eval_dataset, self.processing_class, self.args)
        outputs = {}
        for name, dataset in splits.items():
            output = self.predict(dataset, ignore_keys=ignore_keys, metric_key_prefix=f"{metric_key_prefix}_{name}")
            outputs[name] = (output.predictions, output.label_ids)
        metrics, self.last_eval_losses = metrics_from_outputs(
            outputs,
            original=_load_results(original_results) or self.original_results,
            gold=_load_results(gold_results) or self.gold_results,
            unlearning_time=self.unlearning_time,
            num_classes=self.num_labels,
        )
        metrics = {f"{metric_key_prefix}_{key}": float(value) for key, value in metrics.items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    # ----------------------------------------------------------------------------------- training and saving
    def train(self, *args, **kwargs):
        start = time.perf_counter()
        self._optimizer_prepared = False
        self._last_step_begun = None
        output = super().train(*args, **kwargs)
        # Wall time of the unlearning run, the `t_unl` of GUM/CGUM and of the speed-up.
        self.unlearning_time = time.perf_counter() - start
        output.metrics["unlearning_time"] = self.unlearning_time
        return output

    def unlearning_record(self) -> dict:
        """What `unlearning_config.json` holds: the method, its hyperparameters and the request's counts."""
        from hf_unlearn import __version__

        training = {name: getattr(self.args, name) for name in RECORDED_TRAINING_FIELDS}
        return {
            "method": self.method_key,
            "trainer_class": type(self).__name__,
            "paper": self.paper,
            "hf_unlearn_version": __version__,
            "base_model": getattr(self.model, "name_or_path", None) or None,
            "config": _jsonable(self.args.method_fields()),
            "training": _jsonable(training),
            "request": {"num_forget": self.num_forget, "num_retain": self.num_retain},
            "unlearning_time": self.unlearning_time,
        }

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        super()._save(output_dir, state_dict)
        if self.args.should_save:
            output_dir = output_dir if output_dir is not None else self.args.output_dir
            with open(os.path.join(output_dir, UNLEARNING_CONFIG_NAME), "w") as handle:
                json.dump(self.unlearning_record(), handle, indent=2)


def metrics_from_outputs(outputs: dict, original=None, gold=None, unlearning_time=None, num_classes=None):
    """Unlearning metrics from `{split: (logits, labels)}`; returns `(metrics, {split: per-sample losses})`."""
    from hf_unlearn.evaluation import per_sample_cross_entropy, unlearning_metrics

    predictions, labels, losses = {}, {}, {}
    for name, (logits, label_ids) in outputs.items():
        logits, label_ids = np.asarray(logits), np.asarray(label_ids)
        predictions[name] = logits.argmax(-1)
        labels[name] = label_ids
        losses[name] = per_sample_cross_entropy(logits, label_ids)
    metrics = unlearning_metrics(
        predictions,
        labels,
        losses,
        original=original,
        gold=gold,
        unlearning_time=unlearning_time,
        num_classes=num_classes,
    )
    return metrics, losses


def _jsonable(values: dict) -> dict:
    return {
        key: (value if isinstance(value, (int, float, str, bool, type(None), list, dict)) else str(value))
        for key, value in values.items()
    }


def _load_results(results):
    """Results given as a dict, or as a path to a JSON file holding one."""
    if results is None or isinstance(results, dict):
        return results
    with open(results) as handle:
        return json.load(handle)
