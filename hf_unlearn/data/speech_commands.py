"""Load a local folder in the layout of Google Speech Commands (Warden, "Speech Commands: A Dataset for
Limited-Vocabulary Speech Recognition", 2018), or any keyword data laid out the same way.

Layout: one folder per word, files named ``{speaker}_nohash_{utterance}.wav``, where ``speaker`` is the anonymised
speaker hash (e.g. ``yes/0a7c2a8d_nohash_0.wav``); the variant ``{word}_{speaker}_nohash_{utterance}.wav`` (found in
extra-word folders of public copies) is read the same way, with its speaker. Other files are skipped, with their count
and a few examples logged (``strict_layout=True`` refuses them). The official release adds ``validation_list.txt`` and
``testing_list.txt`` at the top level (paths relative to it, one per line); when present they give the validation and
test splits, and every other file is training data, so the three splits never share a speaker. Without them the
splits are made the way those lists were made ([`speaker_split`]): by a SHA-1 hash of the speaker id, so a speaker's
recordings all land in one split, and a speaker keeps its split when recordings are added.

Special folders:

- ``_background_noise_`` holds long noise recordings, not keyword examples: it is always skipped (with a log line).
- ``_silence_`` (not in the raw release; some prepared copies carry one-second noise clips there) is a class like the
  others when present and ``include_silence=True``; its files may have any name and are grouped under the
  pseudo-speaker ``"_silence_"``, so forgetting a real speaker never touches them. The UnSLU speaker protocol could
  draw that pseudo-speaker; pass ``include_silence=False`` to drop the folder (also logged) when that matters.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

from hf_unlearn.data.audio_utils import common_sampling_rate

__all__ = [
    "BACKGROUND_NOISE_FOLDER",
    "SILENCE_FOLDER",
    "SPEECH_COMMANDS_FILENAME_PATTERN",
    "load_speech_commands",
    "speaker_split",
    "split_by_speaker",
]

logger = logging.getLogger(__name__)

SPEECH_COMMANDS_FILENAME_PATTERN = re.compile(
    r"^(?:(?P<prefix>[^/]+)_)?(?P<speaker>[^_/]+)_nohash_(?P<utterance>[0-9]+)\.wav$", re.IGNORECASE
)
"""``{speaker}_nohash_{utterance}.wav`` (``0a7c2a8d_nohash_0.wav``) or ``{word}_{speaker}_nohash_{utterance}.wav``."""

# Speech Commands' own split rule (`which_set` of TensorFlow's speech_commands example, input_data.py): the SHA-1 of
# the speaker id, modulo this, as a percentage.
_MAX_NUM_WAVS_PER_CLASS = 2**27 - 1
DEFAULT_VALIDATION_PERCENTAGE = 10.0
DEFAULT_TESTING_PERCENTAGE = 10.0

BACKGROUND_NOISE_FOLDER = "_background_noise_"
SILENCE_FOLDER = "_silence_"
_SPLIT_LISTS = {"validation": "validation_list.txt", "test": "testing_list.txt"}


def _read_list(path: Path) -> set[str]:
    with open(path, encoding="utf-8") as handle:
        return {line.strip().replace("\\", "/") for line in handle if line.strip()}


def speaker_split(
    speaker: str,
    validation_percentage: float = DEFAULT_VALIDATION_PERCENTAGE,
    testing_percentage: float = DEFAULT_TESTING_PERCENTAGE,
) -> str:
    """The split (`"train"`, `"validation"` or `"test"`) of a speaker under Speech Commands' rule: the SHA-1 of the
    speaker id taken modulo 2**27 - 1 and scaled to a percentage; below `validation_percentage` is validation, below
    the sum of both test. Deterministic, independent of the other speakers, and stable as data is added."""
    if not (
        0 <= validation_percentage and 0 <= testing_percentage and validation_percentage + testing_percentage < 100
    ):
        raise ValueError(
            f"validation_percentage={validation_percentage} and testing_percentage={testing_percentage} must be "
            "non-negative and sum to less than 100."
        )
    hashed = int(hashlib.sha1(str(speaker).encode("utf-8")).hexdigest(), 16)
    percentage = (hashed % (_MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / _MAX_NUM_WAVS_PER_CLASS)
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "test"
    return "train"


def split_by_speaker(
    dataset,
    speaker_column: str = "speaker",
    validation_percentage: float = DEFAULT_VALIDATION_PERCENTAGE,
    testing_percentage: float = DEFAULT_TESTING_PERCENTAGE,
):
    """Splits a `datasets.Dataset` into train / validation / test by speaker ([`speaker_split`]), so that no speaker
    is in two splits: the held-out splits for data without split lists.

    Returns:
        `datasets.DatasetDict` with ``"train"`` and those of ``"validation"`` / ``"test"`` that got a speaker (a
        small dataset may have none in one of them: the log says so).
    """
    import datasets

    if speaker_column not in dataset.column_names:
        raise ValueError(
            f"Column {speaker_column!r} is not in the dataset (columns: {dataset.column_names}): pass the column that "
            "holds the speaker id as speaker_column=."
        )
    assigned = {
        speaker: speaker_split(speaker, validation_percentage, testing_percentage)
        for speaker in set(dataset[speaker_column])
    }
    indices = {"train": [], "validation": [], "test": []}
    for index, speaker in enumerate(dataset[speaker_column]):
        indices[assigned[speaker]].append(index)
    splits = {name: dataset.select(rows) for name, rows in indices.items() if rows}
    counts = {name: sum(split == name for split in assigned.values()) for name in indices}
    logger.info("Split by speaker hash (Speech Commands' rule): speakers per split %s.", counts)
    if "train" not in splits:
        raise ValueError(f"No speaker fell in the training split ({counts}): lower the held-out percentages.")
    return datasets.DatasetDict(splits)


def load_speech_commands(
    path: str | os.PathLike,
    sampling_rate: int | None = None,
    decode_audio: bool = True,
    include_silence: bool = True,
    strict_layout: bool = False,
    split_by_speaker_hash: bool = True,
    validation_percentage: float = DEFAULT_VALIDATION_PERCENTAGE,
    testing_percentage: float = DEFAULT_TESTING_PERCENTAGE,
):
    """Load a local Speech Commands-style folder as a `datasets.DatasetDict`.

    Args:
        path (`str` or `os.PathLike`):
            The folder holding one sub-folder per word.
        sampling_rate (`int`, *optional*):
            Decode at this rate (datasets resamples on decode). By default the files' own rate is used (16 kHz for
            Speech Commands); files at several rates then raise.
        decode_audio (`bool`, *optional*, defaults to `True`):
            With `False` the audio column is ``Audio(decode=False)`` (``{"path", "bytes"}`` dicts, read with
            :func:`hf_unlearn.data.load_audio_array`), for environments without torchcodec.
        include_silence (`bool`, *optional*, defaults to `True`):
            Keep a ``_silence_`` folder as a class (see the module docstring); with `False` it is skipped.
        strict_layout (`bool`, *optional*, defaults to `False`):
            A WAV file in a word folder whose name matches neither ``{speaker}_nohash_{utterance}.wav`` nor
            ``{word}_{speaker}_nohash_{utterance}.wav`` is skipped, their count and examples logged; with `True`
            such files raise a `ValueError`. Hidden files and non-WAV files are ignored.
        split_by_speaker_hash (`bool`, *optional*, defaults to `True`):
            Without split lists, hold out validation and test by speaker ([`speaker_split`]); with `False` every
            file is training data.
        validation_percentage, testing_percentage (`float`, *optional*, default to 10.0): the shares of the
            speaker-hash range held out (Speech Commands' defaults).

    Returns:
        `datasets.DatasetDict`: ``"train"``, plus ``"validation"`` and ``"test"`` from ``validation_list.txt`` /
        ``testing_list.txt`` or, without them, from the speaker hash (a split with no file is left out). Columns:
        ``audio``, ``label`` (``ClassLabel`` over the word folders, sorted), ``speaker`` (`str`), ``utterance``
        (``int64``; -1 for ``_silence_`` clips) and ``file`` (absolute path).

    Raises:
        FileNotFoundError: if the folder is missing or holds no word folder with WAV files.
        ValueError: on badly named files (``strict_layout``), fewer than two classes, or mixed sampling rates.
    """

    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Speech Commands folder {str(folder)!r} does not exist or is not a folder: pass the folder holding one "
            "sub-folder per word (e.g. yes/0a7c2a8d_nohash_0.wav)."
        )
    lists = {split: _read_list(folder / name) for split, name in _SPLIT_LISTS.items() if (folder / name).is_file()}

    records, offenders = [], []
    for word_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        word = word_dir.name
        if word == BACKGROUND_NOISE_FOLDER:
            logger.info("Skipping %s: long noise recordings, not keyword examples.", word_dir)
            continue
        if word == SILENCE_FOLDER and not include_silence:
            logger.info("Skipping %s (include_silence=False).", word_dir)
            continue
        for file in sorted(word_dir.iterdir()):
            if file.name.startswith(".") or not file.is_file() or file.suffix.lower() != ".wav":
                continue
            match = SPEECH_COMMANDS_FILENAME_PATTERN.match(file.name)
            if word == SILENCE_FOLDER:
                speaker, utterance = SILENCE_FOLDER, -1
            elif match is None:
                offenders.append(f"{word}/{file.name}")
                continue
            else:
                speaker, utterance = match["speaker"], int(match["utterance"])
            relative = f"{word}/{file.name}"
            if lists or not split_by_speaker_hash:
                split = next((name for name, listed in lists.items() if relative in listed), "train")
            else:  # silence clips have no speaker: each goes its own way
                key = relative if speaker == SILENCE_FOLDER else speaker
                split = speaker_split(key, validation_percentage, testing_percentage)
            records.append(
                {
                    "word": word,
                    "speaker": speaker,
                    "utterance": utterance,
                    "file": str(file.resolve()),
                    "split": split,
                }
            )
    if offenders:
        message = (
            f"{len(offenders)} file(s) under {str(folder)!r} do not match the Speech Commands name pattern "
            f"'[{{word}}_]{{speaker}}_nohash_{{utterance}}.wav', e.g. {offenders[:5]}"
        )
        if strict_layout:
            raise ValueError(message + "; rename or remove them, or pass strict_layout=False to skip them.")
        logger.warning("%s; skipping them (strict_layout=True refuses them).", message)
    if not lists and split_by_speaker_hash:
        logger.info(
            "No %s: holding out validation (%.0f %%) and test (%.0f %%) by speaker hash, Speech Commands' rule.",
            " / ".join(_SPLIT_LISTS.values()),
            validation_percentage,
            testing_percentage,
        )
    if not records:
        raise FileNotFoundError(
            f"No keyword recordings in {str(folder)!r}: expected word folders holding files named "
            "'{speaker}_nohash_{utterance}.wav'."
        )
    words = sorted({record["word"] for record in records})
    if len(words) < 2:
        raise ValueError(f"Only one word folder ({words}) in {str(folder)!r}: a classifier needs at least two.")

    if sampling_rate is None:
        sampling_rate = common_sampling_rate([record["file"] for record in records], folder)

    import datasets

    features = datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=int(sampling_rate), decode=decode_audio),
            "label": datasets.ClassLabel(names=words),
            "speaker": datasets.Value("string"),
            "utterance": datasets.Value("int64"),
            "file": datasets.Value("string"),
        }
    )
    splits = {}
    for split in ("train", "validation", "test"):
        selected = [record for record in records if record["split"] == split]
        if not selected:
            continue
        columns = {
            "audio": [record["file"] for record in selected],
            "label": [words.index(record["word"]) for record in selected],
            "speaker": [record["speaker"] for record in selected],
            "utterance": [record["utterance"] for record in selected],
            "file": [record["file"] for record in selected],
        }
        splits[split] = datasets.Dataset.from_dict(columns, features=features, split=split)
    if "train" not in splits:
        raise ValueError(f"Every file of {str(folder)!r} is in the validation or test list: no training data.")
    return datasets.DatasetDict(splits)
