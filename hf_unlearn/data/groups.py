"""Groups of rows that must stay on one side of a split: recordings, utterances, source files, identical audio.

Clips cut from one recording (or several takes of one utterance) are near copies of each other. If some land in
training and others in a held-out split, the held-out figures measure memorisation rather than generalisation, and a
forgotten sample's twin in the retain set teaches it back. [`make_forget_split`] therefore assigns whole groups.

A group is the value of a grouping column, joined with every other row whose audio is byte-identical (the same file
twice under two names, a clip copied into two datasets). The digest costs one read of every audio file (or one pass
over the decoded arrays): about a second for FSDD's 3,000 files, minutes for hundreds of thousands of files, when it
can be switched off with `group_identical_audio=False`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Sequence

import numpy as np

from hf_unlearn.data.audio_utils import load_audio_array

logger = logging.getLogger(__name__)

__all__ = [
    "assign_groups",
    "audio_digest",
    "audio_digests",
    "draw_groups",
    "draw_stratified_groups",
    "label_names",
    "stratum_keys",
    "warn_missing_labels",
]


def audio_digest(value) -> str:
    """SHA-1 of one audio value: the stored bytes or file of an undecoded value (byte-identical files match), or the
    float32 samples and rate of a decoded one."""
    if isinstance(value, dict) and value.get("array") is not None:
        array = np.ascontiguousarray(np.asarray(value["array"], dtype=np.float32))
        return hashlib.sha1(array.tobytes() + str(value.get("sampling_rate")).encode()).hexdigest()
    if isinstance(value, dict):
        if value.get("bytes"):
            return hashlib.sha1(value["bytes"]).hexdigest()
        value = value.get("path")
    if isinstance(value, (str, os.PathLike)):
        with open(value, "rb") as handle:
            return hashlib.file_digest(handle, "sha1").hexdigest()
    if hasattr(value, "get_all_samples"):  # a torchcodec decoder (an Audio column decoded by datasets >= 4)
        array, rate = load_audio_array(value)
        return audio_digest({"array": array, "sampling_rate": rate})
    if value is None:
        raise ValueError("An audio value is empty (no path, bytes or array): cannot compute its digest.")
    return hashlib.sha1(np.ascontiguousarray(np.asarray(value, dtype=np.float32)).tobytes()).hexdigest()


def audio_digests(dataset, audio_column: str) -> list[str]:
    """[`audio_digest`] of every row. An `Audio` column is read undecoded (its bytes or files), so no decoder runs."""
    import datasets

    feature = dataset.features[audio_column]
    if isinstance(feature, datasets.Audio) and feature.decode:
        dataset = dataset.cast_column(audio_column, datasets.Audio(sampling_rate=feature.sampling_rate, decode=False))
    digests = []
    for batch in dataset.select_columns([audio_column]).iter(batch_size=512):
        digests.extend(audio_digest(value) for value in batch[audio_column])
    return digests


def assign_groups(
    datasets_: Sequence, group_column: str, audio_column: str | None = "audio", identical_audio: bool = True
) -> list[np.ndarray]:
    """One integer group id per row of each dataset, shared across the datasets: rows with the same `group_column`
    value, or (with `identical_audio`) byte-identical audio, are in one group (transitively: union-find)."""
    parent: dict = {}

    def find(key):
        root = key
        while parent[root] != root:
            root = parent[root]
        while parent[key] != root:  # path compression
            parent[key], key = root, parent[key]
        return root

    keyed = []
    use_audio = identical_audio and audio_column is not None
    for dataset in datasets_:
        if group_column not in dataset.column_names:
            raise ValueError(
                f"The dataset has no grouping column {group_column!r} (columns: {dataset.column_names}). Pass "
                "group_column=<the column naming each row's recording, utterance or source file>."
            )
        keys = [("group", str(value)) for value in dataset[group_column]]
        if use_audio and audio_column not in dataset.column_names:
            logger.warning("No audio column %r: identical recordings are not grouped.", audio_column)
            use_audio = False
        digests = audio_digests(dataset, audio_column) if use_audio else [None] * len(keys)
        for key, digest in zip(keys, digests):
            parent.setdefault(key, key)
            if digest is not None:
                other = ("audio", digest)
                parent.setdefault(other, other)
                parent[find(other)] = find(key)
        keyed.append(keys)
    roots: dict = {}
    return [np.asarray([roots.setdefault(find(key), len(roots)) for key in keys], dtype=np.int64) for keys in keyed]


def draw_groups(groups: np.ndarray, candidates: np.ndarray, num_rows: int, rng) -> list[int]:
    """Rows of whole groups drawn at random among `candidates` (row indices) until they hold at least `num_rows`
    rows (a group straddling the target is taken, so the draw overshoots by less than one group)."""
    if num_rows <= 0 or len(candidates) == 0:
        return []
    candidates = np.asarray(candidates)
    unique, inverse = np.unique(groups[candidates], return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(unique))
    order = rng.permutation(len(unique))
    taken = order[: int(np.searchsorted(np.cumsum(sizes[order]), num_rows)) + 1]
    return sorted(candidates[np.isin(inverse, taken)].tolist())


def stratum_keys(dataset, columns: Sequence[str | None]) -> np.ndarray:
    """One text key per row joining the values of `columns` (those that exist; `None` entries are skipped), in the
    order given: the strata of [`draw_stratified_groups`] (e.g. label, then speaker)."""
    present = [column for column in columns if column is not None and column in dataset.column_names]
    if not present:
        return np.zeros(len(dataset), dtype="<U1")
    values = [np.asarray(dataset[column]).astype(str) for column in present]
    keys = values[0]
    for more in values[1:]:
        keys = np.char.add(np.char.add(keys, "\x00"), more)
    return keys


def draw_stratified_groups(groups: np.ndarray, candidates, num_rows: int, strata: np.ndarray, rng) -> list[int]:
    """Rows of whole groups among `candidates` (row indices), about `num_rows` of them, spread over the strata in
    proportion to their sizes: systematic sampling over the groups sorted by stratum (random order within a stratum,
    a random start), each group drawn with the same chance, so every stratum gets its share up to one group, and
    strata smaller than one draw interval get theirs taken together (e.g. the speakers of a label with a few clips
    each). A group's stratum is that of its first row.

    Args:
        groups (`np.ndarray`): a group id per row of the data (see [`assign_groups`]).
        candidates: the row indices to draw from.
        num_rows (`int`): how many rows to draw (met to within about one group).
        strata (`np.ndarray`): a key per row of the data (see [`stratum_keys`]); sorted order nests the strata, so
            keys of label, then speaker stratify by label first and by speaker within each label.
        rng (`np.random.Generator`): the random choices.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    if num_rows <= 0 or len(candidates) == 0:
        return []
    unique, first, inverse = np.unique(groups[candidates], return_index=True, return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(unique))
    keys = np.asarray(strata)[candidates[first]]
    shuffled = rng.permutation(len(unique))
    order = shuffled[np.argsort(keys[shuffled], kind="stable")]  # by stratum, at random within one
    share = num_rows / sizes.sum()
    if share >= 1:
        return sorted(candidates.tolist())
    # Every group has the chance `share` whatever its size (so the expected row count is `num_rows`): points one
    # `1 / share` apart over the groups in stratum order, from a random start.
    points = (rng.random() + np.arange(int(np.ceil(len(unique) * share)) + 1)) / share
    taken = order[points[points < len(unique)].astype(np.int64)]
    return sorted(candidates[np.isin(inverse, taken)].tolist())


def label_names(dataset, label_column: str) -> list | None:
    """The class names of a `ClassLabel` column (None for other columns): for messages."""
    return list(getattr(dataset.features.get(label_column), "names", None) or []) or None


def warn_missing_labels(pool_labels, drawn_labels, split: str, names: Sequence | None = None) -> list:
    """Logs a warning naming the labels present in `pool_labels` but absent from `drawn_labels` (a split that misses a
    label cannot measure it); returns them."""
    missing = sorted(set(np.asarray(pool_labels).tolist()) - set(np.asarray(drawn_labels).tolist()))
    if missing:
        named = names and all(isinstance(m, (int, np.integer)) and 0 <= m < len(names) for m in missing)
        shown = [names[m] for m in missing] if named else missing
        logger.warning(
            "The %s split holds no row of %d label(s) present in the data: %s. Its figures do not cover them; use "
            "more data or a larger share.", split, len(missing), shown[:10],
        )  # fmt: skip
    return missing
