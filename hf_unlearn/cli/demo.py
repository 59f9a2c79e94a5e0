"""`hf-unlearn demo`: the whole unlearning workflow on built-in data, in a few minutes on a CPU.

A preset of the experiment pipeline (`hf_unlearn.experiment`), the one `hf-unlearn unlearn` and the benchmark run:

1. make (or load from cache) the eSpeak keyword dataset, or read a local FSDD folder (`--dataset_name PATH`);
2. build the forget request (`--forget_speakers NAME`, `--forget_classes NAME` or `--forget_fraction FRACTION`;
   by default the keyword "yes", a class the gold model cannot recognise, so forgetting shows as a drop);
3. fit the MFCC features on the training rows, and train (or load from the one reference cache) the original model
   (forget + retain), the gold model (retain only) and, with `--shadow_models K`, K shadow models for LiRA;
4. unlearn a copy of the original with `--method` (settings: `hf_unlearn/experiment/settings/keywords.json`, or
   `fsdd.json` with `--dataset_name`);
5. evaluate original, gold and unlearned on forget / retain / test / forget_test, print the table, and save the
   unlearned model, its feature extractor, `results.json`, `results.md`, `results.png` and a model card to
   `--output_dir`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field

from hf_unlearn.experiment.defaults import ReferenceTrainingArguments, reference_option

logger = logging.getLogger(__name__)


DEMO_REFERENCE_EPOCHS = 40


@dataclass
class DemoArguments(ReferenceTrainingArguments):
    """Arguments of `hf-unlearn demo`: the whole unlearning workflow on built-in data (or a local FSDD folder).

    Give one forget request: `--forget_speakers`, `--forget_classes` or `--forget_fraction`. The default forgets
    the keyword "yes" (FSDD: the digit 0; speaker identification: the speaker george): the gold model, retrained
    without it, cannot recognise it, so the unlearned model's forget accuracy should drop from the original's to
    gold's. The speaker case is one flag away, `--forget_speakers en-us+f1`: a keyword model retrained without a
    voice still recognises that voice's words, so there forgetting means staying like gold, not dropping.
    """

    method: str = field(default="neggrad_plus", metadata={"help": "Unlearning method (see `hf-unlearn methods`)."})
    forget_speakers: list[str] | None = field(
        default=None,
        metadata={"help": "Speakers to forget, e.g. en-us+f1 (gold still recognises a voice's words: see below)."},
    )
    forget_classes: list[str] | None = field(
        default=None,
        metadata={"help": "Classes to forget (names or ids); default: yes (FSDD: 0; speaker labels: george)."},
    )
    forget_fraction: float | None = field(
        default=None, metadata={"help": "Share of the training clips to forget at random, e.g. 0.05."}
    )
    forget: str | None = field(
        default=None,
        metadata={
            "help": "Old spelling of the forget request: speaker:NAME, class:NAME or sample:FRACTION.",
            "deprecated": "use --forget_speakers NAME, --forget_classes NAME or --forget_fraction FRACTION.",
        },
    )
    output_dir: str = field(default="unlearned_demo", metadata={"help": "Where the unlearned model and results go."})
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "Cache of data and reference models (default: $HF_UNLEARN_CACHE or ~/.cache/hf_unlearn)."},
    )
    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A local Free Spoken Digit Dataset folder (holding recordings/) to use instead of the built-in "
            "eSpeak keywords.",
            "aliases": ["--fsdd"],
        },
    )
    num_keywords: int = field(default=10, metadata={"help": "Keywords of the built-in data (at most 10)."})
    num_voices: int = field(default=10, metadata={"help": "Voices (speakers) of the built-in data (at most 10)."})
    # The reference models' options (ReferenceTrainingArguments); fewer epochs than the CNN's default keep the demo
    # to a few minutes (early stopping on validation usually ends it sooner anyway).
    reference_epochs: float | None = reference_option(
        "reference_epochs", DEMO_REFERENCE_EPOCHS, aliases=("--original_epochs",)
    )
    learning_rate: float | None = field(
        default=None, metadata={"help": "Unlearning learning rate (default: the settings file's, per method)."}
    )
    num_train_epochs: float | None = field(
        default=None, metadata={"help": "Unlearning epochs (default: the settings file's, per method)."}
    )
    label_column: str = field(
        default="label",
        metadata={"help": "'label' (digits / keywords) or 'speaker' (speaker identification; with an FSDD folder)."},
    )
    normalize: str = field(
        default="dataset",
        metadata={"help": "MFCC normalisation: dataset (fitted on the training rows), per_clip or none."},
    )
    num_frames: int | None = field(
        default=None, metadata={"help": "MFCC frames per clip (default: cover the 99th percentile clip length)."}
    )
    hop_length: int | None = field(default=None, metadata={"help": "Samples between MFCC frames."})
    seed: int = field(default=0, metadata={"help": "Seed of the split, the models and the unlearning run."})
    num_threads: int | None = field(
        default=None,
        metadata={
            "help": "torch threads (default: torch's choice; 1 is often fastest for the small CNN on a busy CPU)."
        },
    )
    quiet: bool = field(default=False, metadata={"help": "No progress bars."})
    push_to_hub: bool = field(
        default=False,
        metadata={"help": "Push the unlearned model, its card and results to the Hub (repo --hub_model_id)."},
    )
    hub_model_id: str | None = field(
        default=None, metadata={"help": "Hub repo id to push to, e.g. user/name (default: the output folder's name)."}
    )

    def __post_init__(self):
        if self.forget is not None:  # the old `--forget kind:value` spelling
            if self.forget_speakers or self.forget_classes or self.forget_fraction is not None:
                raise ValueError(
                    "Give the forget request once: --forget_speakers, --forget_classes or --forget_fraction."
                )
            request = parse_forget(self.forget)
            if request["by"] == "sample":
                self.forget_fraction = request["fraction"]
            else:
                setattr(self, f"forget_{'speakers' if request['by'] == 'speaker' else 'classes'}", request["values"])
            self.forget = None
        given = [self.forget_speakers, self.forget_classes, self.forget_fraction]
        if sum(value is not None for value in given) > 1:
            raise ValueError(
                "Give one forget request: --forget_speakers, --forget_classes or --forget_fraction, not several."
            )
        if all(value is None for value in given):  # a request the gold model forgets: the drop is visible
            self.forget_classes = [default_class(self.dataset_name, self.label_column)]

    def forget_request(self) -> dict:
        """The forget request as `make_forget_split` keyword arguments (`by` and `values` or `fraction`)."""
        if self.forget_fraction is not None:
            return {"by": "sample", "fraction": self.forget_fraction}
        if self.forget_classes is not None:
            return {"by": "class", "values": list(self.forget_classes)}
        return {"by": "speaker", "values": list(self.forget_speakers)}

    def forget_spec(self) -> str:
        """The request as one string, e.g. `speaker:en-us+f1` (printed; part of the reference models' cache key)."""
        request = self.forget_request()
        return f"{request['by']}:{request.get('fraction', ','.join(request.get('values', [])))}"


def default_class(dataset_name: str | None, label_column: str = "label") -> str:
    """The default request's class: the keyword "yes" of the built-in data, FSDD's digit 0, or (speaker labels) its
    first speaker, george."""
    if not dataset_name:
        return "yes"
    return "george" if label_column == "speaker" else "0"


def parse_forget(spec: str) -> dict:
    """`"speaker:NAME"` -> make_forget_split kwargs. Several names: `speaker:a,b` (the old `--forget` spelling)."""
    kind, _, value = spec.partition(":")
    if kind not in ("speaker", "class", "sample") or not value:
        raise ValueError(
            f"--forget {spec!r} is not valid: use --forget_speakers NAME, --forget_classes NAME or --forget_fraction "
            "FRACTION (or the old speaker:NAME, class:NAME, sample:FRACTION)."
        )
    if kind == "sample":
        try:
            return {"by": "sample", "fraction": float(value)}
        except ValueError as error:
            raise ValueError(f"--forget sample:{value} needs a fraction such as sample:0.05.") from error
    return {"by": kind, "values": value.split(",")}


def _cache_dir(args: DemoArguments) -> str:
    return args.cache_dir or os.environ.get("HF_UNLEARN_CACHE") or os.path.expanduser("~/.cache/hf_unlearn")


def load_demo_data(args: DemoArguments):
    """The built-in keyword data (synthesised once, then cached) or a local FSDD folder; returns (data, rate)."""
    if args.label_column not in ("label", "speaker"):
        raise ValueError(f"--label_column {args.label_column!r}: use label or speaker.")
    if args.dataset_name:
        from hf_unlearn.data import load_fsdd

        return load_fsdd(args.dataset_name, label="speaker" if args.label_column == "speaker" else "digit"), 8000
    if args.label_column == "speaker":
        raise ValueError("--label_column speaker needs --dataset_name path/to/free-spoken-digit-dataset.")
    from hf_unlearn.data import DEFAULT_KEYWORDS, DEFAULT_VOICES, make_keyword_dataset

    if not 2 <= args.num_keywords <= len(DEFAULT_KEYWORDS) or not 2 <= args.num_voices <= len(DEFAULT_VOICES):
        raise ValueError(
            f"--num_keywords and --num_voices must be within 2..{len(DEFAULT_KEYWORDS)} and 2..{len(DEFAULT_VOICES)}."
        )
    data = make_keyword_dataset(
        cache_dir=os.path.join(_cache_dir(args), "keywords"),
        keywords=DEFAULT_KEYWORDS[: args.num_keywords],
        voices=DEFAULT_VOICES[: args.num_voices],
    )
    return data, 16000


def prepare_request(args: DemoArguments, data, sampling_rate: int):
    """The demo's request on `data`: `(splits, extractor, references)`, with validation drawn before the request,
    the MFCC features fitted on the original's training rows and the original / gold (/ shadow) models trained or
    loaded from the reference cache. Shared by `run_demo` and the demo's settings tuner."""
    import torch

    from hf_unlearn.data import make_request_splits
    from hf_unlearn.experiment import ReferenceSpec, fit_extractor, reference_models
    from hf_unlearn.experiment.reference_cache import original_training_rows

    # Validation drawn before the request, FSDD's files as groups: the rows (and cached references) of the benchmark.
    group_column = "file" if "file" in data["train"].column_names else None
    splits = make_request_splits(data, args.forget_request(), args.seed, group_column=group_column)
    print(
        f"Forget request {args.forget_spec()}: forget {len(splits.forget)}, retain {len(splits.retain)}, "
        f"retain-eval {len(splits.retain_eval)}, test {len(splits.test)} clips"
    )
    spec = ReferenceSpec(
        data["train"].features["label"].names,
        model_type="mfcc_cnn",
        training=args.reference_training(),
    )
    extractor = spec.new_extractor(sampling_rate, normalize=args.normalize, hop_length=args.hop_length)
    fit_extractor(extractor, original_training_rows(splits), num_frames=args.num_frames)
    references = reference_models(
        splits, spec, extractor, seed=args.seed, shadow_models=args.shadow_models,
        cache_dir=os.path.join(_cache_dir(args), "references"), use_cpu=not torch.cuda.is_available(),
        disable_tqdm=args.quiet,
    )  # fmt: skip
    for kind, reference in [("original", references["original"]), ("gold", references["gold"])]:
        how = "loaded from cache" if reference.cached else f"trained ({reference.info['epochs_run']} epochs)"
        print(f"[{kind}] {how} {reference.path}")
    return splits, extractor, references


def run_demo(args: DemoArguments) -> dict:
    """Runs the demo; returns what `results.json` holds (rows of original, gold and the unlearned model, ...)."""
    import datasets
    import torch

    from hf_unlearn.methods import get_trainer_class

    method = get_trainer_class(args.method).method_key  # fails early on an unknown method
    from hf_unlearn.hub.write_targets import check_write_targets

    check_write_targets(  # every folder the demo writes, before any data is synthesised or model trained
        {"--output_dir": args.output_dir, "--cache_dir": _cache_dir(args)}
    )
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    bars_were_enabled = datasets.is_progress_bar_enabled()
    if args.quiet:
        datasets.disable_progress_bars()
    try:
        return _run_demo(args, method)
    finally:  # a quiet run called from Python leaves the caller's progress bars as they were
        if bars_were_enabled:
            datasets.enable_progress_bars()


def _run_demo(args: DemoArguments, method: str) -> dict:
    import torch

    from hf_unlearn.experiment import method_settings, run_request, write_results
    from hf_unlearn.experiment.reference_quality import weak_reference_warning

    started = time.perf_counter()
    data, sampling_rate = load_demo_data(args)
    splits, extractor, references = prepare_request(args, data, sampling_rate)
    use_cpu = not torch.cuda.is_available()
    # Speaker labels make a class request speaker identification: its own tuned entry (`request_kind`).
    settings = method_settings(method, "fsdd" if args.dataset_name else "keywords", splits.request_kind)
    overrides = {"learning_rate": args.learning_rate, "num_train_epochs": args.num_train_epochs}
    settings.update({key: value for key, value in overrides.items() if value is not None})
    if args.hub_model_id:
        settings["hub_model_id"] = args.hub_model_id
    print(f"[{method}] unlearning with {settings}")
    dataset_name = "the Free Spoken Digit Dataset" if args.dataset_name else "hf-unlearn eSpeak keywords"
    record, trainer = run_request(
        method, settings, splits, extractor, references, seed=args.seed, output_dir=args.output_dir,
        use_cpu=use_cpu, disable_tqdm=args.quiet, card_options={"dataset": dataset_name}, return_trainer=True,
    )  # fmt: skip
    arguments = {
        **asdict(args),
        # The forget request's value names a speaker or class: only its kind is written (results.json is pushed).
        **{name: ["<not published>"] for name in ("forget_speakers", "forget_classes") if getattr(args, name)},
        "cache_dir": None,
    }
    extra = {"arguments": arguments, "wall_time": time.perf_counter() - started}
    warning = weak_reference_warning(record["original"], splits.retain_eval)
    if warning:
        extra["reference_warning"] = warning
    results = write_results(record, args.output_dir, extra=extra)
    print()
    print(results.pop("table"))
    print(lesson(record, splits.request_kind, speaker_case(args)))
    if warning:
        print(f"\nWarning: {warning}")
    if args.push_to_hub:
        commit = trainer.push_to_hub()
        results["hub_commit"] = str(commit)
        print(f"Pushed the unlearned model, its card and results to {trainer.hub_model_id} ({commit})")
    print(
        f"\nSaved the unlearned model, results and model card to {args.output_dir} "
        f"({time.perf_counter() - started:.1f} s in all)"
    )
    return results


def speaker_case(args: DemoArguments) -> str | None:
    """The demo command of the speaker case on the same data (`None` for speaker labels: there a speaker is a
    class)."""
    if args.label_column == "speaker":
        return None
    data = f" --dataset_name {args.dataset_name}" if args.dataset_name else ""
    return f"hf-unlearn demo{data} --forget_speakers {'george' if args.dataset_name else 'en-us+f1'}"


def lesson(record: dict, kind: str, speaker_command: str | None = None) -> str:
    """What the printed table shows, in words: the forget and forget-test accuracy of the original, gold and unlearned
    models, whether the unlearned model's are like gold's (within the card's `RECOGNITION_TOLERANCE`), and
    (`speaker_command`) the speaker case to try next."""
    from hf_unlearn.hub.outcome import RECOGNITION_TOLERANCE

    method, original, gold = record["method"], record["original"], record.get("gold") or {}
    unlearned = record["unlearned"]
    lines = [""]
    for split in ("forget", "forget_test"):
        key = f"{split}_accuracy"
        if unlearned.get(key) is None or original.get(key) is None:
            continue
        line = f"{split} accuracy: original {original[key]:.3f} -> {method} {unlearned[key]:.3f}"
        if gold.get(key) is not None:
            gap = unlearned[key] - gold[key]
            verdict = (
                "like gold"
                if abs(gap) <= RECOGNITION_TOLERANCE
                else ("above gold: still recognised" if gap > 0 else "below gold")
            )
            line += f" (gold {gold[key]:.3f}: {verdict}, tolerance {RECOGNITION_TOLERANCE:g})"
        lines.append(line + ".")
    if kind in ("class", "speaker_id"):
        lines.append(
            "The gold model never heard the forgotten class, so it cannot recognise it: forgetting shows as the drop "
            "from the original's forget accuracy to gold's (and on forget_test, the class's held-out recordings)."
        )
        if speaker_command:
            lines.append(
                f"Next, the speaker case: `{speaker_command}`. A model of words retrained without one voice still "
                "recognises the words that voice says, so there the forget accuracy of gold stays high, and "
                "unlearning should leave it there: the difference from the original shows in the loss panels and MIA."
            )
    elif kind == "speaker":
        lines.append(
            "The gold model, retrained without this voice, still recognises its words: a speaker is not a class of "
            "a keyword model, so forgetting it should leave the forget accuracy where gold has it (compare with "
            "gold, not with zero; the loss panels of results.png and the MIA columns show what changed)."
        )
        lines.append("For a request where forgetting is a visible drop, run `hf-unlearn demo` (the keyword yes).")
    return "\n".join(lines)
