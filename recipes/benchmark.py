#!/usr/bin/env python
"""The FSDD benchmark: original, gold and every unlearning method side by side, over forget requests and seeds.

Protocol of "Machine Unlearning on Audio Classification" (FSDD speaker unlearning), on a local copy of the Free
Spoken Digit Dataset (`--dataset_name PATH`, read in place, never copied):

- audio at 8 kHz, input 20 MFCC x 20 frames, hf-unlearn's MFCC CNN (`build_mfcc_cnn`);
- one speaker forgotten: the forget set is that speaker's training recordings; the other speakers' recordings are
  split into train (retain) / validation (`retain_eval`, 10 % of their training takes) / test (FSDD's takes 0-4);
- the original model is trained on train + the forgotten speaker, the gold model on train only, each to convergence
  (up to `--reference_epochs`, early stopping on the validation loss with `--early_stopping_patience`, best
  checkpoint kept);
- every method unlearns a fresh copy of the original with the settings of `METHOD_SETTINGS` (one place);
- reported per forget kind and method: macro-F1 and accuracy on test and on the forgotten recordings, the MIA, GUM,
  CGUM, time, speed-up and the differences to gold, as mean ± std over the runs (speakers x seeds).

Also class unlearning (one digit, `--forget_classes`) and sample unlearning (`--forget_fraction 0.01 0.05 0.1`).
The original and gold models are cached per (request, seed) under `--cache_dir`, so reruns only repeat the
unlearning (and the feature extraction, a few seconds per request). `--quick` runs a tiny version (first speaker,
first digit, 10 % samples, one seed, every method for 3 steps, 6 training takes per digit and speaker) for CI.

Deviations from the paper: the validation split is 10 % of the remaining speakers' training takes and the test split
is FSDD's own takes 0-4 (the paper splits the remaining recordings itself); the forgotten speaker's takes 0-4 are kept
out of training and reported as `forget_test`. Learning rates are not tuned per run: `METHOD_SETTINGS` holds one
setting per method for the CNN.

Usage:

```bash
python recipes/benchmark.py --dataset_name path/to/free-spoken-digit-dataset    # or: hf-unlearn benchmark ...
python recipes/benchmark.py --dataset_name path/to/free-spoken-digit-dataset --quick --output_dir /tmp/fsdd-quick
```
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import math
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

RECIPES_DIR = os.path.dirname(os.path.abspath(__file__))
SAMPLING_RATE = 8000
# Bump when the reference training changes in a way the cache key does not see.
CACHE_VERSION = 2

# Unlearning settings per method for the MFCC CNN on FSDD (the one place they live; `recipes/configs/fsdd/*.yaml`
# are generated from it). Every method config field may appear; the rest keep the config's paper defaults. A method
# missing here runs with DEFAULT_METHOD_SETTINGS, and the results record which.
METHOD_SETTINGS: dict[str, dict] = {
    # Epochs per method; the learning rate is tuned per forget kind on the validation split only (see
    # `tune_learning_rate`); the learning_rate here is used when tuning is off (--tune false, --quick).
    "finetune": {"learning_rate": 1e-3, "num_train_epochs": 1},
    "cf_k": {"learning_rate": 3e-3, "num_train_epochs": 1},
    "l1_sparse": {"learning_rate": 1e-3, "num_train_epochs": 1},
    "gradient_ascent": {"learning_rate": 1e-4, "num_train_epochs": 1},
    "neggrad_plus": {"learning_rate": 3e-4, "num_train_epochs": 2},
    "random_labels": {"learning_rate": 3e-4, "num_train_epochs": 2},
    "npo": {"learning_rate": 3e-4, "num_train_epochs": 2},
    "scrub": {"learning_rate": 3e-4, "num_train_epochs": 1},
    "bad_teaching_lite": {"learning_rate": 3e-4, "num_train_epochs": 2},
    "bad_teaching": {"learning_rate": 3e-4, "num_train_epochs": 2},
    "unsir": {"learning_rate": 3e-4, "num_train_epochs": 2},
    "salun": {"learning_rate": 3e-4, "num_train_epochs": 2},
    # The FSDD paper's reset-perturb-repair pipeline keeps its own 5 + 5 + 5 stage epochs (num_train_epochs unset).
    "reset_perturb": {"learning_rate": 1e-3},
}
# A group's best run gets a model card only from this mean CGUM on (CGUM's epsilon leaves tiny positive values where
# nothing was unlearned).
MIN_CARD_CGUM = 0.01
# The learning-rate grid of the validation-only tuning (recorded in fsdd.json under "tuning").
LEARNING_RATE_GRID = (1e-4, 3e-4, 1e-3, 3e-3)
DEFAULT_METHOD_SETTINGS = {"learning_rate": 3e-4, "num_train_epochs": 2}
# Shared by every method: a CPU-sized batch, no checkpoints or logs.
COMMON_METHOD_SETTINGS = {"per_device_train_batch_size": 32, "per_device_eval_batch_size": 256}

# Metrics carried into the summary (mean ± std); the rest of each run's metrics stay in `runs`.
SUMMARY_KEYS = (
    "test_f1",
    "test_accuracy",
    "forget_f1",
    "forget_accuracy",
    "forget_test_f1",
    "forget_test_accuracy",
    "retain_f1",
    "retain_accuracy",
    "mia",
    "mia_auc",
    "gum",
    "cgum",
    "time",
    "speedup",
    "forget_f1_minus_gold",
    "test_f1_minus_gold",
    "mia_minus_gold",
    "time_share_of_gold",
    "relearn_auc",
    "relearn_auc_gap",
)

# The targets for the best method, as (key, test, text).
TARGETS = (
    ("forget_f1_minus_gold", lambda v: abs(v) <= 0.02, "|forget F1 - gold| <= 0.02"),
    ("test_f1_minus_gold", lambda v: v >= -0.01, "test F1 - gold >= -0.01"),
    ("mia_minus_gold", lambda v: abs(v) <= 0.02, "|MIA - gold| <= 0.02"),
    ("time_share_of_gold", lambda v: v <= 0.05, "time <= 5 % of gold"),
)

# Results of "Machine Unlearning on Audio Classification" (their published numbers, not ours): the
# paper's best method on FSDD speaker unlearning, relative to its gold model.
PUBLISHED_FSDD = {
    "forget_f1_minus_gold": 0.12,
    "test_f1_minus_gold": -0.03,
    "time_share_of_gold": 0.125,
}


@dataclass
class BenchmarkArguments:
    """Arguments of the FSDD benchmark (`python recipes/benchmark.py` or `hf-unlearn benchmark`)."""

    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Local FSDD folder (holding recordings/); read in place.", "aliases": ["--fsdd"]},
    )
    output_dir: str | None = field(
        default=None,
        metadata={"help": "Where fsdd.json/.md/.png go (default: recipes/results; with --quick: ./benchmark_quick)."},
    )
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "Feature and reference-model cache (default: $HF_UNLEARN_CACHE/benchmark or ~/.cache/...)."},
    )
    methods: list[str] | None = field(default=None, metadata={"help": "Methods to run (default: every method)."})
    kinds: list[str] = field(
        default_factory=lambda: ["speaker", "class", "sample"], metadata={"help": "Forget kinds to run."}
    )
    forget_speakers: list[str] | None = field(
        default=None, metadata={"help": "Speakers to forget, one a run (default: all).", "aliases": ["--speakers"]}
    )
    forget_classes: list[str] = field(default_factory=lambda: ["0"], metadata={"help": "Digits to forget, one a run."})
    forget_fraction: list[float] = field(
        default_factory=lambda: [0.01, 0.05, 0.1],
        metadata={"help": "Shares of recordings to forget at random, one a run.", "aliases": ["--sample_fractions"]},
    )
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "Seeds (split, models, run)."})
    train_takes: int | None = field(
        default=None, metadata={"help": "Use only this many training takes per digit and speaker (default: all 45)."}
    )
    reference_epochs: float = field(
        default=100,
        metadata={"help": "Epoch cap of original and gold training.", "aliases": ["--reference_max_epochs"]},
    )
    reference_learning_rate: float = field(default=3e-3, metadata={"help": "Learning rate of original and gold."})
    reference_batch_size: int = field(default=32, metadata={"help": "Batch size of original and gold training."})
    early_stopping_patience: int = field(
        default=5, metadata={"help": "Epochs without a better validation loss before original/gold training stops."}
    )
    unlearning_max_steps: int | None = field(
        default=None, metadata={"help": "Cap every method at this many optimizer steps (--quick: 3)."}
    )
    model_cards_dir: str | None = field(
        default=None,
        metadata={
            "help": "Write the model card of each group's best method (highest mean CGUM; its first run) here, e.g. "
            "model_cards (off by default and with --quick)."
        },
    )
    tune: bool = field(
        default=True,
        metadata={
            "help": "Tune each method's learning rate per forget kind on the validation split only (off with --quick)."
        },
    )
    tune_tolerance: float = field(
        default=0.01, metadata={"help": "Largest validation-accuracy drop (vs the original) a tuned lr may cause."}
    )
    relearn_steps: int = field(
        default=5, metadata={"help": "Steps of the relearning check per model (hf_unlearn.relearning); 0: off."}
    )
    num_threads: int | None = field(
        default=1,
        metadata={"help": "torch threads (1: a small CNN gains nothing from more, and times stay comparable)."},
    )
    name: str = field(default="fsdd", metadata={"help": "Stem of the output files."})
    quick: bool = field(default=False, metadata={"help": "Tiny run for CI (see the module docstring)."})


def apply_quick(args: BenchmarkArguments) -> BenchmarkArguments:
    """Shrinks the run for CI: one seed, one speaker, one digit, one sample fraction (the last), 6 training takes per
    digit and speaker, references capped at 10 epochs and every method at 3 steps."""
    args.seeds = args.seeds[:1]
    args.forget_speakers = args.forget_speakers[:1] if args.forget_speakers else None  # None: the data's first
    args.forget_classes = args.forget_classes[:1]
    args.forget_fraction = args.forget_fraction[-1:]
    args.train_takes = args.train_takes or 6
    args.reference_epochs = min(args.reference_epochs, 10)
    args.early_stopping_patience = min(args.early_stopping_patience, 2)
    args.unlearning_max_steps = args.unlearning_max_steps or 3
    return args


def method_settings(key: str, args: BenchmarkArguments) -> dict:
    """The settings a method runs with in this benchmark (its `METHOD_SETTINGS` entry, or the default)."""
    settings = {**COMMON_METHOD_SETTINGS, **METHOD_SETTINGS.get(key, DEFAULT_METHOD_SETTINGS)}
    if args.unlearning_max_steps is not None:
        settings["max_steps"] = args.unlearning_max_steps
    return settings


# ------------------------------------------------------------------------------------------------------ tables
def summarize(values: list[float]) -> dict:
    """`{"mean", "std", "n"}` of the finite values (sample std, ddof=1; `None` for a single run)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return {"mean": None, "std": None, "n": 0}
    return {
        "mean": float(np.mean(finite)),
        "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
        "n": len(finite),
    }


def aggregate(runs: list[dict]) -> dict:
    """`{group: {model: {metric: {"mean", "std", "n"}}}}` from per-run records, models in first-seen order."""
    grouped: dict[str, dict[str, dict[str, list]]] = {}
    for run in runs:
        for model, metrics in run["rows"].items():
            bucket = grouped.setdefault(run["group"], {}).setdefault(model, {})
            for key in SUMMARY_KEYS:
                if metrics.get(key) is not None:
                    bucket.setdefault(key, []).append(metrics[key])
    summary = {}
    for group, models in grouped.items():
        summary[group] = {}
        for model, metrics in models.items():
            cells = {key: summarize(values) for key, values in metrics.items()}
            summary[group][model] = {key: cell for key, cell in cells.items() if cell["mean"] is not None}
    return summary


def _cell(summary: dict | None, decimals: int = 3, signed: bool = False, percent: bool = False) -> str:
    if not summary or summary.get("mean") is None:
        return "–"
    scale = 100 if percent else 1
    mean = summary["mean"] * scale
    text = f"{mean:+.{decimals}f}" if signed else f"{mean:.{decimals}f}"
    if float(text) == 0:
        text = f"{0:.{decimals}f}"
    if summary.get("std") is not None:
        text += f" ± {summary['std'] * scale:.{decimals}f}"
    return text + (" %" if percent else "")


def gaps_table(rows: dict[str, dict]) -> str:
    """Markdown table of the differences to gold and the targets of `TARGETS`, one row per model.

    `rows` is `{model: {metric: {"mean", "std"}}}` (the output of `aggregate` for one group). Columns: forget F1 -
    gold, test F1 - gold, MIA - gold (signed), time as a share of gold's training time (percent), and which targets the
    means meet (`✓`/`✗` in the order of `TARGETS`; `–` where a value is missing).
    """
    header = "| Model | Forget F1 − gold | Test F1 − gold | MIA − gold | Time / gold | Relearn AUC − gold | Targets |"
    lines = [header, "|---|---|---|---|---|---|---|"]
    for model, metrics in rows.items():
        if model in ("original", "gold") and "time_share_of_gold" not in metrics:
            targets = "–"
        else:
            marks = []
            for key, test, _ in TARGETS:
                value = (metrics.get(key) or {}).get("mean")
                marks.append("–" if value is None else ("✓" if test(value) else "✗"))
            targets = " ".join(marks)
        lines.append(
            f"| {model} | {_cell(metrics.get('forget_f1_minus_gold'), signed=True)} | "
            f"{_cell(metrics.get('test_f1_minus_gold'), signed=True)} | "
            f"{_cell(metrics.get('mia_minus_gold'), signed=True)} | "
            f"{_cell(metrics.get('time_share_of_gold'), decimals=1, percent=True)} | "
            f"{_cell(metrics.get('relearn_auc_gap'), signed=True)} | {targets} |"
        )
    caption = (
        "Closest to 0 is better for the differences; lower is better for time. Relearn AUC − gold: mean forget-probe "
        "accuracy over a few relearning steps (hf_unlearn.relearning), minus the gold model's; above 0 means "
        "forgotten knowledge comes back faster than for a model that never saw it. Targets: "
    ) + "; ".join(text for _, _, text in TARGETS)
    return "\n".join(lines) + "\n\n" + caption + ".\n"


def markdown_report(summary: dict, header: str) -> str:
    """The whole Markdown report: per group, the results table and the gaps table."""
    from hf_unlearn.evaluation import results_table

    parts = [header]
    for group, rows in summary.items():
        runs = max((m.get("n", 1) for metrics in rows.values() for m in metrics.values()), default=0)
        parts.append(f"## {group} ({runs} run{'s' if runs != 1 else ''}, mean ± std)\n")
        parts.append(results_table(rows))
        parts.append(gaps_table(rows))
    return "\n".join(parts)


# -------------------------------------------------------------------------------------------------------- data
def _cache_root(args: BenchmarkArguments) -> str:
    if args.cache_dir:
        return args.cache_dir
    base = os.environ.get("HF_UNLEARN_CACHE") or os.path.expanduser("~/.cache/hf_unlearn")
    return os.path.join(base, "benchmark")


def load_data(args: BenchmarkArguments):
    """FSDD as an audio `DatasetDict` (train takes >= 5, test takes 0-4). The trainer and the reference models
    featurize each split once per process (`hf_unlearn.data.featurize`); reruns reuse the cached models."""
    from hf_unlearn.data import load_fsdd
    from hf_unlearn.data.fsdd import FSDD_NUM_TEST_TAKES

    data = load_fsdd(args.dataset_name)
    if args.train_takes is not None:
        data["train"] = data["train"].filter(
            lambda take: take < FSDD_NUM_TEST_TAKES + args.train_takes, input_columns="take"
        )
    return data


def requests(args: BenchmarkArguments, speakers: list[str]) -> list[dict]:
    """The forget requests: `{"group", "name", "split"}` with `split` the `make_forget_split` keyword arguments."""
    out = []
    for kind in args.kinds:
        if kind == "speaker":
            for speaker in args.forget_speakers or (speakers[:1] if args.quick else speakers):
                out.append(
                    {"group": "speaker", "name": f"speaker {speaker}", "split": {"by": "speaker", "values": [speaker]}}
                )
        elif kind == "class":
            for digit in args.forget_classes:
                out.append(
                    {"group": "class", "name": f"digit {digit}", "split": {"by": "class", "values": [str(digit)]}}
                )
        elif kind == "sample":
            for fraction in args.forget_fraction:
                out.append(
                    {
                        "group": f"sample {fraction:.0%}",
                        "name": f"{fraction:.0%} of recordings",
                        "split": {"by": "sample", "fraction": float(fraction)},
                    }
                )
        else:
            raise ValueError(f"Unknown forget kind {kind!r}: choose from speaker, class, sample.")
    return out


# ------------------------------------------------------------------------------------------------------ models
def reference_models(request: dict, seed: int, splits, extractor, label_names, args: BenchmarkArguments) -> dict:
    """Trains (or loads from the cache) the original and the gold model of one (request, seed); returns their
    folders and training times."""
    import torch
    from datasets import concatenate_datasets

    from hf_unlearn.models.mfcc_cnn import build_mfcc_cnn
    from hf_unlearn.reference import REFERENCE_INFO_NAME, train_classifier

    key = json.dumps(
        {
            "version": CACHE_VERSION,
            "split": request["split"],
            "seed": seed,
            "forget": hashlib.sha256(json.dumps(splits.forget_indices).encode()).hexdigest(),
            "retain_eval": hashlib.sha256(json.dumps(splits.retain_eval_indices).encode()).hexdigest(),
            "train_takes": args.train_takes,
            "training": [
                args.reference_epochs,
                args.reference_learning_rate,
                args.reference_batch_size,
                args.early_stopping_patience,
            ],
        },
        sort_keys=True,
    )
    folder = os.path.join(_cache_root(args), "models", hashlib.sha256(key.encode()).hexdigest()[:16])
    out = {}
    for kind, train in (("original", concatenate_datasets([splits.forget, splits.retain])), ("gold", splits.retain)):
        path = os.path.join(folder, kind)
        info = os.path.join(path, REFERENCE_INFO_NAME)
        if not os.path.exists(info):
            torch.manual_seed(seed)  # original and gold start from the same initialisation
            model, _ = build_mfcc_cnn(label_names, sampling_rate=SAMPLING_RATE)
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints a dict per epoch without tqdm
                train_classifier(
                    model,
                    extractor,
                    train,
                    path,
                    num_train_epochs=args.reference_epochs,
                    learning_rate=args.reference_learning_rate,
                    batch_size=args.reference_batch_size,
                    seed=seed,
                    eval_dataset=splits.retain_eval,
                    early_stopping_patience=args.early_stopping_patience,
                    use_cpu=True,
                    disable_tqdm=True,
                )
            with open(os.path.join(folder, "key.json"), "w") as handle:
                handle.write(key)
            with open(info) as handle:
                epochs = json.load(handle)["epochs_run"]
            print(
                f"    {kind}: trained on {len(train)} clips, {epochs:g} epochs, {time.perf_counter() - started:.1f} s"
            )
        with open(info) as handle:
            out[kind] = (path, json.load(handle)["train_time"])
    return out


def relearn(model, splits, extractor, seed, args, gold_auc=None) -> dict:
    """The relearning check of one model on the request's forget set (empty when `--relearn_steps 0`)."""
    if not args.relearn_steps:
        return {}
    from hf_unlearn.relearning import relearning_curve

    curve = relearning_curve(model, extractor, splits.forget, steps=args.relearn_steps, seed=seed, device="cpu")
    result = {"relearn_auc": float(np.mean(curve)), "relearn_forget_accuracy": curve[-1]}
    if gold_auc is not None:
        result["relearn_auc_gap"] = result["relearn_auc"] - gold_auc
    return result


def tune_learning_rate(key, original_path, splits, extractor, original_validation_accuracy, seed, args, scratch):
    """The largest learning rate of `LEARNING_RATE_GRID` whose unlearned model keeps validation accuracy within
    `args.tune_tolerance` of the original's and that the divergence guard did not stop (the most forgetting the
    validation split allows; the smallest grid value when none does). Only the validation split (held-out takes of
    the retained speakers) is looked at: never test, never the forget set's labels. Returns
    `(learning_rate, [{"learning_rate", "validation_accuracy", "guard_stopped"}, ...])`."""
    grid = []
    for learning_rate in LEARNING_RATE_GRID:
        metrics = run_method(
            key,
            original_path,
            splits,
            {"validation": splits.retain_eval},
            extractor,
            None,
            {},
            seed,
            args,
            scratch,
            learning_rate=learning_rate,
            for_tuning=True,
        )
        grid.append(
            {
                "learning_rate": learning_rate,
                "validation_accuracy": metrics["validation_accuracy"],
                "guard_stopped": bool(metrics["guard_stopped"]),
            }
        )
    # A run the divergence guard stopped kept earlier weights: its validation accuracy says nothing about the lr.
    allowed = [
        g["learning_rate"]
        for g in grid
        if g["validation_accuracy"] >= original_validation_accuracy - args.tune_tolerance and not g["guard_stopped"]
    ]
    return (max(allowed) if allowed else min(LEARNING_RATE_GRID)), grid


def run_method(
    key: str,
    original_path: str,
    splits,
    eval_splits,
    extractor,
    original,
    gold,
    seed,
    args,
    scratch,
    learning_rate: float | None = None,
    for_tuning: bool = False,
):
    """Unlearns a fresh copy of the original with method `key`; returns its metrics."""
    from transformers import AutoModelForAudioClassification

    from hf_unlearn import UnlearningTrainer, get_trainer_class

    trainer_class = get_trainer_class(key)
    config = trainer_class.config_class(
        output_dir=os.path.join(scratch, key),
        seed=seed,
        use_cpu=True,
        disable_tqdm=True,
        report_to="none",
        logging_strategy="no",
        **{**method_settings(key, args), **({"learning_rate": learning_rate} if learning_rate else {})},
    )
    trainer = UnlearningTrainer(
        method=key,
        model=AutoModelForAudioClassification.from_pretrained(original_path),
        args=config,
        forget_dataset=splits.forget,
        retain_dataset=splits.retain,
        eval_dataset=eval_splits,
        processing_class=extractor,
        original_results=original,
        gold_results=gold,
    )
    with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints its logs without tqdm
        trainer.train()
        metrics = {k.removeprefix("eval_"): v for k, v in trainer.evaluate().items() if k.startswith("eval_")}
    metrics["time"] = trainer.unlearning_time
    # 1 when the divergence guard stopped the run and put earlier weights back (hf_unlearn.guard).
    metrics["guard_stopped"] = float(trainer.stop_reason is not None)
    if for_tuning:
        return metrics
    metrics.update(relearn(trainer.model, splits, extractor, seed, args, gold.get("relearn_auc")))
    if args.model_cards_dir:
        # The card a user would publish for this run (rendered by the trainer at save time); kept for the best runs.
        trainer.save_model()
        with open(os.path.join(config.output_dir, "README.md")) as handle:
            metrics["card"] = handle.read()
    return metrics


# -------------------------------------------------------------------------------------------------------- main
def parse_arguments(argv: list[str] | None = None) -> BenchmarkArguments:
    # The light parser of `hf-unlearn benchmark` too, so both list the same options (old spellings still parse).
    from hf_unlearn.arguments import parse_dataclass

    return parse_dataclass(BenchmarkArguments, list(sys.argv[1:] if argv is None else argv), prog="benchmark.py")


def run_benchmark(args: BenchmarkArguments, argv: list[str] | None = None) -> dict:
    """Runs the benchmark and writes `<name>.json`, `<name>.md` and `<name>_<group>.png`; returns the JSON dict."""
    import datasets
    import torch
    import transformers

    if not args.dataset_name:
        raise ValueError(
            "Pass --dataset_name <folder of the Free Spoken Digit Dataset> (formerly --fsdd), e.g. "
            "path/to/free-spoken-digit-dataset."
        )
    if args.quick:
        args = apply_quick(args)
    # Process-wide settings, restored on the way out (the benchmark may run inside another program or a test).
    saved = (
        torch.get_num_threads(),
        transformers.utils.logging.get_verbosity(),
        transformers.utils.logging.is_progress_bar_enabled(),
        datasets.is_progress_bar_enabled(),
    )
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines appear as they happen, also in a log file
    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        return _run(args, argv)
    finally:
        torch.set_num_threads(saved[0])
        transformers.utils.logging.set_verbosity(saved[1])
        if saved[2]:
            transformers.utils.logging.enable_progress_bar()
        if saved[3]:
            datasets.enable_progress_bars()


def _run(args: BenchmarkArguments, argv: list[str] | None) -> dict:
    import tempfile

    import datasets
    import torch
    import transformers
    from transformers import AutoModelForAudioClassification

    import hf_unlearn
    from hf_unlearn import list_methods, make_forget_split
    from hf_unlearn.evaluation import results_figure
    from hf_unlearn.models import MFCCFeatureExtractor
    from hf_unlearn.reference import evaluate_model

    known = [info.key for info in list_methods()]
    methods = args.methods or known
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ValueError(f"Unknown method(s) {unknown}; known: {known}.")
    output_dir = args.output_dir or ("benchmark_quick" if args.quick else os.path.join(RECIPES_DIR, "results"))
    os.makedirs(output_dir, exist_ok=True)
    started = time.perf_counter()

    extractor = MFCCFeatureExtractor(sampling_rate=SAMPLING_RATE)
    data = load_data(args)
    label_names = data["train"].features["label"].names
    speakers = sorted(set(data["train"]["speaker"]))
    if args.forget_speakers:
        missing = sorted(set(args.forget_speakers) - set(speakers))
        if missing:
            raise ValueError(f"Speaker(s) {missing} are not in {args.dataset_name}; speakers: {speakers}.")
    todo = requests(args, speakers)
    total = len(todo) * len(args.seeds)
    print(
        f"FSDD benchmark: {len(todo)} request(s) x {len(args.seeds)} seed(s) = {total} run(s), "
        f"{len(methods)} method(s): {', '.join(methods)}"
    )
    runs, errors, tuning = [], [], {}
    with tempfile.TemporaryDirectory() as scratch:
        for index, (request, seed) in enumerate(((r, s) for r in todo for s in args.seeds), start=1):
            prefix = f"[{index}/{total}] {request['name']}, seed {seed}"
            print(prefix)
            splits = make_forget_split(data, seed=seed, **request["split"])
            eval_splits = splits.eval_splits()
            refs = reference_models(request, seed, splits, extractor, label_names, args)
            gold_model = AutoModelForAudioClassification.from_pretrained(refs["gold"][0])
            gold, _ = evaluate_model(gold_model, extractor, eval_splits, batch_size=256, use_cpu=True)
            gold.update(train_time=refs["gold"][1], time=refs["gold"][1], num_classes=len(label_names))
            original_model = AutoModelForAudioClassification.from_pretrained(refs["original"][0])
            original, _ = evaluate_model(
                original_model, extractor, eval_splits, gold=gold, batch_size=256, use_cpu=True
            )
            original.update(train_time=refs["original"][1], time=refs["original"][1])
            gold.update(relearn(gold_model, splits, extractor, seed, args))
            original.update(relearn(original_model, splits, extractor, seed, args, gold.get("relearn_auc")))
            rows = {"original": original, "gold": gold}
            for name, metrics in (("original", original), ("gold", gold)):
                print(
                    f"    {name:<18} forget F1 {metrics['forget_f1']:.3f}  test F1 {metrics['test_f1']:.3f}  "
                    f"MIA {metrics.get('mia', float('nan')):.3f}  train {metrics['train_time']:.1f} s"
                )
            cards = {}
            if args.tune and request["group"] not in tuning:
                validation_accuracy = original["retain_accuracy"]  # the "retain" eval split is retain_eval
                tuning[request["group"]] = {"request": request["name"], "seed": seed, "original": validation_accuracy}
                for key in methods:
                    lr, grid = tune_learning_rate(
                        key, refs["original"][0], splits, extractor, validation_accuracy, seed, args, scratch
                    )
                    tuning[request["group"]][key] = {"learning_rate": lr, "grid": grid}
                    accuracies = ", ".join(f"{g['validation_accuracy']:.3f}" for g in grid)
                    print(f"    {key:<18} tuned lr {lr:g} (validation accuracy over the grid: {accuracies})")
            for key in methods:
                tuned = tuning.get(request["group"], {}).get(key, {}).get("learning_rate")
                try:
                    metrics = run_method(
                        key,
                        refs["original"][0],
                        splits,
                        eval_splits,
                        extractor,
                        original,
                        gold,
                        seed,
                        args,
                        scratch,
                        learning_rate=tuned,
                    )
                except Exception as error:  # a failing method is reported, the others still run
                    errors.append({"request": request["name"], "seed": seed, "method": key, "error": repr(error)})
                    print(f"    {key:<18} FAILED: {error!r}")
                    continue
                cards[key] = metrics.pop("card", None)
                rows[key] = metrics
                print(
                    f"    {key:<18} forget F1 {metrics['forget_f1']:.3f} ({metrics['forget_f1_minus_gold']:+.3f})  "
                    f"test F1 {metrics['test_f1']:.3f} ({metrics['test_f1_minus_gold']:+.3f})  "
                    f"MIA {metrics.get('mia', float('nan')):.3f}  GUM {metrics.get('gum', float('nan')):.3f}  "
                    f"{metrics['time']:.2f} s ({metrics['time_share_of_gold']:.1%} of gold)"
                )
            runs.append(
                {
                    "group": request["group"],
                    "request": request["name"],
                    "seed": seed,
                    "split": splits.summary(),
                    "rows": {
                        m: {k: float(v) for k, v in r.items() if isinstance(v, (int, float))} for m, r in rows.items()
                    },
                    "cards": {m: card for m, card in cards.items() if card},
                }
            )

    summary = aggregate(runs)
    command = "python recipes/benchmark.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    date = datetime.date.today().isoformat()
    wall = time.perf_counter() - started
    result = {
        "benchmark": "FSDD speaker / class / sample unlearning (Machine Unlearning on Audio Classification protocol)",
        "command": command,
        "date": date,
        "wall_time": wall,
        "versions": {
            "hf_unlearn": hf_unlearn.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "datasets": datasets.__version__,
        },
        "arguments": asdict(args),
        "method_settings": {key: method_settings(key, args) for key in methods},
        "methods_on_default_settings": [key for key in methods if key not in METHOD_SETTINGS],
        "published_fsdd_paper_best_method": PUBLISHED_FSDD,
        "tuning": tuning,
        "summary": summary,
        "runs": runs,
        "errors": errors,
    }
    cards = write_best_cards(summary, runs, args) if args.model_cards_dir and not args.quick else []
    for run in runs:
        run.pop("cards", None)
    result["model_cards"] = cards
    stem = os.path.join(output_dir, args.name)
    with open(stem + ".json", "w") as handle:
        json.dump(result, handle, indent=2)
    header = (
        f"# FSDD benchmark\n\n`{command}` — {date}, {wall / 60:.1f} min, hf-unlearn {hf_unlearn.__version__}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} thread(s)).\n"
    )
    if errors:
        header += f"\n**{len(errors)} method run(s) failed**: see `errors` in {args.name}.json.\n"
    with open(stem + ".md", "w") as handle:
        handle.write(markdown_report(summary, header))
    for group, rows in summary.items():
        slug = group.replace(" ", "_").replace("%", "pct")
        results_figure(rows, path=f"{stem}_{slug}.png")
    print()
    print(markdown_report(summary, header))
    print(f"Wrote {stem}.json, {stem}.md and the figures in {wall / 60:.1f} min.")
    return result


def write_best_cards(summary: dict, runs: list[dict], args: BenchmarkArguments) -> list[str]:
    """Writes, per group, the card of the method with the highest mean CGUM (from its first run) to
    `args.model_cards_dir/fsdd_<group>_<method>.md`, unless no method's mean CGUM reaches `MIN_CARD_CGUM`; returns
    the paths."""
    os.makedirs(args.model_cards_dir, exist_ok=True)
    paths = []
    for group, rows in summary.items():
        scored = {
            m: v["cgum"]["mean"]
            for m, v in rows.items()
            if m not in ("original", "gold") and (v.get("cgum") or {}).get("mean") is not None
        }
        if not scored:
            continue
        best = max(scored, key=scored.get)
        if not scored[best] >= MIN_CARD_CGUM:
            print(f"No {group} method reached a mean CGUM of {MIN_CARD_CGUM}: no model card is written for it.")
            continue
        card = next((r["cards"][best] for r in runs if r["group"] == group and best in r.get("cards", {})), None)
        if card is None:
            continue
        slug = group.replace(" ", "_").replace("%", "pct")
        path = os.path.join(args.model_cards_dir, f"fsdd_{slug}_{best}.md")
        with open(path, "w") as handle:
            handle.write(card)
        paths.append(path)
        print(f"Model card of the best {group} run ({best}, mean CGUM {scored[best]:.3f}): {path}")
    return paths


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    result = run_benchmark(args, argv)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
