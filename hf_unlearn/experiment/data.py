"""Loading audio classification data for an experiment (the recipe and the benchmark): Hub datasets, local
`audiofolder`, Speech Commands and FSDD folders, datasets saved with `save_to_disk`; label columns as `ClassLabel`;
the forget request from command-line options."""

from __future__ import annotations

import logging
import os

from hf_unlearn.data.layouts import AUTO, DATA_LAYOUTS, data_layout, detect_layout, layout_choices

__all__ = [
    "DATA_LAYOUTS",
    "data_label_column",
    "detect_layout",
    "forget_request",
    "layout_choices",
    "load_audio_dataset",
    "prepare_columns",
    "request_kind",
]

logger = logging.getLogger(__name__)


def data_label_column(layout: str, label_column: str) -> str:
    """The label column of the loaded data: a layout may keep the speaker elsewhere when asked for speaker labels
    (FSDD loaded for speaker identification keeps it in `label`, see `DataLayout.speaker_labels_in`)."""
    moved_to = data_layout(layout).speaker_labels_in
    return moved_to if moved_to and label_column == "speaker" else label_column


def request_kind(data_args) -> str | None:
    """`"class"`, `"speaker"`, `"sample"` or `"speaker_id"` (a class or speaker request on speaker labels: forgetting a
    speaker in a speaker-identification model, `--label_column speaker` or the label column being `--speaker_column`)
    from the forget options given (None when none is). `ForgetSplits.request_kind` infers the same from the data."""
    label_column = getattr(data_args, "label_column", None)
    on_speakers = label_column is not None and label_column in ("speaker", getattr(data_args, "speaker_column", None))
    if getattr(data_args, "forget_classes", None):
        return "speaker_id" if on_speakers else "class"
    if getattr(data_args, "forget_speakers", None) or getattr(data_args, "forget_speaker_share", None) is not None:
        return "speaker_id" if on_speakers else "speaker"
    return "sample" if getattr(data_args, "forget_fraction", None) is not None else None


def load_audio_dataset(data_args, model_args, label_column: str = "label"):
    """Loads the data as a `DatasetDict` with the training split under `train` and, if any, the test split under
    `test` (and, for a Speech Commands folder without split lists, its speaker-held-out `validation`); returns
    `(dataset, layout)`. On an FSDD folder, `label_column="speaker"` loads speaker identification
    (`load_fsdd(label="speaker")`: the `label` column holds the speaker, see `data_label_column`)."""
    import datasets

    if data_args.data_layout != AUTO:
        data_layout(data_args.data_layout)  # an unknown layout fails before the name is looked at
    name = data_args.dataset_name
    if not name:
        raise ValueError("Pass --dataset_name: a Hub dataset name or a local folder.")
    layout = data_layout(detect_layout(name) if data_args.data_layout == AUTO else data_args.data_layout)
    if layout.local and not os.path.isdir(name):
        raise ValueError(f"--dataset_name {name!r} is not a local folder, but --data_layout is {layout.name!r}.")
    logger.info("Loading %s as %r", name, layout.name)
    loaded = layout.load(name, data_args, model_args, label_column)

    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({data_args.train_split_name: loaded})
    if data_args.train_split_name not in loaded:
        raise ValueError(
            f"--train_split_name {data_args.train_split_name!r} is not a split of {name!r}; splits: {list(loaded)}."
        )
    result = {"train": loaded[data_args.train_split_name]}
    if data_args.test_split_name in loaded:
        result["test"] = loaded[data_args.test_split_name]
    if "validation" in loaded and layout.keeps_validation is not None and layout.keeps_validation(name):
        result["validation"] = loaded["validation"]  # held out by speaker: the request's validation (`request_splits`)
    else:
        logger.info(
            "No split %r: holding out %.0f %% of train as test.", data_args.test_split_name, 100 * data_args.test_size
        )
    return datasets.DatasetDict(result), layout.name


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
