"""Validation-only tuning of each method's learning rate and length (or stopping target), per request kind.

With the stopping rule (`--stopping`, off by default; `hf_unlearn.trainer.stopping`) the grid is learning rates x
target modes (`tuning_grid(..., targets=...)`, the modes a kind can use: `target_modes`), every run capped at
`--stop_max_epochs`: the rule chooses each run's length, the tuner the learning rate and the target mode. The
`reference` target of a benchmark run is the gold model's accuracy and mean true-label probability on the request's
forget-validation rows (retain-validation rows for a sample request, whose forgotten rows have no held-out
recordings), never on forget or test rows; `unseen` needs no gold model. The criterion below is the same for both
grids.

What the tuner reads (and nothing else): for every trial, the figures of `validation_view`, computed on

- retain-validation (`splits.retain_eval`, evaluated as `retain`): held-out recordings of the kept speakers /
  classes (drawn before the request by `loop.request_splits`, never trained on by any model);
- forget-validation (`forget_validation`; speaker, class and speaker_id requests): held-out recordings of the
  forgotten speaker / class, drawn before the request, so no model ever trained on them either;
- `forget` (the request's own training rows, which every method reads anyway): only for the gold-free score and for
  the sample proxy below.

`test` and `forget_test` are reporting-only: trials are evaluated on the splits above alone, so their figures do not
exist when the tuner runs (tests/test_benchmark.py checks this).

Criterion, per (method, request kind), over the grid of learning rates x lengths, each setting run on
`--tune_requests` requests of the kind (seed 0), figures averaged over those requests:

1. Utility: every request keeps retain-validation accuracy within `k` binomial standard errors of the original's (for
   a class request: of the original's when it never names the forgotten class, `trials.class_removed_accuracy`),
   `acc_rv(model) >= acc_rv(original) - k * sqrt(p (1 - p) / n)` with `p = acc_rv(original)`, `n` its row count and
   each at least one row's worth (`1 / n`, so a perfect original still allows `k` errors; the stopping rule's
   tolerance, `intervals.utility_tolerance`); `k = --tune_standard_errors`.
2. Forgetting (benchmark score, gold known): `|acc_fv(model) - acc_fv(gold)|` on forget-validation. For sample
   requests there are no forget-validation rows; the proxy is that the forget set must not be recognised better than
   held-out data of the same distribution: `|acc_forget(model) - acc_rv(model)|` (a retrained model's forget rows are
   unseen rows, so its two accuracies agree up to noise).
3. Gold-free score (recorded next to it, for users without a gold model): the forget set looks like unseen recordings
   of the same speaker / class, `|acc_forget(model) - acc_fv(model)|`; for sample requests the proxy of 2.
4. Choice: each setting's score is its forgetting score (mean over the requests) plus `UTILITY_WEIGHT` times the
   mean utility loss beyond the tolerance, so a setting that keeps utility is judged by its forgetting alone, and one
   that loses utility pays for it: a setting that forgets like gold at a cost just past the tolerance beats one that
   forgets nothing (a strict "utility first" rule picked do-nothing settings whenever forgetting cost half a point of
   retain-validation accuracy on one request). The weight is the targets' own ratio: a lost test point counts twice a
   forget point (|forget gap| <= 0.02, test gap >= -0.01). Settings within one binomial standard error of the best
   score (of the gold figure on forget-validation, or of the retain-validation figure for the proxy) are near-ties;
   among them the fewest epochs win (time is a target), then the lowest score. `"utility_kept"` records whether the
   chosen setting stayed within the tolerance on every request.
"""

from __future__ import annotations

from hf_unlearn.evaluation.intervals import UTILITY_STANDARD_ERRORS, binomial_standard_error, utility_tolerance

# The only figures a trial passes to the tuner; `validation_view` drops everything else.
VALIDATION_KEYS = (
    "retain_validation_accuracy",
    "original_retain_validation_accuracy",
    "num_retain_validation",
    "forget_validation_accuracy",
    "gold_forget_validation_accuracy",
    "num_forget_validation",
    "forget_accuracy",
)
REPORTING_ONLY_SPLITS = ("test", "forget_test")
# How much a point of utility lost beyond the tolerance weighs against a point of forgetting gap (criterion 4).
UTILITY_WEIGHT = 2.0


def tuning_grid(learning_rates, epochs, targets=None, interval: float = 0.1) -> list[dict]:
    """Every (learning rate, length) pair as a settings dict, shortest first; with `targets` (stopping-rule modes)
    every (learning rate, target) pair instead, each capped at the one length `epochs` gives (the stopping rule
    chooses the length)."""
    if targets:
        cap = max(float(length) for length in epochs)
        return [
            {"learning_rate": float(lr), "num_train_epochs": cap, "stop_target": target, "stop_interval": interval}
            for target in targets
            for lr in sorted(learning_rates)
        ]
    return [
        {"learning_rate": float(lr), "num_train_epochs": float(length)}
        for length in sorted(epochs)
        for lr in sorted(learning_rates)
    ]


def target_modes(kind: str, targets, has_unseen_speakers: bool = False) -> list[str]:
    """The stopping targets of `targets` that a request kind can use: `reference` always (gold's figures on
    forget-validation rows, or on retain-validation rows for a sample request), `unseen` for class and sample
    requests (held-out recordings) and for speaker requests only where speakers are held out of all training."""
    usable = {"reference"} | ({"unseen"} if kind in ("class", "sample") or has_unseen_speakers else set())
    return [target for target in targets if target in usable]


def validation_view(unlearned: dict, original: dict, gold: dict, sizes: dict) -> dict:
    """The figures of one trial the tuner may read (see the module docstring), from the metrics of the unlearned,
    original and gold models on the trial's splits (`{split}_accuracy` keys; `retain` is retain-validation, as in
    `ForgetSplits.eval_splits()`) and the split sizes."""
    view = {
        "retain_validation_accuracy": unlearned.get("retain_accuracy"),
        "original_retain_validation_accuracy": original.get("retain_accuracy"),
        "num_retain_validation": sizes.get("retain", 0),
        "forget_validation_accuracy": unlearned.get("forget_validation_accuracy"),
        "gold_forget_validation_accuracy": gold.get("forget_validation_accuracy"),
        "num_forget_validation": sizes.get("forget_validation", 0),
        "forget_accuracy": unlearned.get("forget_accuracy"),
    }
    return {key: view[key] for key in VALIDATION_KEYS}


def trial_scores(view: dict, standard_errors: float) -> dict:
    """Utility and forgetting scores of one trial (one setting on one request) from its `validation_view`."""
    unknown = set(view) - set(VALIDATION_KEYS)
    if unknown:
        raise ValueError(f"The tuner reads validation figures only; got {sorted(unknown)}.")
    p, n = view["original_retain_validation_accuracy"], view["num_retain_validation"]
    tolerance = utility_tolerance(p, n, standard_errors)
    utility_loss = p - view["retain_validation_accuracy"]
    if view.get("forget_validation_accuracy") is not None and view["num_forget_validation"]:
        gold_fv = view["gold_forget_validation_accuracy"]
        forgetting = abs(view["forget_validation_accuracy"] - gold_fv) if gold_fv is not None else None
        gold_free = abs(view["forget_accuracy"] - view["forget_validation_accuracy"])
        tie = binomial_standard_error(gold_fv if gold_fv is not None else 0.5, view["num_forget_validation"])
    else:  # sample requests: the forget set against held-out data of the same distribution
        forgetting = gold_free = abs(view["forget_accuracy"] - view["retain_validation_accuracy"])
        tie = binomial_standard_error(view["retain_validation_accuracy"], n)
    return {
        "utility_loss": utility_loss,
        "utility_tolerance": tolerance,
        "utility_kept": utility_loss <= tolerance,
        "forgetting": forgetting,
        "gold_free": gold_free,
        "tie": tie,
    }


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def choose_setting(
    trials: list[dict], standard_errors: float = UTILITY_STANDARD_ERRORS, score: str = "forgetting"
) -> dict:
    """Picks one setting from `trials` (each `{"settings": {...}, "request": name, "view": validation_view}`) by the
    criterion of the module docstring, with `score` "forgetting" (gold on forget-validation) or "gold_free".

    Returns `{"settings", "utility_kept", "score", "candidates": [per-setting means]}`.
    """
    by_setting: dict[tuple, dict] = {}
    for trial in trials:
        if trial.get("error") or not trial.get("view"):
            continue
        key = (
            trial["settings"]["num_train_epochs"],
            trial["settings"]["learning_rate"],
            trial["settings"].get("stop_target") or "",
            trial["settings"].get("stop_retain_standard_errors") or 0.0,
        )
        entry = by_setting.setdefault(key, {"settings": trial["settings"], "scores": []})
        entry["scores"].append(trial_scores(trial["view"], standard_errors))
    if not by_setting:
        raise ValueError("Every tuning trial failed: nothing to choose from (see the trials' errors).")
    candidates = []
    for key in sorted(by_setting):  # shortest, then smallest learning rate first
        scores = by_setting[key]["scores"]
        forgetting = _mean([s[score] for s in scores])
        excess = _mean([max(0.0, s["utility_loss"] - s["utility_tolerance"]) for s in scores])
        candidates.append(
            {
                "settings": by_setting[key]["settings"],
                "utility_kept": all(s["utility_kept"] for s in scores),
                "utility_loss": _mean([s["utility_loss"] for s in scores]),
                "forgetting": forgetting,
                "score": None if forgetting is None else forgetting + UTILITY_WEIGHT * excess,
                "tie": _mean([s["tie"] for s in scores]),
                "requests": len(scores),
            }
        )
    scored = [c for c in candidates if c["score"] is not None]
    if not scored:
        raise ValueError(f"No tuning trial has a {score!r} figure: nothing to choose from.")
    best = min(c["score"] for c in scored)
    near = [c for c in scored if c["score"] <= best + min(c["tie"] for c in scored)]
    fewest = min(c["settings"]["num_train_epochs"] for c in near)
    chosen = min((c for c in near if c["settings"]["num_train_epochs"] == fewest), key=lambda c: c["score"])
    return {
        "settings": chosen["settings"],
        "utility_kept": chosen["utility_kept"],
        "score": chosen["score"],
        "candidates": candidates,
    }
