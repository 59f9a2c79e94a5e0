"""Load a local copy of the Free Spoken Digit Dataset (FSDD).

FSDD (Zohar Jackson and contributors, CC BY-SA 4.0): recordings of the digits 0-9 in English, 8 kHz mono 16-bit WAV,
named ``{digit}_{speaker}_{take}.wav``. The release of 2024 has 6 speakers x 10 digits x 50 takes = 3,000 files. By
the dataset's own convention takes 0-4 of every digit and speaker are the test set and takes 5-49 the training set.
It is the dataset of "Machine Unlearning on Audio Classification", where one speaker is forgotten.

With ``label="speaker"`` the same files serve speaker identification: the label is the speaker and the test split is
still takes 0-4, so every speaker is in every split and the held-out clips are other recordings of known speakers.
Every file is one recording: ``make_forget_split(group_column="file")`` keeps it on one side of every split.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

from hf_unlearn.data.audio_utils import common_sampling_rate

__all__ = ["FSDD_FILENAME_PATTERN", "FSDD_LABELS", "FSDD_LABEL_KINDS", "FSDD_NUM_TEST_TAKES", "load_fsdd"]

FSDD_FILENAME_PATTERN = re.compile(r"^(?P<digit>[0-9])_(?P<speaker>[^_]+)_(?P<take>[0-9]+)\.wav$", re.IGNORECASE)
"""``{digit}_{speaker}_{take}.wav``, e.g. ``7_jackson_32.wav``."""

FSDD_LABELS = tuple(str(digit) for digit in range(10))

FSDD_LABEL_KINDS = ("digit", "speaker")
"""What ``load_fsdd(label=...)`` can make the ``label`` column: the spoken digit or the speaker."""

FSDD_NUM_TEST_TAKES = 5
"""Takes ``0 .. FSDD_NUM_TEST_TAKES - 1`` of every digit and speaker form the test split (FSDD's convention)."""

_LICENSE = "CC BY-SA 4.0"
_HOMEPAGE = "https://github.com/Jakobovski/free-spoken-digit-dataset"


def _recordings_folder(path: str | os.PathLike) -> Path:
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(
            f"FSDD folder {str(folder)!r} does not exist. Pass the folder holding `recordings/` or the `recordings` "
            "folder itself."
        )
    if not folder.is_dir():
        raise NotADirectoryError(f"FSDD path {str(folder)!r} is not a folder.")
    if (folder / "recordings").is_dir():
        folder = folder / "recordings"
    return folder


def load_fsdd(
    path: str | os.PathLike,
    sampling_rate: int | None = None,
    decode_audio: bool = True,
    strict: bool = True,
    label: str = "digit",
):
    """Load a local Free Spoken Digit Dataset folder as a `datasets.DatasetDict`.

    Args:
        path (`str` or `os.PathLike`):
            The folder holding ``recordings/`` (a clone of the FSDD repository) or the recordings folder itself.
        sampling_rate (`int`, *optional*):
            Decode at this rate (datasets resamples on decode). By default the files' own rate (8000 Hz) is used.
        decode_audio (`bool`, *optional*, defaults to `True`):
            With `False` the audio column is ``Audio(decode=False)`` and yields ``{"path", "bytes"}`` dicts, for
            environments without torchcodec; read them with :func:`hf_unlearn.data.load_audio_array`.
        strict (`bool`, *optional*, defaults to `True`):
            Files in the recordings folder whose names do not match ``{digit}_{speaker}_{take}.wav`` raise a
            `ValueError`; with `False` they are skipped with a warning. Hidden files and sub-folders are ignored.
        label (`str`, *optional*, defaults to `"digit"`):
            `"digit"`: ``label`` is the spoken digit (``ClassLabel(names=["0", ..., "9"])``). `"speaker"` (speaker
            identification): ``label`` is the speaker (``ClassLabel`` of the speaker names, sorted, the same in both
            splits), and the digit moves to a plain ``digit`` column (``int64``) that is not a label; class requests
            then forget speakers (``make_forget_split(data, by="class", values=["george"])``).

    Returns:
        `datasets.DatasetDict`: splits ``"train"`` (takes 5 and up) and ``"test"`` (takes 0-4, for either label) with
        columns ``audio`` (``Audio(sampling_rate=...)``), ``label``, ``speaker`` (`str`), ``take`` (``int64``) and
        ``file`` (absolute path; one recording per file), plus ``digit`` after ``speaker`` when
        ``label="speaker"``. Rows are sorted by digit, speaker and take.

    Raises:
        FileNotFoundError: if the folder is missing or holds no file named like ``{digit}_{speaker}_{take}.wav``.
        ValueError: if ``label`` is not one of `FSDD_LABEL_KINDS`, if ``strict`` and some file names do not match
            the pattern, or if the files have different sampling rates and no ``sampling_rate`` is given.
    """
    if label not in FSDD_LABEL_KINDS:
        raise ValueError(f"label={label!r} is not an FSDD label: choose one of {FSDD_LABEL_KINDS}.")

    folder = _recordings_folder(path)
    records, offenders = [], []
    for entry in sorted(os.scandir(folder), key=lambda entry: entry.name):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        match = FSDD_FILENAME_PATTERN.match(entry.name)
        if match is None:
            offenders.append(entry.name)
            continue
        records.append(
            {
                "label": int(match["digit"]),
                "speaker": match["speaker"],
                "take": int(match["take"]),
                "file": str(Path(entry.path).resolve()),
            }
        )
    if offenders:
        message = (
            f"{len(offenders)} file(s) in {str(folder)!r} do not match the FSDD name pattern "
            f"'{{digit}}_{{speaker}}_{{take}}.wav', e.g. {offenders[:5]}"
        )
        if strict:
            raise ValueError(message + "; remove them or pass strict=False to skip them.")
        warnings.warn(message + "; skipping them.", stacklevel=2)
    if not records:
        raise FileNotFoundError(
            f"No FSDD recordings in {str(folder)!r}: expected WAV files named '{{digit}}_{{speaker}}_{{take}}.wav' "
            "(e.g. '7_jackson_32.wav') in the folder or in its `recordings/` sub-folder."
        )
    records.sort(key=lambda record: (record["label"], record["speaker"], record["take"]))

    if sampling_rate is None:
        sampling_rate = common_sampling_rate([record["file"] for record in records], folder)

    import datasets

    speakers = sorted({record["speaker"] for record in records})
    by_speaker = label == "speaker"
    features = datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=int(sampling_rate), decode=decode_audio),
            "label": datasets.ClassLabel(names=speakers if by_speaker else list(FSDD_LABELS)),
            "speaker": datasets.Value("string"),
            **({"digit": datasets.Value("int64")} if by_speaker else {}),
            "take": datasets.Value("int64"),
            "file": datasets.Value("string"),
        }
    )
    task = "speaker identification" if by_speaker else "English digits 0-9"
    info = datasets.DatasetInfo(
        description=f"Free Spoken Digit Dataset ({task}): 8 kHz mono recordings of the digits 0-9.",
        homepage=_HOMEPAGE,
        license=_LICENSE,
        dataset_name="fsdd",
        features=features,
    )
    splits = {}
    for split in ("train", "test"):
        selected = [record for record in records if (record["take"] < FSDD_NUM_TEST_TAKES) == (split == "test")]
        columns = {
            "audio": [record["file"] for record in selected],
            "label": [speakers.index(r["speaker"]) if by_speaker else r["label"] for r in selected],
            "speaker": [record["speaker"] for record in selected],
            "take": [record["take"] for record in selected],
            "file": [record["file"] for record in selected],
        }
        if by_speaker:
            columns["digit"] = [record["label"] for record in selected]
        columns = {name: columns[name] for name in features}  # the features' column order
        splits[split] = datasets.Dataset.from_dict(columns, features=features, info=info.copy(), split=split)
    return datasets.DatasetDict(splits)
