"""The relearning check: how fast does forgotten knowledge come back?

An approximately unlearned model can hide what it still knows: a few fine-tuning steps on a small part of the forget
set may restore its accuracy on the rest of the forget set much faster than for a model that never saw that data (the
gold model). "Speech Unlearning" (the survey of speech unlearning) names such robustness evaluations as future work;
the relearning attack comes from the LLM-unlearning literature (e.g. Lynch et al., "Eight Methods to Evaluate
Robust Unlearning in LLMs", 2024; Hu et al., "Jogging the Memory of Unlearned LLMs Through Targeted Relearning
Attacks", 2024).

Procedure ([`relearning_curve`]): split the forget set (seeded) into a relearn part (`relearn_fraction`) and a probe
part; fine-tune a *copy* of the model on the relearn part with plain cross-entropy (AdamW, `learning_rate`, batch
`batch_size`, cycling the relearn rows) for `steps` optimizer steps; measure accuracy on the probe part before the
first step and after every step. [`relearning_check`] runs this for the unlearned and the gold model with the same
split and seed and reports:

- `relearn_forget_accuracy` (after the last step) and `relearn_auc` (mean probe accuracy over steps 0..`steps`), for
  each model: the lower, the less was relearned;
- `relearn_auc_gap = unlearned - gold`: about 0 when the unlearned model relearns like a model that never saw the
  forget set; clearly positive means residual knowledge came back quickly.

The models passed in are never modified (a deep copy is trained). It runs in one process: it is an evaluation.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from hf_unlearn.data.collator import UnlearningCollator
from hf_unlearn.data.features import featurize


def _split(forget_dataset, relearn_fraction: float, seed: int):
    if not 0 < relearn_fraction < 1:
        raise ValueError(f"relearn_fraction must be in (0, 1), got {relearn_fraction}.")
    n = len(forget_dataset)
    n_relearn = int(round(relearn_fraction * n))
    if n_relearn < 1 or n - n_relearn < 1:
        raise ValueError(
            f"The forget set has {n} rows: too few to split {relearn_fraction:.0%} for relearning and keep the rest "
            "as the probe. Use a larger forget set or another relearn_fraction."
        )
    order = np.random.default_rng(seed).permutation(n)
    return forget_dataset.select(sorted(order[:n_relearn].tolist())), forget_dataset.select(sorted(order[n_relearn:]))


@torch.no_grad()
def _accuracy(model, batch, device) -> float:
    model.eval()
    inputs = {k: v.to(device) for k, v in batch.items() if k != "labels"}
    predictions = model(**inputs).logits.argmax(-1).cpu()
    return float((predictions == batch["labels"]).float().mean())


def relearning_curve(
    model,
    processing_class,
    forget_dataset,
    steps: int = 10,
    learning_rate: float = 1e-3,
    batch_size: int = 8,
    relearn_fraction: float = 0.2,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> list[float]:
    """Probe accuracy before and after each of `steps` fine-tuning steps on the relearn part (see module docstring).

    Args:
        model (`PreTrainedModel`): the model to probe; left unchanged (a copy is trained).
        processing_class (`FeatureExtractionMixin`): its feature extractor.
        forget_dataset (`datasets.Dataset`): the forget set (audio + label rows, or featurized rows).
        steps (`int`, *optional*, defaults to 10): fine-tuning steps.
        learning_rate (`float`, *optional*, defaults to 1e-3): AdamW learning rate of the relearning.
        batch_size (`int`, *optional*, defaults to 8): relearning batch size (relearn rows are cycled).
        relearn_fraction (`float`, *optional*, defaults to 0.2): share of the forget set used to relearn.
        seed (`int`, *optional*, defaults to 0): seed of the split, the batch order and the copy's training.

    Returns:
        `list[float]` of length `steps + 1`: probe accuracy after 0, 1, ..., `steps` steps.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    relearn, probe = _split(forget_dataset, relearn_fraction, seed)
    relearn = featurize(relearn, processing_class, desc="Extracting features (relearn)").with_format("numpy")
    probe = featurize(probe, processing_class, desc="Extracting features (probe)").with_format("numpy")
    collate = UnlearningCollator(processing_class.model_input_names, getattr(processing_class, "padding_value", 0.0))
    probe_batch = collate([dict(row) for row in probe])
    device = torch.device(device) if device is not None else next(model.parameters()).device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        student = copy.deepcopy(model).to(device)
        for parameter in student.parameters():
            parameter.requires_grad_(True)
        optimizer = torch.optim.AdamW(student.parameters(), lr=learning_rate)
        rng = np.random.default_rng(seed)
        order = np.concatenate([rng.permutation(len(relearn)) for _ in range(-(-steps * batch_size // len(relearn)))])
        curve = [_accuracy(student, probe_batch, device)]
        for step in range(steps):
            rows = [dict(relearn[int(i)]) for i in order[step * batch_size : (step + 1) * batch_size]]
            batch = {k: v.to(device) for k, v in collate(rows).items()}
            student.train()
            logits = student(**{k: v for k, v in batch.items() if k != "labels"}).logits
            loss = torch.nn.functional.cross_entropy(logits, batch["labels"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            curve.append(_accuracy(student, probe_batch, device))
    return curve


def relearning_check(unlearned_model, gold_model, processing_class, forget_dataset, **kwargs) -> dict:
    """Relearning curves of the unlearned and the gold model on the same split; returns the summary metrics of the
    module docstring (`relearn_*`), with the curves under `relearn_curve` / `gold_relearn_curve`. `kwargs` go to
    [`relearning_curve`]. `gold_model` may be `None` (no gap is reported then)."""
    curve = relearning_curve(unlearned_model, processing_class, forget_dataset, **kwargs)
    result = {
        "relearn_curve": curve,
        "relearn_forget_accuracy": curve[-1],
        "relearn_auc": float(np.mean(curve)),
    }
    if gold_model is not None:
        gold_curve = relearning_curve(gold_model, processing_class, forget_dataset, **kwargs)
        result.update(
            {
                "gold_relearn_curve": gold_curve,
                "gold_relearn_forget_accuracy": gold_curve[-1],
                "gold_relearn_auc": float(np.mean(gold_curve)),
                "relearn_auc_gap": float(np.mean(curve) - np.mean(gold_curve)),
            }
        )
    return result
