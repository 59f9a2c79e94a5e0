"""Fold-out reference models: the `"reference"` target of the stopping rule without retraining for each request.

A gold model (retrained without the request) is what unlearning should land on, but training one per request is the
cost unlearning exists to avoid. Fold-out models pay it once for many requests: the speakers (or recordings, with
`group_column`) of the training rows are split into `num_folds` seeded folds, and one model is trained per fold on
every training row *outside* the fold, with the original's recipe, seed and feature extractor (cached like every
reference model, `reference_cache.reference_model`). For any later request inside one fold (a speaker of that fold,
or recordings of it), that fold's model never saw the request's rows: its accuracy and mean true-label probability
on them are the stopping rule's target (`stop_target="reference"`, `stop_target_accuracy`,
`stop_target_confidence`).

What a fold-out model differs from gold in: it also never saw the other speakers of its fold (a fold of k speakers
out of N trains on about `(N - k) / N` of the rows, gold on all but the request's), so it is a slightly weaker model
of the rest of the data, and its figures on the request's rows sit a little below gold's where speakers help each
other (more folds: closer to gold, more models to train; `num_folds=N` is one model per speaker, i.e. gold for every
single-speaker request). A request that spans two folds has no fold-out model. The cost: `num_folds` trainings, once,
for every later request inside the folds.
"""

from __future__ import annotations

import numpy as np

from .reference_cache import ReferenceModel, ReferenceSpec, reference_model
from .reference_training import predict_splits


def make_folds(values, num_folds: int, seed: int = 0) -> list[list[str]]:
    """`values` (speakers or recording ids), shuffled with `seed`, dealt into `num_folds` folds of near-equal size."""
    unique = sorted({str(value) for value in values})
    if not 2 <= num_folds <= len(unique):
        raise ValueError(f"num_folds must be between 2 and the number of values ({len(unique)}), got {num_folds}.")
    order = np.random.default_rng(seed).permutation(len(unique))
    return [sorted(unique[i] for i in order[fold::num_folds]) for fold in range(num_folds)]


def fold_out_models(train, validation, spec: ReferenceSpec, extractor, column: str = "speaker", num_folds: int = 3,
                    seed: int = 0, cache_dir=None, **training_options) -> list[dict]:  # fmt: skip
    """Trains (or loads from the reference cache) one model per fold, each on the rows of `train` outside its fold,
    early-stopped on the rows of `validation` outside it. Returns `[{"fold": [values], "model": ReferenceModel}]`.

    Args:
        train, validation (`datasets.Dataset`): the original's training rows and its validation rows (with `column`).
        spec ([`ReferenceSpec`]), extractor: the original's recipe and its fitted feature extractor.
        column (`str`): what folds are drawn over: the speaker column, or a recording/group id column.
        num_folds (`int`), seed (`int`): how many folds, and the seed of the fold draw and of training.
        cache_dir, training_options: as for `reference_model` (`use_cpu`, `disable_tqdm` ...).
    """
    folds = make_folds(train[column], num_folds, seed)
    out = []
    for fold in folds:
        members = set(fold)
        outside = lambda rows: rows.filter(lambda v: str(v) not in members, input_columns=column)  # noqa: E731
        kept_validation = outside(validation) if validation is not None else None
        model = reference_model(
            "fold_out", outside(train), kept_validation, spec, extractor, cache_dir, seed, **training_options
        )
        out.append({"fold": fold, "model": model})
    return out


def fold_for(models: list[dict], values) -> ReferenceModel:
    """The fold-out model whose fold holds every value of a request (its speakers, or its recording ids)."""
    wanted = {str(value) for value in values}
    for entry in models:
        if wanted <= set(entry["fold"]):
            return entry["model"]
    raise ValueError(
        f"No fold holds all of {sorted(wanted)[:5]}: a request spanning two folds has no fold-out reference; use "
        "stop_target='unseen' or train its gold model."
    )


def fold_out_target(models: list[dict], values, forget_rows, extractor, audio_column: str = "audio",
                    label_column: str = "label", use_cpu: bool | None = None) -> dict:  # fmt: skip
    """The stopping rule's `"reference"` target of a request: the figures of the fold-out model whose fold holds
    `values` on the request's `forget_rows`. Returns the config fields `stop_target`, `stop_target_accuracy`,
    `stop_target_confidence`, `stop_target_source`."""
    from hf_unlearn.trainer.stopping import figures_of_logits

    reference = fold_for(models, values)
    features = reference.load_extractor() if reference.own_extractor else extractor
    logits, labels = predict_splits(
        reference.load(), features, {"forget": forget_rows}, use_cpu=use_cpu, audio_column=audio_column,
        label_column=label_column,
    )["forget"]  # fmt: skip
    figures = figures_of_logits(logits, labels)
    folds = len(models)
    return {
        "stop_target": "reference",
        "stop_target_accuracy": figures["accuracy"],
        "stop_target_confidence": figures["confidence"],
        "stop_target_source": f"a fold-out reference model (1 of {folds} folds) on the request's forget rows",
    }


def set_fold_out_target(script_args, training_args, splits, spec, extractor) -> None:
    """Sets the `reference` stopping target of `hf-unlearn unlearn` from fold-out models: speakers of the original's
    training rows dealt into `--fold_out_folds` folds (each model trained once and cached, see `fold_out_models`)."""
    from hf_unlearn.experiment.reference_cache import original_training_rows

    if training_args.stop_target_accuracy is not None or spec is None:
        return
    if splits.kind != "speaker":
        raise ValueError("--fold_out_folds draws folds of speakers: use it with a speaker request.")
    validation = getattr(splits, "validation", None)
    models = fold_out_models(
        original_training_rows(splits), validation if validation is not None else splits.retain_eval, spec,
        extractor, training_args.speaker_column, script_args.fold_out_folds, training_args.seed,
        script_args.reference_dir, use_cpu=training_args.use_cpu, disable_tqdm=training_args.disable_tqdm,
    )  # fmt: skip
    target = fold_out_target(models, splits.values, splits.forget, extractor, training_args.audio_column,
                             training_args.label_column, training_args.use_cpu)  # fmt: skip
    for name, value in target.items():
        setattr(training_args, name, value)
