"""The data layouts an experiment loads (`--data_layout`): one table of records, each with its detector and loader.

The argument's choices, `--data_layout auto` (detection) and loading all read `DATA_LAYOUTS`. A new layout is one
record here (name, detector, loader, description) and one case in the layout tests (`tests/test_data_layouts.py`,
which fails for a layout without one).

Detection tries the layouts in table order and takes the first whose detector accepts the dataset name; `hub` accepts
any name that is not a local folder, and `audiofolder`, which accepts any folder, comes last.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["AUTO", "DATA_LAYOUTS", "DataLayout", "data_layout", "detect_layout", "layout_choices"]

#: The `--data_layout` value that detects the layout from the dataset name.
AUTO = "auto"


@dataclass(frozen=True)
class DataLayout:
    """One data layout.

    Args:
        name (`str`): the `--data_layout` value.
        description (`str`): what the detector recognises (the `--data_layout` help reads it).
        detect (`Callable[[str], bool]`): whether a dataset name (a Hub name or a local path) has this layout.
        load (`Callable[[str, Any, Any, str], datasets.Dataset | datasets.DatasetDict]`): loads `name` given the
            data arguments (`dataset_config_name`, `strict_layout`), the model arguments (`cache_dir`, `token`) and
            the label column.
        local (`bool`, *optional*, defaults to `True`): the name must be a local folder.
        speaker_labels_in (`str`, *optional*): the loader, asked for the `speaker` label column, puts the speaker in
            this column instead (FSDD loaded for speaker identification keeps it in `label`).
        keeps_validation (`Callable[[str], bool]`, *optional*): whether the loaded `validation` split of a folder is
            held out by speaker and becomes the request's validation.
    """

    name: str
    description: str
    detect: Callable[[str], bool]
    load: Callable[[str, Any, Any, str], Any]
    local: bool = True
    speaker_labels_in: str | None = None
    keeps_validation: Callable[[str], bool] | None = None


def _is_saved_dataset(path: str) -> bool:
    return os.path.isdir(path) and any(
        os.path.exists(os.path.join(path, name)) for name in ("dataset_dict.json", "state.json")
    )


#: An audiofolder's own description of its files (labels, speakers): a folder holding one is read as audiofolder,
#: whatever its file names say.
AUDIOFOLDER_METADATA = ("metadata.csv", "metadata.jsonl")


def _describes_itself(path: str) -> bool:
    return any(os.path.isfile(os.path.join(path, name)) for name in AUDIOFOLDER_METADATA)


def _is_fsdd(path: str) -> bool:
    from hf_unlearn.data.fsdd import FSDD_FILENAME_PATTERN

    if not os.path.isdir(path) or _describes_itself(path):
        return False
    recordings = os.path.join(path, "recordings")
    flat = recordings if os.path.isdir(recordings) else path
    return any(FSDD_FILENAME_PATTERN.match(name) for name in os.listdir(flat))


def _is_speech_commands(path: str) -> bool:
    from hf_unlearn.data.speech_commands import SPEECH_COMMANDS_FILENAME_PATTERN

    if not os.path.isdir(path) or _describes_itself(path):
        return False
    return any(
        entry.is_dir() and any(SPEECH_COMMANDS_FILENAME_PATTERN.match(name) for name in os.listdir(entry.path))
        for entry in os.scandir(path)
    )


def _load_hub(name, data_args, model_args, label_column):
    import datasets

    return datasets.load_dataset(
        name, data_args.dataset_config_name, cache_dir=model_args.cache_dir, token=model_args.token
    )


def _load_audiofolder(name, data_args, model_args, label_column):
    import datasets

    return datasets.load_dataset("audiofolder", data_dir=name, cache_dir=model_args.cache_dir)


def _load_disk(name, data_args, model_args, label_column):
    import datasets

    return datasets.load_from_disk(name)


def _load_fsdd(name, data_args, model_args, label_column):
    from hf_unlearn.data.fsdd import load_fsdd

    return load_fsdd(name, label="speaker" if label_column == "speaker" else "digit")


def check_training_partition(path: str) -> None:
    """Refuses a Speech Commands folder without split lists whose speakers all fall in the official validation or
    test partition under Speech Commands' speaker-hash rule (e.g. a copy of the official test set): read that way it
    has no training data, and the error says so before anything is loaded, naming `--data_layout audiofolder` (labels
    from the word folders, splits drawn from the folder itself)."""
    from hf_unlearn.data.speech_commands import SPEECH_COMMANDS_FILENAME_PATTERN, speaker_split

    if not _speech_commands_without_split_lists(path):
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


def _load_speech_commands(name, data_args, model_args, label_column):
    from hf_unlearn.data.speech_commands import load_speech_commands

    check_training_partition(name)
    return load_speech_commands(name, strict_layout=getattr(data_args, "strict_layout", False))


def _speech_commands_without_split_lists(path: str) -> bool:
    """Without the release's split lists, the loader holds out speakers as `validation` (see `speaker_split`)."""
    return not any(os.path.isfile(os.path.join(path, name)) for name in ("validation_list.txt", "testing_list.txt"))


#: The layouts, in detection order (see the module docstring).
DATA_LAYOUTS: tuple[DataLayout, ...] = (
    DataLayout("hub", "a name that is not a local path", lambda name: not os.path.isdir(name), _load_hub, local=False),
    DataLayout("disk", "a local folder saved with save_to_disk", _is_saved_dataset, _load_disk),
    DataLayout(
        "fsdd", "FSDD-named files ({digit}_{speaker}_{take}.wav)", _is_fsdd, _load_fsdd, speaker_labels_in="label"
    ),
    DataLayout(
        "speech_commands",
        "word folders of *_nohash_*.wav",
        _is_speech_commands,
        _load_speech_commands,
        keeps_validation=_speech_commands_without_split_lists,
    ),
    DataLayout("audiofolder", "a folder with metadata.csv, or any other folder", os.path.isdir, _load_audiofolder),
)


def layout_choices() -> tuple[str, ...]:
    """The values `--data_layout` accepts: `auto`, then every layout's name."""
    return (AUTO, *(layout.name for layout in DATA_LAYOUTS))


def data_layout(name: str) -> DataLayout:
    """The record of the layout called `name`; the error lists the choices."""
    for layout in DATA_LAYOUTS:
        if layout.name == name:
            return layout
    raise ValueError(f"--data_layout {name!r} is not valid: choose one of {layout_choices()}.")


def detect_layout(path: str) -> str:
    """The name of the first layout (in table order) whose detector accepts `path`."""
    return next(layout.name for layout in DATA_LAYOUTS if layout.detect(path))
