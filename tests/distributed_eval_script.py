"""Evaluates an untrained unlearning run on the toy task and writes the metrics as JSON (rank 0 only).

Launched by `tests/test_distributed.py`, once as
`torchrun --standalone --nproc_per_node 2 tests/distributed_eval_script.py OUT_JSON WORK_DIR`, and once by calling
`main` in the test's own process: both runs must give the same metrics. `evaluate()` runs before any training, so the
weights are identical.
`per_device_eval_batch_size=5` makes the split sizes non-multiples of the global batch, so the distributed run has to
drop the samples that the last batch is padded with.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from conftest import build_tiny_model, make_toy_dataset  # noqa: E402

from hf_unlearn import UnlearningConfig, UnlearningTrainer, make_forget_split  # noqa: E402


def main(out_json: str, work_dir: str) -> None:
    data = make_toy_dataset()
    splits = make_forget_split(data, by="class", values=["tone1"], test_size=0.25, seed=0)
    model, extractor = build_tiny_model("cnn")
    args = UnlearningConfig(
        output_dir=os.path.join(work_dir, "out"),
        use_cpu=True,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=5,
        max_steps=2,
        learning_rate=1e-3,
        report_to="none",
        seed=0,
        disable_tqdm=True,
    )
    trainer = UnlearningTrainer(
        method="neggrad_plus",
        model=model,
        args=args,
        forget_dataset=splits.forget,
        retain_dataset=splits.retain,
        eval_dataset=splits.eval_splits(),
        processing_class=extractor,
    )
    # A prediction pass made by the library without `use_cpu` (as the recipe's reference evaluation does) must leave
    # the launch as it is: a TrainingArguments made without it used to reset accelerate's shared state to one process.
    from hf_unlearn.experiment.reference_training import predict_splits

    predict_splits(model, extractor, {"forget": splits.forget}, batch_size=5)
    metrics = trainer.evaluate()
    if trainer.is_world_process_zero():
        result = {
            "metrics": metrics,
            "world_size": trainer.args.world_size,
            "num_losses": {name: int(len(losses)) for name, losses in trainer.last_eval_losses.items()},
            "losses": {name: [float(x) for x in losses] for name, losses in trainer.last_eval_losses.items()},
            "split_sizes": {name: len(dataset) for name, dataset in splits.eval_splits().items()},
        }
        with open(out_json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} OUT_JSON WORK_DIR")
    main(sys.argv[1], sys.argv[2])
