"""What differs between model types: how to get logits, the per-sample loss, predictions.

Methods call `self.task.<...>` and never branch on the model class. Audio classification covers every
`*ForSequenceClassification` / `*ForAudioClassification` model (wav2vec2, HuBERT, WavLM, AST, the Whisper encoder) and
hf-unlearn's own CNN. CTC or seq2seq tasks are added by writing another `Task` here, without touching the methods.
"""

from __future__ import annotations

import torch

from hf_unlearn.losses import draw_random_labels, per_sample_cross_entropy


class Task:
    """Interface of a task. `batch` is a collated dict of model inputs plus `labels`."""

    name: str = ""

    def logits(self, model, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def per_sample_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def predictions(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def random_labels(self, labels: torch.Tensor, num_labels: int, generator=None) -> torch.Tensor:
        raise NotImplementedError


class AudioClassificationTask(Task):
    """One label per clip; loss = cross-entropy of the clip's logits."""

    name = "audio-classification"

    def logits(self, model, batch: dict) -> torch.Tensor:
        # Labels are kept out of the forward call: the loss is ours (per sample), not the model's (batch mean).
        inputs = {key: value for key, value in batch.items() if key != "labels"}
        return model(**inputs).logits

    def per_sample_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return per_sample_cross_entropy(logits, labels)

    def predictions(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(dim=-1)

    def random_labels(self, labels: torch.Tensor, num_labels: int, generator=None) -> torch.Tensor:
        return draw_random_labels(labels, num_labels, generator)


_TASKS = {AudioClassificationTask.name: AudioClassificationTask}


def get_task(name: str) -> Task:
    """Returns the task object for `name`; the error lists the known tasks."""
    if name not in _TASKS:
        raise ValueError(f"Unknown task {name!r}; known tasks: {sorted(_TASKS)}.")
    return _TASKS[name]()
