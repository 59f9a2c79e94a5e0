"""`UnlearningTrainer`: a `transformers.Trainer` that trains on forget/retain pairs, one subclass per method.

The one file a method author reads: dispatch (`UnlearningTrainer(method="x")` returns the `XTrainer` of `class
XTrainer(UnlearningTrainer, method="x")`), the hooks, the loss API, `train()`. `compute_loss` gets nested batches
`{"forget": {...}, "retain": {...}}` in training only; evaluation batches are flat (`prediction_step`: an ascent loss
is never negated). Saving and split evaluation are plain functions (`saving`, `split_evaluation`).
"""

from __future__ import annotations

import copy
import os
import time
from contextlib import nullcontext

import torch
from transformers import Trainer
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from hf_unlearn import checks
from hf_unlearn.data.collator import UnlearningCollator
from hf_unlearn.data.streams import PairedUnlearningDataset
from hf_unlearn.evaluation import load_results
from hf_unlearn.hub.audit import AuditLog, unlearning_record
from hf_unlearn.hub.card import card_options
from hf_unlearn.hub.privacy import ForgetRequest
from hf_unlearn.hub.speaker_labels import mark_people_classes
from hf_unlearn.hub.write_targets import check_trainer_write_targets
from hf_unlearn.losses import superloss_curriculum
from hf_unlearn.papers import Paper
from hf_unlearn.peft_utils import adapter_disabled, is_peft_model, prepare_peft_model
from hf_unlearn.tasks import get_task
from hf_unlearn.trainer import registry, saving, sharding
from hf_unlearn.trainer.batchnorm import frozen_batch_norm, recalibrate_batch_norm, row_batches
from hf_unlearn.trainer.config import UnlearningConfig, convert_config
from hf_unlearn.trainer.inputs import LossTerms, RequestFeaturizer
from hf_unlearn.trainer.masks import apply_sharded_masks, install_gradient_masks
from hf_unlearn.trainer.processes import quiet_replica, set_ddp_defaults
from hf_unlearn.trainer.split_evaluation import evaluate_splits
from hf_unlearn.trainer.stopping import install_monitors
from hf_unlearn.trainer.teachers import frozen_teacher


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
        forget_request ([`ForgetSplits`], [`~hf_unlearn.hub.privacy.ForgetRequest`] or `dict`, *optional*): what
            was asked to be forgotten (kind, values, counts). Only its public record (kind, counts, shares, a salted
            digest of the forget-set identifiers; class names for class requests) reaches `unlearning_config.json`
            and the model card; the salt goes to a local receipt (see `hf_unlearn.hub.privacy`).
        stopping_splits (`dict`, *optional*): rows for `args.stop_target`: forget/retain_validation, unseen.
    """

    config_class = UnlearningConfig
    method_key: str | None = None  # the registry key; set by `method="x"` in the class statement
    paper: Paper | None = None  # the method's paper: the methods table and the model card's citation
    summary: str = ""  # one line on what the method does (the methods table)
    supported_tasks: tuple[str, ...] = ("audio-classification",)
    requires_teacher: bool = False
    # The sides the method trains on with its default config; `trains_on(args)` says it for a given config.
    uses_forget: bool = True
    uses_retain: bool = True
    default_epoch_over: str = "forget"
    uses_random_labels: bool = False
    ascends: bool = False  # ascends a loss on the forget set: its guard needs retain rows (hf_unlearn.trainer.guard)
    # Each epoch ends with a pass that repairs the retain set (SCRUB's min pass): the guard judges retain accuracy at
    # epoch ends only, since a max pass is allowed to lower it on the way (hf_unlearn.trainer.guard).
    repairs_each_epoch: bool = False
    # "adapter": runs on a PEFT adapter's parameters (`peft_note` says what changes, if anything); "refuse": raises
    # a ValueError with `peft_note` as the reason.
    peft_support: str = "adapter"
    peft_note: str = ""

    def __init_subclass__(cls, method: str | None = None, aliases: tuple[str, ...] = (), **kwargs):
        super().__init_subclass__(**kwargs)
        if method is not None:
            registry.register(method, cls, tuple(aliases))
            cls.method_key = method

    def __new__(cls, *args, method: str | None = None, **kwargs):
        return super().__new__(registry.dispatch(cls, UnlearningTrainer, args, kwargs, method))

    @classmethod
    def trains_on(cls, args) -> tuple[bool, bool]:
        """`(uses_forget, uses_retain)` under `args`: the class defaults unless the config changes them (NPO)."""
        return cls.uses_forget, cls.uses_retain

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
        stopping_splits=None,
        **kwargs,
    ):
        if model is None:
            raise ValueError("UnlearningTrainer needs the original model: model=<PreTrainedModel>.")
        # Wrapped before anything is built from the model (teacher, optimizer): the adapter is what trains.
        sharding.check_peft_on_sharded_model(model, peft_config)  # FSDP2 shards: no modules_to_save
        model = prepare_peft_model(model, peft_config, type(self))
        checks.check_finite_weights(model)  # a broken original is refused, not unlearned into NaN weights
        args = convert_config(args, self.config_class, self.method_key)
        quiet_replica(args)  # several processes: hf-unlearn's logs and datasets' progress bars from the main one only
        set_ddp_defaults(args, model)  # no DDP search for unused parameters where the model has none
        if args.task not in self.supported_tasks:
            raise ValueError(f"Method {self.method_key!r} supports tasks {self.supported_tasks}, not {args.task!r}.")
        checks.check_launch(args)
        self.original_folder = checks.check_output_dir(model, args.output_dir)  # never written to (`saving`)
        check_trainer_write_targets(model, args)  # writable, with room for the saves: before any work
        self.uses_forget, self.uses_retain = self.trains_on(args)
        self.audit_log = AuditLog(checks.source_folder(model))  # the requests this model already served
        processing_class = processing_class or checks.load_feature_extractor(model)
        # Before any featurizing or training: every method answers a request, so every method gets its checks.
        main_input = processing_class.model_input_names[0]
        self.forget_digest = checks.check_request(
            forget_dataset, retain_dataset, args.audio_column, main_input, self.method_key
        )
        self.retain_digest = checks.set_digest(retain_dataset, args.audio_column, main_input, "retain")  # resume
        self.task = get_task(args.task)
        self._featurize = RequestFeaturizer(processing_class, args, model, self.method_key)
        self.num_labels, self.model_class_names = self._featurize.num_labels, self._featurize.class_names
        forget = self._featurize.side(forget_dataset, "forget") if self.uses_forget else None
        retain = self._featurize.side(retain_dataset, "retain") if self.uses_retain else None
        # The batch-norm recalibration pass reads retain data, also for methods that do not train on it (NG).
        recalibration_needs_retain = args.recalibrate_bn and retain is None
        self.retain_for_bn = self._featurize.side(retain_dataset, "retain") if recalibration_needs_retain else retain
        self.num_forget = len(forget) if forget is not None else len(forget_dataset or [])
        self.num_retain = len(retain) if retain is not None else len(retain_dataset or [])
        # What may be published about the request (kind, counts, salted digest), never who or what (`hub.privacy`).
        self.forget_request = ForgetRequest.coerce(forget_request)
        if self.forget_request.kind == "speaker":
            checks.check_speakers_disjoint(forget_dataset, retain_dataset, args.speaker_column)
        self.forget_request.attach(forget_dataset, args.audio_column, processing_class.model_input_names)
        mark_people_classes(self.forget_request, forget_dataset, args.speaker_column, model.config.id2label)
        super().__init__(
            model=model,
            args=args,
            train_dataset=self.make_train_dataset(forget, retain, args),
            eval_dataset=self._featurize.evaluation(eval_dataset) if eval_dataset is not None else None,
            data_collator=data_collator
            or UnlearningCollator(processing_class.model_input_names, getattr(processing_class, "padding_value", 0.0)),
            processing_class=processing_class,
            callbacks=callbacks,
            optimizers=optimizers,
            **kwargs,
        )
        # Our losses are batch means of per-sample losses: the Trainer must scale them for gradient accumulation.
        self.model_accepts_loss_kwargs = False
        self.original_results = load_results(original_results)
        self.gold_results = load_results(gold_results)
        self.last_eval_results = None  # metrics of the last evaluate() over a dict of splits, unprefixed (model card)
        self.card_options: dict = {}  # model-card options applied at every save (see `create_model_card`)
        self.unlearning_time = None
        self.last_eval_losses = None  # per-sample losses of the last evaluate(), per split (for MIA plots)
        self.loss_terms = LossTerms()  # `record_terms`, logged as `loss/<name>`
        # Running statistics of the curriculum (see `reduce`), per side: plain floats, so a checkpoint can hold them.
        self.curriculum_state: dict[str, dict[str, float]] = {}
        self.gradient_masks, self._gradient_mask_handles = {}, []  # name -> mask; hooks or ShardedGradientMask
        self._optimizer_prepared = False
        self._last_step_begun = self._resume_state = self.last_step_side = None  # side: the stopping rule's phase
        self._pushing = False
        install_monitors(self, (forget, retain), (forget_dataset, retain_dataset), stopping_splits)  # guard, stopping
        # Under PEFT the frozen base with the adapter disabled is the original: no copy (see `teacher_logits`).
        self.teacher_is_disabled_adapter = self.requires_teacher and teacher_model is None and is_peft_model(model)
        self.teacher = frozen_teacher(self, teacher_model) if self.requires_teacher else None

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
            task=self.task,
        )

    def before_optimizer(self) -> None:
        """Runs once per `train()`, model on its device, before the optimizer exists: where a method selects
        parameters (CF-k), sets [`set_gradient_masks`] (SalUn) or learns from the model (UNSIR's noise)."""

    def set_gradient_masks(self, masks: dict[str, torch.Tensor]) -> None:
        """Multiplies the gradient of each named parameter (names of `self.model.named_parameters()`) by its mask
        (same shape; 0 freezes an entry) on every backward pass, before gradients are reduced across processes;
        replaces the previous masks (`{}` lifts them). Masks refuse `weight_decay > 0`, which would still move the
        masked weights (see [`~hf_unlearn.trainer.masks.install_gradient_masks`])."""
        for handle in self._gradient_mask_handles:
            handle.remove()
        self.gradient_masks, self._gradient_mask_handles = install_gradient_masks(
            self.model, masks, self.args.weight_decay, self.method_key
        )

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        # A stream with its own order (whole passes over one side, `PhasedUnlearningDataset`) brings its sampler.
        if hasattr(dataset, "make_sampler"):
            return dataset.make_sampler(self.args)
        return super()._get_train_sampler(train_dataset)

    def on_step_begin(self) -> None:
        """Runs before the first micro-batch of every optimizer step (`self.state.global_step` is the step about to
        be taken): the hook of phase-based methods (UNSIR impair/repair, the reset-perturb rounds). Phases must be a
        function of `self.state` alone, so that resuming a checkpoint resumes the phase. Default: nothing."""

    def stopping_point(self, step: int, epoch_end: bool) -> bool:
        """Whether the weights after step `step` may end a run of the stopping rule (phased methods: repair steps)."""
        return True

    def method_state(self) -> dict:
        """What a checkpoint must hold to resume this method exactly, beyond weights, optimizer, scheduler, RNG and
        the data position (which `Trainer` saves): by default the gradient masks and the curriculum's running
        statistics. Methods that build state in `before_optimizer()` (UNSIR's noise, SalUn's mask, the reset-perturb
        round) extend it: tensors, numbers, strings, lists and dicts. Saved in every checkpoint as safetensors + JSON
        (`hf_unlearn.trainer.saving`), never pickled."""
        return {
            "gradient_masks": {name: mask.detach().cpu() for name, mask in self.gradient_masks.items()},
            "curriculum_state": copy.deepcopy(self.curriculum_state),
        }

    def load_method_state(self, state: dict) -> None:
        """Restores `method_state()` when resuming. Runs *instead of* `before_optimizer()` (whose one-off work, such as
        re-initialising layers, must not be redone on resumed weights), at the same point: before the optimizer."""
        if state.get("gradient_masks"):
            self.set_gradient_masks(state["gradient_masks"])
        if "curriculum_state" in state:
            self.curriculum_state = copy.deepcopy(state["curriculum_state"])

    def create_optimizer(self, model=None):
        if self.optimizer is None and not self._optimizer_prepared:
            if self._resume_state is not None:
                self.load_method_state(self._resume_state)
            else:  # the stopping rule measures the original before a set-up that may change weights (a reset)
                self.stopping is None or self.stopping.measure_original()
                self.before_optimizer()
            self._optimizer_prepared = True
        return super().create_optimizer(model)

    def training_step(self, model, inputs, num_items_in_batch=None):
        if self._last_step_begun != self.state.global_step:
            self._last_step_begun = self.state.global_step
            self.on_step_begin()
        self.last_step_side = next(iter(inputs)) if len(inputs) == 1 else None  # a phased stream's one side
        loss = super().training_step(model, inputs, num_items_in_batch)
        apply_sharded_masks(self._gradient_mask_handles)  # FSDP2-sharded parameters: on `.grad` after backward
        if self.guard is not None:
            self.guard.record_loss(loss)
        return loss

    # ---------------------------------------------------------------------------------------- the loss API
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        raise NotImplementedError(f"{type(self).__name__} must implement compute_loss.")

    def logits(self, model, batch: dict, side: str) -> torch.Tensor:
        """Logits of `model` on `batch`, rows of the `side` set: `"retain"`, or `"forget"` for anything else (forget
        rows, UNSIR's noise, mixed forget + retain batches). A forget-side pass leaves batch-norm running statistics
        untouched unless `args.forget_bn_update` ([`~hf_unlearn.trainer.batchnorm.frozen_batch_norm`]): the one
        mechanism every method goes through, whatever the model."""
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
        self.loss_terms.record(terms)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a training log: add the recorded terms' means over all processes since the last one
            logs.update(self.loss_terms.pop_means(self.accelerator, self.args.device))
        super().log(logs, start_time)

    # ----------------------------------------------------------------------------------- training and saving
    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        start = time.perf_counter()
        self.check_write_path(self.args.output_dir, "output_dir")  # before any step, not at the first checkpoint
        self._optimizer_prepared = False
        self._last_step_begun = None
        # `True` means the last *complete* checkpoint: resolved once here, so that `Trainer` never picks a partial one.
        checkpoint = saving.resolve_checkpoint(resume_from_checkpoint, self.args.output_dir)
        self._resume_state = saving.read_resume_state(self, checkpoint)
        output = super().train(checkpoint, *args, **kwargs)
        if self.args.recalibrate_bn:  # every process passes over the whole retain set: the same statistics on each
            batches = row_batches(self.retain_for_bn, self.args.per_device_train_batch_size, self.data_collator)
            recalibrate_batch_norm(self.model, map(self._prepare_inputs, batches), self.task.logits)
        # Wall time of the unlearning run, the `t_unl` of GUM/CGUM and of the speed-up.
        self.unlearning_time = time.perf_counter() - start
        output.metrics["unlearning_time"] = self.unlearning_time
        return output

    # ------------------------------------------------------------------------------------------------ evaluation
    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        labels = inputs.get("labels")
        with torch.no_grad():
            logits = self.task.logits(model, inputs)
            loss = self.task.per_sample_loss(logits, labels).mean().detach() if labels is not None else None
        return (loss, None, None) if prediction_loss_only else (loss, logits.detach(), labels)

    def evaluate(
        self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval", original_results=None, gold_results=None
    ) -> dict[str, float]:
        """The unlearning metrics (`<prefix>_forget_accuracy`, ..., `<prefix>_mia`, `<prefix>_gum` ...) over a dict of
        splits (`split_evaluation`); a single dataset gives the stock result. Results given here are kept."""
        eval_dataset = self._featurize.evaluation(eval_dataset) if eval_dataset is not None else None
        splits = eval_dataset if eval_dataset is not None else self.eval_dataset
        if not isinstance(splits, dict):
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        self.original_results = load_results(original_results) or self.original_results
        self.gold_results = load_results(gold_results) or self.gold_results
        metrics = evaluate_splits(self, splits, ignore_keys, metric_key_prefix)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    # ------------------------------------------------------------ saving (no write reaches the original's folder)
    def check_write_path(self, folder, what: str = "output folder") -> None:
        checks.check_write_path(folder, getattr(self, "original_folder", None), what)

    def unlearning_record(self) -> dict:
        """What `unlearning_config.json` holds (see [`~hf_unlearn.hub.audit.unlearning_record`])."""
        return unlearning_record(self)

    def _save_checkpoint(self, model, trial):
        self.check_write_path(self._get_output_dir(trial=trial), "output_dir")
        folder = os.path.join(self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
        self.check_write_path(folder, "checkpoint folder")
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            saving.write_checkpoint_state(self, folder)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """`Trainer.save_model`, plus for a final save this run's audit-log line (see `saving.save_final_model`)."""
        self.check_write_path(output_dir if output_dir is not None else self.args.output_dir, "save folder")
        save = lambda: super(UnlearningTrainer, self).save_model(output_dir, _internal_call)  # noqa: E731
        saving.save_final_model(self, output_dir, final=not _internal_call or self._pushing, save=save)

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        self.check_write_path(output_dir, "save folder")
        super()._save(output_dir, state_dict)
        if self.args.should_save:
            saving.write_run_files(self, output_dir, pushing=self._pushing)

    def create_model_card(self, output_dir: str | None = None, **card_arguments) -> None:
        """Writes the unlearning model card (`README.md`, `hf_unlearn.hub.card`) to `output_dir` (default
        `args.output_dir`). The stock arguments (`dataset`, `dataset_tags`, `finetuned_from`, `license`, `language`,
        `tags`) and `dataset_name`, `dataset_id`, `base_model` are kept for every later save and push (see
        [`~hf_unlearn.hub.card.card_options`]); `model_name`, `tasks`, `dataset_args` are ignored."""
        ignored = ("model_name", "tasks", "dataset_args")
        self.card_options.update(card_options(**{k: v for k, v in card_arguments.items() if k not in ignored}))
        if self.is_world_process_zero():
            saving.save_model_card(self, output_dir if output_dir is not None else self.args.output_dir)

    def push_to_hub(self, commit_message: str | None = None, blocking: bool = True, **kwargs):
        """Saves to `args.output_dir` and uploads it to `args.hub_model_id` (never names starting with `_`,
        checkpoints or the salt of the request digest). Other arguments: those of `Trainer.push_to_hub`."""
        self.check_write_path(self.args.output_dir, "output_dir (saved before the push)")
        self._pushing = True  # the internal save writes the audit log and strips local paths (save_model, _save)
        try:
            message = commit_message or f"Unlearning with hf-unlearn ({self.method_key})"
            return super().push_to_hub(commit_message=message, blocking=blocking, **kwargs)
        finally:
            self._pushing = False

    def save_merged_model(self, output_dir: str) -> None:
        """Saves the PEFT model with its adapter merged (`save_model()` saves the adapter alone)."""
        saving.save_merged_model(self, output_dir)

    def save_state(self) -> None:
        self.check_write_path(self.args.output_dir, "output_dir")
        super().save_state()

    def save_metrics(self, split, metrics, combined: bool = True) -> None:
        self.check_write_path(self.args.output_dir, "output_dir")
        super().save_metrics(split, metrics, combined)
