"""A synthetic keyword-spotting dataset (speech-commands style), generated offline with eSpeak NG.

Every keyword is spoken by every voice in every *take*, a take being one (rate, pitch) combination. Some takes of each
(keyword, voice) pair are held out as the test split, so both splits hold every keyword and every speaker: forgetting
a class or a speaker can be measured on the test split as well as on the training split.

The clips are generated once per parameter set, by a fresh interpreter (eSpeak NG's output depends on what the process
synthesised before; see `hf_unlearn.data.keyword_synthesis`), so the same parameters give the same files whatever the
caller ran before; they are cached on disk as 16-bit WAV files, one folder per parameter set, and later calls read the
cache.
Needs the optional extra ``pip install "hf-unlearn[demo]"`` (eSpeak NG, GPL-3) to generate, not to read a cache.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_KEYWORDS",
    "DEFAULT_PITCHES",
    "DEFAULT_RATES",
    "DEFAULT_VOICES",
    "default_cache_dir",
    "make_keyword_dataset",
]

DEFAULT_KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
"""The ten command words of Speech Commands' 12-class task (without "silence" and "unknown")."""

DEFAULT_VOICES = (
    "en-us+m1",
    "en-us+f1",
    "en+m2",
    "en+f2",
    "en-gb-scotland+m3",
    "en-gb-scotland+f3",
    "en-029+m4",
    "en-029+f4",
    "en-gb-x-rp+m7",
    "en-us-nyc+m6",
)
"""Ten eSpeak NG voices: five male and five female variants over six English accents (American, British,
Scottish, Caribbean, Received Pronunciation, New York City). Their median F0 ranges from about 100 Hz (m1) to 230 Hz
(f3) at the default pitch."""

DEFAULT_RATES = (140, 175, 210)
"""Speaking rates in words per minute (eSpeak's default is 175)."""

DEFAULT_PITCHES = (35, 50, 65)
"""Base pitches on eSpeak's 0-100 scale (default 50); about +-15 % F0 around each voice's own pitch."""

# Bump when the generation procedure changes, so that old caches are not reused.
# 2: a fresh interpreter and a seeded eSpeak make the clips (1: they depended on the clock and the caller's history).
_CACHE_FORMAT_VERSION = 2
_PEAK = 0.9  # peak level after normalisation, below full scale so that 16-bit PCM never clips
_TRIM_TOP_DB = 40.0  # frames quieter than the loudest frame by more than this are silence
_TRIM_FRAME_SECONDS = 0.010
_TRIM_MARGIN_SECONDS = 0.010  # silence kept on each side of the trimmed clip


def default_cache_dir() -> Path:
    """``$HF_UNLEARN_CACHE/keywords`` if the variable is set, else ``~/.cache/hf_unlearn/keywords``."""
    root = os.environ.get("HF_UNLEARN_CACHE")
    base = Path(root).expanduser() if root else Path("~/.cache/hf_unlearn").expanduser()
    return base / "keywords"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_") or "x"


def _trim_and_normalise(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    """Cut leading and trailing silence (frame RMS below the loudest frame by ``_TRIM_TOP_DB``) and peak-normalise."""
    frame = max(1, int(round(_TRIM_FRAME_SECONDS * sampling_rate)))
    num_frames = len(audio) // frame
    if num_frames > 0:
        rms = np.sqrt(np.mean(audio[: num_frames * frame].reshape(num_frames, frame) ** 2, axis=1))
        loud = np.flatnonzero(rms > rms.max() * 10 ** (-_TRIM_TOP_DB / 20))
        if len(loud) > 0:
            margin = int(round(_TRIM_MARGIN_SECONDS * sampling_rate))
            start = max(0, loud[0] * frame - margin)
            stop = min(len(audio), (loud[-1] + 1) * frame + margin)
            audio = audio[start:stop]
    peak = np.abs(audio).max() if len(audio) else 0.0
    if peak > 0:
        audio = audio * (_PEAK / peak)
    return audio.astype(np.float32)


def _test_takes_for(pair_key: str, num_takes: int, test_takes: int | Sequence[int], seed: int) -> set[int]:
    """Held-out takes of one (keyword, voice) pair.

    With an int, that many takes are drawn per pair by sorting the takes on a hash of (seed, pair, take): the choice
    is deterministic and, unlike a NumPy generator, identical on every platform and version.
    """
    if isinstance(test_takes, int):
        order = sorted(
            range(num_takes), key=lambda take: hashlib.sha256(f"{seed}|{pair_key}|{take}".encode()).hexdigest()
        )
        return set(order[:test_takes])
    return set(test_takes)


def _validate(keywords, voices, rates, pitches, sampling_rate, test_takes):
    for name, values in (("keywords", keywords), ("voices", voices), ("rates", rates), ("pitches", pitches)):
        if isinstance(values, str) or len(values) == 0:
            raise ValueError(f"`{name}` must be a non-empty sequence, got {values!r}.")
        if len(set(values)) != len(values):
            raise ValueError(f"`{name}` has duplicates: {list(values)}.")
    if any(not str(keyword).strip() for keyword in keywords):
        raise ValueError(f"Keywords must be non-empty strings, got {list(keywords)}.")
    if int(sampling_rate) <= 0:
        raise ValueError(f"`sampling_rate` must be positive, got {sampling_rate}.")
    num_takes = len(rates) * len(pitches)
    if isinstance(test_takes, bool) or not isinstance(test_takes, (int, Sequence)):
        raise TypeError(f"`test_takes` must be an int or a sequence of take indices, got {test_takes!r}.")
    if isinstance(test_takes, int):
        if not 0 <= test_takes < num_takes:
            raise ValueError(
                f"`test_takes`={test_takes} must leave at least one of the {num_takes} takes "
                f"({len(rates)} rates x {len(pitches)} pitches) for training."
            )
    else:
        bad = [take for take in test_takes if not (isinstance(take, int) and 0 <= take < num_takes)]
        if bad or len(set(test_takes)) >= num_takes:
            raise ValueError(
                f"`test_takes` must be distinct take indices in [0, {num_takes}) leaving at least one for training, "
                f"got {list(test_takes)}."
            )


def _cache_folder(cache_dir: Path, params: dict) -> Path:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    name = (
        f"{len(params['keywords'])}kw-{len(params['voices'])}voices-"
        f"{len(params['rates']) * len(params['pitches'])}takes-{params['sampling_rate']}hz-{digest}"
    )
    return cache_dir / name


def _generate(folder: Path, params: dict) -> None:
    """Synthesise every clip into a temporary folder, then move it to ``folder`` in one rename.

    The clips are made by a fresh interpreter (`hf_unlearn.data.keyword_synthesis`, whose docstring says why): eSpeak
    NG's output depends on what the process synthesised before, so synthesising here would make the files depend on
    the caller's history.
    """
    import datasets

    from hf_unlearn.data.espeak import get_synthesizer

    synthesizer = get_synthesizer()  # raises the ImportError with the install hint before any file is written
    # Fail on a bad voice name here, with its own message, before the child synthesises hundreds of clips.
    for voice in params["voices"]:
        synthesizer.set_voice(voice)

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        # The child must import this package even when it is used from a source tree that is not installed.
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        # The child's progress bar follows the caller's choice (e.g. the demo's --quiet).
        if not datasets.is_progress_bar_enabled():
            env["TQDM_DISABLE"] = "1"
        command = [sys.executable, "-m", "hf_unlearn.data.keyword_synthesis", str(staging), json.dumps(params)]
        completed = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=False)
        if completed.returncode != 0 or not (staging / "params.json").is_file():
            raise RuntimeError(
                f"Synthesising the keyword dataset failed in its child process (exit code {completed.returncode}; "
                f"its error is printed above): {' '.join(command[:3])} ... Nothing was written to {folder}."
            )
        try:
            os.replace(staging, folder)
        except OSError:
            if not (folder / "params.json").exists():  # not a concurrent run that finished first
                raise
            logger.info("Another process generated %s first; using its files.", folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _read_cache(folder: Path, params: dict) -> list[dict]:
    info = json.loads((folder / "params.json").read_text(encoding="utf-8"))
    if info.get("params") != params:
        raise RuntimeError(
            f"The keyword cache {folder} was made with other parameters ({info.get('params')}); delete it or pass "
            "overwrite=True."
        )
    with open(folder / "metadata.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    missing = [row["file"] for row in rows if not (folder / row["file"]).is_file()]
    if missing:
        raise FileNotFoundError(
            f"The keyword cache {folder} is incomplete ({len(missing)} files missing, e.g. {missing[:3]}); "
            "pass overwrite=True to generate it again."
        )
    return rows


def make_keyword_dataset(
    cache_dir: str | os.PathLike | None = None,
    keywords: Sequence[str] = DEFAULT_KEYWORDS,
    voices: Sequence[str] = DEFAULT_VOICES,
    rates: Sequence[int] = DEFAULT_RATES,
    pitches: Sequence[int] = DEFAULT_PITCHES,
    sampling_rate: int = 16000,
    test_takes: int | Sequence[int] = 2,
    seed: int = 0,
    overwrite: bool = False,
    decode_audio: bool = True,
):
    """Synthetic keyword-spotting data: every keyword spoken by every voice at every (rate, pitch) take.

    The default configuration makes 10 keywords x 10 voices x 9 takes = 900 clips (700 train, 200 test) of about
    0.2-0.7 s at 16 kHz (11 MB). Generation runs once per parameter set (a few seconds) and is cached; later calls only
    read the cache and need neither eSpeak NG nor any network.

    Args:
        cache_dir (`str` or `os.PathLike`, *optional*):
            Where the parameter-set folders live. Defaults to :func:`default_cache_dir`
            (``$HF_UNLEARN_CACHE/keywords`` or ``~/.cache/hf_unlearn/keywords``). Each parameter set gets its own
            folder named after a hash of the parameters, holding ``audio/<label>_<keyword>/<voice>_take<k>.wav``
            (16-bit PCM), ``metadata.csv`` (one row per clip: file, split, label, keyword, speaker, take, rate,
            pitch, num_samples) and ``params.json``.
        keywords (`Sequence[str]`, *optional*, defaults to `DEFAULT_KEYWORDS`):
            The words (or phrases) to speak; their order gives the class ids.
        voices (`Sequence[str]`, *optional*, defaults to `DEFAULT_VOICES`):
            eSpeak NG voices ``"<language>+<variant>"``; each one is a speaker.
        rates (`Sequence[int]`, *optional*, defaults to `DEFAULT_RATES`):
            Speaking rates in words per minute.
        pitches (`Sequence[int]`, *optional*, defaults to `DEFAULT_PITCHES`):
            Base pitches, 0-100. Take ``k`` is rate ``rates[k // len(pitches)]`` at pitch
            ``pitches[k % len(pitches)]``.
        sampling_rate (`int`, *optional*, defaults to 16000):
            Rate of the stored clips; eSpeak's 22050 Hz output is resampled with soxr.
        test_takes (`int` or `Sequence[int]`, *optional*, defaults to 2):
            Takes held out as the test split. An int draws that many takes per (keyword, voice) pair, deterministically
            from `seed`; a sequence of take indices holds out the same takes for every pair.
        seed (`int`, *optional*, defaults to 0):
            Seed of the test-take draw.
        overwrite (`bool`, *optional*, defaults to `False`):
            Generate again even if a cache exists.
        decode_audio (`bool`, *optional*, defaults to `True`):
            With `False` the audio column is ``Audio(decode=False)`` and yields ``{"path", "bytes"}`` dicts, for
            environments without torchcodec; read them with :func:`hf_unlearn.data.load_audio_array`.

    Returns:
        `datasets.DatasetDict`: splits ``"train"`` and ``"test"`` with columns ``audio``
        (``Audio(sampling_rate=sampling_rate)``), ``label`` (``ClassLabel(names=keywords)``), ``speaker`` (the voice
        name), ``take`` (``int64``) and ``file`` (absolute path of the WAV file).

    Raises:
        ImportError: if the cache must be generated and ``espeakng-loader`` is not installed.
    """
    keywords, voices = [str(keyword) for keyword in keywords], [str(voice) for voice in voices]
    rates, pitches = [int(rate) for rate in rates], [int(pitch) for pitch in pitches]
    _validate(keywords, voices, rates, pitches, sampling_rate, test_takes)
    params = {
        "format_version": _CACHE_FORMAT_VERSION,
        "keywords": keywords,
        "voices": voices,
        "rates": rates,
        "pitches": pitches,
        "sampling_rate": int(sampling_rate),
        "test_takes": test_takes if isinstance(test_takes, int) else sorted(int(take) for take in test_takes),
        "seed": int(seed),
        "trim_top_db": _TRIM_TOP_DB,
        "peak": _PEAK,
    }
    folder = _cache_folder(Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir(), params)
    if overwrite and folder.exists():
        shutil.rmtree(folder)
    if (folder / "params.json").is_file():
        logger.info("Reusing the keyword dataset cached at %s", folder)
    else:
        logger.info("Synthesising the keyword dataset into %s", folder)
        _generate(folder, params)
    rows = _read_cache(folder, params)
    return _build_dataset_dict(folder, rows, keywords, int(sampling_rate), decode_audio)


def _build_dataset_dict(folder: Path, rows: list[dict], keywords: list[str], sampling_rate: int, decode_audio: bool):
    import datasets

    features = datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=sampling_rate, decode=decode_audio),
            "label": datasets.ClassLabel(names=keywords),
            "speaker": datasets.Value("string"),
            "take": datasets.Value("int64"),
            "file": datasets.Value("string"),
        }
    )
    info = datasets.DatasetInfo(
        description=(
            f"Synthetic keyword spotting: {len(keywords)} keywords spoken by eSpeak NG voices, generated by "
            "hf_unlearn.data.make_keyword_dataset."
        ),
        dataset_name="hf_unlearn_keywords",
        features=features,
    )
    splits = {}
    for split in ("train", "test"):
        selected = [row for row in rows if row["split"] == split]
        files = [str((folder / row["file"]).resolve()) for row in selected]
        columns = {
            "audio": files,
            "label": [int(row["label"]) for row in selected],
            "speaker": [row["speaker"] for row in selected],
            "take": [int(row["take"]) for row in selected],
            "file": files,
        }
        splits[split] = datasets.Dataset.from_dict(columns, features=features, info=info.copy(), split=split)
    return datasets.DatasetDict(splits)
