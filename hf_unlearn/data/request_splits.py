"""Request splits with validation drawn before the request: one original model serves every request of a seed.

[`make_request_splits`] holds out `validation_size` of the training rows (seeded, the same rows for every request of
a seed) BEFORE the forget request is drawn, then draws the request from the rest with [`make_forget_split`]. The
held-out rows are divided into retain-validation (`splits.retain_eval`: the rows the request keeps, what the gold
model early-stops on) and forget-validation (`splits.forget_validation`: held-out rows of the forgotten speakers or
classes, which no model ever trains on; what a tuner compares the unlearned model with). `splits.validation` holds
both: the original early-stops on it, so that its training and validation rows, hence its cache key, do not depend
on the request. The recipe, the demo and the benchmark draw their splits here, so the same data, request and seed
give the same rows (and the same cached reference models) from every front end.
"""

from __future__ import annotations

import numpy as np

from hf_unlearn.data.groups import (
    assign_groups,
    draw_groups,
    draw_stratified_groups,
    label_names,
    stratum_keys,
    warn_missing_labels,
)
from hf_unlearn.data.splits import ForgetSplits, make_forget_split

# A second stream of the seed for the test holdout of data without a test split: the validation draw stays the
# first draw of `default_rng(seed)`, as for data with a test split.
_TEST_STREAM = 1


def _forgotten_rows(validation, splits: ForgetSplits, label_column: str, speaker_column: str | None) -> np.ndarray:
    """Which validation rows belong to what `splits` forgets (its speakers or classes; none for sample requests)."""
    values = [str(value) for value in splits.values]
    if splits.kind == "speaker":
        return np.isin(np.asarray(validation[speaker_column]).astype(str), values)
    if splits.kind == "class":
        names = list(getattr(validation.features[label_column], "names", None) or [])
        if not names:  # a label column of names or ids without `ClassLabel`: compared as text
            return np.isin(np.asarray(validation[label_column]).astype(str), values)
        ids = [names.index(value) if value in names else int(value) for value in values]
        return np.isin(np.asarray(validation[label_column]), ids)
    return np.zeros(len(validation), dtype=bool)  # sample requests forget training rows only


def make_request_splits(
    data,
    request: dict,
    seed: int,
    validation_size: float = 0.1,
    group_column: str | None = None,
    label_column: str = "label",
    speaker_column: str | None = "speaker",
    test_size: float = 0.2,
    stratify: bool = False,
    **options,
) -> ForgetSplits:
    """The [`ForgetSplits`] of `request`, with validation drawn before the request (see the module docstring).

    Args:
        data (`datasets.DatasetDict` or `datasets.Dataset`):
            The data: a `train` split and, if any, a `test` split. Without one (or given a single `Dataset`),
            `test_size` of the training rows are held out as test first (by whole groups with `group_column`).
        request (`dict`): the [`make_forget_split`] keywords of the request, e.g. `{"by": "class", "values": ["3"]}`.
        seed (`int`): seed of every random choice; the same data, request and seed give the same rows.
        validation_size (`float`, *optional*, defaults to 0.1):
            Share of the training rows held out as validation (drawn row by row unless `stratify`: the rows of one
            group, e.g. one FSDD file, are one row in such data).
        group_column (`str`, *optional*): as in [`make_forget_split`] (`"file"` for FSDD).
        stratify (`bool`, *optional*, defaults to `False`):
            Draw the test holdout (data without a test split) and validation as whole groups of `group_column`
            (each row its own group without one), stratified by label and, where `speaker_column` exists, by speaker
            within a label ([`draw_stratified_groups`]), with a warning naming any label a split misses: no window
            of a recording lands on two sides, and every label and speaker gets its share. Off, the draws are
            those of earlier versions (the same rows, so the same cached reference models, for FSDD's benchmark).
        label_column, speaker_column, test_size, options: as in [`make_forget_split`] (`options`: `audio_column`,
            `group_identical_audio`, `forget_speaker_share`, ...).

    Returns:
        [`ForgetSplits`] whose `retain_eval` is retain-validation, `validation` every held-out validation row and
        `forget_validation` the held-out rows of what is forgotten (`None` when there are none, e.g. for sample
        requests). Every index (`forget_indices`, `retain_indices`, `retain_eval_indices`) is a row of `train`.
    """
    from datasets import DatasetDict

    if isinstance(data, (DatasetDict, dict)):
        if "train" not in data:
            raise ValueError(f"The data has splits {list(data)}; make_request_splits needs a 'train' split.")
        train, test = data["train"], data.get("test")
    else:
        train, test = data, None
    if not 0 < validation_size < 1:
        raise ValueError(f"validation_size must be in (0, 1), got {validation_size}: validation is needed.")
    pool = np.arange(len(train))
    cached: dict = {}

    def groups() -> np.ndarray:  # a group id per row of `train`, computed once and only when a draw needs it
        if "groups" not in cached:
            if group_column is None:
                cached["groups"] = np.arange(len(train))
            else:
                group_options = {"audio_column": options.get("audio_column", "audio")}
                group_options["identical_audio"] = options.get("group_identical_audio", True)
                (cached["groups"],) = assign_groups([train], group_column, **group_options)
        return cached["groups"]

    def strata() -> np.ndarray:
        return stratum_keys(train, [label_column, speaker_column])

    if test is None:  # held out here (not by make_forget_split) so that every index stays a row of `train`
        if not 0 < test_size < 1:
            raise ValueError(f"test_size must be in (0, 1), got {test_size}.")
        n_test = max(1, int(round(test_size * len(train))))
        rng = np.random.default_rng([seed, _TEST_STREAM])
        if stratify:
            held_test = draw_stratified_groups(groups(), pool, n_test, strata(), rng)
            labels = np.asarray(train[label_column])
            warn_missing_labels(labels[pool], labels[held_test], "test", label_names(train, label_column))
        elif group_column is not None:
            held_test = draw_groups(groups(), pool, n_test, rng)
        else:
            held_test = sorted(rng.permutation(len(train))[:n_test].tolist())
        test, pool = train.select(held_test), np.setdiff1d(pool, held_test)
    count = int(round(validation_size * len(pool)))
    if stratify:
        held = draw_stratified_groups(groups(), pool, count, strata(), np.random.default_rng(seed))
        rest = np.setdiff1d(pool, held).tolist()
        labels = np.asarray(train[label_column])
        warn_missing_labels(labels[pool], labels[held], "validation", label_names(train, label_column))
    else:
        order = np.random.default_rng(seed).permutation(len(pool))
        held, rest = sorted(pool[order[:count]].tolist()), sorted(pool[order[count:]].tolist())
    reduced = DatasetDict({"train": train.select(rest), "test": test})
    splits = make_forget_split(
        reduced,
        seed=seed,
        group_column=group_column,
        retain_eval_size=0.0,
        label_column=label_column,
        speaker_column=speaker_column,
        **request,
        **options,
    )
    validation = train.select(held)
    forgotten = _forgotten_rows(validation, splits, label_column, speaker_column)
    kept = np.flatnonzero(~forgotten).tolist()
    splits.retain_eval = validation.select(kept)
    splits.validation = validation
    splits.forget_validation = validation.select(np.flatnonzero(forgotten).tolist()) if forgotten.any() else None
    splits.forget_indices = [rest[i] for i in splits.forget_indices]
    splits.retain_indices = [rest[i] for i in splits.retain_indices]
    splits.retain_eval_indices = [held[i] for i in kept]
    return splits
