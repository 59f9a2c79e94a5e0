"""Loading checkpoints to unlearn from, or to compare with, from the Hugging Face Hub or a local folder.

- [`load_checkpoint`]: an unlearned checkpoint (made by hf-unlearn), or any audio classifier laid out like the
  UnSLU-BENCH ones (`AutoModelForAudioClassification` + its feature extractor, e.g. wav2vec2 / HuBERT / XLS-R with an
  intent `id2label`). A repo holding `adapter_config.json` is a PEFT adapter: its base model is loaded first (from
  `base_model_name_or_path`, or `base_model=`), then the adapter on top. Custom code (`auto_map` in the config) is
  refused unless `trust_remote_code=True` is passed.
- [`read_unlearning_metadata`]: what an unlearned checkpoint says about itself: `unlearning_config.json` (method,
  hyperparameters, the forget request's public record), `unlearning_results.json` and the card's metadata.
- `hf_unlearn.experiment.reference_training.load_gold_model`: a gold model (retrained without the forget set), with the
results `UnlearningTrainer` needs
  as `gold_results=` for GUM/CGUM and the gaps to gold: evaluated on your splits, or read from what the repo publishes.
- [`verify_published_request`]: checks a checkpoint's published request digest against the forget-set identifiers
  and the local salt (see `hf_unlearn.hub.privacy`).

`source` is always a Hub repo id or a local folder; `revision` and `token` are those of `huggingface_hub`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import hf_unlearn.models  # noqa: F401  (registers hf-unlearn's own architectures with the Auto classes)
from hf_unlearn.checks import check_checkpoint_folder
from hf_unlearn.files import MODEL_CARD_NAME, UNLEARNING_CONFIG_NAME, UNLEARNING_RESULTS_NAME
from hf_unlearn.hub.card import is_hub_id, results_from_card
from hf_unlearn.hub.privacy import load_receipt, verify_request_digest

logger = logging.getLogger(__name__)

__all__ = [
    "LoadedCheckpoint",
    "load_checkpoint",
    "read_unlearning_metadata",
    "verify_published_request",
]

ADAPTER_CONFIG_NAME = "adapter_config.json"
CONFIG_NAME = "config.json"
PREPROCESSOR_CONFIG_NAME = "preprocessor_config.json"


@dataclass
class LoadedCheckpoint:
    """A loaded checkpoint and what it says about itself.

    Attributes:
        model (`PreTrainedModel` or `peft.PeftModel`): in eval mode.
        feature_extractor (`FeatureExtractionMixin`): the checkpoint's own, or its base model's.
        source (`str`): the repo id or folder it came from.
        is_adapter (`bool`): a PEFT adapter on top of `base_model`.
        base_model (`str`, *optional*): the base of an adapter.
        unlearning_record (`dict`, *optional*): its `unlearning_config.json` (None for a checkpoint not made by
            hf-unlearn, such as the UnSLU-BENCH ones).
        results (`dict`, *optional*): its metrics (`forget_accuracy`, `test_f1`, `mia`, ..., `train_time`), from
            `unlearning_results.json`, the card's model-index, or an evaluation (`hf_unlearn.load_gold_model`).
        card_data (`dict`, *optional*): the card's YAML metadata.
    """

    model: Any
    feature_extractor: Any
    source: str
    is_adapter: bool = False
    base_model: str | None = None
    unlearning_record: dict | None = None
    results: dict | None = None
    card_data: dict | None = field(default=None, repr=False)


def check_source(source: str) -> None:
    """One clear error for a checkpoint that cannot be loaded from disk, before `from_pretrained` gives its own (a
    Hub-id validation error for a missing folder, a safetensors error for truncated weights): a local folder must
    exist and its weights must be readable. A Hub repo id is left to the Hub client."""
    if os.path.isdir(source):
        check_checkpoint_folder(source, "model")
    elif os.path.exists(source):
        raise ValueError(f"{source!r} is a file, not a model folder: pass the folder holding config.json.")
    elif not is_hub_id(source):
        raise ValueError(
            f"The model folder {source!r} does not exist (and it is not a Hub repo id of the form 'namespace/name'): "
            "check the path."
        )


def _fetch(source: str, filename: str, revision: str | None = None, token=None) -> str | None:
    """Local path of `filename` of `source` (a folder or a repo id, downloaded), or None when it has none."""
    if os.path.isdir(source):
        path = os.path.join(source, filename)
        return path if os.path.isfile(path) else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return hf_hub_download(source, filename, revision=revision, token=token)
    except EntryNotFoundError:
        return None


def read_hub_json(source: str, filename: str, revision=None, token=None) -> dict | None:
    path = _fetch(source, filename, revision, token)
    if path is None:
        return None
    with open(path) as handle:
        return json.load(handle)


def _check_remote_code(source: str, config: dict | None, filename: str, trust_remote_code: bool) -> None:
    auto_map = (config or {}).get("auto_map")
    if auto_map and not trust_remote_code:
        raise ValueError(
            f"{source!r} ships custom code ({filename} has auto_map {sorted(auto_map)}), which would run on this "
            "machine when loaded. Read the code in the repository first; pass trust_remote_code=True to load it."
        )


def read_unlearning_metadata(source: str, revision: str | None = None, token=None) -> dict:
    """What an unlearned checkpoint publishes about itself.

    Returns:
        `dict` with `unlearning_config` (the `unlearning_config.json` record, or None), `results` (the unlearned
        model's metrics: `unlearning_results.json`, else the card's model-index, else None) and `card_data` (the
        card's YAML metadata, or None).
    """
    record = read_hub_json(source, UNLEARNING_CONFIG_NAME, revision, token)
    published = read_hub_json(source, UNLEARNING_RESULTS_NAME, revision, token)
    card_data, card_results = None, None
    card_path = _fetch(source, MODEL_CARD_NAME, revision, token)
    if card_path is not None:
        from huggingface_hub import ModelCard

        card = ModelCard.load(card_path)
        card_data = card.data.to_dict()
        card_results = results_from_card(card) or None
    results = (published or {}).get("unlearned") or card_results
    return {"unlearning_config": record, "results": results, "card_data": card_data}


def load_checkpoint(
    source: str,
    revision: str | None = None,
    token=None,
    trust_remote_code: bool = False,
    base_model: str | None = None,
    merge_adapter: bool = False,
    **model_kwargs,
) -> LoadedCheckpoint:
    """Loads an audio classifier (full checkpoint or PEFT adapter) and its feature extractor by repo id or path.

    Args:
        source (`str`): a Hub repo id (e.g. `"user/wav2vec2-fsc-unlearned"`) or a local folder.
        revision (`str`, *optional*): branch, tag or commit of a Hub repo.
        token (`str` or `bool`, *optional*): Hub token (default: the logged-in one).
        trust_remote_code (`bool`, *optional*, defaults to `False`): allow a repo's custom modelling code to run;
            refused otherwise, with an error naming the files.
        base_model (`str`, *optional*): for an adapter, the base model to load instead of the one its
            `adapter_config.json` names (e.g. when that was a local path on another machine).
        merge_adapter (`bool`, *optional*, defaults to `False`): merge an adapter into the base weights
            (`merge_and_unload`), giving a plain transformers model (for `pipeline`).
        model_kwargs: passed to `AutoModelForAudioClassification.from_pretrained` (e.g. `torch_dtype`).

    Returns:
        [`LoadedCheckpoint`], with the model in eval mode and the checkpoint's unlearning metadata (None when it has
        none).
    """
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    source = os.fspath(source)
    check_source(source)
    hub = {"revision": revision, "token": token}
    adapter_config = read_hub_json(source, ADAPTER_CONFIG_NAME, revision, token)
    metadata = read_unlearning_metadata(source, revision, token)
    if adapter_config is not None:
        base_source = base_model or adapter_config.get("base_model_name_or_path")
        if not base_source:
            raise ValueError(f"The adapter {source!r} names no base model: pass base_model=<repo id or folder>.")
        base = load_checkpoint(base_source, token=token, trust_remote_code=trust_remote_code, **model_kwargs)
        if base.is_adapter:
            raise ValueError(f"The base model {base_source!r} of adapter {source!r} is itself an adapter.")
        from peft import PeftModel

        model = PeftModel.from_pretrained(base.model, source, **{k: v for k, v in hub.items() if v is not None})
        if merge_adapter:
            model = model.merge_and_unload()
        model.eval()
        extractor = base.feature_extractor
        preprocessor = read_hub_json(source, PREPROCESSOR_CONFIG_NAME, revision, token)
        if preprocessor is not None:
            _check_remote_code(source, preprocessor, PREPROCESSOR_CONFIG_NAME, trust_remote_code)
            extractor = AutoFeatureExtractor.from_pretrained(source, trust_remote_code=trust_remote_code, **hub)
        return LoadedCheckpoint(
            model=model,
            feature_extractor=extractor,
            source=source,
            is_adapter=not merge_adapter,
            base_model=base_source,
            unlearning_record=metadata["unlearning_config"],
            results=metadata["results"],
            card_data=metadata["card_data"],
        )

    config = read_hub_json(source, CONFIG_NAME, revision, token)
    if config is None:
        raise ValueError(
            f"{source!r} has neither {CONFIG_NAME} nor {ADAPTER_CONFIG_NAME}: it is not a transformers checkpoint "
            "or a PEFT adapter. Check the repo id / folder (and revision)."
        )
    _check_remote_code(source, config, CONFIG_NAME, trust_remote_code)
    preprocessor = read_hub_json(source, PREPROCESSOR_CONFIG_NAME, revision, token)
    _check_remote_code(source, preprocessor, PREPROCESSOR_CONFIG_NAME, trust_remote_code)
    model = AutoModelForAudioClassification.from_pretrained(
        source, trust_remote_code=trust_remote_code, **hub, **model_kwargs
    )
    model.eval()
    extractor = AutoFeatureExtractor.from_pretrained(source, trust_remote_code=trust_remote_code, **hub)
    return LoadedCheckpoint(
        model=model,
        feature_extractor=extractor,
        source=source,
        unlearning_record=metadata["unlearning_config"],
        results=metadata["results"],
        card_data=metadata["card_data"],
    )


def verify_published_request(
    source: str, identifiers, salt: str | None = None, revision: str | None = None, token=None
) -> bool:
    """Whether the forget-request digest published with `source` is that of `identifiers` under `salt` (default:
    the salt of the local receipt of that digest, see `hf_unlearn.hub.privacy.load_receipt`)."""
    record = read_hub_json(source, UNLEARNING_CONFIG_NAME, revision, token)
    digest = ((record or {}).get("request") or {}).get("digest")
    if digest is None:
        raise ValueError(f"{source!r} publishes no forget-request digest in {UNLEARNING_CONFIG_NAME}.")
    salt = salt if salt is not None else load_receipt(digest)["salt"]
    return verify_request_digest(identifiers, salt, digest)
