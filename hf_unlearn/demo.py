"""`hf-unlearn demo`: the whole unlearning workflow on built-in data, in a few minutes on a CPU.

1. make (or load from cache) the eSpeak keyword dataset, or read a local FSDD folder (`--dataset_name PATH`);
2. build the forget request (`--forget_speakers NAME`, `--forget_classes NAME` or `--forget_fraction FRACTION`);
3. train the original model (forget + retain) and the gold model (retain only), cached on disk;
4. unlearn a copy of the original with `--method`;
5. evaluate original, gold and unlearned on forget / retain / test, print the table, and save the unlearned model,
   its feature extractor, `results.json`, `results.md`, `results.png` and a model card to `--output_dir`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field

logger = logging.getLogger(__name__)

# Unlearning hyperparameters that work for the demo's CNN (chosen on the retain-eval split, see README); the
# method's config defaults apply to everything else.
DEMO_HYPERPARAMETERS = {
    "finetune": {"learning_rate": 1e-3, "num_train_epochs": 5},
    "gradient_ascent": {"learning_rate": 1e-4, "num_train_epochs": 1},
    "neggrad_plus": {"learning_rate": 3e-4, "num_train_epochs": 3},
    "random_labels": {"learning_rate": 3e-4, "num_train_epochs": 3},
    # Methods whose epochs are split into stages: their configs require (UNSIR) or assume (reset-perturb) these.
    "unsir": {"learning_rate": 3e-3, "num_train_epochs": 2},
    "reset_perturb": {"learning_rate": 1e-3, "num_train_epochs": 3},
}
DEFAULT_DEMO_HYPERPARAMETERS = {"learning_rate": 3e-4, "num_train_epochs": 3}


@dataclass
class DemoArguments:
    """Arguments of `hf-unlearn demo`: the whole unlearning workflow on built-in data (or a local FSDD folder).

    Give one forget request: `--forget_speakers`, `--forget_classes` or `--forget_fraction` (default: the speaker
    en-us+f1 of the built-in data).
    """

    method: str = field(default="neggrad_plus", metadata={"help": "Unlearning method (see `hf-unlearn methods`)."})
    forget_speakers: list[str] | None = field(
        default=None,
        metadata={"help": "Speakers to forget, e.g. en-us+f1 (the default when no other forget option is given)."},
    )
    forget_classes: list[str] | None = field(default=None, metadata={"help": "Classes to forget (names or ids)."})
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
    reference_epochs: float = field(
        default=40,
        metadata={"help": "Epochs of the original and gold (reference) models.", "aliases": ["--original_epochs"]},
    )
    learning_rate: float | None = field(
        default=None, metadata={"help": "Unlearning learning rate (default: the demo's setting for the method)."}
    )
    num_train_epochs: float | None = field(
        default=None, metadata={"help": "Unlearning epochs (default: the demo's setting for the method)."}
    )
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
        if all(value is None for value in given):
            self.forget_speakers = ["en-us+f1"]

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
    """The built-in keyword data (synthesised once, then cached) or a local FSDD folder."""
    if args.dataset_name:
        from hf_unlearn.data import load_fsdd

        return load_fsdd(args.dataset_name), 8000
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


def _reference_model(kind: str, folder: str, label_names, sampling_rate: int, train, validation, args, seed: int):
    """Loads the cached original/gold model from `folder`, or trains and caches it. Returns (model, train seconds)."""
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    from hf_unlearn.models.mfcc_cnn import build_mfcc_cnn
    from hf_unlearn.reference import REFERENCE_INFO_NAME, train_classifier

    info_path = os.path.join(folder, REFERENCE_INFO_NAME)
    if os.path.exists(info_path):
        with open(info_path) as handle:
            seconds = json.load(handle)["train_time"]
        print(f"[{kind}] loaded from cache {folder}")
        return (
            AutoModelForAudioClassification.from_pretrained(folder),
            AutoFeatureExtractor.from_pretrained(folder),
            seconds,
        )
    import torch

    torch.manual_seed(seed)
    model, extractor = build_mfcc_cnn(label_names, sampling_rate=sampling_rate)
    print(f"[{kind}] training on {len(train)} clips for {args.reference_epochs:g} epochs")
    model, seconds = train_classifier(
        model,
        extractor,
        train,
        folder,
        num_train_epochs=args.reference_epochs,
        seed=seed,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=args.quiet,
    )
    return model, extractor, seconds


def run_demo(args: DemoArguments) -> dict:
    """Runs the demo; returns the results of original, gold and the unlearned model."""
    import torch
    from datasets import concatenate_datasets
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    from hf_unlearn.data import make_forget_split
    from hf_unlearn.evaluation import results_figure, results_table
    from hf_unlearn.reference import evaluate_model
    from hf_unlearn.registry import get_trainer_class
    from hf_unlearn.trainer import UnlearningTrainer

    trainer_class = get_trainer_class(args.method)  # fails early on an unknown method
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    if args.quiet:
        import datasets

        datasets.disable_progress_bars()
    started = time.perf_counter()
    data, sampling_rate = load_demo_data(args)
    request = args.forget_request()
    splits = make_forget_split(data, seed=args.seed, **request)
    label_names = data["train"].features["label"].names
    # Audio splits go to every consumer as they are: reference training, unlearning and the evaluations featurize
    # them through hf_unlearn.data.featurize, which computes each split's features once per process.
    eval_splits = splits.eval_splits()
    print(
        f"Forget request {args.forget_spec()}: forget {len(splits.forget)}, retain {len(splits.retain)}, "
        f"retain-eval {len(splits.retain_eval)}, test {len(splits.test)} clips"
    )

    key = json.dumps(
        {
            "data": args.dataset_name or [args.num_keywords, args.num_voices],
            "forget": args.forget_spec(),
            "seed": args.seed,
            "epochs": args.reference_epochs,
            "version": 1,
        },
        sort_keys=True,
    )
    models_dir = os.path.join(_cache_dir(args), "demo_models", hashlib.sha256(key.encode()).hexdigest()[:12])
    use_cpu = not torch.cuda.is_available()
    original, extractor, original_time = _reference_model(
        "original",
        os.path.join(models_dir, "original"),
        label_names,
        sampling_rate,
        concatenate_datasets([splits.forget, splits.retain]),
        splits.retain_eval,
        args,
        args.seed,
    )
    gold, _, gold_time = _reference_model(
        "gold",
        os.path.join(models_dir, "gold"),
        label_names,
        sampling_rate,
        splits.retain,
        splits.retain_eval,
        args,
        args.seed,
    )

    original_results, losses_original = evaluate_model(original, extractor, eval_splits, use_cpu=use_cpu)
    original_results["train_time"] = original_time
    gold_results, losses_gold = evaluate_model(gold, extractor, eval_splits, use_cpu=use_cpu)
    gold_results["train_time"] = gold_time

    # Unlearn a fresh copy of the original, loaded from its folder (which the trainer refuses to overwrite).
    model = AutoModelForAudioClassification.from_pretrained(os.path.join(models_dir, "original"))
    extractor = AutoFeatureExtractor.from_pretrained(os.path.join(models_dir, "original"))
    hyper = {**DEMO_HYPERPARAMETERS.get(trainer_class.method_key, DEFAULT_DEMO_HYPERPARAMETERS)}
    if args.learning_rate is not None:
        hyper["learning_rate"] = args.learning_rate
    if args.num_train_epochs is not None:
        hyper["num_train_epochs"] = args.num_train_epochs
    config = trainer_class.config_class(
        output_dir=args.output_dir,
        seed=args.seed,
        per_device_train_batch_size=16,
        use_cpu=use_cpu,
        disable_tqdm=args.quiet,
        hub_model_id=args.hub_model_id,
        **hyper,
    )
    trainer = UnlearningTrainer(
        method=trainer_class.method_key,
        model=model,
        args=config,
        forget_dataset=splits.forget,
        retain_dataset=splits.retain,
        eval_dataset=eval_splits,
        processing_class=extractor,
        original_results=original_results,
        gold_results=gold_results,
        forget_request=splits,  # published as kind, counts and a salted digest only (hf_unlearn.privacy)
    )
    dataset_name = "the Free Spoken Digit Dataset" if args.dataset_name else "hf-unlearn eSpeak keywords"
    trainer.card_options["dataset_name"] = dataset_name
    print(f"[{trainer_class.method_key}] unlearning with {hyper}")
    trainer.train()
    trainer.evaluate()
    unlearned_results = dict(trainer.last_eval_results)  # with undefined figures as None and their reasons
    unlearned_results["train_time"] = trainer.unlearning_time
    rows = {"original": original_results, "gold": gold_results, trainer_class.method_key: unlearned_results}
    table = results_table(rows)
    print()
    print(table)

    os.makedirs(args.output_dir, exist_ok=True)
    trainer.save_model(args.output_dir)  # model, feature extractor, unlearning_config.json, results, model card
    results = {
        "rows": rows,
        "request": trainer.unlearning_record()["request"],
        "method": trainer_class.method_key,
        # The forget request's value names a speaker or class: only its kind is written (results.json is pushed).
        "arguments": {
            **asdict(args),
            **{name: ["<not published>"] for name in ("forget_speakers", "forget_classes") if getattr(args, name)},
        },
        "wall_time": time.perf_counter() - started,
    }
    with open(os.path.join(args.output_dir, "results.json"), "w") as handle:
        json.dump(results, handle, indent=2)
    with open(os.path.join(args.output_dir, "results.md"), "w") as handle:
        handle.write(table + "\n")
    results_figure(
        rows,
        {"original": losses_original, "gold": losses_gold, trainer_class.method_key: trainer.last_eval_losses},
        path=os.path.join(args.output_dir, "results.png"),
    )
    if args.push_to_hub:
        commit = trainer.push_to_hub()
        results["hub_commit"] = str(commit)
        print(f"Pushed the unlearned model, its card and results to {trainer.hub_model_id} ({commit})")
    print(
        f"\nSaved the unlearned model, results and model card to {args.output_dir} "
        f"({time.perf_counter() - started:.1f} s in all)"
    )
    return results
