"""Cut long recordings into fixed-length clips that remember which recording they came from.

Clips of one recording must stay on one side of every split (see `make_forget_split(group_column=...)`), so every
clip carries its recording's id.
"""

from __future__ import annotations

import logging

from hf_unlearn.data.audio_utils import load_audio_array, stored_sample_dtype
from hf_unlearn.data.groups import audio_digest

logger = logging.getLogger(__name__)

__all__ = ["window_clips"]


def _starts(num_samples: int, length: int, step: int, drop_last: bool) -> list[int]:
    if num_samples <= length:
        return [0]  # a recording shorter than one window is one (shorter) clip
    starts = list(range(0, num_samples - length + 1, step))
    if not drop_last and starts[-1] + length < num_samples:
        starts.append(num_samples - length)  # a last window flush with the end, so no sample is lost
    return starts


def window_clips(
    dataset,
    seconds: float,
    hop: float | None = None,
    audio_column: str = "audio",
    id_column: str = "recording",
    sampling_rate: int | None = None,
    drop_last: bool = False,
):
    """Cuts every recording into clips of `seconds`, one row per clip, keeping the recording's id.

    Args:
        dataset (`datasets.Dataset` or `datasets.DatasetDict`): rows with an audio column (every split is cut).
        seconds (`float`): clip length in seconds.
        hop (`float`, *optional*): seconds between clip starts; defaults to `seconds` (clips do not overlap).
        audio_column (`str`, *optional*, defaults to `"audio"`): the audio column (any value `load_audio_array`
            reads: a `datasets.Audio` column, decoded or not, or `{"array", "sampling_rate"}` dicts).
        id_column (`str`, *optional*, defaults to `"recording"`):
            The column naming each clip's recording, for `make_forget_split(group_column=id_column)`. If the data
            already has it, its values are copied to the clips; otherwise it is created from the recording's file
            path, or, for audio held in memory, from a SHA-1 of its samples (`"sha1:..."`).
        sampling_rate (`int`, *optional*): resample to this rate; defaults to the `Audio` feature's rate, or the
            audio's own.
        drop_last (`bool`, *optional*, defaults to `False`):
            With `False` a recording whose length is not a whole number of hops gets a last clip flush with its end
            (overlapping the one before), so no audio is lost. With `True` the remainder is dropped (logged with the
            total). A recording shorter than `seconds` is always kept as one shorter clip.

    Returns:
        The same type as `dataset`: the other columns copied to every clip, the audio as `{"array",
        "sampling_rate"}` (float32), plus `id_column`, `window` (the clip's index in its recording) and
        `window_start` (its start, in seconds).
    """
    import datasets

    if isinstance(dataset, (datasets.DatasetDict, dict)):
        return datasets.DatasetDict(
            {
                name: window_clips(split, seconds, hop, audio_column, id_column, sampling_rate, drop_last)
                for name, split in dataset.items()
            }
        )
    hop = seconds if hop is None else hop
    if seconds <= 0 or hop <= 0:
        raise ValueError(f"seconds and hop must be positive, got seconds={seconds}, hop={hop}.")
    if audio_column not in dataset.column_names:
        raise ValueError(f"No audio column {audio_column!r} (columns: {dataset.column_names}); pass audio_column=.")
    feature = dataset.features[audio_column]
    if isinstance(feature, datasets.Audio):
        sampling_rate = sampling_rate or feature.sampling_rate
        # Read files or bytes with soundfile: no decoder needed, and the path gives the recording's id.
        dataset = dataset.cast_column(audio_column, datasets.Audio(sampling_rate=feature.sampling_rate, decode=False))
    sample_dtype = stored_sample_dtype(feature)  # integer PCM in the column: scaled as soundfile reads it
    has_id = id_column in dataset.column_names
    features = datasets.Features(
        {
            **{name: value for name, value in dataset.features.items() if name != audio_column},
            audio_column: {
                "array": datasets.Sequence(datasets.Value("float32")),
                "sampling_rate": datasets.Value("int64"),
            },
            **({} if has_id else {id_column: datasets.Value("string")}),
            "window": datasets.Value("int64"),
            "window_start": datasets.Value("float64"),
        }
    )
    stats = {"recordings": 0, "short": 0, "dropped_seconds": 0.0}

    def cut(batch):
        out = {name: [] for name in features}
        for row in range(len(batch[audio_column])):
            value = batch[audio_column][row]
            audio, rate = load_audio_array(value, sampling_rate, sample_dtype=sample_dtype)
            length, step = max(1, int(round(seconds * rate))), max(1, int(round(hop * rate)))
            starts = _starts(len(audio), length, step, drop_last)
            stats["recordings"] += 1
            stats["short"] += len(audio) < length
            stats["dropped_seconds"] += max(0, len(audio) - (starts[-1] + length)) / rate
            if has_id:
                recording = batch[id_column][row]
            elif isinstance(value, dict) and value.get("path") and not value.get("bytes"):
                recording = value["path"]
            else:
                recording = "sha1:" + audio_digest({"array": audio, "sampling_rate": rate})
            for index, start in enumerate(starts):
                for name in batch:
                    if name != audio_column:
                        out[name].append(batch[name][row])
                out[audio_column].append({"array": audio[start : start + length], "sampling_rate": rate})
                if not has_id:
                    out[id_column].append(recording)
                out["window"].append(index)
                out["window_start"].append(start / rate)
        return out

    clips = dataset.map(
        cut, batched=True, batch_size=64, remove_columns=dataset.column_names, features=features, desc="Windowing"
    )
    if stats["recordings"]:  # zero when datasets reused a cached result
        logger.info(
            "Cut %d recordings into %d clips of %.2f s (hop %.2f s); %d shorter ones kept whole; %.1f s dropped",
            stats["recordings"],
            len(clips),
            seconds,
            hop,
            stats["short"],
            stats["dropped_seconds"],
        )
    return clips
