"""Checks of what a user hands to `UnlearningTrainer`: labels that fit the model, forget and retain sets that do not
overlap, an output folder that is not the original checkpoint's, a feature extractor to go with the model. Each
raises a `ValueError` saying what to fix."""

from __future__ import annotations

import hashlib
import os

import numpy as np


def source_folder(model) -> str | None:
    """The local folder `model` was loaded from, if any."""
    source = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", "")
    return source if source and os.path.isdir(source) else None


def check_output_dir(model, output_dir: str) -> None:
    """Refuses to write into the folder the original model was loaded from."""
    source = source_folder(model)
    if source and os.path.realpath(source) == os.path.realpath(output_dir):
        raise ValueError(
            f"output_dir {output_dir!r} is the original model's folder: unlearning would overwrite the "
            "original checkpoint. Choose another output_dir."
        )


def load_feature_extractor(model):
    """The feature extractor saved next to `model`, when it was loaded from a local folder."""
    from transformers import AutoFeatureExtractor

    source = getattr(model, "name_or_path", "")
    if source and os.path.isdir(source):
        try:
            return AutoFeatureExtractor.from_pretrained(source)
        except (OSError, ValueError) as error:
            raise ValueError(
                f"No feature extractor could be loaded from {source!r} ({error}): pass "
                "processing_class=<the model's feature extractor>."
            ) from error
    raise ValueError(
        "Pass processing_class=<the model's feature extractor> (e.g. AutoFeatureExtractor."
        "from_pretrained(<checkpoint>)): it turns audio into model inputs and is saved with the model."
    )


def model_label_names(model) -> list[str] | None:
    """The model's class names in id order, or `None` when it has none or only generic `LABEL_i` ones."""
    config = getattr(model, "config", None)
    id2label = getattr(config, "id2label", None) or {}
    names = [str(id2label.get(i, id2label.get(str(i), ""))) for i in range(len(id2label))]
    if not names or all(name == f"LABEL_{i}" for i, name in enumerate(names)):
        return None
    return names


def _preview(names, limit: int = 6) -> str:
    return str(list(names[:limit]))[:-1] + (", ...]" if len(names) > limit else "]")


def check_label_names(dataset, name: str, label_column: str, model_names: list[str] | None) -> None:
    """A `ClassLabel` column whose names differ from the model's `id2label` would train the wrong classes."""
    from datasets import ClassLabel

    feature = dataset.features.get(label_column) if dataset.features is not None else None
    if not isinstance(feature, ClassLabel) or model_names is None:
        return
    if list(feature.names) != model_names:
        raise ValueError(
            f"The {name} set's class names {_preview(feature.names)} do not match the model's id2label "
            f"{_preview(model_names)}: "
            f"align the dataset with dataset.align_labels_with_mapping(model.config.label2id, {label_column!r}), "
            "or load the model that was trained on these classes."
        )


def check_labels(dataset, name: str, num_labels: int | None) -> None:
    """Every label id of a featurized `dataset` is one of the model's `num_labels` classes."""
    if num_labels is None:
        return
    labels = np.asarray(dataset["labels"])
    bad = labels[(labels < 0) | (labels >= num_labels)]
    if bad.size:
        raise ValueError(
            f"The {name} set has labels {sorted(set(bad.tolist()))[:10]} outside the model's "
            f"num_labels={num_labels} (ids 0..{num_labels - 1}): fix the label mapping or load the "
            "model with the right num_labels / id2label."
        )


def _row_digests(dataset, input_name: str) -> set[str]:
    return {
        hashlib.sha1(np.ascontiguousarray(np.asarray(row, dtype=np.float32)).tobytes()).hexdigest()
        for row in dataset[input_name]
    }


def check_disjoint(forget, retain, input_name: str) -> None:
    """Same model input = same recording: a sample cannot be both forgotten and kept."""
    shared = _row_digests(forget, input_name) & _row_digests(retain, input_name)
    if shared:
        raise ValueError(
            f"{len(shared)} sample(s) appear in both the forget and the retain set: remove them from one side "
            "(hf_unlearn.make_forget_split builds disjoint sets)."
        )


def check_speakers_disjoint(forget, retain, column: str) -> None:
    """A speaker request forgets every recording of its speakers: none of them may remain in the retain set."""
    if forget is None or retain is None or column not in forget.column_names or column not in retain.column_names:
        return
    shared = set(map(str, forget[column])) & set(map(str, retain[column]))
    if shared:
        raise ValueError(
            f"{len(shared)} speaker(s) of this speaker request also appear in the retain set (column {column!r}): "
            "move all their recordings to the forget set (hf_unlearn.make_forget_split(by='speaker') does)."
        )
