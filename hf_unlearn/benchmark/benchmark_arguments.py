"""The benchmark's options, as a stdlib dataclass (`hf_unlearn.cli.dataclass_options` turns it into `argparse` options,
so `hf-unlearn benchmark --help` answers without importing torch)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_unlearn.evaluation.intervals import UTILITY_STANDARD_ERRORS
from hf_unlearn.experiment.defaults import ReferenceTrainingArguments, reference_option

REQUEST_KINDS = ("speaker", "class", "sample", "speaker_id")


@dataclass
class BenchmarkArguments(ReferenceTrainingArguments):
    """Arguments of the benchmark (`hf-unlearn benchmark` or `python -m hf_unlearn.cli benchmark`) on FSDD or any
    audio-classification data the recipe reads (`hf_unlearn.benchmark.any_data`).

    Original, gold and every unlearning method over forget requests and seeds. Each method's learning rate and length
    are tuned per request kind on validation data only, then applied to every request and seed.
    """

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "The data: a local FSDD folder (holding recordings/), audiofolder (metadata.csv with a speaker "
            "column), Speech Commands or save_to_disk folder, or a Hub dataset name; read in place.",
            "aliases": ["--fsdd"],
        },
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Configuration of a Hub dataset."})
    data_layout: str = field(
        default="auto", metadata={"help": "As the recipe's --data_layout (auto: detected from the folder)."}
    )
    label_column: str = field(default="label", metadata={"help": "The label column (not FSDD)."})
    speaker_column: str | None = field(
        default="speaker",
        metadata={"help": "The speaker column (not FSDD): speaker requests, speakers held out from training."},
    )
    audio_column: str = field(default="audio", metadata={"help": "The audio column (not FSDD)."})
    group_column: str | None = field(
        default=None,
        metadata={
            "help": "Column naming each row's recording (not FSDD; e.g. windows of one recording): every split keeps "
            "a recording whole, validation and test stratified by label and speaker."
        },
    )
    sampling_rate: int | None = field(
        default=None, metadata={"help": "Resample the audio to this rate (not FSDD; default: the data's, or 16 kHz)."}
    )
    model_type: str | None = field(
        default="mfcc_cnn",
        metadata={
            "help": "Model trained from scratch (as in the recipe): mfcc_cnn, or a registered audio-classification "
            "type, e.g. audio-spectrogram-transformer, sized by --config_overrides."
        },
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "With --model_type: config fields as key=value pairs separated by commas (as the recipe)."},
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A pretrained checkpoint to fine-tune instead (takes precedence)."}
    )
    lora_r: int = field(
        default=0,
        metadata={
            "help": "Unlearn through a LoRA adapter of this rank (peft LoraConfig(r, lora_alpha=2r); target modules "
            "and a fully trained head as the library completes a bare config) instead of every weight (0). The "
            "reference models are the same; tuning and runs are keyed apart."
        },
    )
    test_speaker_share: float = field(
        default=0.2,
        metadata={"help": "Data with speakers and no test split: share of speakers held out from training as test."},
    )
    unseen_speaker_share: float = field(
        default=0.1,
        metadata={
            "help": "Data with speakers and no test split: share of speakers held out as unseen-speaker validation."
        },
    )
    test_size: float = field(
        default=0.1,
        metadata={
            "help": "Data without a test split: share of the (training speakers') recordings held out as test (a "
            "speaker request's forget-test)."
        },
    )
    top_speakers: int | None = field(
        default=None,
        metadata={"help": "Speaker group: forget each of the N speakers with the most clips (default on data other "
                  "than FSDD: 6)."},
    )  # fmt: skip
    output_dir: str | None = field(
        default=None,
        metadata={"help": "Where runs/, tuning/, <name>.json/.md/.png go (default: ./benchmark_results)."},
    )
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "Reference-model cache (default: the experiment package's, $HF_UNLEARN_CACHE)."},
    )
    methods: list[str] | None = field(default=None, metadata={"help": "Methods to run (default: every method)."})
    kinds: list[str] | None = field(
        default=None,
        metadata={
            "help": f"Request kinds (groups) to run, of {', '.join(REQUEST_KINDS)} (default: all on FSDD; speaker "
            "(with a speaker column), class (with --forget_classes) and sample elsewhere)."
        },
    )
    forget_speakers: list[str] | None = field(
        default=None,
        metadata={
            "help": "Speakers to forget, one a run (default: all; speaker_id: the first 3).",
            "aliases": ["--speakers"],
        },
    )
    forget_classes: list[str] | None = field(
        default=None, metadata={"help": "Classes to forget, one a run (FSDD default: digits 0 and 5)."}
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
    # Reference training (ReferenceTrainingArguments): unset options keep the experiment package's CNN defaults.
    reference_epochs: float | None = reference_option("reference_epochs", aliases=("--reference_max_epochs",))
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
    relearn_steps: int = field(
        default=0,
        metadata={
            "help": "After each run, the relearning check for this many steps on the unlearned and the gold model "
            "(steps to recover the forget accuracy, hf_unlearn.benchmark.relearn); 0: off."
        },
    )
    tune: bool | None = field(
        default=None,
        metadata={
            "help": "Tune learning rate and length per method and kind on validation data (off: the settings file). "
            "Default: tune when the dataset has no settings file (settings/<name>.json); FSDD always tunes."
        },
    )
    tune_learning_rates: list[float] = field(
        default_factory=lambda: [1e-4, 3e-4, 1e-3, 3e-3], metadata={"help": "Learning-rate grid of the tuning."}
    )
    tune_epochs: list[float] = field(
        default_factory=lambda: [1.0, 2.0], metadata={"help": "Length grid of the tuning (num_train_epochs)."}
    )
    stopping: bool = field(
        default=False,
        metadata={
            "help": "Length from the stopping rule (hf_unlearn.trainer.stopping), capped at --stop_max_epochs; the "
            "tuner picks the learning rate and the target mode. Off by default (the --tune_epochs grid): on FSDD "
            "speaker requests it does not reach gold yet (docs/stopping.md)."
        },
    )
    tune_targets: list[str] = field(
        default_factory=lambda: ["reference", "unseen"],
        metadata={
            "help": "Stopping targets the tuner tries ('reference': gold's figures on forget-validation rows; "
            "'unseen': the original's on held-out rows; a kind without such rows skips it)."
        },
    )
    stop_max_epochs: float = field(default=2.0, metadata={"help": "Cap of a run under the stopping rule (epochs)."})
    stop_interval: float = field(
        default=0.1, metadata={"help": "Stopping-rule checks every this many steps (below 1: share of an epoch)."}
    )
    stop_retain_tolerance: float | None = field(
        default=None,
        metadata={
            "help": "Utility tolerance of the stopping rule (retain-validation accuracy below the original's); "
            "default: two binomial standard errors of the original's."
        },
    )
    tune_stop_standard_errors: list[float] = field(
        default_factory=lambda: [UTILITY_STANDARD_ERRORS],
        metadata={
            "help": "Utility tolerances of the stopping rule the tuner tries, in binomial standard errors of the "
            "original's retain-validation accuracy (without --stop_retain_tolerance)."
        },
    )
    tune_requests: int = field(
        default=2, metadata={"help": "Requests per kind the tuning runs on (seed: the first of --seeds)."}
    )
    tune_standard_errors: float = field(
        default=UTILITY_STANDARD_ERRORS,
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
    name: str | None = field(
        default=None,
        metadata={
            "help": "Stem of the output files and of the settings file (default: fsdd, else the folder's name)."
        },
    )
    quick: bool = field(default=False, metadata={"help": "Tiny smoke run (one seed, one request per kind, 3 steps)."})
    report_only: bool = field(
        default=False,
        metadata={
            "help": "Train nothing: re-aggregate the runs stored in <output_dir>/<name>.json (cards from runs/) and "
            "rewrite <name>.json/.md/.png, the best-run cards and the --readme block."
        },
    )


def resolve_defaults(args: BenchmarkArguments) -> BenchmarkArguments:
    """Fills the defaults that depend on the data: FSDD keeps its published ones (every kind, digits 0 and 5, name
    `fsdd`); other data gets the speaker (when it has speakers), class (when classes are named) and sample groups,
    the 6 speakers with the most clips, and its folder's name."""
    from hf_unlearn.benchmark.any_data import dataset_slug, is_fsdd

    fsdd = is_fsdd(args)
    args.name = args.name or dataset_slug(args)
    if fsdd:
        args.forget_classes = args.forget_classes if args.forget_classes is not None else ["0", "5"]
        args.kinds = args.kinds or ["speaker", "class", "sample", "speaker_id"]
        return args
    if args.kinds is None:
        args.kinds = [k for k, wanted in (("speaker", args.speaker_column), ("class", args.forget_classes)) if wanted]
        args.kinds.append("sample")
    if "speaker" in args.kinds and not args.forget_speakers and args.top_speakers is None:
        args.top_speakers = 6
    if "class" in args.kinds and not args.forget_classes:
        raise ValueError("The class group needs the classes to forget: pass --forget_classes A B.")
    return args


def apply_quick(args: BenchmarkArguments) -> BenchmarkArguments:
    """Shrinks the run to a smoke test: one seed, one speaker, one digit, one fraction, 6 training takes per digit and
    speaker, references capped at 10 epochs, every method at 3 steps, a two-point grid on one request per kind, and
    nothing written into the package's settings."""
    args.seeds = args.seeds[:1]
    args.forget_speakers = args.forget_speakers[:1] if args.forget_speakers else None
    args.forget_classes = (args.forget_classes or [])[:1]
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
