"""Memory and step time of unlearning with full fine-tuning versus a LoRA adapter (a script, not a test).

For each model x method x {full, lora} a fresh Python process builds the model from its config (random weights: memory
and time do not depend on the values), unlearns random 16 kHz clips for a few steps with `UnlearningTrainer` and
reports:

- trainable parameters and their share of the model's parameters (a `modules_to_save` head copy counts once in the
  total, as `hf_unlearn.peft_utils.trainable_parameters` counts it);
- peak resident memory of the process (`ru_maxrss`), and the same minus the process's peak before the model was built
  ("training RSS"; imports and featurized data come before: they do not depend on full vs LoRA); on CUDA the table
  shows `torch.cuda.max_memory_allocated` instead of the peak RSS;
- median wall time of an optimizer step, the first step (warm-up) excluded.

Models: `wav2vec2-base`, `Wav2Vec2Config()`'s defaults (12 layers, hidden 768: the wav2vec2-base / HuBERT-base
architecture, about 94.6 M parameters with a 4-class head), `cnn`, hf-unlearn's MFCC CNN, or the folder of a trained
audio-classification checkpoint (e.g. a reference model the benchmark trained: its weights and feature extractor are
loaded, the clips drawn at the extractor's sampling rate with the checkpoint's labels). LoRA:
`hf_unlearn.lora_config_for(model, r=8, alpha=16)` (wav2vec2: `q_proj`, `v_proj` of every layer; CNN: every conv and
dense layer; the head trained in full).

Usage (from the repository root):

    python perf/peft_memory.py                       # everything, prints a markdown table
    python perf/peft_memory.py --models cnn --methods neggrad_plus --steps 3 --json out.json
    python perf/peft_memory.py --models path/to/trained-checkpoint --seconds 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

DEFAULT_METHODS = ("neggrad_plus", "scrub", "bad_teaching_lite", "bad_teaching")
MODELS = ("wav2vec2-base", "cnn")
NUM_LABELS = 4


def _peak_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    scale = 1 / 1024 if platform.system() == "Linux" else 1 / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _random_clips(count: int, seconds: float, seed: int, rate: int = 16000, num_labels: int = NUM_LABELS):
    import numpy as np
    from datasets import Dataset

    rng = np.random.default_rng(seed)
    length = int(seconds * rate)
    return Dataset.from_dict(
        {
            "audio": [
                {"array": (0.1 * rng.standard_normal(length)).astype("float32"), "sampling_rate": rate}
                for _ in range(count)
            ],
            "label": [int(i % num_labels) for i in range(count)],
        }
    )


def _clip_format(name: str) -> tuple[int, int]:
    """`(sampling rate, number of labels)` of the clips a model reads: a checkpoint's own, else 16 kHz and 4."""
    if not os.path.isdir(name):
        return 16000, NUM_LABELS
    from transformers import AutoConfig, AutoFeatureExtractor

    rate = getattr(AutoFeatureExtractor.from_pretrained(name), "sampling_rate", None) or 16000
    return int(rate), int(AutoConfig.from_pretrained(name).num_labels)


def _build_model(name: str, with_model: bool = True):
    """`(model, feature_extractor)`; `model` is None when `with_model=False` (the CNN's is built anyway: 0.4 MB)."""
    import torch

    torch.manual_seed(0)
    labels = [f"class{i}" for i in range(NUM_LABELS)]
    if os.path.isdir(name):  # a trained checkpoint (the CNN's own class is registered with the Auto classes)
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        import hf_unlearn.models  # noqa: F401

        extractor = AutoFeatureExtractor.from_pretrained(name)
        return (AutoModelForAudioClassification.from_pretrained(name) if with_model else None), extractor
    if name == "cnn":
        from hf_unlearn.models.mfcc_cnn import build_mfcc_cnn

        return build_mfcc_cnn(labels)
    if name == "wav2vec2-base":
        from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

        extractor = Wav2Vec2FeatureExtractor(sampling_rate=16000, return_attention_mask=True)
        if not with_model:
            return None, extractor
        config = Wav2Vec2Config(
            num_labels=NUM_LABELS,
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
        return Wav2Vec2ForSequenceClassification(config), extractor
    raise ValueError(f"Unknown model {name!r}: choose from {MODELS}.")


def run_one(model_name: str, method: str, mode: str, seconds: float, batch_size: int, steps: int) -> dict:
    """One configuration, in this process: returns its measurements."""
    import tempfile

    import torch
    from transformers import TrainerCallback

    import hf_unlearn
    from hf_unlearn.data import featurize
    from hf_unlearn.peft_utils import trainable_parameters

    # Features before the baseline (the trainer passes featurized data through): feature extraction (librosa for the
    # CNN) is the same with and without an adapter.
    _, extractor = _build_model(model_name, with_model=False)
    clips = 2 * batch_size * steps  # enough rows that no step repeats a clip
    clip_format = _clip_format(model_name)
    forget = featurize(_random_clips(clips, seconds, 0, *clip_format), extractor)
    retain = featurize(_random_clips(clips, seconds, 1, *clip_format), extractor)
    cuda = torch.cuda.is_available()
    baseline_rss = _peak_rss_mib()

    model, extractor = _build_model(model_name)
    peft_config = hf_unlearn.lora_config_for(model, r=8, alpha=16) if mode == "lora" else None
    step_times = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            step_times.append(time.perf_counter() - self.start)

    with tempfile.TemporaryDirectory() as output_dir:
        args = hf_unlearn.UnlearningConfig(
            output_dir=output_dir,
            per_device_train_batch_size=batch_size,
            max_steps=steps,
            learning_rate=1e-5,
            logging_steps=steps,
            report_to="none",
            disable_tqdm=True,
            use_cpu=not cuda,
            seed=0,
        )
        trainer = hf_unlearn.UnlearningTrainer(
            method=method,
            model=model,
            args=args,
            forget_dataset=forget,
            retain_dataset=retain,
            processing_class=extractor,
            peft_config=peft_config,
            callbacks=[StepTimer()],
        )
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
    trainable, total = trainable_parameters(trainer.model)
    peak_rss = _peak_rss_mib()
    return {
        "model": os.path.basename(os.path.normpath(model_name)) if os.path.isdir(model_name) else model_name,
        "method": method,
        "mode": mode,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "trainable_share": trainable / total,
        "peak_rss_mib": peak_rss,
        "baseline_rss_mib": baseline_rss,
        "training_rss_mib": peak_rss - baseline_rss,
        "cuda_peak_mib": torch.cuda.max_memory_allocated() / 1024**2 if cuda else None,
        "step_time_s": statistics.median(step_times[1:] or step_times),
        "steps": len(step_times),
        "teacher_is_disabled_adapter": bool(getattr(trainer, "teacher_is_disabled_adapter", False)),
    }


def run_in_subprocess(model_name, method, mode, options) -> dict:
    """Runs one configuration in a fresh interpreter, so that its peak RSS is its own."""
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--one",
        model_name,
        method,
        mode,
        "--seconds",
        str(options.seconds),
        "--batch_size",
        str(options.batch_size),
        "--steps",
        str(options.steps),
    ]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def markdown_table(results: list[dict]) -> str:
    """The table of docs/benchmarks.md: one row per model x method, full and LoRA side by side."""
    by_key = {(r["model"], r["method"], r["mode"]): r for r in results}
    cuda = any(r["cuda_peak_mib"] is not None for r in results)
    memory = "CUDA peak (MiB)" if cuda else "peak RSS (MiB)"
    lines = [
        f"| model | method | trainable, LoRA | {memory}, full | {memory}, LoRA | LoRA / full | "
        "training RSS (MiB), full | training RSS (MiB), LoRA | LoRA / full | step (s), full | step (s), LoRA |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model_name, method in dict.fromkeys((r["model"], r["method"]) for r in results):
        full, lora = by_key.get((model_name, method, "full")), by_key.get((model_name, method, "lora"))
        if full is None or lora is None:
            continue
        key = "cuda_peak_mib" if cuda else "peak_rss_mib"
        lines.append(
            f"| {model_name} | {method} | {lora['trainable_parameters']:,} / {lora['total_parameters']:,} "
            f"({100 * lora['trainable_share']:.2f} %) | {full[key]:.0f} | {lora[key]:.0f} | "
            f"{100 * lora[key] / full[key]:.0f} % | {full['training_rss_mib']:.0f} | {lora['training_rss_mib']:.0f} | "
            f"{100 * lora['training_rss_mib'] / full['training_rss_mib']:.0f} % | {full['step_time_s']:.2f} | "
            f"{lora['step_time_s']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="+", default=list(MODELS), help=f"Of {MODELS}, or folders of trained checkpoints."
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=None,
        help=f"Methods to measure (default: those of {DEFAULT_METHODS} that are registered).",
    )
    parser.add_argument("--seconds", type=float, default=1.0, help="Clip length in seconds.")
    parser.add_argument("--batch_size", type=int, default=2, help="Per-side batch size (forget and retain).")
    parser.add_argument("--steps", type=int, default=4, help="Optimizer steps (the first is not timed).")
    parser.add_argument("--json", default=None, help="Also write the raw results to this JSON file.")
    parser.add_argument("--one", nargs=3, metavar=("MODEL", "METHOD", "MODE"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    unknown = [name for name in options.models if name not in MODELS and not os.path.isdir(name)]
    if unknown:
        parser.error(f"--models {unknown}: neither one of {MODELS} nor a checkpoint folder.")

    if options.one:
        model_name, method, mode = options.one
        print(json.dumps(run_one(model_name, method, mode, options.seconds, options.batch_size, options.steps)))
        return

    methods = options.methods
    if methods is None:
        from hf_unlearn import list_methods

        registered = {info.key for info in list_methods()}
        methods = [method for method in DEFAULT_METHODS if method in registered]
    results = []
    for model_name in options.models:
        for method in methods:
            for mode in ("full", "lora"):
                result = run_in_subprocess(model_name, method, mode, options)
                results.append(result)
                print(
                    f"{model_name:14s} {method:18s} {mode:4s} trainable {100 * result['trainable_share']:6.2f} % "
                    f"peak RSS {result['peak_rss_mib']:7.0f} MiB (training {result['training_rss_mib']:6.0f}) "
                    f"step {result['step_time_s']:.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
    if options.json:
        with open(options.json, "w") as handle:
            json.dump({"options": vars(options), "results": results}, handle, indent=2)
    print(markdown_table(results))


if __name__ == "__main__":
    main()
