"""`hf-unlearn unlearn`: forget a request from an audio classifier on your data, and compare the result with the
original and the gold model.

In the shape of transformers' `examples/pytorch/audio-classification/run_audio_classification.py`: dataclass
arguments parsed with `HfArgumentParser` (plus a YAML `--config`), a linear `main()`, and the same command under
`hf-unlearn unlearn`, `python -m hf_unlearn.cli unlearn` and `accelerate launch -m hf_unlearn.cli unlearn`. Every step
past the arguments is the experiment pipeline (`hf_unlearn.experiment`), which the demo and the benchmark run too:

1. load the data (a Hub dataset, a local `audiofolder`, Speech Commands or FSDD folder, or a dataset saved with
   `save_to_disk`; `--data_layout auto` tells them apart; `--label_column speaker` on FSDD: speaker identification;
   a Speech Commands folder without split lists is held out by speaker, misnamed files skipped unless
   `--strict_layout`);
2. build the forget request (`--forget_speakers`, `--forget_classes`, `--forget_fraction`, or the UnSLU speaker
   protocol `--forget_speaker_share 0.025 --min_speaker_utterances 100`), `--validation_size` of the training rows
   held out first (`make_request_splits`: the benchmark's rows and cached references for the same seed), and check
   it (a forget set, no recording on both sides) before anything is trained;
3. fit the feature extractor on the training rows (`--normalize`, `--num_frames`, `--hop_length` for the MFCC CNN)
   and extract the features once, cached in `--features_cache_dir` for later runs;
4. train or load from the one reference cache (`--reference_dir`) the original (all training rows), the gold model
   (retain rows) and `--shadow_models` shadow models, each with its model type's defaults unless overridden;
5. unlearn a copy of the original with `--method` (its config's fields are options too; their defaults come from
   `--method_settings`: a shipped settings name or a JSON file written by `hf-unlearn tune`), evaluate the three
   models on every split, and save the unlearned model, `results.json`, `results.md`, `results.png` and a model card
   to `--output_dir`.

Deviations from the transformers example: features are computed once per split and cached on disk
(`hf_unlearn.data.features.featurize_cached`), not on the fly, and clips are not randomly cropped.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import asdict, fields
from typing import NamedTuple

from hf_unlearn.cli.main import COMMANDS, EXAMPLES
from hf_unlearn.experiment.data import (  # noqa: F401  (detect_layout, load_audio_dataset: part of the interface)
    data_label_column,
    detect_layout,
    forget_request,
    load_audio_dataset,
    prepare_columns,
    request_kind,
)
from hf_unlearn.experiment.request_arguments import DataArguments, ModelArguments, ScriptArguments

logger = logging.getLogger(__name__)
ARGUMENT_CLASSES = (ScriptArguments, DataArguments, ModelArguments)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """HfArgumentParser's default formatter (defaults shown), with the example's line breaks kept."""


def _load_yaml(path: str) -> dict:
    import yaml

    with open(path, encoding="utf-8") as handle:
        values = yaml.safe_load(handle) or {}
    if not isinstance(values, dict):
        raise ValueError(f"--config {path!r} must hold a mapping of argument names to values, not {type(values)}.")
    for name in ("forget_speakers", "forget_classes"):
        value = values.get(name)
        if isinstance(value, bool) or (isinstance(value, list) and any(isinstance(v, bool) for v in value)):
            # YAML 1.1 reads yes/no/on/off as booleans: the keyword "yes" would silently become True.
            raise ValueError(
                f"--config {path!r}: {name} holds a boolean ({value!r}); quote class and speaker names in YAML, "
                'e.g. forget_classes: ["yes"].'
            )
    return values


def parse_arguments(argv: list[str] | None = None, extra_classes: tuple = (), prog: str = "hf-unlearn unlearn"):
    """Parses `argv` into `(script, data, model, *extra, training)` dataclasses. The method is picked first
    (`--method` or the YAML's `method:`) so that its config's fields are options; defaults come, from weakest to
    strongest, from the settings file (`--method_settings`, for the request kind), the `--config` YAML, and the
    command line. The request kind is that of `request_kind`: a class request on the speaker column
    (`--label_column speaker`) reads the `speaker_id` settings."""
    from transformers import HfArgumentParser

    from hf_unlearn import get_trainer_class, list_methods
    from hf_unlearn.experiment import method_settings
    from hf_unlearn.trainer.config import UnlearningConfig

    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    for name in ("method", "config", "method_settings", "model_type", "forget_fraction", "forget_speaker_share"):
        pre.add_argument(f"--{name}")
    for name in ("label_column", "speaker_column"):
        pre.add_argument(f"--{name}")
    for name in ("forget_classes", "forget_speakers"):
        pre.add_argument(f"--{name}", nargs="*")
    known, _ = pre.parse_known_args(argv)
    yaml_values = _load_yaml(known.config) if known.config else {}
    method = known.method or yaml_values.get("method")
    if method is None and not any(a in ("-h", "--help") for a in argv):
        keys = ", ".join(info.key for info in list_methods())
        raise ValueError(f"Choose the unlearning method with --method <key> (or method: in --config); known: {keys}.")
    config_class = get_trainer_class(method).config_class if method else UnlearningConfig
    classes = (*ARGUMENT_CLASSES, *extra_classes, config_class)
    command = prog.split()[-1]
    example = f"example: {EXAMPLES.get(command, EXAMPLES['unlearn'])}\n"
    if command == "unlearn":
        example += "(several processes: accelerate launch -m hf_unlearn.cli unlearn ...)"
    parser = HfArgumentParser(
        classes,
        prog=prog,
        description=COMMANDS.get(command, COMMANDS["unlearn"]),
        epilog=example if method else example + "\nAdd --method <key> to see the options of that method's config.",
        formatter_class=HelpFormatter,
    )
    known_names = {f.name for cls in classes for f in fields(cls)}
    unknown = sorted(set(yaml_values) - known_names)
    if unknown:
        raise ValueError(
            f"--config {known.config!r} sets {unknown}, which are not arguments of this command with method "
            f"{method!r} ({config_class.__name__}): remove them or pick the method they belong to."
        )
    settings_name = known.method_settings or yaml_values.get("method_settings")
    if settings_name is None and (known.model_type or yaml_values.get("model_type")) == "mfcc_cnn":
        settings_name = "fsdd"  # the CNN's tuned values, not TrainingArguments' transformer defaults
    if method and settings_name:
        kind = request_kind(argparse.Namespace(**{**yaml_values, **{k: v for k, v in vars(known).items() if v}}))
        parser.set_defaults(**method_settings(method, settings_name, kind))
    parser.set_defaults(**yaml_values)
    parsed = parser.parse_args_into_dataclasses(args=argv)
    if method is not None:
        parsed[-1].method = get_trainer_class(method).method_key  # aliases become the registered key
    return parsed


def peft_config(model_args, trainer_class):
    """The LoRA config for `peft_config=`, or `None` without `--use_peft`. A method that does not run on an adapter
    is refused here, before any work, with the trainer's own reason (`check_peft_support`, its `peft_note`)."""
    if not model_args.use_peft:
        return None
    from hf_unlearn.peft_utils import check_peft_support

    check_peft_support(trainer_class)
    if not model_args.lora_target_modules:
        raise ValueError(
            "--use_peft needs --lora_target_modules (PEFT has no default target modules for speech models), e.g. "
            "--lora_target_modules q_proj v_proj."
        )
    from peft import LoraConfig

    return LoraConfig(
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules=list(model_args.lora_target_modules),
        modules_to_save=list(model_args.lora_modules_to_save) if model_args.lora_modules_to_save else None,
    )


def setup_logging(script_args, training_args) -> None:
    """Log levels per process (the main process logs at INFO unless told otherwise), and torch threads."""
    import datasets
    import torch
    import transformers

    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", stream=sys.stdout)
    log_level = training_args.get_process_log_level()
    for log in (logger, logging.getLogger("hf_unlearn")):
        log.setLevel(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    datasets.utils.logging.set_verbosity(log_level)
    if script_args.num_threads:
        torch.set_num_threads(script_args.num_threads)


class PreparedRequest(NamedTuple):
    """Steps 1-4 of the command: the request's splits, the fitted extractor and the reference models."""

    splits: object
    extractor: object
    references: dict
    layout: str
    label_names: list


def prepare_request(script_args, data_args, model_args, training_args) -> PreparedRequest:
    """Loads the data, draws and checks the request, fits the features and trains (or loads) the reference models:
    what `main` and `hf-unlearn tune` share. `training_args.label_column` becomes the loaded data's label column."""
    import transformers

    from hf_unlearn.experiment import (
        ReferenceSpec,
        existing_reference,
        fit_extractor,
        parse_config_overrides,
        reference_models,
    )
    from hf_unlearn.experiment.fold_out import set_fold_out_target
    from hf_unlearn.experiment.prepare import cache_features, check_splits, features_cache_root, request_splits
    from hf_unlearn.experiment.reference_cache import original_training_rows, run_model_type

    # 1. Data, columns and labels.
    request = forget_request(data_args)
    columns = {"label_column": training_args.label_column, "speaker_column": training_args.speaker_column}
    parsed_kind = request_kind(argparse.Namespace(**asdict(data_args), **columns))  # what the settings were read for
    dataset, layout = load_audio_dataset(data_args, model_args, label_column=training_args.label_column)
    training_args.label_column = data_label_column(layout, training_args.label_column)
    speaker_column = training_args.speaker_column if request["by"] == "speaker" else None
    split_seed = training_args.seed if data_args.split_seed is None else data_args.split_seed
    dataset, label_names = prepare_columns(
        dataset, training_args.audio_column, training_args.label_column, speaker_column, split_seed, data_args
    )

    # 2. The forget request, validation drawn before it (as the benchmark does: same rows, same cached references),
    # checked (non-empty, no recording on both sides) before any feature or model is computed.
    splits = request_splits(
        dataset, request, layout, split_seed, data_args, training_args.label_column, training_args.speaker_column
    )
    logger.info("Forget request: %s", splits.summary())
    if splits.request_kind != parsed_kind:
        logger.warning(
            "The data make this a %r request (the labels %s the speakers), but the method's default settings were "
            "read for %r: pass --label_column %s so both agree, or set --learning_rate and --num_train_epochs.",
            splits.request_kind, "are" if splits.labels_are_speakers else "are not", parsed_kind,
            training_args.speaker_column if splits.labels_are_speakers else "<the class column>",
        )  # fmt: skip
    check_splits(splits, training_args.audio_column, training_args.method)

    # 3. The feature extractor: the given original's, a named one, or a new one fitted on the training rows.
    spec = None
    if model_args.model_name_or_path or model_args.model_type:
        model_kwargs = {"revision": model_args.model_revision, "cache_dir": model_args.cache_dir}
        model_kwargs.update(token=model_args.token, freeze_feature_encoder=model_args.freeze_feature_encoder)
        model_kwargs["ignore_mismatched_sizes"] = model_args.ignore_mismatched_sizes
        spec = ReferenceSpec(
            label_names, model_args.model_type, model_args.model_name_or_path, script_args.reference_training(),
            model_kwargs, training_args.audio_column, training_args.label_column,
            parse_config_overrides(model_args.config_overrides),
        )  # fmt: skip
    source = script_args.original_model_path or model_args.feature_extractor_name
    if source:
        extractor = transformers.AutoFeatureExtractor.from_pretrained(source)
    elif spec is not None:
        sampling_rate = data_args.sampling_rate or getattr(
            dataset["train"].features[training_args.audio_column], "sampling_rate", None
        )
        extractor = spec.new_extractor(sampling_rate, normalize=model_args.normalize, hop_length=model_args.hop_length)
        if not model_args.model_name_or_path:  # a model trained from scratch: fit its features (training rows)
            fit_extractor(extractor, original_training_rows(splits), training_args.audio_column, model_args.num_frames)
    else:
        raise ValueError(
            "No model: pass --model_name_or_path (a pretrained checkpoint), --model_type (train from scratch, e.g. "
            "mfcc_cnn) or --original_model_path (an already trained original)."
        )

    features_dir = features_cache_root(script_args.features_cache_dir, script_args.reference_dir)
    with training_args.main_process_first(desc="feature extraction"):  # the others read the main process's cache
        cache_features(splits, extractor, features_dir, training_args.audio_column, training_args.label_column)

    # 4. Reference models: original, gold and shadows, trained once and cached (or given).
    architecture = run_model_type(
        model_args.model_type, model_args.model_name_or_path, script_args.original_model_path
    )  # a given original or gold of another architecture or label set is refused, naming both
    given = {
        kind: existing_reference(path, kind, label_names, architecture)
        for kind, path in (("original", script_args.original_model_path), ("gold", script_args.gold_model_path))
        if path
    }
    references = reference_models(
        splits, spec, extractor, seed=training_args.seed, shadow_models=script_args.shadow_models,
        cache_dir=script_args.reference_dir, train_gold=script_args.train_gold, use_cpu=training_args.use_cpu,
        overwrite=script_args.overwrite_reference_models, disable_tqdm=training_args.disable_tqdm, **given,
    )  # fmt: skip
    # 4b. The stopping rule's reference target from fold-out models, trained once for every request inside a fold.
    if getattr(script_args, "fold_out_folds", 0) and training_args.stop_target == "reference":
        set_fold_out_target(script_args, training_args, splits, spec, extractor)
    return PreparedRequest(splits, extractor, references, layout, label_names)


def main(argv: list[str] | None = None) -> dict:
    """Runs the command; returns what `results.json` holds (`rows`, `runs`, `request`, ...), on every process."""
    import transformers

    import hf_unlearn
    from hf_unlearn import get_trainer_class
    from hf_unlearn.checks import check_launch, check_write_path
    from hf_unlearn.experiment import run_request, write_results
    from hf_unlearn.experiment.prepare import check_experiment_write_targets
    from hf_unlearn.experiment.reference_quality import weak_reference_warning
    from hf_unlearn.experiment.results import redacted_arguments

    script_args, data_args, model_args, training_args = parse_arguments(argv)
    check_launch(training_args)  # several processes on CPU without --use_cpu: every rank stops here
    check_write_path(training_args.output_dir, script_args.original_model_path, "--output_dir")
    check_experiment_write_targets(  # every folder the run writes, before any data is read or model trained
        training_args.output_dir, script_args.reference_dir, script_args.features_cache_dir,
        script_args.original_model_path or model_args.model_name_or_path,
        reference_copies=1 + int(script_args.train_gold) + script_args.shadow_models,
        checkpoints=0 if training_args.save_strategy == "no" else max(1, training_args.save_total_limit or 1),
    )  # fmt: skip
    setup_logging(script_args, training_args)
    trainer_class = get_trainer_class(training_args.method)
    lora = peft_config(model_args, trainer_class)  # refuses a method that cannot run on an adapter, before any work
    started = time.perf_counter()
    splits, extractor, references, layout, _ = prepare_request(script_args, data_args, model_args, training_args)

    # 5. Unlearn a copy of the original, evaluate the three models on every split, save.
    base_is_hub = bool(model_args.model_name_or_path) and not os.path.isdir(model_args.model_name_or_path)
    card = {  # the stock Trainer.create_model_card arguments
        "dataset": os.path.basename(os.path.normpath(data_args.dataset_name)),
        "dataset_tags": data_args.dataset_name if layout == "hub" else None,
        "finetuned_from": model_args.model_name_or_path if base_is_hub else None,
    }
    record, trainer = run_request(
        trainer_class.method_key, training_args, splits, extractor, references, seed=training_args.seed,
        output_dir=training_args.output_dir, audio_column=training_args.audio_column,
        label_column=training_args.label_column, trainer_kwargs={"peft_config": lora} if lora else None,
        card_options=card, return_trainer=True,
    )  # fmt: skip
    extra = {
        "data_layout": layout,
        "num_processes": training_args.world_size,
        "arguments": {
            "script": asdict(script_args),
            "data": redacted_arguments(
                asdict(data_args), splits.labels_are_speakers or trainer.forget_request.classes_are_people
            ),
            "model": redacted_arguments(asdict(model_args)),
            "training": trainer.unlearning_record()["training"],
        },
        "versions": {"hf_unlearn": hf_unlearn.__version__, "transformers": transformers.__version__},
    }
    hint = (
        f"The features are not the default (--normalize {model_args.normalize}): compare with --normalize dataset."
        if model_args.normalize not in (None, "dataset")
        else ""
    )
    warning = weak_reference_warning(record["original"], splits.retain_eval, training_args.label_column, hint)
    if warning:
        extra["reference_warning"] = warning
    if script_args.relearn_steps and trainer.is_world_process_zero():
        from hf_unlearn.experiment.relearning import relearning_check

        gold = references["gold"].load() if references["gold"] else None
        extra["relearning"] = relearning_check(
            trainer.model, gold, extractor, splits.forget, steps=script_args.relearn_steps, seed=training_args.seed
        )
    extra["wall_time"] = time.perf_counter() - started
    if trainer.is_world_process_zero():
        results = write_results(record, training_args.output_dir, extra=extra)
        print("\n" + results.pop("table"))
        if warning:
            logger.warning(warning)
            print(f"\nWarning: {warning}")
    else:
        results = {"runs": [record], "request": record["request"], "method": record["method"], **extra}
    if training_args.push_to_hub:
        trainer.push_to_hub()
    return results


def command(argv: list[str]) -> int:
    """`hf-unlearn unlearn ARGS`: runs `main(ARGS)`; 0 on success."""
    main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(command(sys.argv[1:]))
