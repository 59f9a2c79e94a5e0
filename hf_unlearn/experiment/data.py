"""Loading audio classification data for an experiment (the recipe and the benchmark): Hub datasets, local
`audiofolder`, Speech Commands and FSDD folders, datasets saved with `save_to_disk`; label columns as `ClassLabel`;
the forget request from command-line options."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

DATA_LAYOUTS = ("auto", "hub", "audiofolder", "speech_commands", "fsdd", "disk")


def data_label_column(layout: str, label_column: str) -> str:
    """The label column of the loaded data: FSDD loaded for speaker identification keeps the speaker in `label`."""
    return "label" if layout == "fsdd" and label_column == "speaker" else label_column


def request_kind(data_args) -> str | None:
    """`"class"`, `"speaker"`, `"sample"` or `"speaker_id"` (a class request on speaker labels: forgetting a speaker in
    a speaker-identification model) from the forget options given (None when none is)."""
    if getattr(data_args, "forget_classes", None):
        return "speaker_id" if getattr(data_args, "label_column", None) == "speaker" else "class"
    if getattr(data_args, "forget_speakers", None) or getattr(data_args, "forget_speaker_share", None) is not None:
        return "speaker"
    return "sample" if getattr(data_args, "forget_fraction", None) is not None else None


AUDIOFOLDER_METADATA = ("metadata.csv", "metadata.jsonl")


def detect_layout(path: str) -> str:
    """The layout of a local folder: `disk`, `audiofolder` (a folder with an audiofolder `metadata.csv` or
    `metadata.jsonl`, whatever its file names), `fsdd`, `speech_commands`, else `audiofolder`."""
    from hf_unlearn.data.fsdd import FSDD_FILENAME_PATTERN
    from hf_unlearn.data.speech_commands import SPEECH_COMMANDS_FILENAME_PATTERN

    if any(os.path.exists(os.path.join(path, name)) for name in ("dataset_dict.json", "state.json")):
        return "disk"
    if any(os.path.isfile(os.path.join(path, name)) for name in AUDIOFOLDER_METADATA):
        return "audiofolder"  # the folder describes itself: its labels and speakers are in the metadata
    recordings = os.path.join(path, "recordings")
    flat = recordings if os.path.isdir(recordings) else path
    if any(FSDD_FILENAME_PATTERN.match(name) for name in os.listdir(flat)):
        return "fsdd"
    for entry in os.scandir(path):
        if entry.is_dir() and any(SPEECH_COMMANDS_FILENAME_PATTERN.match(name) for name in os.listdir(entry.path)):
            return "speech_commands"
    return "audiofolder"


def check_training_partition(path: str) -> None:
    """Refuses a Speech Commands folder without split lists whose speakers all fall in the official validation or
    test partition under Speech Commands' speaker-hash rule (e.g. a copy of the official test set): read that way it
    has no training data, and the error says so before anything is loaded, naming `--data_layout audiofolder` (labels
    from the word folders, splits drawn from the folder itself)."""
    from hf_unlearn.data.speech_commands import SPEECH_COMMANDS_FILENAME_PATTERN, speaker_split

    if any(os.path.isfile(os.path.join(path, name)) for name in ("validation_list.txt", "testing_list.txt")):
        return  # split lists decide, and `load_speech_commands` reports lists that cover every file
    speakers = set()
    for entry in os.scandir(path):
        if entry.is_dir() and not entry.name.startswith(("_", ".")):
            matches = (SPEECH_COMMANDS_FILENAME_PATTERN.match(name) for name in os.listdir(entry.path))
            speakers.update(match["speaker"] for match in matches if match)
    if speakers and all(speaker_split(speaker) != "train" for speaker in speakers):
        raise ValueError(
            f"Every one of the {len(speakers)} speakers of {path!r} falls in Speech Commands' official validation or "
            "test partition (speaker-hash rule), e.g. a copy of the official test set: read as 'speech_commands' it "
            "has no training data. Pass --data_layout audiofolder to read it as a plain folder of word folders "
            "(splits are then drawn from the folder itself)."
        )


def load_audio_dataset(data_args, model_args, label_column: str = "label"):
    """Loads the data as a `DatasetDict` with the training split under `train` and, if any, the test split under
    `test` (and, for a Speech Commands folder without split lists, its speaker-held-out `validation`); returns
    `(dataset, layout)`. On an FSDD folder, `label_column="speaker"` loads speaker identification
    (`load_fsdd(label="speaker")`: the `label` column holds the speaker, see `data_label_column`)."""
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
    if layout == "speech_commands":
        check_training_partition(name)
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
        loaded = load_fsdd(name, label="speaker" if label_column == "speaker" else "digit")
    else:
        loaded = load_speech_commands(name, strict_layout=getattr(data_args, "strict_layout", False))

    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({data_args.train_split_name: loaded})
    if data_args.train_split_name not in loaded:
        raise ValueError(
            f"--train_split_name {data_args.train_split_name!r} is not a split of {name!r}; splits: {list(loaded)}."
        )
    result = {"train": loaded[data_args.train_split_name]}
    if data_args.test_split_name in loaded:
        result["test"] = loaded[data_args.test_split_name]
    lists = ("validation_list.txt", "testing_list.txt")
    if (
        layout == "speech_commands"
        and "validation" in loaded
        and not any(os.path.isfile(os.path.join(name, f)) for f in lists)
    ):
        result["validation"] = loaded["validation"]  # held out by speaker: the request's validation (`request_splits`)
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


def forget_request(data_args) -> dict:
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
