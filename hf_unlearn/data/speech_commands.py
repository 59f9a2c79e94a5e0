"""Load a local folder in the layout of Google Speech Commands (Warden, "Speech Commands: A Dataset for
Limited-Vocabulary Speech Recognition", 2018), or any keyword data laid out the same way.

Layout: one folder per word, files named ``{speaker}_nohash_{utterance}.wav``, where ``speaker`` is the anonymised
speaker hash (e.g. ``yes/0a7c2a8d_nohash_0.wav``). The official release adds ``validation_list.txt`` and
``testing_list.txt`` at the top level (paths relative to it, one per line); when present they give the validation and
test splits, and every other file is training data, so the three splits never share a speaker.

Special folders:

- ``_background_noise_`` holds long noise recordings, not keyword examples: it is always skipped (with a log line).
- ``_silence_`` (not in the raw release; some prepared copies carry one-second noise clips there) is a class like the
  others when present and ``include_silence=True``; its files may have any name and are grouped under the
  pseudo-speaker ``"_silence_"``, so forgetting a real speaker never touches them. The UnSLU speaker protocol could
  draw that pseudo-speaker; pass ``include_silence=False`` to drop the folder (also logged) when that matters.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path

from hf_unlearn.data.audio_utils import common_sampling_rate

__all__ = ["BACKGROUND_NOISE_FOLDER", "SILENCE_FOLDER", "SPEECH_COMMANDS_FILENAME_PATTERN", "load_speech_commands"]

logger = logging.getLogger(__name__)

SPEECH_COMMANDS_FILENAME_PATTERN = re.compile(
    r"^(?P<speaker>[^_/]+)_nohash_(?P<utterance>[0-9]+)\.wav$", re.IGNORECASE
)
"""``{speaker}_nohash_{utterance}.wav``, e.g. ``0a7c2a8d_nohash_0.wav``."""

BACKGROUND_NOISE_FOLDER = "_background_noise_"
SILENCE_FOLDER = "_silence_"
_SPLIT_LISTS = {"validation": "validation_list.txt", "test": "testing_list.txt"}


def _read_list(path: Path) -> set[str]:
    with open(path, encoding="utf-8") as handle:
        return {line.strip().replace("\\", "/") for line in handle if line.strip()}


def load_speech_commands(
    path: str | os.PathLike,
    sampling_rate: int | None = None,
    decode_audio: bool = True,
    include_silence: bool = True,
    strict: bool = True,
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
        strict (`bool`, *optional*, defaults to `True`):
            A WAV file in a word folder whose name is not ``{speaker}_nohash_{utterance}.wav`` raises a `ValueError`;
            with `False` such files are skipped with a warning. Hidden files and non-WAV files are ignored.

    Returns:
        `datasets.DatasetDict`: ``"train"``, plus ``"validation"`` and ``"test"`` when ``validation_list.txt`` /
        ``testing_list.txt`` exist (a split whose list names no present file is left out). Columns: ``audio``,
        ``label`` (``ClassLabel`` over the word folders, sorted), ``speaker`` (`str`), ``utterance`` (``int64``;
        -1 for ``_silence_`` clips) and ``file`` (absolute path).

    Raises:
        FileNotFoundError: if the folder is missing or holds no word folder with WAV files.
        ValueError: on badly named files (``strict``), fewer than two classes, or mixed sampling rates.
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
            split = next((name for name, listed in lists.items() if relative in listed), "train")
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
            f"'{{speaker}}_nohash_{{utterance}}.wav', e.g. {offenders[:5]}"
        )
        if strict:
            raise ValueError(message + "; rename or remove them, or pass strict=False to skip them.")
        warnings.warn(message + "; skipping them.", stacklevel=2)
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
