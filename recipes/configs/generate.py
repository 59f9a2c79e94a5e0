#!/usr/bin/env python
"""Writes `recipes/configs/<dataset>/<method>.yaml` for every dataset below and every method of
`hf_unlearn.list_methods()`, so that the YAML files stay consistent. Rerun it after adding a method:

    python recipes/configs/generate.py            # writes the files
    python recipes/configs/generate.py --check    # exits 1 if a file is missing or differs

Each file holds the dataset's arguments (data, the model the reference models are trained from) and the method's,
and NO forget request: give it on the command line (`--forget_classes 0`, `--forget_speakers george`,
`--forget_fraction 0.05`, or the UnSLU protocol `--forget_speaker_share 0.025 --min_speaker_utterances 100`).
For the transformer datasets the method's values are the UnSLU-BENCH learning rate (the method config's `"unslu"`
preset: one epoch of AdamW; Koudounas et al., Interspeech 2025, best-GUM rate per method) where UnSLU gives one, else
the method config's own default learning rate. For FSDD (the MFCC CNN, trained from scratch) the file names the one
home of its tuned values, `hf_unlearn/experiment/settings/fsdd.json` (`method_settings: fsdd`), which the recipe
applies per request kind at run time; the header lists them. FSDD's reference models use the MFCC CNN's defaults
(`hf_unlearn.experiment.defaults`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import yaml

CONFIGS_DIR = os.path.dirname(os.path.abspath(__file__))


def _unslu_intent_arguments(name: str, speaker_column: str, model: str, learning_rate: float, **layout) -> dict:
    """The arguments of an UnSLU-BENCH intent dataset (speaker protocol, batch 8, 10 reference epochs): `layout` holds
    the keys written between `dataset_name` and `speaker_column` (how the data is stored, the label column)."""
    return {
        "dataset_name": name,
        **layout,
        "speaker_column": speaker_column,
        "model_name_or_path": model,
        "reference_epochs": 10,
        "reference_learning_rate": learning_rate,
        "reference_batch_size": 8,
        "early_stopping_patience": 2,
        "per_device_train_batch_size": 8,
    }


# Per dataset: a comment (where the data comes from; what to check) and the arguments. Hub names and columns follow
# the datasets' cards; check them against the copy you load (`--dataset_name`, `--label_column`, `--speaker_column`).
DATASETS = {
    "fsdd": {
        "comment": "Free Spoken Digit Dataset, local folder (CC BY-SA 4.0): MFCC CNN from scratch at 8 kHz (the "
        "protocol of 'Machine Unlearning on Audio Classification'). Pass --dataset_name <folder> and a request, e.g. "
        "--forget_speakers george or --forget_classes 0 (add --label_column speaker for speaker identification).",
        "arguments": {
            "dataset_name": "path/to/free-spoken-digit-dataset",
            "data_layout": "fsdd",
            "model_type": "mfcc_cnn",
            "sampling_rate": 8000,
            "method_settings": "fsdd",
        },
        "lr_source": "settings",
        "request": "--forget_classes 0",
    },
    "speech_commands": {
        "comment": "Google Speech Commands v0.02 in its original layout ({word}/{speaker}_nohash_{n}.wav with "
        "validation_list.txt / testing_list.txt); _background_noise_ is skipped. UnSLU speaker protocol.",
        "arguments": {
            "dataset_name": "data/speech_commands_v0.02",
            "data_layout": "speech_commands",
            "model_name_or_path": "facebook/wav2vec2-base",
            "reference_epochs": 5,
            "reference_learning_rate": 3e-5,
            "reference_batch_size": 32,
            "early_stopping_patience": 2,
            "per_device_train_batch_size": 32,
        },
        "lr_source": "unslu",
        "request": "--forget_speaker_share 0.025 --min_speaker_utterances 100",
    },
    "fsc": {
        "comment": "Fluent Speech Commands (licence agreement; not on the Hub): prepare it as a datasets dataset with "
        "columns audio, intent and speakerId and save_to_disk, then pass --dataset_name <folder>. UnSLU-BENCH: "
        "wav2vec 2.0 base, speaker protocol (2.5 % of training utterances, speakers with > 100).",
        "arguments": _unslu_intent_arguments(
            "data/fsc", "speakerId", "facebook/wav2vec2-base", 5e-4, data_layout="disk", label_column="intent"
        ),
        "lr_source": "unslu",
        "request": "--forget_speaker_share 0.025 --min_speaker_utterances 100",
    },
    "slurp": {
        "comment": "SLURP (CC BY 4.0) as a datasets dataset saved to disk with columns audio, intent and speaker_id. "
        "UnSLU-BENCH: wav2vec 2.0 base, speaker protocol.",
        "arguments": _unslu_intent_arguments(
            "data/slurp", "speaker_id", "facebook/wav2vec2-base", 5e-4, data_layout="disk", label_column="intent"
        ),
        "lr_source": "unslu",
        "request": "--forget_speaker_share 0.025 --min_speaker_utterances 100",
    },
    "speech_massive": {
        "comment": "Speech-MASSIVE (CC BY-NC-SA 4.0) from the Hub, French; its labelled test set is a separate "
        "repository, so the validation split is the test split here. UnSLU-BENCH: XLS-R, speaker protocol.",
        "arguments": _unslu_intent_arguments(
            "FBK-MT/Speech-MASSIVE",
            "speaker_id",
            "facebook/wav2vec2-xls-r-300m",
            1e-4,
            dataset_config_name="fr-FR",
            data_layout="hub",
            test_split_name="validation",
            label_column="intent_idx",
        ),
        "lr_source": "unslu",
        "request": "--forget_speaker_share 0.025 --min_speaker_utterances 100",
    },
}


def _default(config_class, name: str):
    for f in dataclasses.fields(config_class):
        if f.name == name:
            return f.default
    raise KeyError(name)


def method_arguments(info, lr_source: str) -> tuple[dict, str]:
    """The method's arguments for one dataset, and where its learning rate comes from."""
    config_class = info.config_class
    if lr_source == "settings":
        from hf_unlearn.experiment import method_settings

        kinds = ("class", "speaker", "sample", "speaker_id")
        kinds = {kind: method_settings(info.key, "fsdd", kind) for kind in kinds}
        listed = "; ".join(
            f"{kind}: " + ", ".join(f"{k}={v}" for k, v in values.items() if not k.startswith("per_device"))
            for kind, values in kinds.items()
        )
        return {}, f"hf_unlearn/experiment/settings/fsdd.json per request kind ({listed})"
    preset = getattr(config_class, "PRESETS", {}).get("unslu")
    if preset:
        return dict(preset), f"UnSLU-BENCH ({config_class.__name__}.PRESETS['unslu'])"
    return (
        {"num_train_epochs": 1, "learning_rate": _default(config_class, "learning_rate"), "optim": "adamw_torch"},
        f"{config_class.__name__}'s default learning rate (UnSLU-BENCH does not run {info.key})",
    )


def render(dataset: str, info) -> str:
    spec = DATASETS[dataset]
    method_args, source = method_arguments(info, spec["lr_source"])
    values = {"method": info.key, **spec["arguments"], **method_args, "output_dir": f"runs/{dataset}-{info.key}"}
    header = [
        "# Generated by recipes/configs/generate.py: edit that script, not this file.",
        f"# {dataset}: {spec['comment']}",
        f"# {info.key}: {info.paper}",
        f"# Learning rate and epochs: {source}.",
        f"# Run: hf-unlearn unlearn --config recipes/configs/{dataset}/{info.key}.yaml "
        f"--dataset_name <folder> {spec['request']}",
    ]
    wrapped = []
    for line in header:
        while len(line) > 119:
            cut = line.rfind(" ", 0, 119)
            wrapped.append(line[:cut])
            line = "#  " + line[cut + 1 :]
        wrapped.append(line)
    return "\n".join(wrapped) + "\n" + yaml.safe_dump(values, sort_keys=False)


def expected_files() -> dict[str, str]:
    """`{path: text}` of every config file that should exist."""
    from hf_unlearn import list_methods

    return {
        os.path.join(CONFIGS_DIR, dataset, f"{info.key}.yaml"): render(dataset, info)
        for dataset in DATASETS
        for info in list_methods()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="Only check that the files are up to date.")
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected_files().items():
        current = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
    if args.check and stale:
        print(
            f"{len(stale)} config file(s) missing or out of date, e.g. {stale[:3]}: run recipes/configs/generate.py."
        )
        return 1
    print(f"{'Checked' if args.check else 'Wrote'} {len(expected_files())} config files ({len(stale)} changed).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
