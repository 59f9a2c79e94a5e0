"""The benchmark loop: requests x methods x seeds, run in worker processes, every finished run kept on disk.

Each job (reference training, tuning trial or benchmark run) is one JSON file under `<output_dir>`, written as soon
as the job ends; a rerun skips the jobs whose file exists, so an interrupted benchmark resumes where it stopped.
Workers are spawned processes with one torch thread each (a small CNN gains nothing from more threads, and two
single-threaded processes use two cores); each keeps its loaded data and extractor between jobs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from dataclasses import asdict

from hf_unlearn.benchmark.benchmark_arguments import REQUEST_KINDS, BenchmarkArguments
from hf_unlearn.benchmark.trials import evaluation_view, trial_splits, trial_view, validation_splits

SAMPLING_RATE = 8000
_CACHE: dict = {}  # per process: loaded data, fitted extractors and reference evaluations (see `_context`)


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(text)).strip("_")


def build_requests(args: BenchmarkArguments, speakers: list[str]) -> list[dict]:
    """The forget requests: `{"group", "kind", "name", "label", "split"}`, `split` the `make_forget_split` keywords.
    `label` is `"digit"` (FSDD's digits; the data's labels elsewhere) or `"speaker"` (speaker identification, the
    speaker_id group). `speakers`: the speaker group's speakers when `--forget_speakers` is not given."""
    from hf_unlearn.benchmark.any_data import is_fsdd
    from hf_unlearn.benchmark.benchmark_arguments import resolve_defaults

    if args.kinds is None or args.name is None:
        args = resolve_defaults(args)
    out = []
    what = "digit" if is_fsdd(args) else "class"
    for kind in args.kinds:
        if kind == "speaker":
            for speaker in args.forget_speakers or (speakers[:1] if args.quick else speakers):
                split = {"by": "speaker", "values": [speaker]}
                out.append(
                    {"group": kind, "kind": kind, "name": f"speaker {speaker}", "label": "digit", "split": split}
                )
        elif kind == "class":
            for digit in args.forget_classes:
                split = {"by": "class", "values": [str(digit)]}
                out.append({"group": kind, "kind": kind, "name": f"{what} {digit}", "label": "digit", "split": split})
        elif kind == "sample":
            for fraction in args.forget_fraction:
                split = {"by": "sample", "fraction": float(fraction)}
                name = f"{fraction:.0%} of recordings"
                out.append({"group": kind, "kind": kind, "name": name, "label": "digit", "split": split})
        elif kind == "speaker_id":
            # Label = speaker: forgetting one speaker is class unlearning of that label.
            for speaker in (args.forget_speakers or speakers)[: args.speaker_id_requests]:
                split = {"by": "class", "values": [speaker]}
                name = f"speaker id {speaker}"
                out.append({"group": kind, "kind": kind, "name": name, "label": "speaker", "split": split})
        else:
            raise ValueError(f"Unknown forget kind {kind!r}: choose from {', '.join(REQUEST_KINDS)}.")
    return out


def run_key(request: dict, method: str | None, seed: int, settings: dict | None = None) -> str:
    """The file stem of one job: readable parts and a hash of the settings (a changed setting is a new run)."""
    digest = hashlib.sha256(json.dumps(settings or {}, sort_keys=True).encode()).hexdigest()[:8]
    return "__".join(
        slug(p) for p in (request["group"], request["name"], method or "references", f"seed{seed}", digest)
    )


# ------------------------------------------------------------------------------------------------ per process
def load_data(args: BenchmarkArguments, label: str = "digit"):
    """FSDD as a `DatasetDict` (train: takes >= 5, test: takes 0-4), `--train_takes` training takes kept; any other
    data through `any_data.load_any` (one schema: `audio`, `label`, `speaker`)."""
    from hf_unlearn.benchmark.any_data import is_fsdd, load_any
    from hf_unlearn.data import load_fsdd
    from hf_unlearn.data.fsdd import FSDD_NUM_TEST_TAKES

    if not is_fsdd(args):
        return load_any(args)
    data = load_fsdd(args.dataset_name, label=label)
    if args.train_takes is not None:
        keep = FSDD_NUM_TEST_TAKES + args.train_takes
        data["train"] = data["train"].filter(lambda take: take < keep, input_columns="take")
    return data


def _context(args: BenchmarkArguments) -> None:
    """Empties the per-process cache when the data or reference settings change (several benchmarks, one process)."""
    data_fields = ("data_layout", "label_column", "speaker_column", "group_column", "sampling_rate", "model_type")
    data_fields += ("config_overrides",)
    more = ("model_name_or_path", "test_speaker_share", "unseen_speaker_share", "test_size", "top_speakers")
    context = [args.dataset_name, args.train_takes, args.reference_training()]
    context += [getattr(args, name) for name in (*data_fields, *more)]
    context.append(tuple(args.forget_speakers or ()))
    if _CACHE.get("context") != context:
        _CACHE.clear()
        _CACHE["context"] = context


def _prepared(args: BenchmarkArguments, label: str):
    """(data, spec) for `label`, loaded once per process."""
    _context(args)
    if label not in _CACHE:
        from hf_unlearn.experiment import ReferenceSpec, parse_config_overrides, reference_defaults

        data = load_data(args, label)
        model_type = None if args.model_name_or_path else args.model_type
        training = reference_defaults(model_type, **args.reference_training())
        names = data["train"].features["label"].names
        spec = ReferenceSpec(
            label_names=names,
            model_type=args.model_type,
            model_name_or_path=args.model_name_or_path,
            training=training,
            config_overrides=parse_config_overrides(args.config_overrides),
        )
        _CACHE[label] = (data, spec)
    return _CACHE[label]


def _extractor(spec, splits):
    """The feature extractor fitted on the original's training rows (forget + retain), once per process and set of
    rows (requests that share their original share it)."""
    from hf_unlearn.experiment import fit_extractor
    from hf_unlearn.experiment.reference_cache import original_training_rows

    rows = sorted(list(splits.forget_indices) + list(splits.retain_indices))
    key = (tuple(spec.label_names), hashlib.sha256(json.dumps(rows).encode()).hexdigest())
    if key not in _CACHE:
        rate = splits.forget.features["audio"].sampling_rate or SAMPLING_RATE  # FSDD: 8 kHz
        extractor = spec.new_extractor(sampling_rate=rate)
        if not spec.model_name_or_path:  # a checkpoint's extractor comes fitted
            extractor = fit_extractor(extractor, original_training_rows(splits))
        _CACHE[key] = extractor
    return _CACHE[key]


def request_splits(data, request: dict, seed: int, validation_size: float = 0.1, args=None):
    """The request's `ForgetSplits` with validation drawn before the request. FSDD (or `args` not given):
    `make_request_splits` with FSDD's files as groups, the rows the recipe draws for the same data, request and
    seed. Other data: `any_data.any_request_splits` (held-out speakers and recordings drawn once per seed)."""
    from hf_unlearn.benchmark.any_data import any_request_splits, is_fsdd
    from hf_unlearn.data import make_request_splits

    if args is not None and not is_fsdd(args):
        return any_request_splits(data, request, seed, args, seed_design(args, data, seed))
    return make_request_splits(data, request["split"], seed, validation_size, group_column="file")


def seed_design(args, data, seed: int) -> dict | None:
    """`any_data.split_design` of the seed for data with speakers and no test split (once per process), else None."""
    from hf_unlearn.benchmark.any_data import split_design, top_speakers

    if "test" in data or "speaker" not in data["train"].column_names:
        return None
    key = ("design", seed)
    if key not in _CACHE:
        protected = list(args.forget_speakers or [])
        if args.top_speakers:
            protected += top_speakers(data["train"], args.top_speakers)
        _CACHE[key] = split_design(data["train"], seed, args, protected)
    return _CACHE[key]


def write_job(path: str, stored: dict) -> None:
    """Writes a job's stored dict to `path` atomically (a stopped run leaves no half-written file to resume from)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    scratch = path + ".tmp"
    with open(scratch, "w") as handle:
        json.dump(stored, handle, indent=1, default=float)
    os.replace(scratch, path)


def _references(args, request, seed, splits, shadow_models: int | None = None):
    from hf_unlearn.experiment import reference_models

    _, spec = _prepared(args, request["label"])
    extractor = _extractor(spec, splits)
    with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints a dict per epoch without tqdm
        references = reference_models(
            splits,
            spec,
            extractor,
            seed=seed,
            shadow_models=args.shadow_models if shadow_models is None else shadow_models,
            cache_dir=args.cache_dir,
            use_cpu=True,
            disable_tqdm=True,
        )
    return extractor, references


def borrowed_shadows(args: BenchmarkArguments, request: dict, seed: int) -> list:
    """With `--shadows_from_seeds`: the gold models of the same request under the other seeds, as LiRA shadows.

    They are OUT models for every row the attack scores: a speaker, class or speaker_id request forgets all training
    recordings of a speaker or class, so no gold model of the request, whatever its seed, trained on any of them, and
    the held-out rows (`forget_test`) come from the fixed test takes. Each is evaluated with the extractor it was
    trained with. Sample requests get none: their forget rows are drawn per seed, so another seed's gold model may have
    trained on them."""
    import dataclasses

    if not args.shadows_from_seeds or request["kind"] == "sample":
        return []
    key = ("shadows", request["group"], request["name"], seed, tuple(args.seeds))
    if key not in _CACHE:  # once per process and (request, seed): every method's run of it borrows the same models
        data, _ = _prepared(args, request["label"])
        shadows = []
        for other in args.seeds:
            if other != seed:
                splits = request_splits(data, request, other, args.validation_size, args)
                gold = _references(args, request, other, splits, shadow_models=0)[1]["gold"]
                shadows.append(dataclasses.replace(gold, kind="shadow", own_extractor=True))
        _CACHE[key] = shadows
    return list(_CACHE[key])


def run_job(job: dict) -> dict:
    """Runs one job in this process and writes its JSON to `job["path"]` (atomically); returns the stored dict.

    `job["mode"]`: `"references"` (train or load the request's reference models), `"trial"` (a tuning trial:
    evaluated on the validation splits only) or `"run"` (a benchmark run: every split, card kept).
    """
    from hf_unlearn.experiment import run_request

    args = BenchmarkArguments(**job["args"])
    request, seed, mode = job["request_spec"], job["seed"], job["mode"]
    data, _ = _prepared(args, request["label"])
    splits = request_splits(data, request, seed, args.validation_size, args)
    stored = {key: job[key] for key in ("group", "request", "seed", "method", "settings", "mode") if key in job}
    try:
        extractor, references = _references(args, request, seed, splits)
        if mode == "run":
            references = {**references, "shadows": [*references["shadows"], *borrowed_shadows(args, request, seed)]}
        if mode == "references":
            stored["references"] = {
                name: ref.info for name, ref in references.items() if name in ("original", "gold") and ref
            }
        else:
            stored.update(_unlearn(job, args, splits, extractor, references, run_request))
    except Exception as error:  # a failing job is recorded; the others still run
        stored["error"] = repr(error)
    write_job(job["path"], stored)
    return stored


def _evaluation(key, references, eval_splits, extractor):
    """`evaluate_references` of the request's reference models, once per process and (request, seed, mode)."""
    from hf_unlearn.experiment import evaluate_references

    if key not in _CACHE:
        for old in [k for k in _CACHE if isinstance(k, tuple) and k[:1] == ("evaluation",)][:-3]:
            del _CACHE[old]  # keep a few: jobs of one request come together
        _CACHE[key] = evaluate_references(references, eval_splits, extractor, use_cpu=True)
    return _CACHE[key]


def _unlearn(job, args, splits, extractor, references, run_request) -> dict:
    settings = dict(job["settings"])
    if args.unlearning_max_steps is not None:
        settings["max_steps"] = args.unlearning_max_steps
    tuning = job["mode"] == "trial"
    # Tuning trials are evaluated on the forget set and the validation splits alone (`retain` of `eval_splits()` is
    # retain-validation): test and forget_test are not handed to the run, so no figure of theirs can reach the tuner.
    if tuning:
        eval_splits = trial_splits(splits)
        references = {**references, "shadows": []}
    else:
        eval_splits = {**splits.eval_splits(), **validation_splits(splits)}
    paths = [ref.path for ref in (references["original"], references.get("gold"), *references["shadows"]) if ref]
    key = ("evaluation", *paths, *sorted((name, len(data)) for name, data in eval_splits.items()))
    evaluation = _evaluation(key, references, eval_splits, extractor)
    save = not tuning and bool(args.model_cards_dir)
    relearn = not tuning and args.relearn_steps > 0
    trainer_kwargs = {"peft_config": lora_config(args.lora_r)} if args.lora_r else None
    with tempfile.TemporaryDirectory() as scratch:
        model = slug(args.model_name_or_path or args.model_type).replace("_", "-").lower()
        name = f"{model}-{slug(args.name or 'fsdd').replace('_', '-')}-{slug(job['group'])}-{job['method']}"
        output_dir = os.path.join(scratch, name)  # the card's name
        with contextlib.redirect_stdout(io.StringIO()):
            record = run_request(
                job["method"],
                settings,
                evaluation_view(splits, eval_splits),
                extractor,
                references,
                seed=job["seed"],
                output_dir=output_dir,
                use_cpu=True,
                disable_tqdm=True,
                save=save,
                evaluation=evaluation,
                skip_failed_save=True,  # a best run that failed gets no card (its record says why it stopped)
                return_trainer=relearn,
                trainer_kwargs=trainer_kwargs,
            )
            if relearn:
                record = _with_relearning(*record, args, job, splits, references, extractor)
        card_path = os.path.join(output_dir, "README.md")
        card = open(card_path).read() if save and os.path.exists(card_path) else None
    record.pop("losses", None)  # per-sample losses of every split: large, and not summarised
    for name in ("original", "gold"):  # numbers only (their training details are in references/)
        record[name] = {k: v for k, v in (record.get(name) or {}).items() if isinstance(v, (int, float))}
    out = {"record": record, "evaluated_splits": sorted(eval_splits)}
    if tuning:
        out["view"] = trial_view(record, eval_splits, evaluation, splits)
    elif card:
        out["card"] = card
    return out


def lora_config(rank: int):
    """`--lora_r`'s adapter: a bare `LoraConfig(r, lora_alpha=2 r)` (the library fills the target modules and the
    head to train in full, `hf_unlearn.peft_utils.complete_lora_config`)."""
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=2 * rank)


def _with_relearning(record, trainer, args, job, splits, references, extractor) -> dict:
    """`record` with `record["relearning"]` (`hf_unlearn.benchmark.relearn.relearning_record`)."""
    from hf_unlearn.benchmark.relearn import relearning_record

    model = trainer.accelerator.unwrap_model(trainer.model)
    record["relearning"] = relearning_record(
        model, references.get("gold"), extractor, splits.forget, args.relearn_steps, job["seed"],
        record["original"]["forget_accuracy"],
    )  # fmt: skip
    return record


def init_worker(num_threads: int | None) -> None:
    """A worker's process-wide settings: `num_threads` torch threads, no progress bars, errors-only logs."""
    if num_threads:
        import torch

        torch.set_num_threads(num_threads)
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # e.g. "Writing model shards" at every reference save


def run_jobs(jobs: list[dict], args: BenchmarkArguments, log=print) -> list[dict]:
    """Runs the jobs whose file does not exist yet (in `args.num_workers` spawned processes, or here with 0) and
    returns the stored dict of every job, in order."""
    import concurrent.futures
    import multiprocessing

    todo = [job for job in jobs if not job_done(job["path"])]
    if len(todo) < len(jobs):
        log(f"  {len(jobs) - len(todo)} of {len(jobs)} job(s) already done (resumed)")
    for job in todo:
        job["args"] = asdict(args)
    if todo and args.num_workers and args.num_workers > 0:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
            args.num_workers, mp_context=context, initializer=init_worker, initargs=(args.num_threads,)
        ) as pool:
            futures = {pool.submit(run_job, job): job for job in todo}
            for future in concurrent.futures.as_completed(futures):
                report_job(futures[future], future.result(), log)
    else:
        for job in todo:
            report_job(job, run_job(job), log)
    out = []
    for job in jobs:
        with open(job["path"]) as handle:
            out.append(json.load(handle))
    return out


def job_done(path: str) -> bool:
    """Whether the job at `path` finished without error (failed jobs are retried on a rerun)."""
    if not os.path.exists(path):
        return False
    with open(path) as handle:
        return "error" not in json.load(handle)


def report_job(job: dict, stored: dict, log) -> None:
    settings = job.get("settings") or {}
    what = f"{job['request']}, seed {job['seed']}, {job.get('method') or 'references'}"
    if settings:
        target = f", target {settings['stop_target']}" if settings.get("stop_target") else ""
        what += f" (lr {settings.get('learning_rate')}, epochs {settings.get('num_train_epochs')}{target})"
    stopping = (stored.get("record") or {}).get("stopping")
    if stopping:
        what += f", kept step {stopping['stopped_at_step']} (target {stopping['target_forget_accuracy']})"
    if stored.get("error"):
        log(f"  FAILED {what}: {stored['error']}")
    elif "view" in stored:  # a tuning trial: what the tuner reads
        view = stored["view"]
        log(
            f"  trial {what}: retain-validation acc {view['retain_validation_accuracy']}, forget-validation acc "
            f"{view['forget_validation_accuracy']} (gold {view['gold_forget_validation_accuracy']})"
        )
    elif "record" in stored:
        record = stored["record"]
        log(
            f"  run {what}: forget acc - gold {record.get('forget_accuracy_minus_gold')}, test acc - gold "
            f"{record.get('test_accuracy_minus_gold')}, time share {record.get('time_share_of_gold')}"
        )
    else:
        log(f"  {what}: done")
