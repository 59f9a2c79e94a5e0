"""Speaker identification: when the classes are people, forgetting a class is forgetting a person.

For keyword classes, naming the forgotten class in a card is harmless (it is part of the published label set). For a
speaker-identification model the class *is* the person, and naming it publishes the deletion request itself. So:

- [`mark_people_classes`] tells such a request apart: a class request whose forgotten classes are values of the
  forget set's speaker column (FSDD loaded with `label="speaker"`), or one marked so explicitly
  (`ForgetRequest(classes_are_people=True)`). Its public record (card, `unlearning_config.json`, results, audit
  log) then counts the forgotten classes and gives the request digest, never their names
  (`hf_unlearn.hub.privacy`).
- [`forgotten_labels_removed`] (the option `remove_forgotten_labels`, on by default for such requests) removes the
  forgotten classes from the *saved* model: their rows of the classification head, and their entries of
  `id2label`/`label2id` (the others re-numbered in order), so the saved `config.json` no longer carries the names.
  The model in memory (evaluated, checkpointed, resumable) keeps its full head; the evaluation figures are those of
  the full head, and the card says what the removal changes: the saved model cannot predict the forgotten speaker
  at all (its forget-set accuracy is 0 by construction), its predictions on the other classes change only on rows
  where a forgotten class had the top score, and the gold model (retrained without the speaker) keeps the unit,
  untrained on the speaker's recordings.
"""

from __future__ import annotations

import contextlib
import logging

import torch

logger = logging.getLogger(__name__)


def _class_names(values, id2label) -> list[str]:
    id2label = id2label or {}
    names = []
    for value in values:
        if isinstance(value, int) or (hasattr(value, "item") and not isinstance(value, str)):
            value = int(value)
            value = id2label.get(value, id2label.get(str(value), value))
        names.append(str(value))
    return names


def mark_people_classes(request, forget_dataset, speaker_column: str, id2label=None) -> bool:
    """Marks `request` (a `ForgetRequest`) as one whose forgotten classes are people when they are all values of the
    forget set's `speaker_column`; returns the mark."""
    if request.kind != "class" or not request.values:
        return bool(getattr(request, "classes_are_people", False))
    if not request.classes_are_people and forget_dataset is not None and speaker_column in forget_dataset.column_names:
        speakers = {str(value) for value in forget_dataset[speaker_column]}
        request.classes_are_people = set(_class_names(request.values, id2label)) <= speakers
    return request.classes_are_people


def removes_forgotten_labels(trainer) -> bool:
    """Whether a final save of `trainer` removes the forgotten classes: `args.remove_forgotten_labels`, or (when it
    is `None`) whether the request's classes are people."""
    option = getattr(trainer.args, "remove_forgotten_labels", None)
    request = trainer.forget_request
    if option is None:
        option = request.kind == "class" and bool(getattr(request, "classes_are_people", False))
    return bool(option) and request.kind == "class" and bool(request.values)


def forgotten_ids(trainer) -> list[int]:
    """The label ids of the forgotten classes (in the model's full `id2label`)."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
    forgotten = set(_class_names(trainer.forget_request.values, id2label))
    return [i for i, name in id2label.items() if name in forgotten]


def accuracy_without_labels(logits, labels, removed_ids) -> float:
    """The accuracy of the model with the classes `removed_ids` taken out of its head (what the saved model of a
    run with `remove_forgotten_labels` predicts), from the full head's `logits`: the top class among the others.
    Rows of a removed class count as wrong (the saved model cannot predict it)."""
    import numpy as np

    logits = np.array(logits, dtype=np.float64)
    logits[:, list(removed_ids)] = -np.inf
    return float((logits.argmax(-1) == np.asarray(labels)).mean()) if len(logits) else float("nan")


def _head(model):
    head = getattr(model, "classifier", None)
    num_labels = getattr(model.config, "num_labels", None)
    if isinstance(head, torch.nn.Linear) and head.out_features == num_labels:
        return head
    raise ValueError(
        f"remove_forgotten_labels cannot find the classification head of this {type(model).__name__} (a `classifier` "
        f"Linear layer with num_labels={num_labels} outputs): pass remove_forgotten_labels=False, and do not "
        "publish its config.json, whose id2label names the forgotten classes."
    )


@contextlib.contextmanager
def forgotten_labels_removed(trainer, enabled: bool = True):
    """While the body saves `trainer`'s model, the model has no forgotten classes (see the module docstring); its
    full head and labels are put back afterwards. Sets `trainer.forget_request.removed_labels` (a count)."""
    if not enabled or not removes_forgotten_labels(trainer):
        yield
        return
    from hf_unlearn.peft_utils import is_peft_model

    model = trainer.accelerator.unwrap_model(trainer.model)
    if is_peft_model(model):
        raise ValueError(
            "remove_forgotten_labels is not supported for a PEFT adapter: save the merged model after removing the "
            "labels yourself, or pass remove_forgotten_labels=False and keep config.json private (its id2label "
            "names the forgotten classes)."
        )
    config, head = model.config, _head(model)
    id2label = {int(k): str(v) for k, v in config.id2label.items()}
    forgotten = set(_class_names(trainer.forget_request.values, id2label))
    kept = [i for i in range(len(id2label)) if id2label[i] not in forgotten]
    saved = (config.id2label, config.label2id, config.num_labels)
    pruned = torch.nn.Linear(head.in_features, len(kept), bias=head.bias is not None)
    pruned = pruned.to(device=head.weight.device, dtype=head.weight.dtype)
    with torch.no_grad():
        pruned.weight.copy_(head.weight[kept])
        if head.bias is not None:
            pruned.bias.copy_(head.bias[kept])
    model.classifier = pruned
    config.id2label = {new: id2label[old] for new, old in enumerate(kept)}
    config.label2id = {name: new for new, name in config.id2label.items()}
    config.num_labels = len(kept)
    trainer.forget_request.removed_labels = len(id2label) - len(kept)
    try:
        yield
    finally:
        model.classifier = head
        config.id2label, config.label2id = saved[0], saved[1]
        config.num_labels = saved[2]
