#!/usr/bin/env python
"""Unlearn a forget request from an audio classifier, and compare it with the original and the gold model.

In the shape of transformers' `examples/pytorch/audio-classification/run_audio_classification.py`: dataclass
arguments parsed with `HfArgumentParser`, a `main()`, and the same script under `python` and `accelerate launch`.
The steps:

1. load the data: a Hub dataset (`load_dataset(name, config)`), a local `audiofolder`, a local Speech Commands layout
   (`{word}/{speaker}_nohash_{n}.wav`), a local FSDD folder (`{digit}_{speaker}_{take}.wav`) or a dataset saved with
   `save_to_disk` (`--data_layout auto` tells them apart);
2. build the forget request (`--forget_speakers`, `--forget_classes`, `--forget_fraction`, or the UnSLU speaker
   protocol `--forget_speaker_share 0.025 --min_speaker_utterances 100`) with `hf_unlearn.make_forget_split`;
3. train (or load, `--original_model_path`) the original model on forget + retain, and train (or load,
   `--gold_model_path`) the gold model on retain only, both with early stopping on the held-out retain split; trained
   reference models are cached under `--reference_dir` and reused when the request and settings are the same;
4. unlearn a copy of the original with `--method` (its config's fields are command-line arguments too);
5. evaluate the three models on forget / retain (held out) / test with the full metric set (GUM and CGUM against the
   original and gold results), and save the unlearned model, `results.json`, `results.md`, `results.png` and a model
   card to `--output_dir`; with `--push_to_hub` (and `--hub_model_id`), push the result.

The method is read from the command line (or from `--config`'s YAML) before the full parse, so that its config's
fields (e.g. SCRUB's `--temperature`) are accepted. A YAML given with `--config` holds field names and values (see
`recipes/configs/`); the command line overrides it.

Usage:

```bash
python recipes/unlearn_audio_classification.py --config recipes/configs/fsdd/neggrad_plus.yaml \
    --dataset_name path/to/free-spoken-digit-dataset --output_dir runs/fsdd-ngplus
accelerate launch --config_file recipes/accelerate_configs/multi_gpu.yaml recipes/unlearn_audio_classification.py \
    --config recipes/configs/fsc/scrub.yaml --dataset_name /data/fsc --output_dir runs/fsc-scrub
```

Deviations from the transformers example: features are computed once per split by `hf_unlearn.data.featurize` where
the data meets a model (reference training, unlearning and the evaluations share them) instead of an on-the-fly
transform, and there is no random cropping to `max_length_seconds`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields

logger = logging.getLogger(__name__)

DATA_LAYOUTS = ("auto", "hub", "audiofolder", "speech_commands", "fsdd", "disk")
REFERENCE_KEY_NAME = "reference_key.json"


@dataclass
class ScriptArguments:
    """What the script does around the unlearning run: the YAML config and the reference (original, gold) models."""

    config: str | None = field(
        default=None, metadata={"help": "YAML file of arguments (field: value); the command line overrides it."}
    )
    original_model_path: str | None = field(
        default=None,
        metadata={"help": "An already trained original model (folder or Hub id); trained from the model otherwise."},
    )
    gold_model_path: str | None = field(
        default=None,
        metadata={"help": "An already trained gold model (retrained without the forget set); trained otherwise."},
    )
    train_gold: bool = field(
        default=True,
        metadata={"help": "Train the gold model when --gold_model_path is not given (no gold: no GUM/CGUM)."},
    )
    reference_dir: str | None = field(
        default=None,
        metadata={"help": "Where trained original/gold models are cached (default: <output_dir>_references)."},
    )
    overwrite_reference_models: bool = field(
        default=False, metadata={"help": "Retrain the original and gold models even if cached ones match."}
    )
    relearn_steps: int = field(
        default=0,
        metadata={
            "help": "After unlearning, run the relearning check (hf_unlearn.relearning) for this many steps on the "
            "unlearned and the gold model; 0: off."
        },
    )
    reference_epochs: float = field(default=30, metadata={"help": "Maximum epochs of original and gold training."})
    reference_learning_rate: float = field(default=3e-5, metadata={"help": "Learning rate of original and gold."})
    reference_batch_size: int = field(default=32, metadata={"help": "Batch size of original and gold training."})
    early_stopping_patience: int | None = field(
        default=5,
        metadata={"help": "Stop original/gold training after this many epochs without a better validation loss."},
    )


@dataclass
class DataArguments:
    """Which data to load, and which samples to forget."""

    dataset_name: str | None = field(
        default=None, metadata={"help": "A Hub dataset name, or a local folder (see --data_layout)."}
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Configuration of the Hub dataset."})
    data_layout: str = field(
        default="auto",
        metadata={
            "help": f"One of {DATA_LAYOUTS}. 'auto': a local folder saved with save_to_disk is 'disk', FSDD-named "
            "files are 'fsdd', word folders of *_nohash_*.wav are 'speech_commands', any other folder "
            "'audiofolder'; a name that is not a local path is 'hub'."
        },
    )
    train_split_name: str = field(default="train", metadata={"help": "The training split."})
    test_split_name: str = field(
        default="test", metadata={"help": "The test split; without one, --test_size of train is held out."}
    )
    sampling_rate: int | None = field(
        default=None,
        metadata={
            "help": "Sampling rate of a feature extractor built from scratch (--model_type); default: the data's."
        },
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep at most this many training rows (seeded shuffle), for quick runs."}
    )
    max_test_samples: int | None = field(default=None, metadata={"help": "Keep at most this many test rows."})
    test_size: float = field(default=0.2, metadata={"help": "Held-out test share when the data has no test split."})
    retain_eval_size: float = field(
        default=0.1, metadata={"help": "Share of the retain side held out for validation (early stopping)."}
    )
    forget_speakers: list[str] | None = field(default=None, metadata={"help": "Speakers to forget."})
    forget_classes: list[str] | None = field(default=None, metadata={"help": "Classes to forget (names or ids)."})
    forget_fraction: float | None = field(
        default=None, metadata={"help": "Share of the training rows to forget (sample unlearning), e.g. 0.05."}
    )
    forget_speaker_share: float | None = field(
        default=None, metadata={"help": "UnSLU speaker protocol: forget speakers until this share (e.g. 0.025)."}
    )
    min_speaker_utterances: int = field(
        default=0, metadata={"help": "UnSLU speaker protocol: draw only speakers with more utterances (e.g. 100)."}
    )
    split_seed: int = field(default=42, metadata={"help": "Seed of the forget/retain/test split."})


@dataclass
class ModelArguments:
    """The model to start from, and LoRA."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Pretrained model (folder or Hub id) the original and gold are trained from."}
    )
    model_type: str | None = field(
        default=None, metadata={"help": "Train from scratch: a model type, e.g. mfcc_cnn (hf-unlearn's MFCC CNN)."}
    )
    feature_extractor_name: str | None = field(
        default=None, metadata={"help": "Feature extractor name or path, if not the model's."}
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where downloaded models and datasets are stored."})
    model_revision: str = field(default="main", metadata={"help": "Model version (branch, tag or commit)."})
    token: str | None = field(default=None, metadata={"help": "Hub token for private models or datasets."})
    freeze_feature_encoder: bool = field(
        default=True, metadata={"help": "Freeze the convolutional feature encoder of wav2vec2-like models."}
    )
    ignore_mismatched_sizes: bool = field(
        default=False, metadata={"help": "Allow a checkpoint whose classifier has another number of classes."}
    )
    use_peft: bool = field(default=False, metadata={"help": "Unlearn LoRA adapters instead of the full model."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={"help": "Modules that get adapters, e.g. q_proj v_proj (speech models need them named)."},
    )
    lora_modules_to_save: list[str] | None = field(
        default=None, metadata={"help": "Modules trained in full next to the adapters, e.g. classifier projector."}
    )


# --------------------------------------------------------------------------------------------------- arguments
def _load_yaml(path: str) -> dict:
    import yaml

    with open(path, encoding="utf-8") as handle:
        values = yaml.safe_load(handle) or {}
    if not isinstance(values, dict):
        raise ValueError(f"--config {path!r} must hold a mapping of argument names to values, not {type(values)}.")
    return values


def parse_arguments(argv: list[str] | None = None):
    """Parses `argv` (default: `sys.argv[1:]`) into `(script, data, model, training)` dataclasses.

    The method is picked first (`--method`, or `method:` in the `--config` YAML), so that the parser knows its
    config class; the YAML's values become the parser's defaults, which the command line overrides.
    """
    from transformers import HfArgumentParser

    from hf_unlearn import get_trainer_class, list_methods
    from hf_unlearn.config import UnlearningConfig

    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--method")
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    yaml_values = _load_yaml(known.config) if known.config else {}
    for name in ("forget_speakers", "forget_classes"):
        value = yaml_values.get(name)
        if isinstance(value, bool) or (isinstance(value, list) and any(isinstance(v, bool) for v in value)):
            # YAML 1.1 reads yes/no/on/off as booleans: the keyword "yes" would silently become True.
            raise ValueError(
                f"--config {known.config!r}: {name} holds a boolean ({value!r}); quote class and speaker names in "
                'YAML, e.g. forget_classes: ["yes"].'
            )
    method = known.method or yaml_values.get("method")
    wants_help = any(a in ("-h", "--help") for a in argv)
    if method is None and not wants_help:
        keys = ", ".join(info.key for info in list_methods())
        raise ValueError(f"Choose the unlearning method with --method <key> (or method: in --config); known: {keys}.")
    config_class = get_trainer_class(method).config_class if method else UnlearningConfig
    parser = HfArgumentParser(
        (ScriptArguments, DataArguments, ModelArguments, config_class),
        prog="unlearn_audio_classification.py",
        epilog=None if method else "Add --method <key> to see the options of that method's config.",
    )
    if yaml_values:
        known_names = {
            f.name for cls in (ScriptArguments, DataArguments, ModelArguments, config_class) for f in fields(cls)
        }
        unknown = sorted(set(yaml_values) - known_names)
        if unknown:
            raise ValueError(
                f"--config {known.config!r} sets {unknown}, which are not arguments of this script with method "
                f"{method!r} ({config_class.__name__}): remove them or pick the method they belong to."
            )
        parser.set_defaults(**yaml_values)
    script_args, data_args, model_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    if method is not None:
        # Aliases (e.g. "ng+") become the registered key, which the trainer checks against its own.
        training_args.method = get_trainer_class(method).method_key
    return script_args, data_args, model_args, training_args


# -------------------------------------------------------------------------------------------------------- data
def detect_layout(path: str) -> str:
    """The layout of a local folder: `disk`, `fsdd`, `speech_commands` or `audiofolder` (see `--data_layout`)."""
    from hf_unlearn.data.fsdd import FSDD_FILENAME_PATTERN
    from hf_unlearn.data.speech_commands import SPEECH_COMMANDS_FILENAME_PATTERN

    if any(os.path.exists(os.path.join(path, name)) for name in ("dataset_dict.json", "state.json")):
        return "disk"
    recordings = os.path.join(path, "recordings")
    flat = recordings if os.path.isdir(recordings) else path
    if any(FSDD_FILENAME_PATTERN.match(name) for name in os.listdir(flat)):
        return "fsdd"
    for entry in os.scandir(path):
        if entry.is_dir() and any(SPEECH_COMMANDS_FILENAME_PATTERN.match(name) for name in os.listdir(entry.path)):
            return "speech_commands"
    return "audiofolder"


def load_audio_dataset(data_args: DataArguments, model_args: ModelArguments):
    """Loads the data as a `DatasetDict` with the training split under `train` and, if any, the test split under
    `test`; returns `(dataset, layout)`."""
    import datasets

    from hf_unlearn.data import load_fsdd, load_speech_commands

    if data_args.data_layout not in DATA_LAYOUTS:
        raise ValueError(f"--data_layout {data_args.data_layout!r} is not valid: choose one of {DATA_LAYOUTS}.")
    name = data_args.dataset_name
    if not name:
        raise ValueError("Pass --dataset_name: a Hub dataset name or a local folder.")
    layout = data_args.data_layout
    if layout == "auto":
        layout = detect_layout(name) if os.path.isdir(name) else "hub"
    if layout != "hub" and not os.path.isdir(name):
        raise ValueError(f"--dataset_name {name!r} is not a local folder, but --data_layout is {layout!r}.")
    logger.info("Loading %s as %r", name, layout)
    if layout == "hub":
        loaded = datasets.load_dataset(
            name, data_args.dataset_config_name, cache_dir=model_args.cache_dir, token=model_args.token
        )
    elif layout == "audiofolder":
        loaded = datasets.load_dataset("audiofolder", data_dir=name, cache_dir=model_args.cache_dir)
    elif layout == "disk":
        loaded = datasets.load_from_disk(name)
    elif layout == "fsdd":
        loaded = load_fsdd(name)
    else:
        loaded = load_speech_commands(name)

    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({data_args.train_split_name: loaded})
    if data_args.train_split_name not in loaded:
        raise ValueError(
            f"--train_split_name {data_args.train_split_name!r} is not a split of {name!r}; splits: {list(loaded)}."
        )
    result = {"train": loaded[data_args.train_split_name]}
    if data_args.test_split_name in loaded:
        result["test"] = loaded[data_args.test_split_name]
    else:
        logger.info(
            "No split %r: holding out %.0f %% of train as test.", data_args.test_split_name, 100 * data_args.test_size
        )
    return datasets.DatasetDict(result), layout


def prepare_columns(dataset, audio_column: str, label_column: str, speaker_column: str | None, seed: int, data_args):
    """Checks the columns, turns a string/integer label column into a `ClassLabel` shared by every split (ids in
    sorted name order), and applies `--max_*_samples`. Returns the dataset and the class names."""
    import datasets

    train = dataset["train"]
    for column, argument in ((audio_column, "--audio_column"), (label_column, "--label_column")):
        if column not in train.column_names:
            raise ValueError(
                f"Column {column!r} is not in the training data; columns: {train.column_names}. Pass {argument}."
            )
    if speaker_column is not None and speaker_column not in train.column_names:
        raise ValueError(
            f"A speaker request needs speaker ids, but column {speaker_column!r} is not in the data; columns: "
            f"{train.column_names}. Pass --speaker_column."
        )
    feature = train.features[label_column]
    if isinstance(feature, datasets.ClassLabel):
        names = list(feature.names)
    else:
        values = set()
        for split in dataset.values():
            values.update(str(v) for v in split[label_column])
        names = sorted(values)
        ids = {name: index for index, name in enumerate(names)}
        label_feature = datasets.ClassLabel(names=names)

        def encode(batch):
            return {label_column: [ids[str(v)] for v in batch[label_column]]}

        dataset = datasets.DatasetDict(
            {
                split: ds.map(encode, batched=True, desc="Encoding labels").cast_column(label_column, label_feature)
                for split, ds in dataset.items()
            }
        )
    if data_args.max_train_samples is not None:
        train = dataset["train"].shuffle(seed=seed)
        dataset["train"] = train.select(range(min(data_args.max_train_samples, len(train))))
    if data_args.max_test_samples is not None and "test" in dataset:
        test = dataset["test"].shuffle(seed=seed)
        dataset["test"] = test.select(range(min(data_args.max_test_samples, len(test))))
    return dataset, names


def forget_request(data_args: DataArguments) -> dict:
    """`make_forget_split` keyword arguments from the one forget option given."""
    given = {
        name: getattr(data_args, name)
        for name in ("forget_speakers", "forget_classes", "forget_fraction", "forget_speaker_share")
        if getattr(data_args, name) not in (None, [])
    }
    if len(given) != 1:
        raise ValueError(
            "Give exactly one forget request: --forget_speakers A B, --forget_classes X, --forget_fraction 0.05, or "
            f"--forget_speaker_share 0.025 [--min_speaker_utterances 100]; got {sorted(given) or 'none'}."
        )
    if "forget_speakers" in given:
        return {"by": "speaker", "values": [str(v) for v in data_args.forget_speakers]}
    if "forget_classes" in given:
        return {"by": "class", "values": [str(v) for v in data_args.forget_classes]}
    if "forget_fraction" in given:
        return {"by": "sample", "fraction": data_args.forget_fraction}
    return {
        "by": "speaker",
        "forget_speaker_share": data_args.forget_speaker_share,
        "min_speaker_utterances": data_args.min_speaker_utterances,
    }


# ------------------------------------------------------------------------------------------------------ models
def load_feature_extractor(script_args, model_args, data_sampling_rate: int | None):
    """The feature extractor shared by the three models."""
    from transformers import AutoConfig, AutoFeatureExtractor
    from transformers.models.auto.feature_extraction_auto import FEATURE_EXTRACTOR_MAPPING

    source = model_args.feature_extractor_name or script_args.original_model_path or model_args.model_name_or_path
    if source:
        return AutoFeatureExtractor.from_pretrained(
            source, cache_dir=model_args.cache_dir, revision=model_args.model_revision, token=model_args.token
        )
    if model_args.model_type is None:
        raise ValueError(
            "No model: pass --model_name_or_path (a pretrained checkpoint), --model_type (train from scratch, e.g. "
            "mfcc_cnn) or --original_model_path (an already trained original)."
        )
    config = AutoConfig.for_model(model_args.model_type)
    if type(config) not in FEATURE_EXTRACTOR_MAPPING:
        raise ValueError(f"No feature extractor is registered for model type {model_args.model_type!r}.")
    extractor_class = FEATURE_EXTRACTOR_MAPPING[type(config)]
    return extractor_class(**({"sampling_rate": data_sampling_rate} if data_sampling_rate else {}))


def build_model(model_args, label_names: list[str]):
    """A fresh model to train the original or the gold from: the pretrained checkpoint with a new head, or a
    randomly initialised `--model_type`."""
    from transformers import AutoConfig, AutoModelForAudioClassification

    id2label = dict(enumerate(label_names))
    label2id = {name: index for index, name in id2label.items()}
    if model_args.model_name_or_path:
        config = AutoConfig.from_pretrained(
            model_args.model_name_or_path,
            num_labels=len(label_names),
            id2label=id2label,
            label2id=label2id,
            finetuning_task="audio-classification",
            cache_dir=model_args.cache_dir,
            revision=model_args.model_revision,
            token=model_args.token,
        )
        model = AutoModelForAudioClassification.from_pretrained(
            model_args.model_name_or_path,
            config=config,
            cache_dir=model_args.cache_dir,
            revision=model_args.model_revision,
            token=model_args.token,
            ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
        )
    else:
        config = AutoConfig.for_model(model_args.model_type, id2label=id2label, label2id=label2id)
        model = AutoModelForAudioClassification.from_config(config)
    if model_args.freeze_feature_encoder and hasattr(model, "freeze_feature_encoder"):
        model.freeze_feature_encoder()
    return model


def check_labels(model, label_names: list[str], source: str) -> None:
    model_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if [str(n) for n in model_names] != [str(n) for n in label_names]:
        raise ValueError(
            f"The model at {source!r} predicts {model_names[:10]}..., but the data's classes are "
            f"{label_names[:10]}...: pass a model trained on this data with the same label order."
        )


def reference_model(kind, folder, key, script_args, model_args, training_args, label_names, extractor, train, val):
    """Trains the original or gold model into `folder`, unless a model trained with the same `key` is cached there.
    Returns the training time in seconds (all processes)."""
    from accelerate import PartialState
    from transformers import set_seed

    from hf_unlearn.reference import REFERENCE_INFO_NAME, train_classifier

    key_path, info_path = os.path.join(folder, REFERENCE_KEY_NAME), os.path.join(folder, REFERENCE_INFO_NAME)
    cached = False
    if os.path.exists(key_path) and os.path.exists(info_path) and not script_args.overwrite_reference_models:
        with open(key_path) as handle:
            cached = json.load(handle) == key
    if cached:
        logger.info("[%s] using the cached model in %s", kind, folder)
    else:
        logger.info(
            "[%s] training on %d rows (up to %g epochs) into %s",
            kind,
            len(train),
            script_args.reference_epochs,
            folder,
        )
        set_seed(training_args.seed)  # original and gold start from the same initialisation
        model = build_model(model_args, label_names)
        train_classifier(
            model,
            extractor,
            train,
            folder,
            num_train_epochs=script_args.reference_epochs,
            learning_rate=script_args.reference_learning_rate,
            batch_size=script_args.reference_batch_size,
            seed=training_args.seed,
            eval_dataset=val if script_args.early_stopping_patience else None,
            early_stopping_patience=script_args.early_stopping_patience,
            disable_tqdm=training_args.disable_tqdm,
            use_cpu=training_args.use_cpu,
            audio_column=training_args.audio_column,
            label_column=training_args.label_column,
        )
        if training_args.process_index == 0:
            with open(key_path, "w") as handle:
                json.dump(key, handle, indent=2)
    # Other processes read the folder that the main process has just written.
    PartialState().wait_for_everyone()
    with open(info_path) as handle:
        return json.load(handle)["train_time"]


def evaluate_reference(path, label_names, extractor, eval_splits, training_args, train_time=None):
    """Results and per-sample losses of a reference model loaded from `path`."""
    from transformers import AutoModelForAudioClassification

    from hf_unlearn.reference import REFERENCE_INFO_NAME, evaluate_model

    model = AutoModelForAudioClassification.from_pretrained(path)
    check_labels(model, label_names, path)
    results, losses = evaluate_model(
        model,
        extractor,
        eval_splits,
        batch_size=training_args.per_device_eval_batch_size,
        use_cpu=training_args.use_cpu,
        audio_column=training_args.audio_column,
        label_column=training_args.label_column,
    )
    if train_time is None:
        info = os.path.join(path, REFERENCE_INFO_NAME)
        if os.path.exists(info):
            with open(info) as handle:
                train_time = json.load(handle)["train_time"]
    if train_time is not None:
        results["train_time"] = train_time
    results["num_classes"] = len(label_names)
    return results, losses


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


def trainer_extras(lora, splits) -> dict:
    """Keyword arguments for the trainer beyond the stock ones: the LoRA config, and the forget request (whose public
    record, never its identities, goes into `unlearning_config.json` and the card)."""
    extras = {"peft_config": lora} if lora is not None else {}
    extras["forget_request"] = splits
    return extras


def _redacted(values: dict) -> dict:
    """Arguments safe to publish: forgotten speakers are counted, never named."""
    values = dict(values)
    if values.get("forget_speakers"):
        values["forget_speakers"] = f"<{len(values['forget_speakers'])} speaker(s)>"
    for secret in ("token", "hub_token"):
        if values.get(secret):
            values[secret] = "<redacted>"
    return values


# -------------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    """Runs the recipe; returns `{"rows": {original, gold, <method>}, "request": ..., ...}` (every process)."""
    import datasets
    import transformers
    from datasets import concatenate_datasets
    from transformers import AutoModelForAudioClassification

    import hf_unlearn
    from hf_unlearn import UnlearningTrainer, get_trainer_class, make_forget_split
    from hf_unlearn.evaluation import results_figure, results_table

    script_args, data_args, model_args, training_args = parse_arguments(argv)
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    log_level = training_args.get_process_log_level()
    logger.setLevel(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    datasets.utils.logging.set_verbosity(log_level)
    trainer_class = get_trainer_class(training_args.method)
    lora = peft_config(model_args, trainer_class)
    started = time.perf_counter()

    # 1. Data, columns and labels.
    request = forget_request(data_args)
    dataset, layout = load_audio_dataset(data_args, model_args)
    dataset, label_names = prepare_columns(
        dataset,
        training_args.audio_column,
        training_args.label_column,
        training_args.speaker_column if request["by"] == "speaker" else None,
        data_args.split_seed,
        data_args,
    )
    audio_feature = dataset["train"].features[training_args.audio_column]
    extractor = load_feature_extractor(
        script_args, model_args, data_args.sampling_rate or getattr(audio_feature, "sampling_rate", None)
    )

    # 2. The forget request (audio splits: the trainer and the reference models featurize them, once each).
    splits = make_forget_split(
        dataset,
        label_column=training_args.label_column,
        speaker_column=training_args.speaker_column,
        test_size=data_args.test_size,
        retain_eval_size=data_args.retain_eval_size,
        seed=data_args.split_seed,
        **request,
    )
    if len(splits.retain_eval) == 0:
        raise ValueError("The held-out retain split is empty: raise --retain_eval_size or use more data.")
    eval_splits = splits.eval_splits()  # forget_test included when the request has held-out recordings
    logger.info(
        "Forget request %s: forget %d, retain %d, retain-eval %d, test %d rows",
        request["by"],
        len(splits.forget),
        len(splits.retain),
        len(splits.retain_eval),
        len(splits.test),
    )

    # 3. Reference models.
    reference_dir = script_args.reference_dir or training_args.output_dir.rstrip("/") + "_references"
    key = {
        "data": [data_args.dataset_name, data_args.dataset_config_name, layout],
        "request": splits.summary(),
        "forget_indices": hashlib.sha256(json.dumps(splits.forget_indices).encode()).hexdigest(),
        "model": [model_args.model_name_or_path, model_args.model_type, model_args.model_revision],
        "training": [
            script_args.reference_epochs,
            script_args.reference_learning_rate,
            script_args.reference_batch_size,
            script_args.early_stopping_patience,
            training_args.seed,
        ],
    }
    if script_args.original_model_path:
        original_path, original_time = script_args.original_model_path, None
    else:
        original_path = os.path.join(reference_dir, "original")
        original_time = reference_model(
            "original",
            original_path,
            key,
            script_args,
            model_args,
            training_args,
            label_names,
            extractor,
            concatenate_datasets([splits.forget, splits.retain]),
            splits.retain_eval,
        )
    original_results, original_losses = evaluate_reference(
        original_path, label_names, extractor, eval_splits, training_args, original_time
    )
    rows, losses = {"original": original_results}, {"original": original_losses}
    gold_results, gold_path = None, None
    if script_args.gold_model_path or script_args.train_gold:
        if script_args.gold_model_path:
            gold_path, gold_time = script_args.gold_model_path, None
        else:
            if not (model_args.model_name_or_path or model_args.model_type):
                raise ValueError(
                    "The gold model is retrained from the original's starting point: pass --model_name_or_path or "
                    "--model_type, or an already trained --gold_model_path, or --train_gold false (no GUM/CGUM)."
                )
            gold_path = os.path.join(reference_dir, "gold")
            gold_time = reference_model(
                "gold",
                gold_path,
                key,
                script_args,
                model_args,
                training_args,
                label_names,
                extractor,
                splits.retain,
                splits.retain_eval,
            )
        gold_results, gold_losses = evaluate_reference(
            gold_path, label_names, extractor, eval_splits, training_args, gold_time
        )
        rows["gold"], losses["gold"] = gold_results, gold_losses
        if "train_time" not in gold_results:
            logger.warning("No training time is known for the gold model at %s: no GUM, CGUM or speed-up.", gold_path)

    # 4. Unlearn a fresh copy of the original (the trainer refuses an output_dir that is the original's folder).
    model = AutoModelForAudioClassification.from_pretrained(original_path)
    check_labels(model, label_names, original_path)
    trainer = UnlearningTrainer(
        method=trainer_class.method_key,
        model=model,
        args=training_args,
        forget_dataset=splits.forget,
        retain_dataset=splits.retain,
        eval_dataset=eval_splits,
        processing_class=extractor,
        original_results=original_results,
        gold_results=gold_results,
        **trainer_extras(lora, splits),
    )
    # The card the trainer writes at every save and push (the stock Trainer.create_model_card arguments).
    is_hub = layout == "hub"
    base_is_hub = bool(model_args.model_name_or_path) and not os.path.isdir(model_args.model_name_or_path)
    trainer.create_model_card(
        dataset=os.path.basename(os.path.normpath(data_args.dataset_name)),
        dataset_tags=data_args.dataset_name if is_hub else None,
        finetuned_from=model_args.model_name_or_path if base_is_hub else None,
    )
    train_output = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.log_metrics("train", train_output.metrics)

    # 5. Evaluate, save, push.
    metrics = trainer.evaluate()
    trainer.log_metrics("eval", metrics)
    unlearned = dict(trainer.last_eval_results)  # with undefined figures as None and their reasons
    unlearned["unlearning_time"] = trainer.unlearning_time
    rows[trainer_class.method_key] = unlearned
    losses[trainer_class.method_key] = trainer.last_eval_losses
    table = results_table(rows)
    trainer.save_model()
    results = {
        "method": trainer_class.method_key,
        "rows": rows,
        "request": splits.summary(),
        "data_layout": layout,
        "num_processes": training_args.world_size,
        "arguments": {
            "script": asdict(script_args),
            "data": _redacted(asdict(data_args)),
            "model": _redacted(asdict(model_args)),
            "method_config": trainer.unlearning_record()["config"],
            "training": trainer.unlearning_record()["training"],
        },
        "versions": {"hf_unlearn": hf_unlearn.__version__, "transformers": transformers.__version__},
        "wall_time": time.perf_counter() - started,
    }
    if script_args.relearn_steps and trainer.is_world_process_zero():
        from hf_unlearn.relearning import relearning_check

        gold_model = AutoModelForAudioClassification.from_pretrained(gold_path) if gold_path else None
        results["relearning"] = relearning_check(
            trainer.model,
            gold_model,
            extractor,
            splits.forget,
            steps=script_args.relearn_steps,
            seed=training_args.seed,
        )
        logger.info(
            "Relearning check: forget-probe accuracy AUC %.3f (gold: %s)",
            results["relearning"]["relearn_auc"],
            results["relearning"].get("gold_relearn_auc"),
        )
    if trainer.is_world_process_zero():
        print("\n" + table)
        output_dir = training_args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, "results.json"), "w") as handle:
            json.dump(results, handle, indent=2, default=str)
        with open(os.path.join(output_dir, "results.md"), "w") as handle:
            handle.write(table)
        results_figure(rows, losses, path=os.path.join(output_dir, "results.png"))
        logger.info("Saved the unlearned model and results to %s", output_dir)
    if training_args.push_to_hub:
        trainer.push_to_hub()
    return results


if __name__ == "__main__":
    main()
