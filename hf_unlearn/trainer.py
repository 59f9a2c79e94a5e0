"""`UnlearningTrainer`: a `transformers.Trainer` that trains on forget/retain pairs, one subclass per method.

Defining `class XTrainer(UnlearningTrainer, method="x")` registers the method; `UnlearningTrainer(method="x", ...)`
then returns an `XTrainer`. Subclasses override `compute_loss`, which receives nested batches
`{"forget": {...}, "retain": {...}}` during training only: evaluation batches are flat and go through
`prediction_step` here, so an ascent loss is never negated at evaluation (see CONVENTIONS.md, "Pitfalls").
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import time
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import torch
from transformers import Trainer

from hf_unlearn.collators import PairedUnlearningDataset, UnlearningCollator, featurize
from hf_unlearn.config import UnlearningConfig, convert_config
from hf_unlearn.peft_utils import adapter_disabled, is_peft_model, merged_copy, peft_record, prepare_peft_model
from hf_unlearn.privacy import ForgetRequest
from hf_unlearn.registry import get_trainer_class, register
from hf_unlearn.tasks import get_task
from hf_unlearn.teachers import competent_teacher

logger = logging.getLogger(__name__)

UNLEARNING_CONFIG_NAME = "unlearning_config.json"
UNLEARNING_STATE_NAME = "unlearning_state.pt"  # the method's state in each checkpoint (see `method_state`)
UNLEARNING_RESULTS_NAME = "unlearning_results.json"  # last evaluate() of the model, the original and the gold model
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
            copy of `model` is made when omitted (under PEFT: the base model with the adapter disabled, no copy).
        peft_config (`peft.PeftConfig`, *optional*): train a PEFT adapter (e.g. `hf_unlearn.lora_config_for(model)`)
            instead of all weights: `model` is wrapped with `peft.get_peft_model` first. Methods whose meaning needs
            the full weights refuse it (`peft_support = "refuse"`, the reason in `peft_note`).
        original_results, gold_results (`dict` or path to a JSON file, *optional*): evaluation results of the original
            and the gold (retrained) model, for GUM/CGUM and the gaps to gold.
        method (`str`, *optional*): the method key, when instantiating `UnlearningTrainer` itself.
        forget_request ([`ForgetSplits`], [`~hf_unlearn.privacy.ForgetRequest`] or `dict`, *optional*): what was asked
            to be forgotten (kind, values, counts). Only its public record (kind, counts, shares, a salted digest of
            the forget-set identifiers; class names for class requests) reaches `unlearning_config.json` and the model
            card; the salt goes to a local receipt (see `hf_unlearn.privacy`).
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
    ascends: bool = False  # ascends a loss on the forget set (can diverge): guarded by default (hf_unlearn.guard)
    # "adapter": runs on a PEFT adapter's parameters (`peft_note` says what changes, if anything); "refuse": raises
    # a ValueError with `peft_note` as the reason.
    peft_support: str = "adapter"
    peft_note: str = ""

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
        peft_config=None,
        forget_request=None,
        **kwargs,
    ):
        if self.method_key is None:
            raise TypeError("Instantiate UnlearningTrainer with method=<key> or a registered subclass.")
        if model is None:
            raise ValueError("UnlearningTrainer needs the original model: model=<PreTrainedModel>.")
        # Wrapped before anything is built from the model (teacher, optimizer): the adapter is what trains.
        model = prepare_peft_model(model, peft_config, type(self))
        args = convert_config(args, self.config_class, self.method_key)
        if args.task not in self.supported_tasks:
            raise ValueError(f"Method {self.method_key!r} supports tasks {self.supported_tasks}, not {args.task!r}.")
        self._check_output_dir(model, args)
        # The audit log of the requests this model already served (when loaded from an unlearned model's folder).
        from hf_unlearn.audit import new_run_id, read_log

        self._audit_history = read_log(_source_folder(model))
        self._run_id = new_run_id()
        processing_class = processing_class or self._load_feature_extractor(model)
        self.task = get_task(args.task)
        self.num_labels = getattr(getattr(model, "config", None), "num_labels", None)
        self.model_class_names = _model_label_names(model)

        forget = self._prepare_side(forget_dataset, "forget", processing_class, args) if self.uses_forget else None
        retain = self._prepare_side(retain_dataset, "retain", processing_class, args) if self.uses_retain else None
        if forget is not None and retain is not None:
            self._check_disjoint(forget, retain, processing_class)
        self.num_forget = len(forget) if forget is not None else len(forget_dataset or [])
        self.num_retain = len(retain) if retain is not None else len(retain_dataset or [])
        # What may be published about the request (kind, counts, salted digest), never who or what: hf_unlearn.privacy.
        self.forget_request = ForgetRequest.coerce(forget_request)
        if self.forget_request.kind == "speaker":
            _check_speakers_disjoint(forget_dataset, retain_dataset, args.speaker_column)
        self.forget_request.attach(forget_dataset, args.audio_column, processing_class.model_input_names)
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
        self.last_eval_results = None  # metrics of the last evaluate() over a dict of splits, unprefixed (model card)
        self.card_options: dict = {}  # model-card options applied at every save (see `create_model_card`)
        self.unlearning_time = None
        self.last_eval_losses = None  # per-sample losses of the last evaluate(), per split (for MIA plots)
        self._term_sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), dtype=torch.float64))
        self._term_counts: dict[str, int] = defaultdict(int)
        # Running statistics of the curriculum (see `reduce`), per side: plain floats, so a checkpoint can hold them.
        self.curriculum_state: dict[str, dict[str, float]] = {}
        self.gradient_masks: dict[str, torch.Tensor] = {}
        self._gradient_mask_handles = []
        self._optimizer_prepared = False
        self._last_step_begun = None
        self._resume_state = None
        self.stop_reason = None  # set when the divergence guard stops the run (hf_unlearn.guard)
        self.stopped_at_step = None
        self.guard = self._make_guard(forget, retain, forget_dataset, retain_dataset, processing_class)
        if self.guard is not None:
            self.add_callback(self.guard)
        self.teacher = None
        # Under PEFT the frozen base with the adapter disabled is the original: no copy (see `teacher_logits`).
        self.teacher_is_disabled_adapter = bool(
            self.requires_teacher and teacher_model is None and is_peft_model(self.model)
        )
        if self.teacher_is_disabled_adapter:
            self.teacher = self.model
        elif self.requires_teacher:
            teacher = competent_teacher(self.model) if teacher_model is None else _load_teacher(teacher_model)
            if getattr(getattr(teacher, "config", None), "num_labels", self.num_labels) != self.num_labels:
                raise ValueError(
                    f"The teacher has {teacher.config.num_labels} labels but the model {self.num_labels}: the teacher "
                    "must be the original of the model being unlearned."
                )
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

    def _check_label_names(self, dataset, name: str, label_column: str) -> None:
        """A `ClassLabel` column whose names differ from the model's `id2label` would train the wrong classes."""
        from datasets import ClassLabel

        feature = dataset.features.get(label_column) if dataset.features is not None else None
        if not isinstance(feature, ClassLabel) or self.model_class_names is None:
            return
        if list(feature.names) != self.model_class_names:
            raise ValueError(
                f"The {name} set's class names {_preview(feature.names)} do not match the model's id2label "
                f"{_preview(self.model_class_names)}: "
                f"align the dataset with dataset.align_labels_with_mapping(model.config.label2id, {label_column!r}), "
                "or load the model that was trained on these classes."
            )

    def _featurize_checked(self, dataset, name: str, extractor, args):
        """Model inputs + labels of `dataset` (features computed once), with labels checked against the model."""
        self._check_label_names(dataset, name, args.label_column)
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

    def method_state(self) -> dict:
        """What a checkpoint must hold to resume this method exactly, beyond weights, optimizer, scheduler, RNG and
        the data position (which `Trainer` saves): by default the gradient masks and the curriculum's running
        statistics. Methods that build state in `before_optimizer()` (UNSIR's noise, SalUn's mask, the reset-perturb
        round) extend it. Saved as `unlearning_state.pt` in every checkpoint."""
        return {
            "gradient_masks": {name: mask.detach().cpu() for name, mask in self.gradient_masks.items()},
            "curriculum_state": copy.deepcopy(getattr(self, "curriculum_state", {})),
        }

    def load_method_state(self, state: dict) -> None:
        """Restores `method_state()` when resuming. Runs *instead of* `before_optimizer()` (whose one-off work, such as
        re-initialising layers, must not be redone on resumed weights), at the same point: before the optimizer."""
        if state.get("gradient_masks"):
            self.set_gradient_masks(state["gradient_masks"])
        if "curriculum_state" in state and hasattr(self, "curriculum_state"):
            self.curriculum_state = copy.deepcopy(state["curriculum_state"])

    def create_optimizer(self, model=None):
        if self.optimizer is None and not self._optimizer_prepared:
            if self._resume_state is not None:
                self.load_method_state(self._resume_state)
            else:
                self.before_optimizer()
            self._optimizer_prepared = True
        return super().create_optimizer(model)

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

            name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            folder = os.path.join(self._get_output_dir(trial=trial), name)
            torch.save(self.method_state(), os.path.join(folder, UNLEARNING_STATE_NAME))

    def training_step(self, model, inputs, num_items_in_batch=None):
        if self._last_step_begun != self.state.global_step:
            self._last_step_begun = self.state.global_step
            self.on_step_begin()
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.guard is not None:
            self.guard.record_loss(loss)
        return loss

    def _make_guard(self, forget, retain, forget_dataset, retain_dataset, extractor):
        """The divergence guard of this run, or `None` (see `hf_unlearn.guard` and `args.divergence_guard`)."""
        from hf_unlearn.guard import DivergenceGuard, gold_forget_accuracy, monitor_rows

        args = self.args
        gold_forget = gold_forget_accuracy(self.gold_results)
        if args.stop_at_gold and gold_forget is None:
            raise ValueError(
                "stop_at_gold=True needs the gold model's results: pass gold_results=<dict or JSON path> holding "
                "forget_accuracy (e.g. from hf_unlearn.reference.evaluate_model on the gold model)."
            )
        wanted = args.divergence_guard == "always" or (args.divergence_guard == "auto" and self.ascends)
        if not (wanted or args.stop_at_gold):
            return None
        if retain is None and retain_dataset is not None and len(retain_dataset):
            # The method trains without retain data (e.g. NG), but its retain accuracy must still be watched.
            rows = monitor_rows(retain_dataset, args.guard_monitor_size, args.seed)
            retain = self._featurize_checked(rows, "retain monitor", extractor, args)
        if args.stop_at_gold and forget is None:
            rows = monitor_rows(forget_dataset, args.guard_monitor_size, args.seed)
            forget = self._featurize_checked(rows, "forget monitor", extractor, args) if rows is not None else None
            if forget is None:
                raise ValueError("stop_at_gold=True compares forget accuracy with gold's: pass forget_dataset.")
        if retain is None:
            raise ValueError(
                f"The divergence guard of {self.method_key!r} watches retain accuracy: pass retain_dataset=<Dataset> "
                "(it is not trained on by this method), or set divergence_guard='off'."
            )
        return DivergenceGuard(
            self,
            monitor_rows(retain, args.guard_monitor_size, args.seed),
            monitor_rows(forget, args.guard_monitor_size, args.seed) if args.stop_at_gold else None,
            gold_forget if args.stop_at_gold else None,
        )

    # ---------------------------------------------------------------------------------------- the loss API
    def per_sample_loss(self, model, batch: dict, labels_key: str = "labels") -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample task loss of `model` on `batch` (against `batch[labels_key]`) and the logits."""
        logits = self.task.logits(model, batch)
        return self.task.per_sample_loss(logits, batch[labels_key]), logits

    @torch.no_grad()
    def teacher_logits(self, batch: dict) -> torch.Tensor:
        """Logits of the frozen teacher on `batch`, without gradients (the one place methods query the teacher)."""
        if self.teacher_is_disabled_adapter:
            # `self.model` at call time: under FSDP the Trainer replaces it with the wrapped model during training.
            with adapter_disabled(self.model):
                return self.task.logits(self.model, batch)
        return self.task.logits(self.teacher, batch)

    def reduce(self, per_sample: torch.Tensor, side: str) -> torch.Tensor:
        """Reduces a per-sample loss of the `side` set (`"forget"` or `"retain"`) to a scalar: the batch mean, or with
        `args.curriculum="superloss"` (for the sides in `args.curriculum_sides`) the batch mean of the SuperLoss
        `(l_i - tau) * sigma*_i + lambda * (log sigma*_i)^2` ([`~hf_unlearn.losses.superloss`]).

        `tau` is the side's cumulative mean loss over all previous batches of all processes, as MU-Bench's SuperLoss
        (`mode="avg"`; the SuperLoss paper uses `log C` or an exponential moving average); the first batch uses its
        own mean. Each call adds the batch's loss sum and count, summed over processes, to
        `self.curriculum_state[side]` (`{"loss_sum", "count", "tau"}`), so every process uses the same `tau`.
        Deviations from MU-Bench: its running count adds up the confidences rather than the samples (we count
        samples), and it minimises `sigma* * l` instead of the full SuperLoss (same gradient, since `sigma*` and
        `tau` are constants). The update happens once per micro-batch, so gradient accumulation changes `tau`'s path.
        """
        if self.args.curriculum is None or side not in self.args.curriculum_sides:
            return per_sample.mean()
        from hf_unlearn.losses import superloss

        losses = per_sample.detach().float()
        # Global batch statistics: every process must call reduce() the same number of times (it does: once per
        # side per micro-batch), since this is a collective operation.
        batch = torch.stack([losses.sum(), torch.tensor(float(losses.numel()), device=losses.device)])
        batch_sum, batch_count = self.accelerator.reduce(batch, reduction="sum").tolist()
        state = self.curriculum_state.setdefault(side, {"loss_sum": 0.0, "count": 0.0})
        tau = state["loss_sum"] / state["count"] if state["count"] > 0 else batch_sum / max(batch_count, 1.0)
        state["loss_sum"] += batch_sum
        state["count"] += batch_count
        state["tau"] = tau  # the threshold used for this batch, for inspection
        return superloss(per_sample, tau, self.args.superloss_lambda).mean()

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
        self.last_eval_results = {key: float(value) for key, value in metrics.items()}
        metrics = {f"{metric_key_prefix}_{key}": value for key, value in self.last_eval_results.items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    # ----------------------------------------------------------------------------------- training and saving
    def train(self, *args, **kwargs):
        start = time.perf_counter()
        self._optimizer_prepared = False
        self._last_step_begun = None
        self._resume_state = self._read_resume_state(kwargs.get("resume_from_checkpoint", args[0] if args else None))
        output = super().train(*args, **kwargs)
        # Wall time of the unlearning run, the `t_unl` of GUM/CGUM and of the speed-up.
        self.unlearning_time = time.perf_counter() - start
        output.metrics["unlearning_time"] = self.unlearning_time
        return output

    def _read_resume_state(self, checkpoint) -> dict | None:
        """The method state saved in `checkpoint` (a folder, or `True` for the last one in `output_dir`)."""
        if checkpoint is None or checkpoint is False:
            return None
        if checkpoint is True:
            from transformers.trainer_utils import get_last_checkpoint

            checkpoint = get_last_checkpoint(self.args.output_dir)
            if checkpoint is None:
                return None  # Trainer raises its own error for a missing checkpoint
        path = os.path.join(checkpoint, UNLEARNING_STATE_NAME)
        if not os.path.isfile(path):
            raise ValueError(
                f"{checkpoint!r} has no {UNLEARNING_STATE_NAME}: it was not written by an UnlearningTrainer, so the "
                "method's state (phase, masks, noise) cannot be resumed. Resume from a checkpoint of this run."
            )
        return torch.load(path, map_location="cpu", weights_only=False)

    def unlearning_record(self) -> dict:
        """What `unlearning_config.json` holds: the method, its hyperparameters and the request's public record (kind,
        counts, salted digest; see `hf_unlearn.privacy`)."""
        from hf_unlearn import __version__
        from hf_unlearn.card import is_hub_id

        training = {name: getattr(self.args, name) for name in RECORDED_TRAINING_FIELDS}
        base_model = getattr(self.model, "name_or_path", None)
        return {
            "method": self.method_key,
            "trainer_class": type(self).__name__,
            "paper": self.paper,
            "hf_unlearn_version": __version__,
            # A Hub id only: a local path can name the user, or hash the request (the demo's cache folders do).
            "base_model": base_model if is_hub_id(base_model) else None,
            "base_model_is_local": bool(base_model) and not is_hub_id(base_model),
            "config": _jsonable(self.args.method_fields()),
            "training": _jsonable(training),
            "request": self.forget_request.public_record(
                self.num_forget, self.num_retain, getattr(getattr(self.model, "config", None), "id2label", None)
            ),
            "unlearning_time": self.unlearning_time,
            "stop_reason": self.stop_reason,
            "peft": peft_record(self.accelerator.unwrap_model(self.model)),
        }

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Saves the model as `Trainer.save_model` does, plus (for a final save, not a checkpoint) this run's line in
        the audit log `unlearning_log.jsonl` (see `hf_unlearn.audit`)."""
        super().save_model(output_dir, _internal_call)
        if not _internal_call and self.args.should_save:
            from hf_unlearn.audit import make_entry, write_log

            folder = output_dir if output_dir is not None else self.args.output_dir
            write_log(folder, self._audit_history, make_entry(self, self._run_id))

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        super()._save(output_dir, state_dict)
        if self.args.should_save:
            output_dir = output_dir if output_dir is not None else self.args.output_dir
            with open(os.path.join(output_dir, UNLEARNING_CONFIG_NAME), "w") as handle:
                json.dump(self.unlearning_record(), handle, indent=2)
            if self.last_eval_results is not None:
                results = {"method": self.method_key, "unlearned": {**self.last_eval_results}}
                results["unlearned"]["unlearning_time"] = self.unlearning_time
                results.update(original=self.original_results, gold=self.gold_results)
                with open(os.path.join(output_dir, UNLEARNING_RESULTS_NAME), "w") as handle:
                    json.dump(results, handle, indent=2)
            self.create_model_card(output_dir=output_dir)
            receipt = self.forget_request.save_receipt(self.method_key)
            if receipt:
                logger.info("Salt of the forget-request digest kept locally in %s (never pushed).", receipt)

    def create_model_card(
        self,
        language=None,
        license=None,
        tags=None,
        model_name=None,
        finetuned_from=None,
        tasks=None,
        dataset_tags=None,
        dataset=None,
        dataset_args=None,
        output_dir: str | None = None,
        **options,
    ) -> None:
        """Writes the unlearning model card (`README.md`, see `hf_unlearn.card`) to `output_dir` (default
        `args.output_dir`). The stock `Trainer` arguments map to card options: `dataset` (the data's name),
        `dataset_tags` (Hub dataset ids), `finetuned_from` (the base model's Hub id), `license`, `language`, `tags`;
        `options` may also give `dataset_name`, `dataset_id`, `base_model`. Given options are kept in
        `self.card_options` and used by every later save and push. `model_name`, `tasks`, `dataset_args` are ignored
        (the card names the model after its repo and its task is audio classification)."""
        from hf_unlearn.card import MODEL_CARD_NAME, trainer_model_card

        given = dict(language=language, license=license, base_model=finetuned_from, dataset_name=dataset)
        given.update(tags=[tags] if isinstance(tags, str) else tags, dataset_id=dataset_tags, **options)
        self.card_options.update({key: value for key, value in given.items() if value is not None})
        if not self.is_world_process_zero():
            return
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        trainer_model_card(self).save(os.path.join(output_dir, MODEL_CARD_NAME))

    def push_to_hub(self, commit_message: str | None = None, blocking: bool = True, **kwargs):
        """Saves to `args.output_dir` and uploads it to `args.hub_model_id`: the model (or its PEFT adapter), the
        feature extractor, the model card, `unlearning_config.json` and `unlearning_results.json` (plus whatever else
        is in the folder, except names starting with `_` and checkpoints). The Hub validates the card's metadata on
        upload. The salt of the request digest is not in the folder (see `hf_unlearn.privacy`). Other arguments are
        those of `Trainer.push_to_hub` (`token`, `revision`, `private`) and of [`create_model_card`]."""
        commit_message = commit_message or f"Unlearning with hf-unlearn ({self.method_key})"
        return super().push_to_hub(commit_message=commit_message, blocking=blocking, **kwargs)

    def save_merged_model(self, output_dir: str) -> None:
        """Saves the PEFT model with its adapter merged into the weights (`merge_and_unload` on a copy), with the
        feature extractor and `unlearning_config.json`: a plain checkpoint for `from_pretrained` and `pipeline`.
        `save_model()` saves the adapter alone. Only the main process writes."""
        if not self.args.should_save:
            return
        if os.path.isfile(os.path.join(output_dir, "adapter_config.json")):
            raise ValueError(
                f"{output_dir!r} holds a saved adapter: save the merged model to another folder (from_pretrained "
                "would read the adapter config instead of the merged weights)."
            )
        self._check_output_dir(self.model, SimpleNamespace(output_dir=output_dir))
        merged = merged_copy(self.accelerator.unwrap_model(self.model))
        os.makedirs(output_dir, exist_ok=True)
        merged.save_pretrained(output_dir)
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)
        record = self.unlearning_record()
        record["peft"] = {**(record["peft"] or {}), "merged": True}
        with open(os.path.join(output_dir, UNLEARNING_CONFIG_NAME), "w") as handle:
            json.dump(record, handle, indent=2)


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


def _check_speakers_disjoint(forget, retain, column: str) -> None:
    """A speaker request forgets every recording of its speakers: none of them may remain in the retain set."""
    if forget is None or retain is None or column not in forget.column_names or column not in retain.column_names:
        return
    shared = set(map(str, forget[column])) & set(map(str, retain[column]))
    if shared:
        raise ValueError(
            f"{len(shared)} speaker(s) of this speaker request also appear in the retain set (column {column!r}): "
            "move all their recordings to the forget set (hf_unlearn.make_forget_split(by='speaker') does)."
        )


def _source_folder(model) -> str | None:
    """The local folder `model` was loaded from, if any."""
    source = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", "")
    return source if source and os.path.isdir(source) else None


def _preview(names, limit: int = 6) -> str:
    return str(list(names[:limit]))[:-1] + (", ...]" if len(names) > limit else "]")


def _model_label_names(model) -> list[str] | None:
    """The model's class names in id order, or `None` when it has none or only generic `LABEL_i` ones."""
    config = getattr(model, "config", None)
    id2label = getattr(config, "id2label", None) or {}
    names = [str(id2label.get(i, id2label.get(str(i), ""))) for i in range(len(id2label))]
    if not names or all(name == f"LABEL_{i}" for i, name in enumerate(names)):
        return None
    return names


def _load_teacher(teacher):
    """`teacher_model` as given: a model, or a path / Hub id of the original checkpoint, loaded and frozen."""
    from hf_unlearn.teachers import freeze

    if not isinstance(teacher, (str, os.PathLike)):
        return freeze(teacher)
    from transformers import AutoModelForAudioClassification

    try:
        return freeze(AutoModelForAudioClassification.from_pretrained(teacher))
    except (OSError, ValueError) as error:
        raise ValueError(
            f"The teacher (the original model) could not be loaded from {str(teacher)!r}: {error}. Pass "
            "teacher_model=<the original model> or a folder holding its config.json and weights, or leave it out "
            "to use a frozen copy of `model` taken before training."
        ) from error


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
