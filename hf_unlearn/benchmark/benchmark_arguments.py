"""The benchmark's options, as a stdlib dataclass (`hf_unlearn.cli.dataclass_options` turns it into `argparse` options,
so `hf-unlearn benchmark --help` answers without importing torch)."""

from __future__ import annotations

from dataclasses import dataclass, field

REQUEST_KINDS = ("speaker", "class", "sample", "speaker_id")


@dataclass
class BenchmarkArguments:
    """Arguments of the FSDD benchmark (`hf-unlearn benchmark` or `python -m hf_unlearn.cli benchmark`).

    Original, gold and every unlearning method over forget requests and seeds. Each method's learning rate and length
    are tuned per request kind on validation data only, then applied to every request and seed.
    """

    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Local FSDD folder (holding recordings/); read in place.", "aliases": ["--fsdd"]},
    )
    output_dir: str | None = field(
        default=None,
        metadata={"help": "Where runs/, tuning/, <name>.json/.md/.png go (default: ./benchmark_results)."},
    )
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "Reference-model cache (default: the experiment package's, $HF_UNLEARN_CACHE)."},
    )
    methods: list[str] | None = field(default=None, metadata={"help": "Methods to run (default: every method)."})
    kinds: list[str] = field(
        default_factory=lambda: ["speaker", "class", "sample", "speaker_id"],
        metadata={"help": f"Request kinds (groups) to run, of {', '.join(REQUEST_KINDS)}."},
    )
    forget_speakers: list[str] | None = field(
        default=None,
        metadata={
            "help": "Speakers to forget, one a run (default: all; speaker_id: the first 3).",
            "aliases": ["--speakers"],
        },
    )
    forget_classes: list[str] = field(
        default_factory=lambda: ["0", "5"], metadata={"help": "Digits to forget, one a run."}
    )
    forget_fraction: list[float] = field(
        default_factory=lambda: [0.01, 0.05, 0.1],
        metadata={"help": "Shares of recordings to forget at random, one a run.", "aliases": ["--sample_fractions"]},
    )
    speaker_id_requests: int = field(
        default=3, metadata={"help": "speaker_id group (label = speaker): how many speakers to forget, one a run."}
    )
    validation_size: float = field(
        default=0.1,
        metadata={"help": "Share of the training recordings held out as validation before any request is drawn."},
    )
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "Seeds (split, models, run)."})
    train_takes: int | None = field(
        default=None, metadata={"help": "Use only this many training takes per digit and speaker (default: all 45)."}
    )
    model_type: str = field(
        default="mfcc_cnn",
        metadata={
            "help": "The model trained from scratch as original and gold: mfcc_cnn (hf-unlearn's CNN) or a registered "
            "audio-classification type, e.g. audio-spectrogram-transformer, sized by --config_overrides."
        },
    )
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "With --model_type: config fields as key=value pairs separated by commas (the recipe's option)."
        },
    )
    # Reference training: unset options keep the experiment package's defaults for the model type (one home).
    reference_epochs: float | None = field(
        default=None,
        metadata={
            "help": "Epoch cap of original and gold training (default: the experiment package's for the CNN).",
            "aliases": ["--reference_max_epochs"],
        },
    )
    reference_learning_rate: float | None = field(
        default=None, metadata={"help": "Learning rate of original and gold (default: the experiment package's)."}
    )
    reference_batch_size: int | None = field(
        default=None, metadata={"help": "Batch size of original and gold training (default: the experiment's)."}
    )
    early_stopping_patience: int | None = field(
        default=None,
        metadata={
            "help": "Epochs without a better validation loss before reference training stops (default: the "
            "experiment package's)."
        },
    )
    shadow_models: int = field(
        default=0, metadata={"help": "Shadow models per (request, seed) for LiRA (0: no LiRA columns)."}
    )
    shadows_from_seeds: bool = field(
        default=False,
        metadata={
            "help": "Speaker, class and speaker_id requests: use the request's gold models under the other seeds as "
            "LiRA shadows (none trained them on any forgotten row; no extra training). Sample requests get none."
        },
    )
    unlearning_max_steps: int | None = field(
        default=None, metadata={"help": "Cap every method run at this many optimizer steps (--quick: 3)."}
    )
    tune: bool = field(
        default=True,
        metadata={
            "help": "Tune learning rate and length per method and kind on validation data (off: shipped settings)."
        },
    )
    tune_learning_rates: list[float] = field(
        default_factory=lambda: [1e-4, 3e-4, 1e-3, 3e-3], metadata={"help": "Learning-rate grid of the tuning."}
    )
    tune_epochs: list[float] = field(
        default_factory=lambda: [1.0, 2.0], metadata={"help": "Length grid of the tuning (num_train_epochs)."}
    )
    tune_requests: int = field(
        default=2, metadata={"help": "Requests per kind the tuning runs on (seed: the first of --seeds)."}
    )
    tune_standard_errors: float = field(
        default=2.0,
        metadata={
            "help": "Utility tolerance in binomial standard errors of the original's retain-validation accuracy."
        },
    )
    write_settings: bool = field(
        default=True,
        metadata={"help": "Write the tuned settings to the package's settings file (off with --quick)."},
    )
    model_cards_dir: str | None = field(
        default=None, metadata={"help": "Write each group's best-run model card here, e.g. model_cards."}
    )
    readme: str | None = field(
        default=None,
        metadata={"help": "Markdown file (docs/benchmarks.md) whose block between fsdd-results markers is rewritten."},
    )
    num_workers: int = field(default=2, metadata={"help": "Worker processes (spawned; 0: run in this process)."})
    num_threads: int | None = field(
        default=1,
        metadata={
            "help": "torch threads per process (1: a small CNN gains nothing from more; times stay comparable)."
        },
    )
    name: str = field(default="fsdd", metadata={"help": "Stem of the output files."})
    quick: bool = field(default=False, metadata={"help": "Tiny smoke run (one seed, one request per kind, 3 steps)."})


def apply_quick(args: BenchmarkArguments) -> BenchmarkArguments:
    """Shrinks the run to a smoke test: one seed, one speaker, one digit, one fraction, 6 training takes per digit and
    speaker, references capped at 10 epochs, every method at 3 steps, a two-point grid on one request per kind, and
    nothing written into the package's settings."""
    args.seeds = args.seeds[:1]
    args.forget_speakers = args.forget_speakers[:1] if args.forget_speakers else None
    args.forget_classes = args.forget_classes[:1]
    args.forget_fraction = args.forget_fraction[-1:]
    args.speaker_id_requests = 1
    args.train_takes = args.train_takes or 6
    args.reference_epochs = min(args.reference_epochs or 10, 10)
    args.early_stopping_patience = min(args.early_stopping_patience or 2, 2)
    args.unlearning_max_steps = args.unlearning_max_steps or 3
    args.tune_learning_rates = args.tune_learning_rates[1::2][:2] or args.tune_learning_rates[:2]
    args.tune_epochs = args.tune_epochs[:1]
    args.tune_requests = 1
    args.write_settings = False
    return args
