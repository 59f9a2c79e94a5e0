"""Unlearns the toy task with several methods and records the final weights (every rank) and the evaluation metrics.

Launched by `tests/test_distributed_methods.py` as
`torchrun --standalone --nproc_per_node 2 tests/distributed_methods_script.py OUT_DIR WORK_DIR METHOD [METHOD ...]`;
the test also calls `run_methods` in its own process and compares. Every optimizer step sees the same 4 samples split
into the same two micro-batches of 2: one per process under DDP, two gradient-accumulation steps in one process, so
the two runs must agree up to the order of floating-point sums (DDP averages the two micro-batch gradients with an
all-reduce; accumulation adds the halves). The CNN has no batch norm and no dropout (batch statistics and dropout
masks would depend on the process).

Why micro-batches of 2 in the single-process run rather than one batch of 4: the sums inside a batch of 4 run in
another order than two batches of 2. For NG+ and SalUn that changes the weights by about 1e-8, but for SCRUB up to
4e-4 in the convolution biases, in one process as well (batch 4 against 2 x 2 accumulation): near the teacher, the
max steps' KL gradients of those biases are sums of many nearly cancelling terms. The optimizer is SGD: Adam divides
by the gradient's running magnitude, so at SCRUB's first max step, where the student equals the teacher and the KL
gradient is round-off, it would turn round-off into full-size steps whose sign depends on summation order.

Files written to OUT_DIR: `<method>.rank<r>.pt` (the model's parameters on rank r) and, by rank 0,
`<method>.json` (world size, evaluation metrics, logged losses).
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from conftest import build_tiny_model, make_toy_dataset  # noqa: E402

from hf_unlearn import UnlearningConfig, UnlearningTrainer, make_forget_split  # noqa: E402
from hf_unlearn.data import featurize  # noqa: E402

MICRO_BATCH_SIZE = 2
MICRO_BATCHES_PER_STEP = 2
MAX_STEPS = 4


def run_methods(methods: list[str], out_dir: str, work_dir: str) -> None:
    _, extractor = build_tiny_model("cnn", batch_norm=False)
    splits = make_forget_split(make_toy_dataset(), by="class", values=["tone1"], test_size=0.25, seed=0)
    # Features once for all methods (the trainer passes featurized datasets through).
    forget, retain = featurize(splits.forget, extractor), featurize(splits.retain, extractor)
    eval_splits = {name: featurize(dataset, extractor) for name, dataset in splits.eval_splits().items()}
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if MICRO_BATCHES_PER_STEP % world_size:
        raise ValueError(f"Run with 1 or {MICRO_BATCHES_PER_STEP} processes, not {world_size}.")
    os.makedirs(out_dir, exist_ok=True)
    for method in methods:
        model, extractor = build_tiny_model("cnn", batch_norm=False)
        args = UnlearningConfig(
            output_dir=os.path.join(work_dir, method),
            use_cpu=True,
            per_device_train_batch_size=MICRO_BATCH_SIZE,
            gradient_accumulation_steps=MICRO_BATCHES_PER_STEP // world_size,
            per_device_eval_batch_size=5,
            max_steps=MAX_STEPS,
            optim="sgd",
            learning_rate=0.1,
            logging_steps=1,
            report_to="none",
            seed=0,
            disable_tqdm=True,
        )
        trainer = UnlearningTrainer(
            method=method,
            model=model,
            args=args,
            forget_dataset=forget,
            retain_dataset=retain,
            eval_dataset=eval_splits,
            processing_class=extractor,
        )
        trainer.train()
        metrics = trainer.evaluate()
        rank = trainer.args.process_index
        weights = {
            name: p.detach().cpu().clone()
            for name, p in trainer.accelerator.unwrap_model(trainer.model).named_parameters()
        }
        torch.save(weights, os.path.join(out_dir, f"{method}.rank{rank}.pt"))
        if trainer.is_world_process_zero():
            result = {
                "world_size": trainer.args.world_size,
                "metrics": metrics,
                "losses": [entry["loss"] for entry in trainer.state.log_history if "loss" in entry],
                "global_steps": trainer.state.global_step,
            }
            with open(os.path.join(out_dir, f"{method}.json"), "w") as handle:
                json.dump(result, handle, indent=2)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(f"usage: {sys.argv[0]} OUT_DIR WORK_DIR METHOD [METHOD ...]")
    run_methods(sys.argv[3:], sys.argv[1], sys.argv[2])
