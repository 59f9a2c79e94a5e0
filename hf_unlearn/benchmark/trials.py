"""What a tuning trial is evaluated on and what the tuner may read of it, for every front end that tunes on
validation data (the benchmark's loop, `hf-unlearn tune`, the demo's settings).

A trial is evaluated on the forget set, retain-validation and forget-validation alone (`trial_splits`); the request
it runs on hides its test and forget-test rows (`evaluation_view`); the tuner reads only `trial_view`'s figures
(`hf_unlearn.benchmark.tuning.validation_view`).
"""

from __future__ import annotations

import copy

FORGET_VALIDATION = "forget_validation"


def validation_splits(splits) -> dict:
    """`{"forget_validation": rows}` when the request has validation rows of what it forgets (speaker, class and
    speaker_id requests), else `{}`: the extra split every trial and run is evaluated on."""
    return {FORGET_VALIDATION: splits.forget_validation} if splits.forget_validation is not None else {}


def trial_splits(splits) -> dict:
    """What a tuning trial is evaluated on: the forget set, retain-validation (as `retain`) and forget-validation,
    nothing else (test and forget_test are reporting-only)."""
    return {"forget": splits.forget, "retain": splits.retain_eval, **validation_splits(splits)}


def evaluation_view(splits, eval_splits: dict):
    """A copy of `splits` whose `eval_splits()` is `eval_splits`; for tuning trials (no `test` key) its `test` and
    `forget_test` are emptied, so that nothing downstream can read them."""
    view = copy.copy(splits)
    view.eval_splits = lambda: dict(eval_splits)
    if "test" not in eval_splits:  # a trial never touches the reporting splits, not even their sizes
        view.test = splits.retain_eval.select([])
        view.forget_test = None
    counts = view.summary() if "test" not in eval_splits else splits.summary()
    view.summary = lambda: dict(counts)
    return view


def trial_view(record: dict, eval_splits: dict, evaluation: dict | None = None, splits=None) -> dict:
    """The tuner's `validation_view` of a trial's record, evaluated on `eval_splits` (see `trial_splits`). With the
    request's reference `evaluation` (`evaluate_references` on `eval_splits`) and `splits`, a class request's utility
    baseline is the original that never names the forgotten class (`class_removed_accuracy`)."""
    from hf_unlearn.benchmark.tuning import validation_view

    sizes = {name: len(rows) for name, rows in eval_splits.items()}
    view = validation_view(record["unlearned"], record["original"], record["gold"] or {}, sizes)
    if evaluation is not None and splits is not None and splits.kind == "class":
        view["original_retain_validation_accuracy"] = class_removed_accuracy(evaluation, splits)
    return view


def class_removed_accuracy(evaluation: dict, splits) -> float:
    """The original's retain-validation accuracy when it never names the request's forgotten classes (its top class
    among the others): a class request's utility baseline in the tuner, as in the stopping rule. A retrained model
    never names the class and gains the rows the original confused with it, so the original's plain accuracy would
    pass settings that stop short of gold's utility."""
    from hf_unlearn.hub.speaker_labels import accuracy_without_labels

    logits, labels = evaluation["outputs"]["original"]["retain"]
    forgotten = sorted({int(label) for label in splits.forget["label"]})
    return accuracy_without_labels(logits, labels, forgotten)
