"""`hf-unlearn tune`: choose one method's learning rate and length for your data, on validation data only, and write
them to a settings file that `hf-unlearn unlearn --method_settings FILE` reads.

The command takes every argument of `hf-unlearn unlearn` (data, request, model, method; the same `--config` YAML),
prepares the request the same way (the same rows, features and cached reference models), and then runs the method
once per point of the grid `--tune_learning_rates` x `--tune_epochs`. Each trial is evaluated on the forget set,
retain-validation and forget-validation only (held-out rows drawn before the request, which no model trained on);
test and forget_test are never evaluated. The choice follows the benchmark's criterion
(`hf_unlearn.benchmark.tuning.choose_setting`): keep retain-validation accuracy within `--tune_standard_errors`
binomial standard errors of the original's, and come closest to the gold model on forget-validation (without a gold
model, `--train_gold false`: the forget set closest to forget-validation, the gold-free score; for sample requests,
which have no forget-validation rows, the forget set closest to retain-validation).

The chosen values become the method's entry for the request kind (`class`, `speaker`, `sample` or `speaker_id`) in
`--settings_file` (other methods and kinds already in the file are kept), and every trial goes to
`<output_dir>/tuning.json`. Tuning on one request is noisier than the benchmark's several requests per kind; tune on
a request like the ones you will serve.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass, field

from hf_unlearn.evaluation.intervals import UTILITY_STANDARD_ERRORS

logger = logging.getLogger(__name__)
TUNED_FIELDS = ("learning_rate", "num_train_epochs")


@dataclass
class TuneArguments:
    """The grid, the criterion's tolerance and where the choice is written."""

    settings_file: str = field(
        default="unlearning_settings.json",
        metadata={
            "help": "JSON settings file the choice is written to (kept entries of other methods and request kinds); "
            "pass it to `hf-unlearn unlearn --method_settings FILE`."
        },
    )
    tune_learning_rates: list[float] = field(
        default_factory=lambda: [1e-4, 3e-4, 1e-3, 3e-3], metadata={"help": "Learning rates tried."}
    )
    tune_epochs: list[float] = field(default_factory=lambda: [1.0, 3.0], metadata={"help": "Lengths tried (epochs)."})
    tune_standard_errors: float = field(
        default=UTILITY_STANDARD_ERRORS,
        metadata={"help": "Utility tolerance in binomial standard errors of the original's accuracy."},
    )


def write_settings_file(path: str, method: str, kind: str, settings: dict, command: str) -> dict:
    """Sets `methods.<method>.<kind>` of the settings file at `path` (created if missing) to the tuned fields of
    `settings`, records how in `"source"`, and returns the file's content."""
    content = {"methods": {}}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            content = json.load(handle)
    content.setdefault("methods", {}).setdefault(method, {})[kind] = {key: settings[key] for key in TUNED_FIELDS}
    content["source"] = (
        f"Per-kind entries tuned on validation data only by `{command}` on {datetime.date.today().isoformat()} "
        "(criterion: hf_unlearn.benchmark.tuning)."
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(content, handle, indent=2)
        handle.write("\n")
    return content


def main(argv: list[str] | None = None) -> dict:
    """Runs the command; returns `{"kind", "method", "choice", "trials", "settings_file"}`."""
    from hf_unlearn.benchmark.trials import evaluation_view, trial_splits, trial_view
    from hf_unlearn.benchmark.tuning import choose_setting, tuning_grid
    from hf_unlearn.checks import check_launch
    from hf_unlearn.cli.unlearn import parse_arguments, prepare_request, setup_logging
    from hf_unlearn.experiment import evaluate_references, run_request

    argv = list(sys.argv[1:] if argv is None else argv)
    script_args, data_args, model_args, tune_args, training_args = parse_arguments(
        argv, extra_classes=(TuneArguments,), prog="hf-unlearn tune"
    )
    check_launch(training_args)
    setup_logging(script_args, training_args)
    splits, extractor, references, _, _ = prepare_request(script_args, data_args, model_args, training_args)
    references = {**references, "shadows": []}  # the tuner reads no attack
    kind, method = splits.request_kind, training_args.method
    eval_splits = trial_splits(splits)  # forget, retain-validation, forget-validation: never test or forget_test
    columns = {"audio_column": training_args.audio_column, "label_column": training_args.label_column}
    evaluation = evaluate_references(references, eval_splits, extractor, **columns, use_cpu=training_args.use_cpu)
    view = evaluation_view(splits, eval_splits)
    score = "forgetting" if references.get("gold") is not None else "gold_free"

    trials = []
    for point in tuning_grid(tune_args.tune_learning_rates, tune_args.tune_epochs):
        with tempfile.TemporaryDirectory() as scratch:
            config = dataclasses.replace(training_args, output_dir=scratch, **point)
            record = run_request(
                method, config, view, extractor, references, seed=training_args.seed, output_dir=scratch,
                save=False, evaluation=evaluation, **columns,
            )  # fmt: skip
        trial = {"settings": point, "request": kind, "view": trial_view(record, eval_splits, evaluation, splits)}
        trials.append(trial)
        logger.info("Trial %s: %s", point, trial["view"])
    choice = choose_setting(trials, tune_args.tune_standard_errors, score)
    result = {"kind": kind, "method": method, "score": score, "choice": choice, "trials": trials}
    result["settings_file"] = os.path.abspath(tune_args.settings_file)
    if training_args.process_index == 0:
        command = "hf-unlearn tune --method " + method + f" (request kind {kind})"
        write_settings_file(tune_args.settings_file, method, kind, choice["settings"], command)
        os.makedirs(training_args.output_dir, exist_ok=True)
        with open(os.path.join(training_args.output_dir, "tuning.json"), "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2, default=str)
        print(f"\n{'learning rate':>14} {'epochs':>7} {'utility kept':>13} {'score':>7}  ({score}; lower is better)")
        for candidate in choice["candidates"]:
            value = "–" if candidate["score"] is None else f"{candidate['score']:.3f}"
            settings = candidate["settings"]
            print(
                f"{settings['learning_rate']:>14g} {settings['num_train_epochs']:>7g} "
                f"{str(candidate['utility_kept']):>13} {value:>7}"
            )
        chosen = choice["settings"]
        print(
            f"\nChose learning rate {chosen['learning_rate']:g}, {chosen['num_train_epochs']:g} epoch(s) for {method} "
            f"on {kind} requests; wrote {tune_args.settings_file}. Use it with: hf-unlearn unlearn --method {method} "
            f"--method_settings {tune_args.settings_file} ..."
        )
    return result


def command(argv: list[str]) -> int:
    """`hf-unlearn tune ARGS`: runs `main(ARGS)`; 0 on success."""
    main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(command(sys.argv[1:]))
