"""`UnlearningTrainer`: a `transformers.Trainer` that trains on forget/retain pairs, one subclass per method.

Defining `class XTrainer(UnlearningTrainer, method="x")` registers the method; `UnlearningTrainer(method="x", ...)`
(or a config with `method="x"`) then returns an `XTrainer`. Subclasses override `compute_loss`, which receives nested
batches `{"forget": {...}, "retain": {...}}` during training only: evaluation batches are flat and go through
`prediction_step` (`evaluating`), so an ascent loss is never negated at evaluation.

The trainer hands data to the model and runs the method hooks; registration and dispatch, the loss API, evaluation
and saving are its mixins' (`method_store`, `loss_api`, `evaluating`, `saving`). The rest lives next to what it is
about: input checks (`checks`), the divergence guard (`guard`), the audit log (`audit`), the curriculum (`losses`),
batch-norm statistics (`batchnorm`), the metrics (`evaluation`), teachers (`teachers`) and PEFT (`peft_utils`).
"""

from __future__ import annotations

import copy
import time
from collections import defaultdict

import torch
from transformers import Trainer

from hf_unlearn import checks
from hf_unlearn.data.collator import UnlearningCollator
from hf_unlearn.data.features import featurize, min_clip_samples
from hf_unlearn.data.streams import PairedUnlearningDataset
from hf_unlearn.evaluation import load_results
from hf_unlearn.hub.audit import AuditLog
from hf_unlearn.hub.privacy import ForgetRequest
from hf_unlearn.hub.speaker_labels import mark_people_classes
from hf_unlearn.hub.write_targets import check_trainer_write_targets
from hf_unlearn.papers import Paper
from hf_unlearn.peft_utils import is_peft_model, prepare_peft_model
from hf_unlearn.tasks import get_task
from hf_unlearn.trainer.batchnorm import recalibrate_batch_norm
from hf_unlearn.trainer.config import UnlearningConfig, convert_config
from hf_unlearn.trainer.guard import DivergenceGuard
from hf_unlearn.trainer.loss_api import UnlearningLossMixin
from hf_unlearn.trainer.masks import install_gradient_masks
from hf_unlearn.trainer.method_store import RegisteredMethod
from hf_unlearn.trainer.processes import quiet_replica, set_ddp_defaults
from hf_unlearn.trainer.saving import UnlearningSaveMixin
from hf_unlearn.trainer.split_evaluation import UnlearningEvaluationMixin
from hf_unlearn.trainer.teachers import original_teacher


class UnlearningTrainer(
    RegisteredMethod, UnlearningLossMixin, UnlearningSaveMixin, UnlearningEvaluationMixin, Trainer
):
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
        forget_request ([`ForgetSplits`], [`~hf_unlearn.hub.privacy.ForgetRequest`] or `dict`, *optional*): what was
        asked
            to be forgotten (kind, values, counts). Only its public record (kind, counts, shares, a salted digest of
            the forget-set identifiers; class names for class requests) reaches `unlearning_config.json` and the model
            card; the salt goes to a local receipt (see `hf_unlearn.hub.privacy`).
    """

    config_class = UnlearningConfig
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

    @classmethod
    def trains_on(cls, args) -> tuple[bool, bool]:
        """`(uses_forget, uses_retain)` under the config `args`: the class defaults, unless the config changes them
        (NPO with `use_retain=False` trains on no retain data)."""
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
        **kwargs,
    ):
        if self.method_key is None:
            raise TypeError("Instantiate UnlearningTrainer with method=<key> or a registered subclass.")
        if model is None:
            raise ValueError("UnlearningTrainer needs the original model: model=<PreTrainedModel>.")
        # Wrapped before anything is built from the model (teacher, optimizer): the adapter is what trains.
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
        min_samples = min_clip_samples(processing_class, getattr(model, "config", None))
        self.task = get_task(args.task)
        self.num_labels = getattr(getattr(model, "config", None), "num_labels", None)
        self.model_class_names = checks.model_label_names(model)

        def featurize_checked(dataset, name):  # model inputs + labels (features computed once), labels checked
            checks.check_label_names(dataset, name, args.label_column, self.model_class_names)
            dataset = checks.encode_label_names(dataset, name, args.label_column, self.model_class_names)
            desc = f"Extracting features ({name})"
            dataset = featurize(
                dataset, processing_class, args.audio_column, args.label_column, desc, min_samples, name
            )
            checks.check_labels(dataset, name, self.num_labels)
            return dataset.with_format("numpy")

        self._featurize = featurize_checked
        forget = self._prepare_side(forget_dataset, "forget") if self.uses_forget else None
        retain = self._prepare_side(retain_dataset, "retain") if self.uses_retain else None
        # The batch-norm recalibration pass reads retain data, also for methods that do not train on it (NG).
        recalibration_needs_retain = args.recalibrate_bn and retain is None
        self.retain_for_bn = self._prepare_side(retain_dataset, "retain") if recalibration_needs_retain else retain
        self.num_forget = len(forget) if forget is not None else len(forget_dataset or [])
        self.num_retain = len(retain) if retain is not None else len(retain_dataset or [])
        # What may be published about the request (kind, counts, salted digest), never who or what:
        # hf_unlearn.hub.privacy.
        self.forget_request = ForgetRequest.coerce(forget_request)
        if self.forget_request.kind == "speaker":
            checks.check_speakers_disjoint(forget_dataset, retain_dataset, args.speaker_column)
        self.forget_request.attach(forget_dataset, args.audio_column, processing_class.model_input_names)
        mark_people_classes(self.forget_request, forget_dataset, args.speaker_column, model.config.id2label)
        super().__init__(
            model=model,
            args=args,
            train_dataset=self.make_train_dataset(forget, retain, args),
            eval_dataset=self._featurize_eval(eval_dataset) if eval_dataset is not None else None,
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
        self._term_sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), dtype=torch.float64))
        self._term_counts: dict[str, int] = defaultdict(int)
        # Running statistics of the curriculum (see `reduce`), per side: plain floats, so a checkpoint can hold them.
        self.curriculum_state: dict[str, dict[str, float]] = {}
        self.gradient_masks: dict[str, torch.Tensor] = {}
        self._gradient_mask_handles = []
        self._optimizer_prepared = False
        self._last_step_begun = None
        self._resume_state = None
        self.stop_reason = None  # set when the divergence guard stops the run (hf_unlearn.trainer.guard)
        self.stopped_at_step = None
        self.guard = DivergenceGuard.from_trainer(
            self, forget, retain, forget_dataset, retain_dataset, self._featurize
        )
        if self.guard is not None:
            self.add_callback(self.guard)
        # Under PEFT the frozen base with the adapter disabled is the original: no copy (see `teacher_logits`).
        self.teacher_is_disabled_adapter = self.requires_teacher and teacher_model is None and is_peft_model(model)
        self.teacher = None
        if self.teacher_is_disabled_adapter:
            self.teacher = self.model
        elif self.requires_teacher:
            teacher = original_teacher(self.model, teacher_model)
            self.teacher = self.accelerator.prepare_model(teacher, evaluation_mode=True)

    # ------------------------------------------------------------------------------------------- data hand-off
    def _prepare_side(self, dataset, name: str):
        if dataset is None:
            raise ValueError(f"Method {self.method_key!r} trains on the {name} set: pass {name}_dataset=<Dataset>.")
        if len(dataset) == 0:
            raise ValueError(f"The {name} set is empty: method {self.method_key!r} needs {name} samples.")
        return self._featurize(dataset, name)

    def _featurize_eval(self, eval_dataset):
        if not isinstance(eval_dataset, dict):
            return self._featurize(eval_dataset, "eval")
        for name, dataset in eval_dataset.items():
            if len(dataset) == 0:
                raise ValueError(f"The evaluation split {name!r} is empty: drop it or give it samples.")
        return {name: self._featurize(dataset, name) for name, dataset in eval_dataset.items()}

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
        """Runs once per `train()`, with the model on its device, before the optimizer is created: the one place
        where a method selects parameters (`requires_grad_`, CF-k), sets gradient masks ([`set_gradient_masks`],
        SalUn) or learns something from the model before training (UNSIR's noise). Default: nothing."""

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
        # A stream with its own order (whole passes over one side, `PhasedUnlearningDataset`) brings its sampler.
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if hasattr(dataset, "make_sampler"):
            return dataset.make_sampler(self.args)
        return super()._get_train_sampler(train_dataset)

    def on_step_begin(self) -> None:
        """Runs before the first micro-batch of every optimizer step (`self.state.global_step` is the step about to
        be taken): the hook of phase-based methods (UNSIR impair/repair, the reset-perturb rounds). Phases must be a
        function of `self.state` alone, so that resuming a checkpoint resumes the phase. Default: nothing."""

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
            else:
                self.before_optimizer()
            self._optimizer_prepared = True
        return super().create_optimizer(model)

    def training_step(self, model, inputs, num_items_in_batch=None):
        if self._last_step_begun != self.state.global_step:
            self._last_step_begun = self.state.global_step
            self.on_step_begin()
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.guard is not None:
            self.guard.record_loss(loss)
        return loss

    # ---------------------------------------------------------------------------------------- the loss API
    # (logits, per_sample_loss, teacher_logits, reweight, reduce, mean_loss, record_terms, log: `loss_api`)
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        raise NotImplementedError(f"{type(self).__name__} must implement compute_loss.")

    # (prediction_step and evaluate() over a dict of splits: `evaluating`)

    # ----------------------------------------------------------------------------------- training and saving
    def train(self, *args, **kwargs):
        start = time.perf_counter()
        self._optimizer_prepared = False
        self._last_step_begun = None
        self._resume_state = self._read_resume_state(kwargs.get("resume_from_checkpoint", args[0] if args else None))
        output = super().train(*args, **kwargs)
        if self.args.recalibrate_bn:  # every process passes over the whole retain set: the same statistics on each
            size, rows = self.args.per_device_train_batch_size, self.retain_for_bn
            batches = (
                self.data_collator([dict(rows[i]) for i in range(j, min(j + size, len(rows)))])
                for j in range(0, len(rows), size)
            )
            recalibrate_batch_norm(self.model, map(self._prepare_inputs, batches), self.task.logits)
        # Wall time of the unlearning run, the `t_unl` of GUM/CGUM and of the speed-up.
        self.unlearning_time = time.perf_counter() - start
        output.metrics["unlearning_time"] = self.unlearning_time
        return output
