"""The benchmark on any audio-classification data the recipe reads: loading, requests and splits.

FSDD keeps the benchmark's first design (`loop.load_data`, `loop.request_splits`: fixed test takes, files as
groups), so its published rows and cached reference models stay the same. Any other data (an `audiofolder`, with or
without a speaker column, a Speech Commands folder, a `save_to_disk` folder or a Hub dataset, read by the recipe's
`hf_unlearn.experiment.data.load_audio_dataset`) gets its splits here, drawn once per seed before any request:

- with a speaker column and no test split of its own: `--test_speaker_share` of the speakers are held out from all
  training as test speakers, and `--unseen_speaker_share` more as unseen-speaker validation (what a gold-free target
  of a speaker request measures: speakers the model never heard; they also join retain-validation, and for a class
  request their rows of the class join forget-validation); the speakers a speaker request may name (`protected`) are
  never held out. Of the remaining speakers' recordings, `--test_size` (whole recordings of `--group_column`,
  stratified by speaker, then label) are held out as test too: the speaker request's own held-out recordings
  (forget-test). Validation is then drawn by `make_request_splits(stratify=True)` (forget-validation: the request's
  own held-out recordings);
- otherwise (no speaker column, or a test split given): validation and, where missing, test are drawn as whole
  recordings stratified by label (`make_request_splits(stratify=True)`).

Every draw keeps a group whole: the `--group_column`'s recordings, and without one the groups of byte-identical
recordings (`identical_audio_group`, added on load), so a file stored twice never sits on both sides of a split.

Columns are renamed to `audio`, `label` (a `ClassLabel`) and `speaker`, so the rest of the benchmark reads one schema.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np

FSDD = "fsdd"
DESIGN_STREAM = 2  # a stream of the seed of its own: the held-out speakers do not move the other draws
UNSEEN_VALIDATION = "unseen_validation"
# Without --group_column every split still keeps byte-identical recordings together (public keyword sets hold a few
# files twice): this column, added on load, names each row's group of identical audio.
IDENTICAL_AUDIO_GROUP = "identical_audio_group"


def data_layout(args) -> str:
    """The layout of `args.dataset_name` (`--data_layout`, or detected as the recipe does)."""
    from hf_unlearn.experiment.data import detect_layout

    if args.data_layout != "auto":
        return args.data_layout
    return detect_layout(args.dataset_name) if os.path.isdir(args.dataset_name) else "hub"


def is_fsdd(args) -> bool:
    """Whether the benchmark runs on FSDD (its first design); no `--dataset_name` yet counts as FSDD."""
    return not args.dataset_name or data_layout(args) == FSDD


def dataset_slug(args) -> str:
    """The default name of the outputs and the settings file: `fsdd`, else the folder's or Hub name's last part."""
    if is_fsdd(args):
        return FSDD
    base = os.path.basename(os.path.normpath(args.dataset_name)) or "dataset"
    return "".join(c if c.isalnum() else "_" for c in base).strip("_").lower()


def _data_arguments(args) -> SimpleNamespace:
    return SimpleNamespace(
        dataset_name=args.dataset_name, data_layout=args.data_layout, dataset_config_name=args.dataset_config_name,
        train_split_name="train", test_split_name="test", test_size=args.test_size, strict_layout=False,
        max_train_samples=None, max_test_samples=None,
    )  # fmt: skip


def load_any(args):
    """The data as a `DatasetDict` (`train`, and `test` when it brings one) with columns `audio` (cast to
    `--sampling_rate`, default the data's own or 16 kHz), `label` (`ClassLabel`), `speaker` (when
    `--speaker_column` exists) and the `--group_column`. A Speech Commands folder's speaker-hash validation split
    joins training: the benchmark draws its own."""
    import datasets

    from hf_unlearn.experiment.data import data_label_column, load_audio_dataset, prepare_columns

    data_args = _data_arguments(args)
    loaded, layout = load_audio_dataset(data_args, SimpleNamespace(cache_dir=None, token=None), args.label_column)
    if "validation" in loaded:
        loaded["train"] = datasets.concatenate_datasets([loaded["train"], loaded.pop("validation")])
    label_column = data_label_column(layout, args.label_column)
    loaded, _ = prepare_columns(loaded, args.audio_column, label_column, None, 0, data_args)
    renames = {args.audio_column: "audio", label_column: "label"}
    if args.speaker_column and args.speaker_column in loaded["train"].column_names:
        renames[args.speaker_column] = "speaker"
    out = {}
    for name, split in loaded.items():
        for old, new in renames.items():
            if old != new:
                if new in split.column_names:
                    split = split.remove_columns(new)
                split = split.rename_column(old, new)
        if "speaker" in split.column_names:
            split = split.cast_column("speaker", datasets.Value("string"))
        out[name] = split.cast_column("audio", datasets.Audio(sampling_rate=sampling_rate(args, split)))
    if not args.group_column:
        out = _with_identical_audio_groups(out)
    return datasets.DatasetDict(out)


def _with_identical_audio_groups(splits: dict) -> dict:
    """`splits` with an `IDENTICAL_AUDIO_GROUP` column: one id per row, shared by byte-identical recordings (across
    the splits too), so that no draw puts a recording's copy on the other side."""
    from hf_unlearn.data.groups import assign_groups

    names = list(splits)
    rows = [splits[name].add_column(IDENTICAL_AUDIO_GROUP, [f"{name}/{i}" for i in range(len(splits[name]))])
            for name in names]  # fmt: skip
    groups = assign_groups(rows, IDENTICAL_AUDIO_GROUP, audio_column="audio", identical_audio=True)
    return {
        name: split.remove_columns(IDENTICAL_AUDIO_GROUP).add_column(IDENTICAL_AUDIO_GROUP, ids.tolist())
        for name, split, ids in zip(names, rows, groups)
    }


def group_column(args) -> str:
    """The column whose values every split keeps whole: `--group_column`, else the groups of identical audio."""
    return args.group_column or IDENTICAL_AUDIO_GROUP


def sampling_rate(args, split=None) -> int:
    """`--sampling_rate`, else the data's `Audio` rate, else 16 kHz."""
    if args.sampling_rate:
        return int(args.sampling_rate)
    feature = split.features.get("audio") if split is not None else None
    return int(getattr(feature, "sampling_rate", None) or 16000)


def top_speakers(train, count: int) -> list[str]:
    """The `count` speakers with the most rows (ties: by name)."""
    names, counts = np.unique(np.asarray(train["speaker"]).astype(str), return_counts=True)
    order = sorted(range(len(names)), key=lambda i: (-counts[i], names[i]))
    return [str(names[i]) for i in order[:count]]


def split_design(train, seed: int, args, protected) -> dict:
    """The request-independent held-out rows of a seed (see the module docstring): `{"test_speakers",
    "unseen_speakers", "train_rows", "test_rows", "unseen_rows"}` (row indices of `train`)."""
    from hf_unlearn.data.groups import assign_groups, draw_stratified_groups, stratum_keys

    rng = np.random.default_rng([seed, DESIGN_STREAM])
    speakers = np.asarray(train["speaker"]).astype(str)
    names = sorted(set(speakers.tolist()))
    candidates = [name for name in names if name not in set(map(str, protected))]
    order = rng.permutation(len(candidates))
    n_test = int(round(args.test_speaker_share * len(names)))
    n_unseen = int(round(args.unseen_speaker_share * len(names)))
    if n_test + n_unseen >= len(candidates):
        raise ValueError(
            f"{len(names)} speakers, {len(names) - len(candidates)} of them requested: too few to hold out "
            f"{n_test} test and {n_unseen} unseen-validation speakers and still train; lower --test_speaker_share / "
            "--unseen_speaker_share."
        )
    test_speakers = sorted(candidates[i] for i in order[:n_test])
    unseen_speakers = sorted(candidates[i] for i in order[n_test : n_test + n_unseen])
    held_speakers = np.isin(speakers, test_speakers)
    unseen = np.isin(speakers, unseen_speakers)
    pool = np.flatnonzero(~held_speakers & ~unseen)
    (groups,) = assign_groups([train], group_column(args), audio_column="audio")
    strata = stratum_keys(train, ["speaker", "label"])  # each speaker gets its share: its forget-test rows
    held_recordings = draw_stratified_groups(groups, pool, int(round(args.test_size * len(pool))), strata, rng)
    return {
        "test_speakers": test_speakers,
        "unseen_speakers": unseen_speakers,
        "train_rows": np.setdiff1d(pool, held_recordings).tolist(),
        "test_rows": sorted(np.flatnonzero(held_speakers).tolist() + list(held_recordings)),
        "unseen_rows": np.flatnonzero(unseen).tolist(),
    }


def design_summary(design: dict) -> dict:
    """What the JSON records of a seed's design: the held-out speakers and the row counts."""
    return {
        "test_speakers": design["test_speakers"],
        "unseen_speakers": design["unseen_speakers"],
        "num_train_pool": len(design["train_rows"]),
        "num_test": len(design["test_rows"]),
        "num_unseen_validation": len(design["unseen_rows"]),
    }


def any_request_splits(data, request: dict, seed: int, args, design: dict | None):
    """The request's `ForgetSplits` on generic data (see the module docstring); `design` is `split_design`'s for
    data with speakers and no test split, else `None`."""
    import datasets

    from hf_unlearn.data import make_request_splits
    from hf_unlearn.data.request_splits import _forgotten_rows

    train = data["train"]
    speaker_column = "speaker" if "speaker" in train.column_names else None
    options = {"group_column": group_column(args), "speaker_column": speaker_column, "stratify": True}
    if design is None:
        return make_request_splits(data, request["split"], seed, args.validation_size, test_size=args.test_size,
                                   **options)  # fmt: skip
    reduced = datasets.DatasetDict(
        {"train": train.select(design["train_rows"]), "test": train.select(design["test_rows"])}
    )
    splits = make_request_splits(reduced, request["split"], seed, args.validation_size, **options)
    unseen = train.select(design["unseen_rows"])
    if len(unseen):
        forgotten = _forgotten_rows(unseen, splits, "label", speaker_column)
        splits.validation = datasets.concatenate_datasets([splits.validation, unseen])
        kept = unseen.select(np.flatnonzero(~forgotten).tolist())
        splits.retain_eval = datasets.concatenate_datasets([splits.retain_eval, kept])
        if forgotten.any():
            gone = unseen.select(np.flatnonzero(forgotten).tolist())
            parts = [splits.forget_validation, gone] if splits.forget_validation is not None else [gone]
            splits.forget_validation = datasets.concatenate_datasets(parts)
    splits.unseen_validation = unseen  # speakers no model trained on (not an index of `train`)
    return splits
