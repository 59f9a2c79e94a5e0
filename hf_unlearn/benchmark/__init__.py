"""The FSDD benchmark: original, gold and every unlearning method over forget requests, request kinds and seeds.

`hf-unlearn benchmark --dataset_name path/to/free-spoken-digit-dataset` (or `python -m hf_unlearn.cli benchmark ...`):

1. reference models (original, gold, and `--shadow_models K` shadow models) per request and seed, trained once and
   cached by `hf_unlearn.experiment` (one cache root, one key scheme);
2. tuning (`hf_unlearn.benchmark.tuning`): each method's learning rate and length, per request kind, on the first
   `--tune_requests` requests of the kind (first seed), judged on validation data only; the choice is applied to
   every request and seed and written to the package's settings file (`hf_unlearn/experiment/settings/fsdd.json`);
3. the runs (`hf_unlearn.experiment.run_request`), each written to `<output_dir>/runs/<key>.json` as soon as it ends
   and skipped on a rerun (resume);
4. `<name>.json` (command, arguments, tuning grid and trials, criterion, choice, per-run rows, mean / std / n per
   group and model, methods meeting the targets), `<name>.md`, `<name>.png` (`figure`), best-run model cards
   (`best_run_cards`) and, with `--readme docs/benchmarks.md`, that page's results block
   (`report_markdown.readme_block`).

`--quick` runs a smoke version in minutes (see `benchmark_arguments.apply_quick`). `--report_only` trains nothing: it
re-aggregates the runs of an existing `<name>.json` (`report_only`), e.g. after the summary gained a figure.
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
import sys
import time
from dataclasses import asdict

from hf_unlearn.benchmark.any_data import is_fsdd
from hf_unlearn.benchmark.benchmark_arguments import REQUEST_KINDS, BenchmarkArguments, apply_quick, resolve_defaults
from hf_unlearn.benchmark.tuning import target_modes, tuning_grid
from hf_unlearn.evaluation.intervals import UTILITY_STANDARD_ERRORS

__all__ = ["BenchmarkArguments", "run_benchmark"]

DATASET = "fsdd"
TUNED_FIELDS = ("learning_rate", "num_train_epochs", "stop_target", "stop_interval", "stop_retain_tolerance")
TUNED_FIELDS += ("stop_retain_standard_errors",)
COMMAND = "hf-unlearn benchmark"


def _check(args: BenchmarkArguments) -> list[str]:
    from hf_unlearn import list_methods

    if not args.dataset_name:
        raise ValueError(
            "Pass --dataset_name <a folder or Hub dataset name>, e.g. path/to/free-spoken-digit-dataset (the "
            "Free Spoken Digit Dataset), or an audiofolder with a speaker column."
        )
    unknown_kinds = [k for k in args.kinds or [] if k not in REQUEST_KINDS]
    if unknown_kinds:
        raise ValueError(f"Unknown forget kind(s) {unknown_kinds}: choose from {', '.join(REQUEST_KINDS)}.")
    known = [info.key for info in list_methods()]
    methods = args.methods or known
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ValueError(f"Unknown method(s) {unknown}; known: {known}.")
    if not args.seeds:
        raise ValueError("Pass at least one seed (--seeds 0 1 2).")
    if args.lora_r:
        return _adapter_methods(methods, named=bool(args.methods))
    return methods


def _adapter_methods(methods: list[str], named: bool) -> list[str]:
    """With `--lora_r`: the methods that run on an adapter. A method named in `--methods` that refuses adapters is an
    error before any work (its `peft_note` says why); left to the default list, such methods are skipped, said in the
    log."""
    import logging

    from hf_unlearn.methods import get_trainer_class

    refusing = [m for m in methods if get_trainer_class(m).peft_support == "refuse"]
    if refusing and named:
        notes = "; ".join(f"{m}: {get_trainer_class(m).peft_note}" for m in refusing)
        raise ValueError(f"--lora_r: {refusing} do not run on a LoRA adapter ({notes}). Drop them from --methods.")
    if refusing:
        logging.getLogger(__name__).warning("--lora_r: skipping %s (no LoRA adapter support).", ", ".join(refusing))
    return [m for m in methods if m not in refusing]


def _jobs(folder: str, entries: list[tuple], key_extra: dict | None = None) -> list[dict]:
    """Job dicts from `(request, method, seed, settings, mode)` tuples, stored under `folder`; `key_extra` joins the
    settings in the file name's hash (what changes a job without being a method setting: `run_key_extra`)."""
    from hf_unlearn.benchmark.loop import run_key

    jobs = []
    for request, method, seed, settings, mode in entries:
        keyed = {**settings, **key_extra} if key_extra else settings
        path = os.path.join(folder, run_key(request, method, seed, keyed) + ".json")
        job = {"request": request["name"], "group": request["group"], "seed": seed, "mode": mode, "path": path}
        job.update(method=method, settings=settings, request_spec=request)
        jobs.append(job)
    return jobs


def run_key_extra(args, method_jobs: bool = True) -> dict:
    """What keys a job apart beside its settings, so that benchmarks sharing an output folder never take each other's
    files for their own: the data (its name, for data other than FSDD), the model (another than the MFCC CNN: its type
    or checkpoint and overrides) and, for method jobs, the LoRA rank. FSDD with the CNN and full weights adds nothing:
    its published runs keep their keys."""
    extra = {} if is_fsdd(args) else {"data": args.name}
    if other_model(args):
        extra["model"] = [other_model(args), args.config_overrides]
    if method_jobs and args.lora_r:
        extra["lora_r"] = args.lora_r
    return extra


def other_model(args) -> str | None:
    """The model's type or checkpoint when it is not the MFCC CNN (whose keys and settings names carry no model)."""
    model = args.model_name_or_path or args.model_type
    return model if model and model != "mfcc_cnn" else None


def settings_name(args) -> str:
    """The settings file of the data and model (`settings/<name>.json`): `fsdd` for FSDD whatever `--name`, else
    `--name`; another model than the MFCC CNN adds its type (or checkpoint name), a LoRA adapter `_lora`: settings
    tuned for one model are not another's."""
    from hf_unlearn.benchmark.loop import slug

    name = DATASET if is_fsdd(args) else args.name
    if other_model(args):
        name += "_" + slug(os.path.basename(os.path.normpath(other_model(args)))).replace("-", "_").lower()
    return name + ("_lora" if args.lora_r else "")


def settings_source(args) -> str:
    """The settings file the runs start from: the dataset's own (`settings/<name>.json`) when present, else FSDD's
    (its batch sizes and method options; the tuner replaces learning rate and length)."""
    from hf_unlearn.experiment import available_settings

    return settings_name(args) if settings_name(args) in available_settings() else DATASET


def should_tune(args) -> bool:
    """`--tune` when given; else tune unless the dataset has its own settings file (FSDD's published benchmark
    always tunes, and rewrites fsdd.json)."""
    from hf_unlearn.experiment import available_settings

    if args.tune is not None:
        return args.tune
    return settings_name(args) == DATASET or settings_name(args) not in available_settings()


def tune(args, requests, methods, output_dir, log=print, has_unseen_speakers: bool = False) -> dict:
    """Runs the tuning trials and chooses a setting per request kind and method (`has_unseen_speakers`: the splits
    hold speakers out of all training, so a speaker request can use the `unseen` target); returns the tuning record
    `{kind: {"requests", "seed", "grid", "methods": {method: {"choice", "gold_free_choice", "trials"}}}}`."""
    from hf_unlearn.benchmark.loop import run_jobs
    from hf_unlearn.benchmark.tuning import choose_setting
    from hf_unlearn.experiment import method_settings

    seed = args.seeds[0]
    record = {}
    for kind in dict.fromkeys(r["kind"] for r in requests):
        grid = kind_grid(args, kind, has_unseen_speakers)
        chosen = [r for r in requests if r["kind"] == kind][: args.tune_requests]
        log(f"Tuning {kind} on {[r['name'] for r in chosen]} (seed {seed}), grid of {len(grid)} setting(s)")
        # A grid point replaces the learning rate and length of the method's shipped settings (batch sizes ...).
        base = {m: method_settings(m, settings_source(args), kind) for m in methods}
        entries = [(r, m, seed, {**base[m], **s}, "trial") for m in methods for s in grid for r in chosen]
        trials = run_jobs(_jobs(os.path.join(output_dir, "tuning"), entries, run_key_extra(args)), args, log)
        per_kind = {"requests": [r["name"] for r in chosen], "seed": seed, "grid": grid, "methods": {}}
        for method in methods:
            mine = [
                {k: t.get(k) for k in ("request", "settings", "view", "error")}
                for t in trials
                if t["method"] == method
            ]
            entry = {"trials": mine}
            try:
                entry["choice"] = choose_setting(mine, args.tune_standard_errors, "forgetting")
                entry["gold_free_choice"] = choose_setting(mine, args.tune_standard_errors, "gold_free")
            except ValueError as error:
                entry["error"] = str(error)
            per_kind["methods"][method] = entry
        record[kind] = per_kind
    return record


def kind_grid(args, kind: str, has_unseen_speakers: bool = False) -> list[dict]:
    """The tuning grid of a request kind: learning rates x stopping targets x utility tolerances in standard errors
    (capped at `--stop_max_epochs`) with the stopping rule, else learning rates x `--tune_epochs`."""
    if not args.stopping:
        return tuning_grid(args.tune_learning_rates, args.tune_epochs)
    targets = target_modes(kind, args.tune_targets, has_unseen_speakers)
    if not targets:
        raise ValueError(f"No stopping target of {args.tune_targets} fits {kind} requests: add 'reference'.")
    grid = tuning_grid(args.tune_learning_rates, [args.stop_max_epochs], targets, args.stop_interval)
    if args.stop_retain_tolerance is not None:
        return [{**setting, "stop_retain_tolerance": args.stop_retain_tolerance} for setting in grid]
    if list(args.tune_stop_standard_errors) == [UTILITY_STANDARD_ERRORS]:  # the default: settings, keys as before
        return grid
    return [{**s, "stop_retain_standard_errors": float(k)} for k in args.tune_stop_standard_errors for s in grid]


def write_settings(tuning: dict, command: str, path: str | None = None, name: str = DATASET) -> str:
    """Writes the tuned settings into the one home of per-method settings (`<kind>` entries of each method in
    `hf_unlearn/experiment/settings/<name>.json`; a new file starts from FSDD's hand-written `common`, `fallback` and
    `default` entries); returns the path."""
    from hf_unlearn.experiment import SETTINGS_DIR

    path = path or os.path.join(SETTINGS_DIR, f"{name}.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            settings = json.load(handle)
    else:
        with open(os.path.join(SETTINGS_DIR, f"{DATASET}.json"), encoding="utf-8") as handle:
            template = json.load(handle)
        settings = {key: template[key] for key in ("common", "fallback") if key in template}
        settings["methods"] = {
            method: {"default": entry["default"]} for method, entry in template.get("methods", {}).items()
            if "default" in entry
        }  # fmt: skip
    for kind, per_kind in tuning.items():
        for method, entry in per_kind["methods"].items():
            if "choice" in entry:
                chosen = entry["choice"]["settings"]
                tuned = {key: chosen[key] for key in TUNED_FIELDS if key in chosen}
                settings.setdefault("methods", {}).setdefault(method, {})[kind] = tuned
    settings["source"] = (
        f"Per-kind entries tuned on validation data only by `{command}` on {datetime.date.today().isoformat()} "
        "(criterion: hf_unlearn.benchmark.tuning); `default` entries are hand-written."
    )
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(settings, handle, indent=2)
        handle.write("\n")
    return path


# Local folders never reach the published results or the settings file: they are recorded as placeholders.
PLACEHOLDERS = {"dataset_name": "path/to/free-spoken-digit-dataset", "cache_dir": "path/to/cache"}


def public_placeholders(args) -> dict:
    """The placeholders of `args`' local folders: FSDD's, or `path/to/<folder name>` for another local folder (a Hub
    name is public and kept); an output folder given as an absolute path (a machine's own) becomes
    `path/to/<folder name>` too, a relative one (e.g. inside the repository) is kept."""

    def placeholder(folder: str) -> str:
        return "path/to/" + os.path.basename(os.path.normpath(folder))

    if is_fsdd(args):
        placeholders = dict(PLACEHOLDERS)
    else:
        placeholders = {"cache_dir": PLACEHOLDERS["cache_dir"]}
        if args.dataset_name and os.path.isdir(args.dataset_name):
            placeholders["dataset_name"] = placeholder(args.dataset_name)
    for key in ("output_dir", "model_cards_dir"):
        if getattr(args, key, None) and os.path.isabs(getattr(args, key)):
            placeholders[key] = placeholder(getattr(args, key))
    return placeholders


def public_arguments(argv: list[str], args, placeholders: dict | None = None) -> list[str]:
    """`argv` with the values of the local-folder options (`placeholders`, default `PLACEHOLDERS`: option name ->
    placeholder) replaced by placeholders."""
    placeholders = PLACEHOLDERS if placeholders is None else placeholders
    local = {str(getattr(args, key)): value for key, value in placeholders.items() if getattr(args, key, None)}
    return [local.get(token, token) for token in argv]


def run_benchmark(args: BenchmarkArguments, argv: list[str] | None = None, log=print) -> dict:
    """Runs the benchmark (see the module docstring) and writes its outputs; returns the result dict."""
    from hf_unlearn.benchmark.any_data import design_summary, top_speakers
    from hf_unlearn.benchmark.loop import build_requests, init_worker, load_data, run_jobs, seed_design
    from hf_unlearn.experiment import method_settings

    if args.report_only:  # re-aggregate the stored runs, recording this command as the report's
        from hf_unlearn.benchmark.report_only import stored_result

        report = " ".join([COMMAND, *map(shlex.quote, public_arguments(sys.argv[1:] if argv is None else argv, args))])
        return finish(args, *stored_result(args, report, log))
    methods = _check(args)
    args = resolve_defaults(args)
    if "speaker_id" in args.kinds and not is_fsdd(args):
        raise ValueError("The speaker_id group runs on FSDD only; on other data pass --label_column <speaker column>.")
    if not args.num_workers:
        init_worker(args.num_threads)  # this process runs the jobs: one thread, no progress bars
    if args.quick:
        args = apply_quick(args)
    output_dir = args.output_dir or ("benchmark_quick" if args.quick else "benchmark_results")
    from hf_unlearn.hub.write_targets import check_write_targets

    check_write_targets(  # every folder the benchmark writes, before any model is trained
        {
            "--output_dir": output_dir,
            "--cache_dir": args.cache_dir,
            "--model_cards_dir": args.model_cards_dir,
            "--readme": os.path.dirname(os.path.abspath(args.readme)) if args.readme else None,
        }
    )
    os.makedirs(output_dir, exist_ok=True)
    placeholders = public_placeholders(args)
    argv = sys.argv[1:] if argv is None else argv
    command = " ".join([COMMAND, *map(shlex.quote, public_arguments(argv, args, placeholders))])
    started = time.perf_counter()
    data = load_data(args)
    if "speaker" in args.kinds and "speaker" not in data["train"].column_names:
        raise ValueError(f"The speaker group needs a speaker column; {args.speaker_column!r} is not in the data.")
    speakers = sorted(set(data["train"]["speaker"])) if "speaker" in data["train"].column_names else []
    if args.forget_speakers:
        missing = sorted(set(args.forget_speakers) - set(speakers))
        if missing:
            raise ValueError(f"Speaker(s) {missing} are not in {args.dataset_name}; speakers: {speakers}.")
    requests = build_requests(args, top_speakers(data["train"], args.top_speakers) if args.top_speakers else speakers)
    designs = {seed: seed_design(args, data, seed) for seed in args.seeds} if not is_fsdd(args) else {}
    extra = {"splits": {str(s): design_summary(d) for s, d in designs.items() if d}} if designs else {}
    log(f"{args.name} benchmark: {len(requests)} request(s) x {len(args.seeds)} seed(s), {len(methods)} method(s)")

    # References first, one job per (request, seed); the first request of each label kind and seed goes alone, so
    # that two workers never train the same shared original model at once.
    entries = [(r, None, s, {}, "references") for r in requests for s in args.seeds]
    first = {(r["label"], s): (r, None, s, {}, "references") for r, _, s, _, _ in reversed(entries)}
    rest = [e for e in entries if e not in first.values()]
    reference_key = run_key_extra(args, method_jobs=False)
    for phase in (list(first.values()), rest):
        run_jobs(_jobs(os.path.join(output_dir, "references"), phase, reference_key), args, log)

    tuned = should_tune(args)
    unseen_speakers = any(design and design["unseen_rows"] for design in designs.values())
    tuning = tune(args, requests, methods, output_dir, log, unseen_speakers) if tuned else {}
    if tuned and args.write_settings:
        extra["settings_file"] = os.path.relpath(write_settings(tuning, command, name=settings_name(args)))
    else:
        extra["settings_from"] = f"{settings_source(args)}.json"
    chosen = {}
    for request in requests:
        for method in methods:
            entry = tuning.get(request["kind"], {}).get("methods", {}).get(method, {})
            shipped = entry["choice"]["settings"] if "choice" in entry else None
            source = settings_source(args)
            chosen[(request["kind"], method)] = shipped or method_settings(method, source, request["kind"])
    entries = [(r, m, s, chosen[(r["kind"], m)], "run") for r in requests for s in args.seeds for m in methods]
    stored = run_jobs(_jobs(os.path.join(output_dir, "runs"), entries, run_key_extra(args)), args, log)
    runs = [run for run in stored if "record" in run and not run.get("error")]
    errors = [{k: run.get(k) for k in ("request", "seed", "method", "error")} for run in stored if run.get("error")]
    extra["placeholders"] = placeholders
    return finish(args, runs, errors, tuning, command, output_dir, time.perf_counter() - started, log, extra)


def finish(args, runs, errors, tuning, command, output_dir, wall, log=print, extra=None) -> dict:
    """Aggregates the runs and writes `<name>.json`, `<name>.md`, `<name>.png`, cards and the README block."""
    if args.name is None:
        resolve_defaults(args)
    import hf_unlearn
    from hf_unlearn.benchmark.best_run_cards import write_best_cards
    from hf_unlearn.benchmark.evidence import evidence, gold_floor, run_intervals, separation_markdown
    from hf_unlearn.benchmark.figure import gaps_figure
    from hf_unlearn.benchmark.group_summary import (
        TARGETS,
        aggregate,
        methods_meeting_targets,
        original_within_targets,
        stopping_acceptance,
    )
    from hf_unlearn.benchmark.relearn import relearning_markdown, relearning_summary
    from hf_unlearn.benchmark.report_markdown import markdown_report, update_readme
    from hf_unlearn.benchmark.tuning import __doc__ as criterion
    from hf_unlearn.benchmark.untuned import results_block, untuned_figures, untuned_lines

    summary = aggregate(runs)
    extra = dict(extra or {})
    placeholders = extra.pop("placeholders", PLACEHOLDERS)
    title = f"{args.name}: {' / '.join(args.kinds or []).replace('_', '-')} unlearning"
    if is_fsdd(args):
        title = "FSDD speaker / class / sample / speaker-id unlearning"
    # Two gold seeds' forget-accuracy distance per group (`evidence.gold_floor`), what the stopping rule aims within.
    floors = {group: figures.get("forget_accuracy") for group, figures in gold_floor(runs).items()}
    result = {
        "benchmark": title,
        "command": command,
        "date": datetime.date.today().isoformat(),
        "wall_time": wall,
        "hf_unlearn": hf_unlearn.__version__,
        "arguments": {**asdict(args), **{k: placeholders[k] for k in placeholders if getattr(args, k, None)}},
        "targets": [text for *_, text in TARGETS],
        "tuning": {"criterion": (extra or {}).pop("criterion", None) or criterion, "kinds": tuning},
        "summary": summary,
        "targets_met": methods_meeting_targets(summary),
        # Two gold seeds' distance per group, and the methods within it + 0.02 (the stopping rule's acceptance).
        "stopping_floor": floors,
        "stopping_acceptance": stopping_acceptance(summary, floors),
        # Groups where doing nothing already meets the forget, test and MIA targets (they show nothing there).
        "original_within_targets": original_within_targets(summary),
        # Which requests tuning read, and the figures over the others (hf_unlearn.benchmark.untuned).
        **untuned_figures(runs, tuning),
        # Intervals per group and model, decisions by equivalence, resolution and gold floor (`evidence`).
        **evidence(runs),
        "runs": [{**{k: v for k, v in run.items() if k != "card"}, "intervals": run_intervals(run)} for run in runs],
        "errors": errors,
        **(extra or {}),
    }
    relearning = relearning_summary(runs)
    if relearning:  # runs made with --relearn_steps
        result["relearning"] = relearning
    stem = os.path.join(output_dir, args.name)
    if args.model_cards_dir and runs:
        result["model_cards"] = write_best_cards(summary, runs, args.model_cards_dir, args.name, result)
    if summary:
        result["figure"] = gaps_figure(
            summary, stem + ".png", result["intervals"], result["gold_floor"], result["resolution"]
        )
    with open(stem + ".json", "w") as handle:
        json.dump(result, handle, indent=1, default=float)
    report = "\n".join([markdown_report(result), *untuned_lines(result, heading="##")])
    sections = [separation_markdown(result["attack_separation"]), relearning_markdown(relearning)]
    report += "".join("\n" + section for section in sections if section)
    with open(stem + ".md", "w") as handle:
        handle.write(report)
    if args.readme:
        update_readme(args.readme, results_block(result, os.path.relpath(stem + ".json")))
    log(report)
    log(f"Wrote {stem}.json, {stem}.md and {stem}.png ({wall / 60:.1f} min of runs).")
    return result
