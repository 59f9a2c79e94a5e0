"""Forget/retain splits: which training samples to forget, and the sets to evaluate on.

`make_forget_split` turns a `datasets.Dataset` (or a `DatasetDict` with `train` and `test`) into a [`ForgetSplits`]:

- `forget`: the training samples to remove,
- `retain`: the training samples to keep (what the gold model is retrained on),
- `retain_eval`: a held-out share of the retain side (never trained on by the gold model either), for validation,
- `test`: held-out samples of the kept speakers / classes (the utility split; the MIA's non-members),
- `forget_test`: held-out samples of the forgotten speakers / classes, when there are any.

Every training sample lands in exactly one of forget, retain or retain_eval: nothing is silently dropped.

With `group_column` (a recording, utterance or source-file id) the sets are drawn as whole groups, so that retain_eval,
test and forget_test never share a group with the training rows (forget + retain), and forget and retain never share
one either; byte-identical audio counts as one group too (see `hf_unlearn.data.groups`). Without it rows are drawn one
by one, as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from hf_unlearn.data.groups import (
    assign_groups,
    audio_digests,
    draw_groups,
    draw_stratified_groups,
    stratum_keys,
    warn_missing_labels,
)
from hf_unlearn.data.groups import (
    label_names as _names,
)

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
        group_column (`str`, *optional*): the grouping column the sets were drawn by, if any.
        validation (`datasets.Dataset`, *optional*): every validation row held out before the request (both sides),
            set by [`make_request_splits`]; the original early-stops on it.
        forget_validation (`datasets.Dataset`, *optional*): the held-out validation rows of what is forgotten (set by
            [`make_request_splits`]; `None` when there are none). Not part of `eval_splits()` (reporting): tuners
            read the validation splits themselves.
        labels_are_speakers (`bool`): the label column names each row's speaker (speaker identification), so a class
            or speaker request forgets a label that is a person: `request_kind` is then `"speaker_id"`.
        unseen_validation (`datasets.Dataset`, *optional*): validation rows of speakers held out from all training:
            what no model ever heard, the gold-free stopping target of a speaker request. Part of `validation`.
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
    group_column: str | None = None
    validation: Any = field(default=None, repr=False)
    forget_validation: Any = field(default=None, repr=False)
    labels_are_speakers: bool = False
    unseen_validation: Any = field(default=None, repr=False)

    @property
    def request_kind(self) -> str:
        """`kind`, except `"speaker_id"` for a class or speaker request on speaker labels: the kind whose settings
        (`method_settings`) and reports apply; `kind` stays the split's mechanics (`"class"` or `"speaker"`)."""
        return "speaker_id" if self.labels_are_speakers and self.kind in ("class", "speaker") else self.kind

    def eval_splits(self) -> dict:
        """The `eval_dataset` dict for `UnlearningTrainer`: forget, retain (held out), test, and `forget_test`
        (held-out recordings of what is forgotten) when there are any."""
        splits = {"forget": self.forget, "retain": self.retain_eval, "test": self.test}
        if self.forget_test is not None:
            splits["forget_test"] = self.forget_test
        return splits

    def summary(self) -> dict:
        """Counts and shares, with no identities (safe to publish); with validation drawn before the request
        ([`make_request_splits`]) also the validation and forget-validation counts."""
        n_train = len(self.forget) + len(self.retain) + len(self.retain_eval)
        counts = {
            "kind": self.request_kind,
            "num_forget": len(self.forget),
            "num_retain": len(self.retain),
            "num_retain_eval": len(self.retain_eval),
            "num_test": len(self.test),
            "forget_share": len(self.forget) / n_train if n_train else 0.0,
            "num_forgotten_values": len(self.values),
        }
        if self.validation is not None:
            counts["num_validation"] = len(self.validation)
            counts["num_forget_validation"] = len(self.forget_validation) if self.forget_validation is not None else 0
        return counts


def labels_are_speakers(dataset, label_column: str, speaker_column: str | None) -> bool:
    """Whether `label_column` names each row's speaker: it is `speaker_column`, or every row's label (its class name)
    is the row's `speaker_column` value (e.g. `load_fsdd(label="speaker")`). Reads the two columns, not the audio."""
    if not speaker_column or speaker_column not in dataset.column_names or label_column not in dataset.column_names:
        return False
    if label_column == speaker_column:
        return True
    names = list(getattr(dataset.features[label_column], "names", None) or [])
    labels = dataset[label_column]
    texts = [names[label] for label in labels] if names else [str(label) for label in labels]
    return texts == [str(speaker) for speaker in dataset[speaker_column]]


def _require_column(dataset, column: str | None, role: str, argument: str) -> None:
    if column is None or column not in dataset.column_names:
        raise ValueError(
            f"The dataset has no {role} column {column!r} (columns: {dataset.column_names}). "
            f"Pass {argument}=<the column's name>."
        )


def _label_ids(dataset, label_column: str, values: Sequence) -> list:
    """Maps class names or ids to ids, refusing unknown ones (the error lists the known classes). A label column of
    class names (strings, no `ClassLabel`) is matched by name."""
    feature = dataset.features[label_column]
    names = list(getattr(feature, "names", None) or [])
    present = sorted({label.item() if isinstance(label, np.generic) else label for label in dataset[label_column]})
    if not names and present and all(isinstance(label, str) for label in present):
        unknown = [value for value in values if str(value) not in present]
        if unknown:
            raise ValueError(f"Class(es) {unknown} do not occur in the label column; known classes: {present}.")
        return [str(value) for value in values]
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


def _with_forgotten_copies(train, is_forget: np.ndarray, audio_column: str) -> np.ndarray:
    """`is_forget` with every byte-identical copy of a recording to forget added: a copy left in the retain set would
    teach it back (and the trainer refuses the overlap)."""
    digests = np.asarray(audio_digests(train, audio_column))
    copies = np.isin(digests, digests[is_forget]) & ~is_forget
    if copies.any():
        logger.warning(
            "%d row(s) hold byte-identical copies of recordings to forget: they are forgotten too (rows %s).",
            int(copies.sum()),
            np.flatnonzero(copies)[:10].tolist(),
        )
    return is_forget | copies


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
    group_column: str | None = None,
    audio_column: str | None = "audio",
    group_identical_audio: bool = True,
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
        group_column (`str`, *optional*):
            The column naming each row's recording, utterance or source file (e.g. `"recording"` from
            [`window_clips`], `"file"` for FSDD). The test holdout (when the data has no test split), a sample
            request's forget set and retain_eval are then drawn as whole groups, so no group is on two sides; the
            test holdout and retain_eval are stratified by label (and by speaker within a label, where
            `speaker_column` exists), and a warning names any label they miss. A given test split that shares a group
            with the training data, or a class/speaker request that would split a group, raises. Sizes are met to
            within one group. By default rows are drawn one by one.
        audio_column (`str`, *optional*, defaults to `"audio"`): the audio column, read for `group_identical_audio`.
        group_identical_audio (`bool`, *optional*, defaults to `True`):
            With `group_column`, rows whose audio is byte-identical join one group (one read of every file; set to
            `False` to skip it on very large data). Without it, byte-identical copies of a recording to forget are
            forgotten with it (moved out of the retain side, with a warning).

    Returns:
        [`ForgetSplits`], verified: forget and retain are disjoint, for speaker requests no speaker is on both
        sides, and with `group_column` no group is on two sides.
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
    grouped = group_column is not None
    group_options = {"audio_column": audio_column, "identical_audio": group_identical_audio}
    if test is None:
        if not 0 < test_size < 1:
            raise ValueError(f"test_size must be in (0, 1), got {test_size}.")
        n_test = max(1, int(round(test_size * len(train))))
        if grouped:
            (all_groups,) = assign_groups([train], group_column, **group_options)
            strata = stratum_keys(train, [label_column, speaker_column])
            held = draw_stratified_groups(all_groups, np.arange(len(train)), n_test, strata, rng)
            rest = np.setdiff1d(np.arange(len(train)), held)
            train_groups, test_groups = all_groups[rest], all_groups[held]
            test, train = train.select(held), train.select(rest)
            if label_column in train.column_names:
                warn_missing_labels(train[label_column], test[label_column], "test", _names(train, label_column))
        else:
            order = rng.permutation(len(train))
            test, train = train.select(sorted(order[:n_test])), train.select(sorted(order[n_test:]))
    elif grouped:
        train_groups, test_groups = assign_groups([train, test], group_column, **group_options)
        leaked = np.isin(test_groups, train_groups)
        if leaked.any():
            examples = sorted(set(map(str, np.asarray(test[group_column])[leaked])))[:5]
            raise ValueError(
                f"{int(leaked.sum())} test rows share a group (same {group_column!r} or byte-identical audio) with "
                f"training rows, e.g. {examples}: the test split would measure memorised recordings. Fix the splits, "
                "or pass the training data alone with test_size=<share> so whole groups are held out."
            )
    _require_column(train, label_column, "label", "label_column")
    if len(train) == 0:
        raise ValueError("The training data is empty.")

    # Plain Python values (not np.str_ / np.int64), so that messages print them as the user wrote them.
    values = [
        value.item() if isinstance(value, np.generic) else value for value in (values if values is not None else [])
    ]
    if by == "sample":
        if indices is not None:
            forget_idx = sorted(set(int(i) for i in indices))
            bad = [i for i in forget_idx if not 0 <= i < len(train)]
            if bad:
                raise ValueError(f"Forget indices out of range [0, {len(train)}): {bad[:10]}.")
            if grouped:
                whole = np.flatnonzero(np.isin(train_groups, train_groups[forget_idx])).tolist()
                if len(whole) > len(forget_idx):
                    logger.warning(
                        "Forgetting whole groups of %r: %d rows added to the %d requested forget indices.",
                        group_column,
                        len(whole) - len(forget_idx),
                        len(forget_idx),
                    )
                forget_idx = whole
        else:
            if fraction is None or not 0 < fraction < 1:
                raise ValueError(f"by='sample' needs fraction in (0, 1) (e.g. 0.05) or indices, got {fraction}.")
            if not 0.01 <= fraction <= 0.10:
                logger.warning("Forget fraction %.3f is outside the usual 1-10 %% of sample unlearning.", fraction)
            n_forget = max(1, int(round(fraction * len(train))))
            if grouped:
                forget_idx = draw_groups(train_groups, np.arange(len(train)), n_forget, rng)
            else:
                forget_idx = sorted(rng.choice(len(train), size=n_forget, replace=False))
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
        known = sorted({str(speaker) for speaker in speakers})
        missing = [str(v) for v in values if str(v) not in known]
        if missing:
            raise ValueError(f"Speaker(s) {missing} do not exist in column {speaker_column!r}; known: {known}.")
        values = [str(v) for v in values]
        is_forget = np.isin(speakers, values)
        is_forget_test = (
            np.isin(np.asarray(test[speaker_column]).astype(str), values)
            if speaker_column in test.column_names
            else None
        )
    if not grouped and group_identical_audio and audio_column in train.column_names and is_forget.any():
        is_forget = _with_forgotten_copies(train, is_forget, audio_column)
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
    if grouped:
        split_groups = np.intersect1d(train_groups[is_forget], train_groups[~is_forget])
        if len(split_groups):
            example = np.asarray(train[group_column])[np.isin(train_groups, split_groups)][:3].tolist()
            raise ValueError(
                f"{len(split_groups)} group(s) of {group_column!r} (or of identical audio) hold both rows to forget "
                f"and rows to keep, e.g. {example}: by={by!r} would split them. Group by a column that does not mix "
                "classes or speakers within a group."
            )
        strata = stratum_keys(train, [label_column, speaker_column])
        retain_eval_idx = draw_stratified_groups(train_groups, kept, n_eval, strata, rng)
        if n_eval:
            labels = np.asarray(train[label_column])
            warn_missing_labels(labels[kept], labels[retain_eval_idx], "retain_eval", _names(train, label_column))
        retain_idx = np.setdiff1d(kept, retain_eval_idx).tolist()
        if not retain_idx:
            raise ValueError("Holding out whole groups as retain_eval leaves no retain rows: lower retain_eval_size.")
    else:
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
        group_column=group_column,
        labels_are_speakers=by != "sample" and labels_are_speakers(train, label_column, speaker_column),
    )
    if grouped:
        sides = {"forget": train_groups[forget_idx], "retain": train_groups[retain_idx]}
        sides.update(retain_eval=train_groups[retain_eval_idx], test=test_groups[~is_forget_test])
        sides["forget_test"] = test_groups[is_forget_test]
        _check_disjoint_groups({name: set(ids.tolist()) for name, ids in sides.items()}, "groups")
    verify_split(splits, speaker_column if by == "speaker" else None, group_column)
    return splits


def _check_disjoint_groups(sides: dict, what: str) -> None:
    """Raises if a group is in two sets, apart from the held-out pair test/forget_test (neither is trained on)."""
    names = list(sides)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if {first, second} == {"test", "forget_test"}:
                continue
            shared = sides[first] & sides[second]
            if shared:
                raise ValueError(f"{len(shared)} {what} are in both {first} and {second}, e.g. {sorted(shared)[:5]}.")


def verify_split(splits: ForgetSplits, speaker_column: str | None = None, group_column: str | None = None) -> None:
    """Raises if forget and retain share a training row, (speaker requests) a speaker, or (with `group_column`) a
    value of the grouping column appears in two of forget, retain, retain_eval, test and forget_test (test and
    forget_test, both held out, may share one)."""
    overlap = set(splits.forget_indices) & (set(splits.retain_indices) | set(splits.retain_eval_indices))
    if overlap:
        raise ValueError(f"Forget and retain overlap on {len(overlap)} rows, e.g. {sorted(overlap)[:5]}.")
    if speaker_column is not None:
        forget_speakers = set(splits.forget[speaker_column])
        retain_speakers = set(splits.retain[speaker_column]) | set(splits.retain_eval[speaker_column])
        shared = forget_speakers & retain_speakers
        if shared:
            raise ValueError(f"Speakers {sorted(shared)} are on both the forget and the retain side.")
    if group_column is not None:
        sets = {"forget": splits.forget, "retain": splits.retain, "retain_eval": splits.retain_eval}
        sets.update(test=splits.test, forget_test=splits.forget_test)
        _check_disjoint_groups(
            {name: set(map(str, data[group_column])) for name, data in sets.items() if data is not None},
            f"values of {group_column!r}",
        )
