"""`hf-unlearn benchmark --report_only`: a benchmark's stored result read back, for `finish` to rewrite its summary,
report, figure, cards and README block without training anything (a change to the summaries or the report applied to
published runs)."""

from __future__ import annotations

import datetime
import glob
import json
import os

from hf_unlearn.benchmark.benchmark_arguments import BenchmarkArguments, resolve_defaults


def stored_result(args: BenchmarkArguments, report: str, log=print) -> tuple:
    """`finish`'s arguments after `args` for `<output_dir>/<name>.json`'s stored runs: the runs, errors, tuning,
    command, date, arguments and what depended on the data (title, split design, settings file) are kept; each run's
    card is read back from `<output_dir>/runs/` (for the best-run cards); the report's own command (`report`) and
    date are recorded under `report`."""
    if args.name is None:  # the defaults that depend on the data (the results' name), as a run fills them
        resolve_defaults(args)
    output_dir = args.output_dir or "benchmark_results"
    path = os.path.join(output_dir, f"{args.name}.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--report_only re-aggregates {path}, which does not exist: run the benchmark first.")
    with open(path) as handle:
        previous = json.load(handle)
    cards = {}
    for stored in glob.glob(os.path.join(output_dir, "runs", "*.json")):
        with open(stored) as handle:
            run = json.load(handle)
        if run.get("card"):
            cards[_identity(run)] = run["card"]
    runs = [
        {**run, **({"card": cards[_identity(run)]} if _identity(run) in cards else {})} for run in previous["runs"]
    ]
    # What the run knew of its data and this command does not (no data is loaded here): kept as the run wrote it.
    data_keys = ("benchmark", "splits", "settings_file", "settings_from")
    kept = {key: previous[key] for key in ("date", "arguments", "hf_unlearn", *data_keys) if key in previous}
    kept["report"] = {"command": report, "date": datetime.date.today().isoformat(), "hf_unlearn": _version()}
    tuning = (previous.get("tuning") or {}).get("kinds", {})
    kept["criterion"] = (previous.get("tuning") or {}).get("criterion")  # the one the runs were tuned by
    log(f"Re-aggregating {len(runs)} stored run(s) of {path} ({sum(_identity(r) in cards for r in runs)} with cards)")
    errors, wall = previous.get("errors", []), previous.get("wall_time", 0.0)
    return runs, errors, tuning, previous["command"], output_dir, wall, log, kept


def _identity(run: dict) -> tuple:
    return run["group"], run["request"], run["seed"], run["method"], json.dumps(run.get("settings"), sort_keys=True)


def _version() -> str:
    import hf_unlearn

    return hf_unlearn.__version__
