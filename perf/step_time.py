"""Time per optimizer step of each unlearning method against a plain `transformers.Trainer` step (a script; no test).

The speed part of the FSDD benchmark: for each method of `hf_unlearn.list_methods()`, on the same model and
batch size, it reports

- **measured (x plain)**: the mean wall time of an optimizer step of the method's `UnlearningTrainer`, divided by the
  mean step time of a stock `transformers.Trainer` fine-tuning the same model with cross-entropy on retain batches of
  the same size. Steps are timed by a `TrainerCallback` from `on_step_begin` to `on_step_end` (forward, backward,
  gradient clipping, optimizer and scheduler step, the method's own step hook); the `--warmup` first steps are not
  timed, nor is data loading (the Trainer fetches a step's batches before `on_step_begin`);
- **floor (x plain)**: what the passes the method needs would cost if nothing else took time:
  `(student fwd+bwd passes x t_fb + forward-only passes x t_f) / t_plain`, per optimizer step, where `t_fb` is the
  median time of one forward + backward of the model alone on one batch (train mode, cross-entropy), `t_f` of one
  forward (eval mode, no gradient, as teachers run), both on the same batch and each the mean of a measurement
  before and one after all the runs, and `t_plain` the plain Trainer's mean step time. The passes are counted during
  the timed steps with forward hooks on the student (a call with gradients enabled is a forward+backward pass, one
  without a forward-only pass) and on every other `nn.Module` the trainer holds (the teachers: forward-only), in
  *batch equivalents*: the rows a pass sees divided by `--batch_size` (Bad Teaching's teachers see only their own
  rows of the batch; UNSIR's noise batch is as large as the retain batch). The plain step's own floor
  (`t_fb / t_plain`, below 1) shows the share of a step that is not forward + backward (optimizer, clipping, Trainer
  bookkeeping);
- **rows/step**: rows the student trains on (with gradients) per optimizer step: methods with paired batches that use
  both a forget and a retain batch see twice the rows of the plain step;
- **set-up s**: the one-off work each method does before its optimizer is created (`before_optimizer`: SalUn's
  saliency mask over the whole forget set, UNSIR's error-maximising noise, the reset of reset-perturb, CF-k's
  freezing), timed separately and excluded from the step times. Building the trainer (feature pass-through,
  checks, teacher copies) is not timed.

Data: synthetic "FSDD-like" audio, 1 s clips at 8 kHz (a class tone per digit with a speaker-specific harmonic and
noise), `--speakers` speakers x 10 digits x `--takes` takes; the first speaker is the forget set (FSDD speaker
unlearning: 500 forget and 2,500 retain rows with the defaults). Features are computed once and shared. The weights are
random: step time does not depend on their values.

Models: `cnn` (default), hf-unlearn's MFCC CNN (`build_mfcc_cnn`, 8 kHz, 20 MFCC x 20 frames, about 0.1 M
parameters), batch 32; `wav2vec2`, a small `Wav2Vec2ForSequenceClassification` built from a config: 4 transformer
layers, hidden size 256, 4 heads, feed-forward 1024, a 7-layer convolutional feature encoder of 128 channels (the
default strides and kernels), clips resampled to 16 kHz, the feature encoder frozen (`freeze_feature_encoder()`, as
the transformers audio-classification example does by default), batch 8, 10 takes per speaker and digit.

Settings shared by every run: AdamW at lr 1e-5 (small, so that ascent methods do not diverge while timed), full
batches only (`dataloader_drop_last=True`), no logging, saving or evaluation, `use_cpu=True`,
`per_device_eval_batch_size = --batch_size` (the batch size of SalUn's and UNSIR's set-up passes), the divergence
guard off (`divergence_guard="off"`: it is a safety callback, not part of a method's step), each method's default
config otherwise. Phases: with the default sizes all timed steps fall in the first epoch over the retain set, so SCRUB
alternates max and min steps, UNSIR is in its impair phase (its repair phase costs as much as fine-tuning), and
reset-perturb's three stages are scaled to the run. CF-k trains only its last `k` modules, so its
backward pass is cheaper than the full one the floor assumes. The plain baseline runs twice, first and last: the gap
between the two shows how noisy the machine is.

Usage (from the repository root):

    python perf/step_time.py                                   # MFCC CNN, every method, a Markdown table
    python perf/step_time.py --model wav2vec2 --steps 10 --json step_time_wav2vec2.json
    python perf/step_time.py --methods finetune scrub --steps 100 --num_threads 2
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

MODELS = ("cnn", "wav2vec2")
DIGITS = [str(digit) for digit in range(10)]
FSDD_RATE = 8000
DEFAULTS = {"cnn": {"batch_size": 32, "takes": 50}, "wav2vec2": {"batch_size": 8, "takes": 10}}
# What the timed steps of a method cover, where that is not simply "every step alike" (see the module docstring).
NOTES = {
    "bad_teaching": "one flat batch (forget + 30 % of retain rows); each teacher sees only its rows",
    "cf_k": "backward through the last k modules only (the floor assumes a full one)",
    "reset_perturb": "reset, perturb and repair stages scaled to the run",
    "scrub": "max (forget) and min (retain) steps alternate",
    "unsir": "impair phase (noise + retain); repair costs as fine-tuning",
}


# ------------------------------------------------------------------------------------------------------ data, model
def fsdd_like_clip(digit: int, speaker: int, take: int) -> np.ndarray:
    """1 s at 8 kHz: a tone per digit, a speaker-specific harmonic and pitch, take-specific noise (seeded)."""
    rng = np.random.default_rng(10_000 * speaker + 100 * digit + take)
    t = np.arange(FSDD_RATE) / FSDD_RATE
    pitch = (250.0 + 300.0 * digit) * (1 + 0.02 * speaker)
    wave = np.sin(2 * np.pi * pitch * t) + 0.3 * np.sin(2 * np.pi * (1.5 + 0.25 * speaker) * pitch * t)
    return (0.5 * wave + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def build_model(name: str):
    """`(model, feature_extractor)` with random weights (see the module docstring for the architectures)."""
    torch.manual_seed(0)
    if name == "cnn":
        from hf_unlearn.models.mfcc_cnn import build_mfcc_cnn

        return build_mfcc_cnn(DIGITS, sampling_rate=FSDD_RATE)
    if name == "wav2vec2":
        from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

        config = Wav2Vec2Config(
            num_hidden_layers=4,
            hidden_size=256,
            num_attention_heads=4,
            intermediate_size=1024,
            conv_dim=(128,) * 7,
            classifier_proj_size=256,
            num_labels=len(DIGITS),
            id2label=dict(enumerate(DIGITS)),
            label2id={digit: i for i, digit in enumerate(DIGITS)},
        )
        model = Wav2Vec2ForSequenceClassification(config)
        model.freeze_feature_encoder()
        return model, Wav2Vec2FeatureExtractor(sampling_rate=16000, return_attention_mask=True)
    raise ValueError(f"Unknown model {name!r}: choose one of {MODELS}.")


def featurized_splits(extractor, speakers: int, takes: int):
    """`(forget, retain)`: featurized rows (model inputs + `labels`); speaker 0 is forgotten."""
    from datasets import Dataset

    from hf_unlearn.data import featurize

    def rows(speaker_ids):
        keys = [(digit, speaker, take) for speaker in speaker_ids for digit in range(10) for take in range(takes)]
        dataset = Dataset.from_dict(
            {
                "audio": [{"array": fsdd_like_clip(*key), "sampling_rate": FSDD_RATE} for key in keys],
                "label": [digit for digit, _, _ in keys],
            }
        )
        return featurize(dataset, extractor).with_format("numpy")

    return rows([0]), rows(range(1, speakers))


# -------------------------------------------------------------------------------------------------- measurement
class PassCounter:
    """Forward hooks that count the rows each module sees while `active`: the student's calls with gradients enabled
    (forward + backward passes), and forward-only calls (the student's without gradients, every teacher's)."""

    def __init__(self, student: torch.nn.Module, others=()):
        self.active = False
        self.backward_rows = 0
        self.forward_rows = 0
        self.handles = [student.register_forward_hook(self._hook(True), with_kwargs=True)]
        self.handles += [module.register_forward_hook(self._hook(False), with_kwargs=True) for module in others]

    def _hook(self, is_student: bool):
        def hook(module, args, kwargs, output):
            if not self.active:
                return
            rows = next(value.shape[0] for value in (*args, *kwargs.values()) if torch.is_tensor(value))
            if is_student and torch.is_grad_enabled():
                self.backward_rows += rows
            else:
                self.forward_rows += rows

        return hook

    def remove(self):
        for handle in self.handles:
            handle.remove()


def step_timer(warmup: int, counter_holder: dict):
    """A `TrainerCallback` timing optimizer steps `warmup`, `warmup + 1`, ... (0-based `global_step`) and switching the
    pass counter (`counter_holder["counter"]`, set once the trainer exists) on for exactly those steps."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times = []
            self.start = None

        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step >= warmup:
                counter_holder["counter"].active = True
                self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if self.start is not None:
                self.times.append(time.perf_counter() - self.start)
                self.start = None
                counter_holder["counter"].active = False

    return StepTimer()


def training_args(config_class, output_dir: str, options, **extra):
    return config_class(
        output_dir=output_dir,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.batch_size,
        max_steps=options.warmup + options.steps,
        learning_rate=options.learning_rate,
        logging_strategy="no",
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        seed=0,
        dataloader_num_workers=0,
        dataloader_drop_last=True,  # every step sees full batches, however the set sizes divide
        **extra,
    )


def summarize(name: str, timer, counter: PassCounter, options, setup_s=None) -> dict:
    steps = len(timer.times)
    if steps != options.steps:
        raise RuntimeError(f"{name}: timed {steps} steps instead of {options.steps} (did the run stop early?).")
    return {
        "method": name,
        "timed_steps": steps,
        "step_s_mean": statistics.fmean(timer.times),
        "step_s_median": statistics.median(timer.times),
        "step_s": timer.times,
        "rows_per_step": counter.backward_rows / steps,
        "student_fwd_bwd_per_step": counter.backward_rows / (steps * options.batch_size),
        "forward_only_per_step": counter.forward_rows / (steps * options.batch_size),
        "setup_s": setup_s,
    }


def run_plain(model_name: str, retain, options, label: str) -> dict:
    """A stock `transformers.Trainer`: cross-entropy (the model's own loss) on retain batches."""
    from transformers import DefaultDataCollator, PrinterCallback, Trainer, TrainingArguments

    model, _ = build_model(model_name)
    holder = {}
    timer = step_timer(options.warmup, holder)
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = Trainer(
            model=model,
            args=training_args(TrainingArguments, output_dir, options),
            train_dataset=retain,
            data_collator=DefaultDataCollator(),
            callbacks=[timer],
        )
        trainer.remove_callback(PrinterCallback)  # disable_tqdm=True prints the final train metrics otherwise
        holder["counter"] = PassCounter(trainer.model)
        trainer.train()
    holder["counter"].remove()
    return summarize(label, timer, holder["counter"], options)


def run_method(method: str, model_name: str, forget, retain, extractor, options) -> dict:
    from transformers import PrinterCallback

    import hf_unlearn

    model, _ = build_model(model_name)
    holder = {}
    timer = step_timer(options.warmup, holder)
    with tempfile.TemporaryDirectory() as output_dir:
        args = training_args(hf_unlearn.UnlearningConfig, output_dir, options, divergence_guard="off")
        trainer = hf_unlearn.UnlearningTrainer(
            method=method,
            model=model,
            args=args,
            forget_dataset=forget,
            retain_dataset=retain,
            processing_class=extractor,
            callbacks=[timer],
        )
        trainer.remove_callback(PrinterCallback)
        # Teachers (and any other module the method keeps): every nn.Module attribute that is not the student.
        others = {id(value): value for value in vars(trainer).values() if isinstance(value, torch.nn.Module)}
        others = [module for key, module in others.items() if key not in (id(trainer.model), id(model))]
        holder["counter"] = PassCounter(trainer.model, others)
        setup = {}
        before_optimizer = trainer.before_optimizer

        def timed_before_optimizer():
            start = time.perf_counter()
            before_optimizer()
            setup["s"] = time.perf_counter() - start

        trainer.before_optimizer = timed_before_optimizer  # create_optimizer() calls self.before_optimizer()
        trainer.train()
    holder["counter"].remove()
    result = summarize(method, timer, holder["counter"], options, setup.get("s"))
    result["teacher_modules"] = len(others)
    return result


def pass_times(model_name: str, retain, extractor, options) -> tuple[float, float]:
    """Median `(t_fb, t_f)` of the model alone on one retain batch: forward + backward of the cross-entropy in train
    mode, and a forward in eval mode without gradients."""
    from hf_unlearn.data.collator import UnlearningCollator

    model, _ = build_model(model_name)
    collator = UnlearningCollator(extractor.model_input_names, getattr(extractor, "padding_value", 0.0))
    batch = collator([retain[i] for i in range(options.batch_size)])
    inputs = {key: value for key, value in batch.items() if key != "labels"}

    def forward_backward():
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        model(**batch).loss.backward()
        return time.perf_counter() - start

    def forward():
        start = time.perf_counter()
        with torch.no_grad():
            model(**inputs)
        return time.perf_counter() - start

    model.train()
    fb = [forward_backward() for _ in range(options.pass_repeats + 3)][3:]
    model.eval()
    f = [forward() for _ in range(options.pass_repeats + 3)][3:]
    return statistics.median(fb), statistics.median(f)


# ------------------------------------------------------------------------------------------------------- report
def markdown_table(report: dict) -> str:
    t_plain, t_fb, t_f = report["t_plain_s"], report["t_fwd_bwd_s"], report["t_fwd_s"]
    lines = [
        "| method | rows/step | student fwd+bwd / step | teacher/no-grad fwd / step | floor (x plain) "
        "| measured (x plain) | set-up s | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        floor = (row["student_fwd_bwd_per_step"] * t_fb + row["forward_only_per_step"] * t_f) / t_plain
        setup = "–" if row["setup_s"] is None else f"{row['setup_s']:.2f}"
        lines.append(
            f"| {row['method']} | {row['rows_per_step']:.0f} | {row['student_fwd_bwd_per_step']:.2f} | "
            f"{row['forward_only_per_step']:.2f} | {floor:.2f} | {row['step_s_mean'] / t_plain:.2f} | {setup} | "
            f"{NOTES.get(row['method'], '')} |"
        )
    return "\n".join(lines)


def header(report: dict) -> str:
    options, machine = report["options"], report["machine"]
    runs = {key: [1000 * value for value in values] for key, values in report["pass_runs_s"].items()}
    return "\n".join(
        [
            f"Step time per method, model `{report['model']}` ({report['parameters']:,} parameters, "
            f"{report['trainable_parameters']:,} trainable), batch {options['batch_size']}, {options['steps']} timed "
            f"steps after {options['warmup']} warm-up steps; forget {report['forget_rows']} rows, retain "
            f"{report['retain_rows']} rows.",
            f"Machine: {machine['platform']}, {machine['cpu_count']} CPUs, torch {machine['torch']} with "
            f"{machine['torch_threads']} thread(s), transformers {machine['transformers']}; {report['date']}.",
            f"Plain `transformers.Trainer` step: {1000 * report['t_plain_s']:.1f} ms (mean of the two baseline runs: "
            f"{1000 * report['plain_runs_s'][0]:.1f} and {1000 * report['plain_runs_s'][1]:.1f} ms); model alone: "
            f"forward + backward {1000 * report['t_fwd_bwd_s']:.1f} ms ({runs['fwd_bwd'][0]:.1f} and "
            f"{runs['fwd_bwd'][1]:.1f}), forward {1000 * report['t_fwd_s']:.1f} ms ({runs['fwd'][0]:.1f} and "
            f"{runs['fwd'][1]:.1f}; medians at the start and at the end, and their mean). Passes in batch equivalents "
            "(rows / batch size).",
        ]
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="cnn", choices=MODELS)
    parser.add_argument("--methods", nargs="+", default=None, help="Method keys (default: every registered one).")
    parser.add_argument("--batch_size", type=int, default=None, help="Rows per batch (default: cnn 32, wav2vec2 8).")
    parser.add_argument("--steps", type=int, default=40, help="Timed optimizer steps per method.")
    parser.add_argument("--warmup", type=int, default=5, help="Optimizer steps run before timing starts.")
    parser.add_argument("--num_threads", type=int, default=1, help="torch.set_num_threads.")
    parser.add_argument("--speakers", type=int, default=6, help="Speakers (the first is forgotten), as FSDD's 6.")
    parser.add_argument(
        "--takes",
        type=int,
        default=None,
        help="Takes per speaker and digit (default: cnn 50, wav2vec2 10; FSDD has 50).",
    )
    parser.add_argument("--learning_rate", type=float, default=1e-5)
    parser.add_argument("--pass_repeats", type=int, default=20, help="Repeats of the model-alone pass timings.")
    parser.add_argument("--json", default=None, help="Also write the raw results to this JSON file.")
    options = parser.parse_args(argv)
    for name, value in DEFAULTS[options.model].items():
        if getattr(options, name) is None:
            setattr(options, name, value)
    for name in ("batch_size", "steps", "num_threads", "takes", "pass_repeats"):
        if getattr(options, name) < 1:
            parser.error(f"--{name} must be at least 1.")
    if options.warmup < 0 or options.speakers < 2:
        parser.error("--warmup must be >= 0 and --speakers >= 2 (one forgotten, at least one retained).")

    import datasets
    import transformers

    import hf_unlearn

    torch.set_num_threads(options.num_threads)
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    registered = [info.key for info in hf_unlearn.list_methods()]
    methods = options.methods or registered
    unknown = sorted(set(methods) - set(registered))
    if unknown:
        parser.error(f"unknown methods {unknown}; registered: {registered}.")

    def progress(message):
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    model, extractor = build_model(options.model)
    forget, retain = featurized_splits(extractor, options.speakers, options.takes)
    progress(f"features: {len(forget)} forget + {len(retain)} retain rows ({time.perf_counter() - started:.0f} s)")
    passes_first = pass_times(options.model, retain, extractor, options)
    plain_first = run_plain(options.model, retain, options, "plain Trainer")
    progress(f"plain Trainer: {1000 * plain_first['step_s_mean']:.1f} ms/step")
    results = []
    for method in methods:
        result = run_method(method, options.model, forget, retain, extractor, options)
        results.append(result)
        progress(f"{method}: {1000 * result['step_s_mean']:.1f} ms/step, set-up {result['setup_s'] or 0:.2f} s")
    plain_last = run_plain(options.model, retain, options, "plain Trainer (again)")
    progress(f"plain Trainer (again): {1000 * plain_last['step_s_mean']:.1f} ms/step")
    passes_last = pass_times(options.model, retain, extractor, options)
    plain_runs = [plain_first["step_s_mean"], plain_last["step_s_mean"]]
    t_fb, t_f = (statistics.fmean(times) for times in zip(passes_first, passes_last))

    report = {
        "model": options.model,
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "forget_rows": len(forget),
        "retain_rows": len(retain),
        "options": vars(options),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
        },
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "t_plain_s": statistics.fmean(plain_runs),
        "plain_runs_s": plain_runs,
        "t_fwd_bwd_s": t_fb,
        "t_fwd_s": t_f,
        "pass_runs_s": {"fwd_bwd": [passes_first[0], passes_last[0]], "fwd": [passes_first[1], passes_last[1]]},
        "results": [plain_first, *results, plain_last],
        "wall_s": None,
    }
    report["wall_s"] = time.perf_counter() - started
    print(header(report))
    print()
    print(markdown_table(report))
    print(f"\nWall time of the benchmark: {report['wall_s']:.0f} s.")
    if options.json:
        with open(options.json, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
