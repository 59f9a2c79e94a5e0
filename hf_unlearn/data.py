"""Forget/retain splits: which training samples to forget, and the sets to evaluate on.

`make_forget_split` turns a `datasets.Dataset` (or a `DatasetDict` with `train` and `test`) into a [`ForgetSplits`]:

- `forget`: the training samples to remove,
- `retain`: the training samples to keep (what the gold model is retrained on),
- `retain_eval`: a held-out share of the retain side (never trained on by the gold model either), for validation,
- `test`: held-out samples of the kept speakers / classes (the utility split; the MIA's non-members),
- `forget_test`: held-out samples of the forgotten speakers / classes, when there are any.

Every training sample lands in exactly one of forget, retain or retain_eval: nothing is silently dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

logger = logging.getLogger(__name__)

SPLIT_KINDS = ("sample", "class", "speaker")


@dataclass
class ForgetSplits:
    """The result of [`make_forget_split`].

    Args:
        forget, retain, retain_eval, test (`datasets.Dataset`): see the module docstring.
        forget_test (`datasets.Dataset`, *optional*): held-out samples of what is forgotten.
        kind (`str`): `"sample"`, `"class"` or `"speaker"`.
        values (`list`): the forgotten class names or speakers (empty for sample requests).
        forget_indices, retain_indices, retain_eval_indices (`list[int]`): rows of the training data in each set.
    """

    forget: Any
    retain: Any
    retain_eval: Any
    test: Any
    forget_test: Any = None
    kind: str = "sample"
    values: list = field(default_factory=list)
    forget_indices: list[int] = field(default_factory=list, repr=False)
    retain_indices: list[int] = field(default_factory=list, repr=False)
    retain_eval_indices: list[int] = field(default_factory=list, repr=False)

    def eval_splits(self) -> dict:
        """The `eval_dataset` dict for `UnlearningTrainer`: forget, retain (held out) and test."""
        return {"forget": self.forget, "retain": self.retain_eval, "test": self.test}

    def summary(self) -> dict:
        """Counts and shares, with no identities (safe to publish)."""
        n_train = len(self.forget) + len(self.retain) + len(self.retain_eval)
        return {
            "kind": self.kind,
            "num_forget": len(self.forget),
            "num_retain": len(self.retain),
            "num_retain_eval": len(self.retain_eval),
            "num_test": len(self.test),
            "forget_share": len(self.forget) / n_train if n_train else 0.0,
            "num_forgotten_values": len(self.values),
        }


def _require_column(dataset, column: str | None, role: str, argument: str) -> None:
    if column is None or column not in dataset.column_names:
        raise ValueError(
            f"The dataset has no {role} column {column!r} (columns: {dataset.column_names}). "
            f"Pass {argument}=<the column's name>."
        )


def _label_ids(dataset, label_column: str, values: Sequence) -> list[int]:
    """Maps class names or ids to ids, refusing unknown ones (the error lists the known classes)."""
    feature = dataset.features[label_column]
    names = list(getattr(feature, "names", None) or [])
    present = sorted(set(dataset[label_column]))
    ids = []
    for value in values:
        if isinstance(value, str) and not value.lstrip("-").isdigit():
            if value not in names:
                raise ValueError(f"Class {value!r} does not exist; known classes: {names or present}.")
            ids.append(names.index(value))
        else:
            # Ids given as numbers, or numeric strings from the command line; a name that looks numeric
            # (e.g. FSDD's "0".."9") maps through the names first.
            if isinstance(value, str) and value in names:
                ids.append(names.index(value))
                continue
            value = int(value)
            if value not in present:
                raise ValueError(f"Class id {value} does not occur in the data; present ids: {present}.")
            ids.append(value)
    return ids


def _speaker_protocol(speakers: np.ndarray, share: float, min_utterances: int, rng) -> list:
    """UnSLU speaker protocol: draw speakers with more than `min_utterances` utterances without replacement until
    the forget set holds at least `share` of the training data."""
    names, counts = np.unique(speakers, return_counts=True)
    pool = [str(n) for n, c in zip(names, counts) if c > min_utterances]
    if not pool:
        raise ValueError(
            f"No speaker has more than min_speaker_utterances={min_utterances} utterances "
            f"(largest: {counts.max()}). Lower min_speaker_utterances."
        )
    order = rng.permutation(len(pool))
    target = share * len(speakers)
    chosen, total = [], 0
    count_of = dict(zip(map(str, names), counts))
    for index in order:  # a permutation: each speaker drawn at most once (without replacement)
        chosen.append(pool[index])
        total += count_of[pool[index]]
        if total >= target:
            return chosen
    raise ValueError(
        f"All {len(pool)} eligible speakers hold {total} utterances, fewer than the requested share "
        f"{share:.3f} x {len(speakers)} = {target:.0f}. Lower forget_speaker_share or min_speaker_utterances."
    )


def make_forget_split(
    dataset,
    by: str,
    values: Sequence | None = None,
    fraction: float | None = None,
    indices: Sequence[int] | None = None,
    label_column: str = "label",
    speaker_column: str | None = "speaker",
    test_dataset=None,
    test_size: float = 0.2,
    retain_eval_size: float = 0.1,
    forget_speaker_share: float | None = None,
    min_speaker_utterances: int = 0,
    seed: int = 42,
) -> ForgetSplits:
    """Builds the forget, retain, retain-eval and test sets of an unlearning request.

    Args:
        dataset (`datasets.Dataset` or `datasets.DatasetDict`):
            The training data. A `DatasetDict` with `train` and `test` uses its own test split; a single `Dataset` has
            `test_size` of its rows held out (seeded) as test.
        by (`str`):
            `"sample"` (a `fraction` of the training rows, or explicit `indices`), `"class"` (the classes in `values`,
            names or ids) or `"speaker"` (the speakers in `values`, or the UnSLU protocol when
            `forget_speaker_share` is given).
        label_column (`str`, *optional*, defaults to `"label"`): the class id column.
        speaker_column (`str`, *optional*, defaults to `"speaker"`): the speaker column (needed for `by="speaker"`).
        test_dataset (`datasets.Dataset`, *optional*): an explicit test set (overrides the dataset's own).
        test_size (`float`, *optional*, defaults to 0.2): held-out share when the dataset has no test split.
        retain_eval_size (`float`, *optional*, defaults to 0.1): share of the retain side held out as `retain_eval`.
        forget_speaker_share (`float`, *optional*): UnSLU protocol, e.g. 0.025 (2.5 % of the training data).
        min_speaker_utterances (`int`, *optional*, defaults to 0): UnSLU protocol, only speakers with more.
        seed (`int`, *optional*, defaults to 42): seed of every random choice; the same seed gives the same split.

    Returns:
        [`ForgetSplits`], verified: forget and retain are disjoint, and for speaker requests no speaker is on both
        sides.
    """
    if by not in SPLIT_KINDS:
        raise ValueError(f"by={by!r} is not a forget-request kind: choose one of {SPLIT_KINDS}.")
    rng = np.random.default_rng(seed)
    from datasets import DatasetDict

    if isinstance(dataset, (DatasetDict, dict)):
        if "train" not in dataset:
            raise ValueError(f"The DatasetDict has splits {list(dataset)}; make_forget_split needs a 'train' split.")
        train, test = dataset["train"], test_dataset if test_dataset is not None else dataset.get("test")
    else:
        train, test = dataset, test_dataset
    if test is None:
        if not 0 < test_size < 1:
            raise ValueError(f"test_size must be in (0, 1), got {test_size}.")
        order = rng.permutation(len(train))
        n_test = max(1, int(round(test_size * len(train))))
        test, train = train.select(sorted(order[:n_test])), train.select(sorted(order[n_test:]))
    _require_column(train, label_column, "label", "label_column")
    if len(train) == 0:
        raise ValueError("The training data is empty.")

    values = list(values or [])
    if by == "sample":
        if indices is not None:
            forget_idx = sorted(set(int(i) for i in indices))
            bad = [i for i in forget_idx if not 0 <= i < len(train)]
            if bad:
                raise ValueError(f"Forget indices out of range [0, {len(train)}): {bad[:10]}.")
        else:
            if fraction is None or not 0 < fraction < 1:
                raise ValueError(f"by='sample' needs fraction in (0, 1) (e.g. 0.05) or indices, got {fraction}.")
            if not 0.01 <= fraction <= 0.10:
                logger.warning("Forget fraction %.3f is outside the usual 1-10 %% of sample unlearning.", fraction)
            forget_idx = sorted(rng.choice(len(train), size=max(1, int(round(fraction * len(train)))), replace=False))
        is_forget = np.zeros(len(train), dtype=bool)
        is_forget[forget_idx] = True
        is_forget_test = np.zeros(len(test), dtype=bool)  # sample requests have no held-out forget part
    elif by == "class":
        if not values:
            raise ValueError("by='class' needs values=[class names or ids] to forget.")
        ids = _label_ids(train, label_column, values)
        is_forget = np.isin(np.asarray(train[label_column]), ids)
        is_forget_test = np.isin(np.asarray(test[label_column]), ids) if label_column in test.column_names else None
    else:
        _require_column(train, speaker_column, "speaker", "speaker_column")
        speakers = np.asarray(train[speaker_column]).astype(str)
        if forget_speaker_share is not None:
            if values:
                raise ValueError("Give either values=[speakers] or forget_speaker_share, not both.")
            values = _speaker_protocol(speakers, forget_speaker_share, min_speaker_utterances, rng)
        if not values:
            raise ValueError("by='speaker' needs values=[speaker names] or forget_speaker_share=<share>.")
        known = sorted(set(speakers))
        missing = [v for v in values if str(v) not in known]
        if missing:
            raise ValueError(f"Speaker(s) {missing} do not exist in column {speaker_column!r}; known: {known}.")
        values = [str(v) for v in values]
        is_forget = np.isin(speakers, values)
        is_forget_test = (
            np.isin(np.asarray(test[speaker_column]).astype(str), values)
            if speaker_column in test.column_names
            else None
        )
    if is_forget_test is None:
        is_forget_test = np.zeros(len(test), dtype=bool)

    forget_idx = np.flatnonzero(is_forget).tolist()
    kept = np.flatnonzero(~is_forget)
    if not forget_idx:
        raise ValueError(f"The forget set is empty for by={by!r}, values={values}: nothing to unlearn.")
    if len(kept) == 0:
        raise ValueError("Every training sample would be forgotten: the retain set is empty.")
    if not 0 <= retain_eval_size < 1:
        raise ValueError(f"retain_eval_size must be in [0, 1), got {retain_eval_size}.")
    n_eval = int(round(retain_eval_size * len(kept)))
    shuffled = rng.permutation(kept)
    retain_eval_idx, retain_idx = sorted(shuffled[:n_eval].tolist()), sorted(shuffled[n_eval:].tolist())

    splits = ForgetSplits(
        forget=train.select(forget_idx),
        retain=train.select(retain_idx),
        retain_eval=train.select(retain_eval_idx),
        test=test.select(np.flatnonzero(~is_forget_test).tolist()),
        forget_test=test.select(np.flatnonzero(is_forget_test).tolist()) if is_forget_test.any() else None,
        kind=by,
        values=values,
        forget_indices=forget_idx,
        retain_indices=retain_idx,
        retain_eval_indices=retain_eval_idx,
    )
    verify_split(splits, speaker_column if by == "speaker" else None)
    return splits


def verify_split(splits: ForgetSplits, speaker_column: str | None = None) -> None:
    """Raises if forget and retain share a training row, or (speaker requests) a speaker."""
    overlap = set(splits.forget_indices) & (set(splits.retain_indices) | set(splits.retain_eval_indices))
    if overlap:
        raise ValueError(f"Forget and retain overlap on {len(overlap)} rows, e.g. {sorted(overlap)[:5]}.")
    if speaker_column is not None:
        forget_speakers = set(splits.forget[speaker_column])
        retain_speakers = set(splits.retain[speaker_column]) | set(splits.retain_eval[speaker_column])
        shared = forget_speakers & retain_speakers
        if shared:
            raise ValueError(f"Speakers {sorted(shared)} are on both the forget and the retain side.")
