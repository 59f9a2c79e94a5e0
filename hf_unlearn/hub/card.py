"""Model cards for unlearned checkpoints, rendered with `huggingface_hub.ModelCard` from `templates/model_card.md`.

The card's YAML metadata follows the Hub's model-card specification, so the Hub indexes the checkpoint:

- `library_name`: `"transformers"` for a full model and `"peft"` for an adapter, not `"hf-unlearn"`. The Hub uses
  `library_name` to show how to load a model and to filter by loading library; the checkpoint loads with
  `transformers` (or `peft`), and hf-unlearn is not a loading library the Hub knows. hf-unlearn is marked by the
  `hf-unlearn` and `machine-unlearning` tags instead.
- `base_model`: the original model when it is a Hub id (a local folder is named in the text only).
- `model-index`: the unlearned model's accuracy and macro-F1 on the forget, retain and test splits, the MIA accuracy,
  and GUM / CGUM when a gold model was given, with the values of the run (rounded to 4 decimals).

Nothing about the identity of the forget set reaches the card: it gets the request's public record
([`hf_unlearn.hub.privacy.ForgetRequest.public_record`]) only.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
import sys

from hf_unlearn.evaluation import results_table
from hf_unlearn.evaluation.intervals import run_interval_lines
from hf_unlearn.evaluation.metric_table import card_metrics
from hf_unlearn.files import RECORDED_TRAINING_FIELDS
from hf_unlearn.hub.outcome import outcome_sentence
from hf_unlearn.hub.stopped_runs import stopped_run
from hf_unlearn.papers import UNSLU_BENCH, Paper
from hf_unlearn.peft_utils import is_peft_model as _is_peft_model
from hf_unlearn.version import __version__

TEMPLATE_PATH = os.path.join(os.path.dirname(__file__), "templates", "model_card.md")
# Metrics published in the card's model-index: (key in the results, split, metric type, readable name), from the
# metric table.
CARD_METRICS = tuple((spec.key, spec.split, spec.card_type, spec.card_name) for spec in card_metrics())
CARD_DECIMALS = 4
# Fields never worth a line in the card (plumbing, or recorded elsewhere).
_SKIPPED_FIELDS = {"method", "audio_column", "label_column"}


def _versions(is_adapter: bool = False) -> dict[str, str]:
    import datasets
    import huggingface_hub
    import torch
    import transformers

    versions = {
        "hf-unlearn": __version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "datasets": datasets.__version__,
        "huggingface_hub": huggingface_hub.__version__,
    }
    if is_adapter:
        import peft

        versions["peft"] = peft.__version__
    return versions


def _plain(value):
    """Enum members (TrainingArguments turns `optim` into one) as their values, for the card and comparisons."""
    return value.value if isinstance(value, enum.Enum) else value


def is_hub_id(name: str | None) -> bool:
    """Whether `name` looks like a Hub repo id (`namespace/name` or `name`) and is not a local folder."""
    return bool(name) and not os.path.exists(name) and re.fullmatch(r"[\w.\-]+(/[\w.\-]+)?", name) is not None


def non_default_hyperparameters(args, fields=None) -> dict:
    """The unlearning hyperparameters of `args` (method fields + recorded training fields) that differ from the
    defaults of its config class."""
    defaults = {}
    for spec in dataclasses.fields(type(args)):
        if spec.default is not dataclasses.MISSING:
            defaults[spec.name] = spec.default
        elif spec.default_factory is not dataclasses.MISSING:
            defaults[spec.name] = spec.default_factory()
    names = list(fields) if fields is not None else [*args.method_fields(), *RECORDED_TRAINING_FIELDS]
    changed = {}
    for name in names:
        if name in _SKIPPED_FIELDS or not hasattr(args, name):
            continue
        value = _plain(getattr(args, name))
        if name not in defaults or value != _plain(defaults[name]):
            changed[name] = value
    return changed


def eval_results(results: dict, dataset_name: str, dataset_id: str | None = None) -> list:
    """`huggingface_hub.EvalResult`s of the card's model-index, one per metric of [`CARD_METRICS`] present."""
    from huggingface_hub import EvalResult

    # The model-index needs a dataset type: the Hub id when there is one, else the name exactly as given.
    dataset_type = dataset_id or dataset_name
    rows = []
    for key, split, metric_type, name in CARD_METRICS:
        value = results.get(key)
        if value is None:
            continue
        rows.append(
            EvalResult(
                task_type="audio-classification",
                task_name="Audio classification after unlearning",
                dataset_type=dataset_type,
                dataset_name=dataset_name,
                dataset_split=split,
                metric_type=metric_type,
                metric_name=name,
                metric_value=round(float(value), CARD_DECIMALS) + 0.0,  # + 0.0: no "-0.0" in the card
                metric_args={"average": "macro"} if metric_type == "f1" else None,
            )
        )
    return rows


def results_from_card(card) -> dict:
    """The metrics of a card's model-index as a results dict (`test_accuracy`, `forget_f1`, `mia`, ...): the inverse of
    [`eval_results`], also usable on cards not made by hf-unlearn (keys `<split>_<metric type>` for accuracy/F1)."""
    keys = {(split, metric_type): key for key, split, metric_type, _ in CARD_METRICS}
    results = {}
    for result in getattr(card.data, "eval_results", None) or []:
        key = keys.get((result.dataset_split, result.metric_type))
        if key is None and result.metric_type in ("accuracy", "f1") and result.dataset_split:
            key = f"{result.dataset_split}_{result.metric_type}"
        if key is not None and isinstance(result.metric_value, (int, float)):
            results[key] = float(result.metric_value)
    return results


def quick_start(model_id: str, is_adapter: bool = False, needs_hf_unlearn: bool = False) -> str:
    """The quick-start snippet of the card."""
    if is_adapter:
        return (
            "from transformers import pipeline\n"
            "from hf_unlearn.hub.loading import load_checkpoint\n\n"
            f'checkpoint = load_checkpoint("{model_id}", merge_adapter=True)  # base model + this adapter\n'
            'classifier = pipeline("audio-classification", model=checkpoint.model, '
            "feature_extractor=checkpoint.feature_extractor)\n"
            'classifier("recording.wav")'
        )
    lines = ["from transformers import pipeline"]
    if needs_hf_unlearn:
        lines.append("\nimport hf_unlearn.models  # registers the architecture with the transformers Auto classes")
    lines += ["", f'classifier = pipeline("audio-classification", model="{model_id}")', 'classifier("recording.wav")']
    return "\n".join(lines)


def dataset_metadata(dataset) -> dict:
    """`dataset_name` (and `dataset_id` when the data came from the Hub) of a `datasets.Dataset`, from its
    `info`: the Hub repo read from the download URLs, the name from `info.dataset_name` plus a non-default
    config. Empty for in-memory data or a bare local-file builder (`json`, `audiofolder`, ...)."""
    info = getattr(dataset, "info", None)
    name = getattr(info, "dataset_name", None)
    if not name or name == getattr(info, "builder_name", None):
        return {}
    config = getattr(info, "config_name", None)
    metadata = {"dataset_name": f"{name} ({config})" if config and config != "default" else name}
    for url in getattr(info, "download_checksums", None) or {}:
        match = re.match(r"hf://datasets/([\w.\-]+(?:/[\w.\-]+)?)@", str(url))
        if match:
            metadata["dataset_id"] = match.group(1)
            break
    return metadata


def prepare_folder_for_push(output_dir: str) -> list[str]:
    """Keeps local paths out of a folder about to be uploaded, as `unlearning_config.json` does: drops a local
    `base_model_name_or_path` from `adapter_config.json` (loaders then ask for `base_model=`) and renames the
    Trainer's `training_args.bin` (a pickle holding `output_dir` and other local paths; the training fields are in
    `unlearning_config.json`) to `_training_args.bin`, which stays local (uploads skip names starting with `_`).
    Returns what was changed."""
    changed = []
    path = os.path.join(output_dir, "adapter_config.json")
    if os.path.isfile(path):
        with open(path) as handle:
            config = json.load(handle)
        base = config.get("base_model_name_or_path")
        if base and not is_hub_id(base):
            config["base_model_name_or_path"] = None
            with open(path, "w") as handle:
                json.dump(config, handle, indent=2, sort_keys=True)
            changed.append("adapter_config.json: local base_model_name_or_path removed (load with base_model=)")
    path = os.path.join(output_dir, "training_args.bin")
    if os.path.isfile(path):
        os.replace(path, os.path.join(output_dir, "_training_args.bin"))
        changed.append("training_args.bin kept locally as _training_args.bin")
    return changed


def build_model_card(
    method_key: str,
    paper: Paper | str | None = None,
    results: dict | None = None,
    request: dict | None = None,
    hyperparameters: dict | None = None,
    table: str | None = None,
    base_model: str | None = None,
    model_id: str = "path/to/model",
    dataset_name: str | None = None,
    dataset_id: str | list[str] | None = None,
    license: str = "apache-2.0",
    *,
    original_results: dict | None = None,
    gold_results: dict | None = None,
    language: str | list[str] | None = None,
    tags: list[str] | None = None,
    is_adapter: bool = False,
    needs_hf_unlearn: bool = False,
    config_class: str = "UnlearningConfig",
    unlearning_time: float | None = None,
    stopped: dict | None = None,
    stopping: dict | None = None,
):
    """Renders the model card of an unlearned checkpoint.

    Args:
        method_key (`str`): the unlearning method (`hf_unlearn.list_methods()`).
        paper ([`~hf_unlearn.papers.Paper`] or `str`, *optional*): the method's paper; a `Paper`'s BibTeX is cited
            next to UnSLU-BENCH's.
        results (`dict`, *optional*): the unlearned model's metrics without prefix (`forget_accuracy`, `test_f1`,
            `mia`, `gum`, ...), as returned by `UnlearningTrainer.evaluate()` with the `eval_` prefix removed.
        request (`dict`, *optional*): the public record of the forget request (`ForgetRequest.public_record()`):
            kind, counts, digest; never identities.
        hyperparameters (`dict`, *optional*): the non-default hyperparameters ([`non_default_hyperparameters`]).
        table (`str`, *optional*): a ready results table; by default it is made from `original_results`,
            `gold_results` and `results` (`hf_unlearn.evaluation.results_table`).
        base_model (`str`, *optional*): the original model; a Hub id goes to the metadata, a local path only to the
            text (as "a local checkpoint", so no local path is published).
        model_id (`str`, *optional*): the repo id used in the quick start.
        dataset_name (`str`, *optional*): the data's readable name.
        dataset_id (`str` or `list[str]`, *optional*): the Hub dataset id(s) of the data (YAML `datasets`).
        license (`str`, *optional*, defaults to `"apache-2.0"`): the Hub licence id.
        original_results, gold_results (`dict`, *optional*): metrics of the original and the gold model, for the
            results table.
        language (`str` or `list[str]`, *optional*), tags (`list[str]`, *optional*): more card metadata.
        is_adapter (`bool`, *optional*): the checkpoint is a PEFT adapter (`library_name: peft`).
        needs_hf_unlearn (`bool`, *optional*): the architecture is registered by hf-unlearn (the quick start imports
            it).
        config_class (`str`, *optional*): name of the method's config class, whose defaults the card refers to.
        unlearning_time (`float`, *optional*): seconds of the unlearning run, for the results table.
        stopped (`dict`, *optional*): a run that stopped before it finished
            ([`~hf_unlearn.hub.stopped_runs.stopped_run`]): the card opens by saying so, and why.
        stopping (`dict`, *optional*): the stopping rule's record (mode, target, its source, the step kept; see
            `hf_unlearn.trainer.stopping`), when the run's length came from it.

    Returns:
        `huggingface_hub.ModelCard`
    """
    from huggingface_hub import ModelCard, ModelCardData

    results = dict(results or {})
    dataset_ids = [dataset_id] if isinstance(dataset_id, str) else list(dataset_id or [])
    request = {"kind": "unspecified", "num_forget": None, "num_retain": None, "forget_share": None, **(request or {})}
    name = model_id.split("/")[-1]
    dataset_name = dataset_name or "custom data"
    hub_base = base_model if is_hub_id(base_model) else None
    kind = request.get("kind", "unspecified")
    card_tags = ["hf-unlearn", "machine-unlearning", method_key, "audio-classification"]
    if kind != "unspecified":
        card_tags.append(f"{kind}-unlearning")
    card_tags += [tag for tag in (tags or []) if tag not in card_tags]
    evaluations = eval_results(results, dataset_name, dataset_ids[0] if dataset_ids else None)
    card_data = ModelCardData(
        model_name=name if evaluations else None,  # only the model-index uses it
        base_model=hub_base,
        datasets=dataset_ids or None,
        language=language,
        library_name="peft" if is_adapter else "transformers",
        license=license,
        pipeline_tag="audio-classification",
        tags=card_tags,
        eval_results=evaluations or None,
    )
    rows = {}
    if original_results:
        rows["original"] = original_results
    if gold_results:
        rows["gold"] = gold_results
    if results:
        rows[method_key] = {**results, **({"unlearning_time": unlearning_time} if unlearning_time else {})}
    if base_model and hub_base:
        base_text = f"[{hub_base}](https://huggingface.co/{hub_base})"
    else:
        base_text = "a local audio-classification checkpoint" if base_model else "an audio-classification model"
    warning = ""
    if stopped and stopped.get("failed"):  # saved on request (save_stopped_runs=True): never read as a success
        warning = (
            f"**This unlearning run stopped before it finished and is not a successful unlearning.** "
            f"{stopped['reason']}\n\n"
        )
    elif stopped:
        warning = f"{stopped['reason']}\n\n"
    summary = warning + (
        f"{outcome_sentence(results, gold_results, kind, original_results)} This "
        f"{'PEFT adapter' if is_adapter else 'model'} is "
        f"{base_text} after approximate **machine unlearning** with **{method_key}** (no retraining from scratch), on "
        f"{dataset_name}."
    )
    return ModelCard.from_template(
        card_data,
        template_path=TEMPLATE_PATH,
        model_name=name,
        summary=summary,
        method_key=method_key,
        paper=str(paper) if paper else "",
        paper_bibtex=paper.bibtex if isinstance(paper, Paper) and paper != UNSLU_BENCH else "",
        benchmark_bibtex=UNSLU_BENCH.bibtex,
        request=request,
        hyperparameters={k: _plain(v) for k, v in (hyperparameters or {}).items()},
        config_class=config_class,
        results_table=_with_intervals(
            table if table is not None else (results_table(rows, request_kind=kind) if rows else ""),
            results,
            gold_results,
            request,
        ),
        has_gold=bool(gold_results) or (table is not None and "| gold |" in table),
        quick_start=quick_start(model_id, is_adapter, needs_hf_unlearn),
        dataset_name=dataset_name,
        versions=_versions(is_adapter),
        stopping=stopping if stopping and stopping.get("stopped_at_step") is not None else None,
    )


def _with_intervals(table: str, results: dict, gold_results: dict | None, request: dict) -> str:
    """The results table followed by each gap to gold with its interval on this run's rows (none without gold)."""
    sizes = {**(request or {}), **{k: v for k, v in (gold_results or {}).items() if k.startswith("num_")}}
    lines = run_interval_lines(results, gold_results, sizes) if table and gold_results else []
    return table + ("\n\n" + "\n".join(lines) if lines else "")


def is_peft_model(model) -> bool:
    """Whether `model` is a PEFT model, without importing peft (5 s) when nothing has imported it yet."""
    return "peft" in sys.modules and _is_peft_model(model)


def card_options(
    language=None, license=None, tags=None, finetuned_from=None, dataset_tags=None, dataset=None, **options
):
    """Card options from the stock `Trainer.create_model_card` arguments: `dataset` (the data's name), `dataset_tags`
    (Hub dataset ids), `finetuned_from` (the base model's Hub id), `license`, `language`, `tags`; `options` may also
    give `dataset_name`, `dataset_id`, `base_model`. Options left at `None` are dropped."""
    given = dict(language=language, license=license, base_model=finetuned_from, dataset_name=dataset)
    given.update(tags=[tags] if isinstance(tags, str) else tags, dataset_id=dataset_tags, **options)
    return {key: value for key, value in given.items() if value is not None}


def trainer_model_card(trainer, model_id: str | None = None, merged: bool = False, **options):
    """The card of an [`~hf_unlearn.UnlearningTrainer`]'s model as it is now: its method, non-default hyperparameters,
    the public record of its forget request, its last `evaluate()` results and the original/gold results.

    `options` (and `trainer.card_options`): `dataset_name`, `dataset_id`, `license`, `language`, `tags`,
    `base_model` (defaults to the original model's name or path).
    """
    options = {**trainer.card_options, **{k: v for k, v in options.items() if v is not None}}
    if "dataset_name" not in options and "dataset_id" not in options:
        options.update(_trainer_dataset_metadata(trainer))
    model = trainer.accelerator.unwrap_model(trainer.model)
    adapter = is_peft_model(model)
    if adapter:
        base_model = next(iter(model.peft_config.values())).base_model_name_or_path
        architecture = model.get_base_model()
    else:
        base_model = getattr(model, "name_or_path", None)
        architecture = model
    model_id = (
        model_id
        or getattr(trainer, "hub_model_id", None)
        or trainer.args.hub_model_id
        or os.path.basename(os.path.abspath(trainer.args.output_dir))
    )
    record = trainer.unlearning_record()
    return build_model_card(
        trainer.method_key,
        paper=trainer.paper,
        results=trainer.last_eval_results,
        request=record["request"],
        hyperparameters=non_default_hyperparameters(trainer.args),
        original_results=trainer.original_results,
        gold_results=trainer.gold_results,
        base_model=options.pop("base_model", None) or base_model,
        model_id=model_id,
        is_adapter=adapter and not merged,
        needs_hf_unlearn=type(architecture).__module__.startswith("hf_unlearn"),
        config_class=type(trainer.args).__name__,
        unlearning_time=trainer.unlearning_time,
        stopped=stopped_run(trainer),
        stopping=record.get("stopping"),
        **options,
    )


def _trainer_dataset_metadata(trainer) -> dict:
    """[`dataset_metadata`] of the first of the trainer's datasets that has some (features keep their source's
    `info` through `map`)."""
    evaluation = trainer.eval_dataset if isinstance(trainer.eval_dataset, dict) else {"eval": trainer.eval_dataset}
    for dataset in (*evaluation.values(), trainer.train_dataset):
        metadata = dataset_metadata(dataset)
        if metadata:
            return metadata
    return {}
