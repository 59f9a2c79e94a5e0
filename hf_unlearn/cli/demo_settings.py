"""Validation-only tuning of the demo's unlearning settings (`hf_unlearn/experiment/settings/keywords.json`).

`hf-unlearn demo` reads each method's learning rate and length from that file. This module chooses them the way the
FSDD benchmark chooses its own (`hf_unlearn.benchmark.tuning`, same criterion, same grid by default), on the built-in
eSpeak keywords: every method runs each setting of the grid on two speaker, two class and two sample requests (seed
0), each trial is evaluated on the forget set, retain-validation and forget-validation only (held-out clips drawn
before the request, so no model trained on them; sample requests have none and use the tuner's proxy; test and
forget_test are never evaluated), and the choice per request kind is written as the method's `speaker` / `class` /
`sample` entry. `default` and `fallback` entries stay hand-written.

    python -m hf_unlearn.cli.demo_settings --output_dir path/to/demo_tuning [--methods scrub salun]

Each trial is stored in `<output_dir>/<key>.json` as soon as it ends, and a rerun skips the stored ones (resume).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from typing import NamedTuple

from hf_unlearn.cli.demo import DEMO_REFERENCE_EPOCHS
from hf_unlearn.experiment.defaults import reference_option

DATASET = "keywords"
COMMAND = "python -m hf_unlearn.cli.demo_settings"


@dataclass
class DemoTuningArguments:
    """Arguments of `python -m hf_unlearn.cli.demo_settings` (see the module docstring)."""

    output_dir: str = field(default="demo_tuning", metadata={"help": "Where each trial's JSON file goes (resume)."})
    methods: list[str] | None = field(default=None, metadata={"help": "Methods to tune (default: every method)."})
    forget_speakers: list[str] = field(
        default_factory=lambda: ["en-us+f1", "en+m2"], metadata={"help": "Speaker requests tuned on, one a request."}
    )
    forget_classes: list[str] = field(
        default_factory=lambda: ["yes", "left"], metadata={"help": "Class requests tuned on, one a request."}
    )
    forget_fractions: list[float] = field(
        default_factory=lambda: [0.05, 0.1], metadata={"help": "Sample requests tuned on (shares), one a request."}
    )
    tune_learning_rates: list[float] = field(
        default_factory=lambda: [1e-4, 3e-4, 1e-3, 3e-3], metadata={"help": "Learning-rate grid."}
    )
    tune_epochs: list[float] = field(default_factory=lambda: [1.0, 3.0], metadata={"help": "Length grid (epochs)."})
    tune_standard_errors: float = field(
        default=2.0, metadata={"help": "Utility tolerance in binomial standard errors of the original's."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the splits, the reference models and the trials."})
    cache_dir: str | None = field(
        default=None, metadata={"help": "Data and reference cache (default: the demo's, $HF_UNLEARN_CACHE)."}
    )
    write_settings: bool = field(default=True, metadata={"help": "Write the choices into keywords.json."})
    max_steps: int | None = field(default=None, metadata={"help": "Cap every trial at this many steps (smoke runs)."})
    num_keywords: int = field(default=10, metadata={"help": "Keywords of the built-in data (the demo's: 10)."})
    num_voices: int = field(default=10, metadata={"help": "Voices of the built-in data (the demo's: 10)."})
    reference_epochs: float = reference_option("reference_epochs", DEMO_REFERENCE_EPOCHS)  # the demo's
    num_threads: int | None = field(default=1, metadata={"help": "torch threads (1: comparable, the CNN is small)."})


def requests(args: DemoTuningArguments) -> list[dict]:
    """The tuning requests as `{"kind", "name", "demo": DemoArguments fields}`."""
    speakers = [{"kind": "speaker", "name": s, "demo": {"forget_speakers": [s]}} for s in args.forget_speakers]
    classes = [{"kind": "class", "name": c, "demo": {"forget_classes": [c]}} for c in args.forget_classes]
    samples = [{"kind": "sample", "name": str(f), "demo": {"forget_fraction": f}} for f in args.forget_fractions]
    return speakers + classes + samples


class PreparedRequest(NamedTuple):
    """A tuning request ready for its trials: splits, features, reference models, what trials are evaluated on, and
    the reference models' evaluation on it (the same for every trial of the request, so computed once)."""

    splits: object
    extractor: object
    references: dict
    eval_splits: dict
    evaluation: dict


def prepare(demo_args, data, sampling_rate: int) -> PreparedRequest:
    """The demo's request (`demo.prepare_request`), without shadow models, evaluated on the trial splits only."""
    from hf_unlearn.benchmark.trials import trial_splits
    from hf_unlearn.cli.demo import prepare_request
    from hf_unlearn.experiment import evaluate_references

    splits, extractor, references = prepare_request(demo_args, data, sampling_rate)
    references = {**references, "shadows": []}
    eval_splits = trial_splits(splits)
    evaluation = evaluate_references(references, eval_splits, extractor, use_cpu=True)
    return PreparedRequest(splits, extractor, references, eval_splits, evaluation)


def trial(method: str, settings: dict, prepared: PreparedRequest, seed: int) -> dict:
    """One setting of one method on one request, evaluated on the trial splits only; returns the tuner's view."""
    from hf_unlearn.benchmark.trials import evaluation_view, trial_view
    from hf_unlearn.experiment import run_request

    view_of_splits = evaluation_view(prepared.splits, prepared.eval_splits)
    with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(io.StringIO()):
        record = run_request(
            method, settings, view_of_splits, prepared.extractor, prepared.references, seed=seed,
            output_dir=scratch, use_cpu=True, disable_tqdm=True, save=False, evaluation=prepared.evaluation,
        )  # fmt: skip
    view = trial_view(record, prepared.eval_splits, prepared.evaluation, prepared.splits)
    return {"view": view, "stop_reason": record.get("stop_reason")}


def tune_demo(args: DemoTuningArguments, argv: list[str] | None = None, log=print) -> dict:
    """Runs the trials (resuming stored ones; failed ones run again), chooses per method and request kind, and writes
    the settings file unless `write_settings=False`; returns `{kind: {method: choice or {"error"}}}`."""
    import torch

    from hf_unlearn import list_methods
    from hf_unlearn.benchmark import PLACEHOLDERS, public_arguments, write_settings
    from hf_unlearn.benchmark.loop import job_done, report_job, run_key, write_job
    from hf_unlearn.benchmark.tuning import choose_setting, tuning_grid
    from hf_unlearn.cli.demo import DemoArguments, load_demo_data
    from hf_unlearn.experiment import SETTINGS_DIR, method_settings

    known = [info.key for info in list_methods()]
    methods = args.methods or known
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ValueError(f"Unknown method(s) {unknown}; known: {known}.")
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    os.makedirs(args.output_dir, exist_ok=True)
    grid = tuning_grid(args.tune_learning_rates, args.tune_epochs)
    data = sampling_rate = None
    trials: dict[tuple, list] = {}
    for request in requests(args):
        demo_args = DemoArguments(
            cache_dir=args.cache_dir, seed=args.seed, quiet=True, num_keywords=args.num_keywords,
            num_voices=args.num_voices, reference_epochs=args.reference_epochs, **request["demo"],
        )  # fmt: skip
        spec = {"group": request["kind"], "name": request["name"]}
        prepared = None  # only when one of the request's trials has to run
        for method in methods:
            base = method_settings(method, DATASET, request["kind"])
            for point in grid:
                settings = {**base, **point, **({"max_steps": args.max_steps} if args.max_steps else {})}
                path = os.path.join(args.output_dir, run_key(spec, method, args.seed, settings) + ".json")
                if job_done(path):
                    with open(path) as handle:
                        stored = json.load(handle)
                else:
                    if data is None:
                        data, sampling_rate = load_demo_data(demo_args)
                    prepared = prepared or prepare(demo_args, data, sampling_rate)
                    stored = {"request": request["name"], "kind": request["kind"], "method": method}
                    stored["settings"] = settings
                    try:
                        stored.update(trial(method, settings, prepared, seed=args.seed))
                    except Exception as error:  # recorded (and run again on a rerun); the other trials still run
                        stored["error"] = repr(error)
                    write_job(path, stored)
                    report_job({**stored, "seed": args.seed}, stored, log)
                trials.setdefault((request["kind"], method), []).append(stored)

    tuning, chosen = {}, {}
    for (kind, method), mine in trials.items():
        entry = {}
        try:
            entry["choice"] = choose_setting(mine, args.tune_standard_errors, "forgetting")
        except ValueError as error:
            entry["error"] = str(error)
        tuning.setdefault(kind, {"methods": {}})["methods"][method] = entry
        chosen.setdefault(kind, {})[method] = entry.get("choice", {}).get("settings") or entry
        log(f"{kind} {method}: {chosen[kind][method]}")
    if args.write_settings and args.max_steps is None:
        # Local folders are recorded as placeholders, as in the benchmark's command.
        placeholders = {**PLACEHOLDERS, "output_dir": "path/to/demo_tuning"}
        public = public_arguments(sys.argv[1:] if argv is None else argv, args, placeholders)
        path = os.path.join(SETTINGS_DIR, f"{DATASET}.json")
        write_settings(tuning, " ".join([COMMAND, *map(shlex.quote, public)]), path)
        log(f"Wrote {os.path.relpath(path)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    from hf_unlearn.cli.dataclass_options import parse_dataclass

    argv = list(sys.argv[1:] if argv is None else argv)
    tune_demo(parse_dataclass(DemoTuningArguments, argv, prog=COMMAND), argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
