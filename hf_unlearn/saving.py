"""Saving an unlearning run: checkpoints that hold the method's state, and the final model with what goes with it.

[`UnlearningSaveMixin`] is the saving half of [`~hf_unlearn.UnlearningTrainer`]: every checkpoint gets the method's
state (`unlearning_state.pt`, read back when resuming); the final model gets `unlearning_config.json` (the method, its
paper and hyperparameters, the request's public record), `unlearning_results.json` (the last `evaluate()`), the
model card and this run's line in the audit log. `save_merged_model` writes a PEFT model with its adapter merged, and
`push_to_hub` uploads the saved folder.
"""

from __future__ import annotations

import json
import logging
import os

import torch
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from hf_unlearn.audit import unlearning_record
from hf_unlearn.card import card_options, trainer_model_card
from hf_unlearn.constants import (
    MODEL_CARD_NAME,
    UNLEARNING_CONFIG_NAME,
    UNLEARNING_RESULTS_NAME,
    UNLEARNING_STATE_NAME,
)
from hf_unlearn.peft_utils import save_merged

logger = logging.getLogger(__name__)


class UnlearningSaveMixin:
    """Saving methods of `UnlearningTrainer` (a `transformers.Trainer`), over `Trainer`'s own saving."""

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            folder = os.path.join(
                self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            )
            torch.save(self.method_state(), os.path.join(folder, UNLEARNING_STATE_NAME))

    def _read_resume_state(self, checkpoint) -> dict | None:
        """The method state saved in `checkpoint` (a folder, or `True` for the last one in `output_dir`)."""
        if checkpoint is None or checkpoint is False:
            return None
        if checkpoint is True:
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
        """What `unlearning_config.json` holds (see [`~hf_unlearn.audit.unlearning_record`])."""
        return unlearning_record(self)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Saves the model as `Trainer.save_model` does, plus (for a final save, not a checkpoint) this run's line in
        the audit log `unlearning_log.jsonl` (see `hf_unlearn.audit`)."""
        super().save_model(output_dir, _internal_call)
        if not _internal_call and self.args.should_save:
            self.audit_log.on_save(self, output_dir if output_dir is not None else self.args.output_dir)

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        super()._save(output_dir, state_dict)
        if self.args.should_save:
            output_dir = output_dir if output_dir is not None else self.args.output_dir
            _write_json(os.path.join(output_dir, UNLEARNING_CONFIG_NAME), self.unlearning_record())
            if self.last_eval_results is not None:
                unlearned = {**self.last_eval_results, "unlearning_time": self.unlearning_time}
                results = {"method": self.method_key, "unlearned": unlearned}
                results.update(original=self.original_results, gold=self.gold_results)
                _write_json(os.path.join(output_dir, UNLEARNING_RESULTS_NAME), results)
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
        given = card_options(language, license, tags, finetuned_from, dataset_tags, dataset, **options)
        self.card_options.update(given)
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
        """Saves the PEFT model with its adapter merged into the weights (see [`~hf_unlearn.peft_utils.save_merged`]):
        a plain checkpoint for `from_pretrained` and `pipeline`. `save_model()` saves the adapter alone."""
        save_merged(self, output_dir)


def _write_json(path: str, value) -> None:
    with open(path, "w") as handle:
        json.dump(value, handle, indent=2)
