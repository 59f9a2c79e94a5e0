"""What differs between model types: how to get logits, the per-sample loss, predictions, random labels.

Methods call `self.task.<...>` and never branch on the model class. Audio classification covers every
`*ForSequenceClassification` / `*ForAudioClassification` model (wav2vec2, HuBERT, WavLM, AST, the Whisper encoder) and
hf-unlearn's own CNN. CTC or seq2seq tasks are added by writing another `Task` here, without touching the methods.
"""

from __future__ import annotations

import torch

from hf_unlearn.losses import per_sample_cross_entropy


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
        """Wrong targets for the forget rows (random-label methods), drawn once per row by the training stream."""
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
        """For each clip, a class drawn uniformly among the `C - 1` classes other than its true one.

        `y'_i = (y_i + 1 + u_i) mod C` with `u_i ~ U{0, ..., C - 2}`: never the true label.

        Args:
            labels (`torch.LongTensor` of shape `(N,)`): the true class ids.
            num_labels (`int`): the number of classes `C` (at least 2).
            generator (`torch.Generator`, *optional*): the seeded source of `u`.
        """
        if num_labels < 2:
            raise ValueError(f"Random labels need at least 2 classes, got num_labels={num_labels}.")
        offsets = torch.randint(0, num_labels - 1, labels.shape, generator=generator, device="cpu").to(labels.device)
        return (labels.long() + 1 + offsets) % num_labels


#: The one registry of tasks: name -> `Task` class. `UnlearningConfig.task` accepts exactly these names.
TASKS: dict[str, type[Task]] = {AudioClassificationTask.name: AudioClassificationTask}


def task_names() -> tuple[str, ...]:
    """The registered task names (the choices of `UnlearningConfig.task`)."""
    return tuple(TASKS)


def get_task(name: str) -> Task:
    """Returns the task object for `name`; the error lists the known tasks."""
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; known tasks: {sorted(TASKS)}.")
    return TASKS[name]()
