"""Unlearns the toy task with several methods and records the final weights (every rank) and the evaluation metrics.

Launched by `tests/test_distributed_methods.py` as
`torchrun --standalone --nproc_per_node 2 tests/distributed_methods_script.py OUT_DIR WORK_DIR METHOD [METHOD ...]`;
the test also calls `run_methods` in its own process and compares. Options before OUT_DIR (used by
`tests/test_fsdp_methods.py`): `--fsdp` shards the model with FSDP2 over all processes, the way transformers does it
natively (`from_pretrained(..., distributed_config=DistributedConfig(fsdp_size=WORLD_SIZE))`, which `fully_shard`s
the model over a gloo device mesh on CPU; the Trainer then trains it as is, without DDP); `--lora` unlearns a LoRA
adapter (`lora_config_for`) instead of the full weights, and a method key suffixed `:lora` does so for that method
only. Every optimizer step sees the same 4 samples split
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

Files written to OUT_DIR: `<method>.rank<r>.pt` (the model's parameters on rank r, gathered whole from their FSDP2
shards) and, by rank 0, `<method>.json` (world size, evaluation metrics, logged losses, whether the weights were
sharded). With LoRA, `<method>` is `<method>:lora`.
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
from hf_unlearn.trainer.sharding import is_sharded  # noqa: E402

# The CNN's LoRA map (`hf_unlearn.peft_utils.SPEECH_LORA_TARGETS`) plus its head.
LORA_TARGETS = ["conv", "dense_layers", "classifier"]
MICRO_BATCH_SIZE = 2
MICRO_BATCHES_PER_STEP = 2
MAX_STEPS = 4


def _sharded_copy(model, work_dir: str, world_size: int):
    """`model` loaded back with FSDP2 over `world_size` processes (transformers' native sharding at load time)."""
    from transformers import AutoModelForAudioClassification
    from transformers.distributed import DistributedConfig

    # One folder per rank: no process reads a folder another one may still be writing.
    path = os.path.join(work_dir, f"initial.rank{os.environ.get('RANK', '0')}")
    model.save_pretrained(path)
    return AutoModelForAudioClassification.from_pretrained(
        path, distributed_config=DistributedConfig(fsdp_size=world_size)
    )


def _full_weights(model) -> dict[str, torch.Tensor]:
    """Every parameter whole: FSDP2's `DTensor` shards are gathered (a collective: all ranks call it)."""
    weights = {}
    for name, p in model.named_parameters():
        value = p.detach()
        if hasattr(value, "full_tensor"):
            value = value.full_tensor()
        weights[name] = value.cpu().clone()
    return weights


def run_methods(methods: list[str], out_dir: str, work_dir: str, fsdp: bool = False, lora: bool = False) -> None:
    _, extractor = build_tiny_model("cnn", batch_norm=False)
    splits = make_forget_split(make_toy_dataset(), by="class", values=["tone1"], test_size=0.25, seed=0)
    # Features once for all methods (the trainer passes featurized datasets through).
    forget, retain = featurize(splits.forget, extractor), featurize(splits.retain, extractor)
    eval_splits = {name: featurize(dataset, extractor) for name, dataset in splits.eval_splits().items()}
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if MICRO_BATCHES_PER_STEP % world_size:
        raise ValueError(f"Run with 1 or {MICRO_BATCHES_PER_STEP} processes, not {world_size}.")
    os.makedirs(out_dir, exist_ok=True)
    for run_name in methods:
        method, _, mode = run_name.partition(":")
        with_lora = lora or mode == "lora"
        run_name = f"{method}:lora" if with_lora else method
        model, extractor = build_tiny_model("cnn", batch_norm=False)
        if fsdp and world_size > 1:
            model = _sharded_copy(model, work_dir, world_size)
        peft_config = None
        if with_lora:
            from hf_unlearn import lora_config_for

            # Under FSDP2 the head is adapted too rather than copied whole (`modules_to_save`): PEFT copies such
            # modules with `copy.deepcopy`, which sharded parameters do not support (`prepare_peft_model` refuses it).
            peft_config = lora_config_for(model, r=4, target_modules=LORA_TARGETS, modules_to_save=[])
        args = UnlearningConfig(
            output_dir=os.path.join(work_dir, run_name.replace(":", "_")),
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
            peft_config=peft_config,
        )
        trainer.train()
        metrics = trainer.evaluate()
        rank = trainer.args.process_index
        trained = trainer.accelerator.unwrap_model(trainer.model)
        sharded = is_sharded(trained)  # managed by FSDP2 (after evaluation the root's weights may be gathered)
        torch.save(_full_weights(trained), os.path.join(out_dir, f"{run_name}.rank{rank}.pt"))
        if trainer.is_world_process_zero():
            result = {
                "world_size": trainer.args.world_size,
                "sharded": sharded,
                "metrics": metrics,
                "losses": [entry["loss"] for entry in trainer.state.log_history if "loss" in entry],
                "global_steps": trainer.state.global_step,
            }
            with open(os.path.join(out_dir, f"{run_name}.json"), "w") as handle:
                json.dump(result, handle, indent=2)


if __name__ == "__main__":
    options = [a for a in sys.argv[1:] if a in ("--fsdp", "--lora")]
    positional = [a for a in sys.argv[1:] if a not in options]
    if len(positional) < 3:
        sys.exit(f"usage: {sys.argv[0]} [--fsdp] [--lora] OUT_DIR WORK_DIR METHOD[:lora] [METHOD[:lora] ...]")
    run_methods(positional[2:], positional[0], positional[1], fsdp="--fsdp" in options, lora="--lora" in options)
