"""What an experiment does with a request's rows before any model is trained: the request's splits (held out by
speaker for keyword folders without split lists), the request check, and the on-disk feature cache that later runs
reuse. The recipe calls these in this order; `reference_models` repeats the request check for other callers."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

FEATURES_FOLDER = "features"


def features_cache_root(cache_dir: str | os.PathLike | None = None, reference_dir: str | os.PathLike | None = None):
    """The folder of cached features: `cache_dir`, else `features/` inside the reference models' cache root
    (`cache_root(reference_dir)`), so that one folder holds everything an experiment caches."""
    from .reference_cache import cache_root

    return os.fspath(cache_dir) if cache_dir else os.path.join(cache_root(reference_dir), FEATURES_FOLDER)


def check_splits(splits, audio_column: str = "audio", method: str | None = None) -> str:
    """`hf_unlearn.checks.check_request` on the request's forget and retain rows (by content: copies count), before
    any model is trained; returns the forget set's digest."""
    from hf_unlearn.checks import check_request

    return check_request(splits.forget, splits.retain, audio_column, None, method)


def request_splits(dataset, request: dict, layout: str, seed: int, data_args, label_column: str, speaker_column: str):
    """The recipe's `ForgetSplits` (`make_request_splits`, validation drawn before the request).

    FSDD folders group rows by file (copies of a recording stay on one side). With `--group_column`, validation and
    test (when drawn) are whole recordings, stratified by label and speaker (`make_request_splits(stratify=True)`).
    A Speech Commands folder without split lists arrives held out by speaker ([`load_speech_commands`]'s speaker
    hash): its `validation` split is used as the request's validation, and its test split as test (a missing one is
    drawn by speaker, except for class requests, whose classes mix within a speaker), so that neither shares a
    speaker with the training rows (a row-wise draw would put every speaker on both sides).
    """
    from hf_unlearn.data import make_request_splits
    from hf_unlearn.data.request_splits import _forgotten_rows

    heldout = dataset.get("validation") if layout == "speech_commands" else None
    group_column = getattr(data_args, "group_column", None)
    stratify = group_column is not None  # recordings of several rows: drawn whole, stratified (FSDD: one file a row)
    group_column = group_column or ("file" if layout == "fsdd" else None)
    if heldout is not None and "test" not in dataset and request["by"] != "class":
        group_column = speaker_column  # no speaker hashed to test: the test share is drawn by speaker
    elif heldout is not None and "test" not in dataset:  # class requests cannot group by speaker (mixed classes)
        logger.warning("No speaker of the data was held out as test: test rows are drawn from training speakers.")
    # With speaker-held-out validation no training row is held out again (a share that rounds to no row).
    validation_size = 1e-12 if heldout is not None else data_args.validation_size
    splits = make_request_splits(
        dataset, request, seed, validation_size, group_column=group_column, label_column=label_column,
        speaker_column=speaker_column, test_size=data_args.test_size, stratify=stratify,
    )  # fmt: skip
    if heldout is not None:
        forgotten = _forgotten_rows(heldout, splits, label_column, speaker_column)
        splits.validation = heldout
        splits.retain_eval = heldout.select([i for i, gone in enumerate(forgotten) if not gone])
        splits.forget_validation = heldout.select([i for i, gone in enumerate(forgotten) if gone]) or None
        splits.retain_eval_indices = []  # not rows of the training data
        logger.info("Validation: the %d rows of the speakers held out by speaker hash.", len(heldout))
    if len(splits.retain_eval) == 0:
        raise ValueError("The retain-validation split is empty: raise --validation_size or use more data.")
    return splits


def cache_features(splits, extractor, cache_dir: str, audio_column: str = "audio", label_column: str = "label"):
    """Featurizes every set of the request that a model will see (the original's training rows, forget, retain,
    validation and evaluation splits) through `featurize_cached`: extracted once, kept in `cache_dir` and reused by
    later runs on the same rows and extractor. The sets handed on stay audio rows (what the request check and the
    reference models' cache keys read); `featurize` finds their features in its cache. Call it with the fitted
    extractor. Returns `{name: featurized dataset}`."""
    from hf_unlearn.data.features import featurize_cached

    from .reference_cache import original_training_rows

    sets = {"training": original_training_rows(splits), "forget": splits.forget, "retain": splits.retain}
    sets.update(validation=getattr(splits, "validation", None), retain_validation=splits.retain_eval)
    sets.update({f"eval_{name}": dataset for name, dataset in splits.eval_splits().items()})
    return {
        name: featurize_cached(
            dataset, extractor, cache_dir, audio_column, label_column, desc=f"Extracting features ({name})", name=name
        )
        for name, dataset in sets.items()
        if dataset is not None and len(dataset)
    }


def local_weights_bytes(path) -> int | None:
    """Bytes of the weight files of a local checkpoint folder (`None` for a Hub id or a folder without them): what
    each saved copy of that model takes."""
    if not path or not os.path.isdir(path):
        return None
    sizes = [
        os.path.getsize(os.path.join(path, name))
        for name in os.listdir(path)
        if name.endswith((".safetensors", ".bin"))
    ]
    return sum(sizes) or None


def check_experiment_write_targets(output_dir, reference_dir=None, features_cache_dir=None, model_path=None,
                                   reference_copies: int = 2, checkpoints: int = 0) -> None:  # fmt: skip
    """Before any data is read or model trained: every folder an experiment writes (`--output_dir`, the reference
    cache `--reference_dir`, the feature cache `--features_cache_dir`) can be written
    (`hf_unlearn.hub.write_targets`). When the model is a local folder (`model_path`), its weights' size gives the
    room needed, refused when missing: one copy (plus three per checkpoint) in the output folder, `reference_copies`
    (original, gold, shadows) in the reference cache."""
    from hf_unlearn.hub.write_targets import SAVE_MARGIN_BYTES, check_write_targets

    from .reference_cache import cache_root

    weights = local_weights_bytes(model_path)
    output_room = weights * (1 + 3 * checkpoints) + SAVE_MARGIN_BYTES if weights else None
    reference_room = weights * reference_copies + SAVE_MARGIN_BYTES if weights else None
    check_write_targets(
        {
            "--output_dir": (output_dir, output_room),
            "--reference_dir": (cache_root(reference_dir), reference_room),
            "--features_cache_dir": features_cache_root(features_cache_dir, reference_dir),
        }
    )
