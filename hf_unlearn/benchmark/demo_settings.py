"""Validation-only tuning of the demo's unlearning settings (`hf_unlearn/experiment/settings/keywords.json`).

`hf-unlearn demo` reads each method's learning rate and length from that file. This module chooses them the way the
FSDD benchmark chooses its own (`hf_unlearn.benchmark.tuning`, same criterion, same grid by default), on the built-in
eSpeak keywords: every method runs each setting of the grid on two speaker, two class and two sample requests (seed
0), each trial is evaluated on the forget set, retain-validation and forget-validation only (held-out clips drawn
before the request, so no model trained on them; sample requests have none and use the tuner's proxy; test and
forget_test are never evaluated), and the choice per request kind is written as the method's `speaker` / `class` /
`sample` entry. `default` and `fallback` entries stay hand-written.

    python -m hf_unlearn.benchmark.demo_settings --output_dir path/to/demo_tuning [--methods scrub salun]

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

DATASET = "keywords"
COMMAND = "python -m hf_unlearn.benchmark.demo_settings"
SETTINGS_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiment", "settings",
                             f"{DATASET}.json")  # fmt: skip


@dataclass
class DemoTuningArguments:
    """Arguments of `python -m hf_unlearn.benchmark.demo_settings` (see the module docstring)."""

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
    reference_epochs: float = field(default=40, metadata={"help": "Maximum reference epochs (the demo's: 40)."})
    num_threads: int | None = field(default=1, metadata={"help": "torch threads (1: comparable, the CNN is small)."})


def requests(args: DemoTuningArguments) -> list[dict]:
    """The tuning requests as `{"kind", "name", "demo": DemoArguments fields}`."""
    speakers = [{"kind": "speaker", "name": s, "demo": {"forget_speakers": [s]}} for s in args.forget_speakers]
    classes = [{"kind": "class", "name": c, "demo": {"forget_classes": [c]}} for c in args.forget_classes]
    samples = [{"kind": "sample", "name": str(f), "demo": {"forget_fraction": f}} for f in args.forget_fractions]
    return speakers + classes + samples


def trial(method: str, settings: dict, splits, extractor, references, seed: int) -> dict:
    """One setting of one method on one request, evaluated on validation splits only; returns the tuner's view."""
    from hf_unlearn.benchmark.loop import evaluation_view, validation_splits
    from hf_unlearn.benchmark.tuning import validation_view
    from hf_unlearn.experiment import evaluate_references, run_request

    validation = validation_splits(splits)
    eval_splits = {"forget": splits.forget, "retain": splits.retain_eval, **validation}
    references = {**references, "shadows": []}
    evaluation = evaluate_references(references, eval_splits, extractor, use_cpu=True)
    with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(io.StringIO()):
        record = run_request(
            method, settings, evaluation_view(splits, eval_splits), extractor, references, seed=seed,
            output_dir=scratch, use_cpu=True, disable_tqdm=True, save=False, evaluation=evaluation,
        )  # fmt: skip
    sizes = {"retain": len(splits.retain_eval), **{name: len(rows) for name, rows in validation.items()}}
    return {
        "view": validation_view(record["unlearned"], record["original"], record["gold"] or {}, sizes),
        "stop_reason": record.get("stop_reason"),
    }


def tune_demo(args: DemoTuningArguments, argv: list[str] | None = None, log=print) -> dict:
    """Runs the trials (resuming stored ones), chooses per method and request kind, and writes the settings file
    unless `write_settings=False`; returns `{kind: {method: choice or {"error"}}}`."""
    import torch

    from hf_unlearn import list_methods
    from hf_unlearn.benchmark import write_settings
    from hf_unlearn.benchmark.loop import run_key
    from hf_unlearn.benchmark.tuning import choose_setting, tuning_grid
    from hf_unlearn.demo import DemoArguments, load_demo_data, prepare_request
    from hf_unlearn.experiment import method_settings

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
        prepared = None
        for method in methods:
            base = method_settings(method, DATASET, request["kind"])
            for point in grid:
                settings = {**base, **point, **({"max_steps": args.max_steps} if args.max_steps else {})}
                spec = {"group": request["kind"], "name": request["name"]}
                path = os.path.join(args.output_dir, run_key(spec, method, args.seed, settings) + ".json")
                if os.path.exists(path):
                    with open(path) as handle:
                        stored = json.load(handle)
                else:
                    if prepared is None:
                        if data is None:
                            data, sampling_rate = load_demo_data(demo_args)
                        prepared = prepare_request(demo_args, data, sampling_rate)
                    stored = {"request": request["name"], "kind": request["kind"], "method": method}
                    stored["settings"] = settings
                    try:
                        stored.update(trial(method, settings, *prepared, seed=args.seed))
                    except Exception as error:  # recorded; the other trials still run
                        stored["error"] = repr(error)
                    with open(path + ".tmp", "w") as handle:
                        json.dump(stored, handle, indent=1, default=float)
                    os.replace(path + ".tmp", path)
                    view, error = stored.get("view") or {}, stored.get("error", "")
                    log(
                        f"  {request['kind']} {request['name']}, {method} {point}: retain-validation "
                        f"{view.get('retain_validation_accuracy')}, forget-validation "
                        f"{view.get('forget_validation_accuracy')} "
                        f"(gold {view.get('gold_forget_validation_accuracy')}) {error}"
                    )
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
        local = {str(args.output_dir): "path/to/demo_tuning", str(args.cache_dir): "path/to/cache"}
        public = [local.get(token, token) for token in (sys.argv[1:] if argv is None else argv)]
        path = write_settings(tuning, " ".join([COMMAND, *map(shlex.quote, public)]), SETTINGS_PATH)
        with open(path, encoding="utf-8") as handle:
            written = json.load(handle)
        for entry in written["methods"].values():  # `--forget_fraction` (sample requests) reads `default`
            entry.setdefault("default", dict(written["fallback"]))
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(written, handle, indent=2)
            handle.write("\n")
        log(f"Wrote {os.path.relpath(path)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    from hf_unlearn.arguments import parse_dataclass

    argv = list(sys.argv[1:] if argv is None else argv)
    tune_demo(parse_dataclass(DemoTuningArguments, argv, prog=COMMAND), argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
