"""Checks of what a user hands to `UnlearningTrainer`: the request (a forget set, no recording on both sides, see
[`check_request`]), labels that fit the model (class names encoded with its `label2id`), folders that are never the
original checkpoint's ([`check_write_path`]), readable checkpoints, a launch that trains together, a feature extractor
to go with the model. Each raises a `ValueError` saying what is wrong and how to fix it."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from hf_unlearn.files import INCOMPLETE_SAVE_NAME


def source_folder(model) -> str | None:
    """The local folder `model` was loaded from, if any."""
    source = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", "")
    return source if source and os.path.isdir(source) else None


def check_output_dir(model, output_dir: str) -> str | None:
    """Refuses to write into the folder the original model was loaded from (see [`check_write_path`]); returns that
    folder (`None` when the model was not loaded from a local folder)."""
    source = source_folder(model)
    check_write_path(output_dir, source, "output_dir")
    return source


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


def encode_label_names(dataset, name: str, label_column: str, model_names: list[str] | None):
    """`dataset` with a label column of class names (strings) turned into the model's ids (its `label2id`), as the
    recipe does; names the model does not know are refused, naming them. Other datasets are returned as they are."""
    from datasets import ClassLabel, Features, Value

    column = label_column if label_column in dataset.column_names else "labels"
    feature = dataset.features.get(column) if dataset.features is not None else None
    if not (isinstance(feature, Value) and feature.dtype in ("string", "large_string")):
        return dataset
    values = [str(value) for value in dataset[column]]
    if model_names is None:
        raise ValueError(
            f"The {name} set's labels are class names ({_preview(sorted(set(values)))}) but the model's id2label has "
            "only generic LABEL_i names: give the model id2label/label2id with these names, or pass integer ids."
        )
    ids = {label: index for index, label in enumerate(model_names)}
    unknown = sorted({value for value in values if value not in ids})
    if unknown:
        rows = [index for index, value in enumerate(values) if value not in ids]
        raise ValueError(
            f"The {name} set has labels {_preview(unknown)} (rows {_preview(rows)}) that are not among the model's "
            f"classes {_preview(model_names)}: fix the labels, or load the model trained on these classes."
        )
    return dataset.map(
        lambda batch: {column: [ids[str(value)] for value in batch[column]]},
        batched=True,
        features=Features({**dataset.features, column: ClassLabel(names=model_names)}),
        keep_in_memory=True,
        desc=f"Encoding class names ({name})",
    )


def check_labels(dataset, name: str, num_labels: int | None) -> None:
    """Every label id of a featurized `dataset` is one of the model's `num_labels` classes."""
    if num_labels is None:
        return
    labels = np.asarray(dataset["labels"])
    outside = (labels < 0) | (labels >= num_labels)
    if outside.any():
        rows = np.flatnonzero(outside).tolist()
        raise ValueError(
            f"The {name} set has labels {sorted(set(labels[outside].tolist()))[:10]} (rows {_preview(rows)}) outside "
            f"the model's num_labels={num_labels} (ids 0..{num_labels - 1}): fix the label mapping or load the "
            "model with the right num_labels / id2label."
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


# ------------------------------------------------------------------------------------------- the original's files
# Files that make a folder a checkpoint: a folder holding one of the original's is the original (or a copy of it).
CHECKPOINT_FILES = (
    "config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "adapter_config.json",
    "adapter_model.safetensors",
)


def _file_digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def check_write_path(target, original, what: str = "output folder") -> None:
    """Refuses to write to `target` when it is the original checkpoint's folder (same real path, symbolic links and
    `..` resolved) or a folder inside it that holds the original's files (its config or weights, byte-identical).

    The one check behind every write of an unlearning run (final save, checkpoints, the save before a push, the merged
    save) and for front ends writing their own outputs next to a model (`hf_unlearn.checks.check_write_path`).

    Args:
        target (`str` or `os.PathLike`): the folder about to be written.
        original (`str` or `os.PathLike` or `None`): the original model's folder (`None`: nothing to protect).
        what (`str`, *optional*): what is written, for the message (e.g. `"output_dir"`).
    """
    if original is None or target is None:
        return
    target_real, original_real = os.path.realpath(target), os.path.realpath(original)
    if target_real == original_real:
        raise ValueError(
            f"The {what} {str(target)!r} is the original model's folder: writing there would overwrite the "
            "original checkpoint. Choose another folder."
        )
    if os.path.commonpath([target_real, original_real]) != original_real or not os.path.isdir(target_real):
        return
    for name in CHECKPOINT_FILES:
        mine, theirs = os.path.join(target_real, name), os.path.join(original_real, name)
        if os.path.isfile(mine) and os.path.isfile(theirs):
            if os.path.realpath(mine) == os.path.realpath(theirs) or _file_digest(mine) == _file_digest(theirs):
                raise ValueError(
                    f"The {what} {str(target)!r} is inside the original model's folder {str(original)!r} and holds "
                    f"the original's {name}: writing there would overwrite a copy of the original checkpoint. "
                    "Choose a folder outside the original's."
                )


# ------------------------------------------------------------------------------------------------ the request
# Digests of recently checked datasets, by fingerprint: a recipe run checks the same forget and retain sets when it
# trains the references, when the trainer starts and when it saves (each pass reads every audio file).
_DIGESTS: dict[tuple, list[str]] = {}
_DIGESTS_KEPT = 8


def content_digests(
    dataset, audio_column: str = "audio", input_name: str | None = None, name: str = "given"
) -> list[str]:
    """One digest per row of the recording it holds: its audio (file bytes, or decoded samples and rate, see
    [`~hf_unlearn.data.groups.audio_digest`]) or, for featurized data, its model input. Copies get the same digest.
    A file that cannot be read is named with its row. Remembered per dataset fingerprint (`datasets` gives a changed
    dataset a new one)."""
    fingerprint = getattr(dataset, "_fingerprint", None)
    key = (fingerprint, audio_column, input_name)
    if fingerprint is not None and key in _DIGESTS:
        return list(_DIGESTS[key])
    digests = _compute_digests(dataset, audio_column, input_name, name)
    if fingerprint is not None:
        _DIGESTS[key] = digests
        for old in list(_DIGESTS)[:-_DIGESTS_KEPT]:
            del _DIGESTS[old]
    return list(digests)


def _compute_digests(dataset, audio_column: str, input_name: str | None, name: str) -> list[str]:
    import datasets

    from hf_unlearn.data.groups import audio_digest

    if audio_column in dataset.column_names:
        feature = dataset.features[audio_column]
        if isinstance(feature, datasets.Audio) and feature.decode:  # the stored bytes or file: no decoder runs
            dataset = dataset.cast_column(
                audio_column, datasets.Audio(sampling_rate=feature.sampling_rate, decode=False)
            )
        digests = []
        for value in dataset.select_columns([audio_column]).with_format(None)[audio_column]:
            try:
                digests.append(audio_digest(value))
            except OSError as error:
                path = value.get("path") if isinstance(value, dict) else value
                problem = "does not exist" if isinstance(error, FileNotFoundError) else f"cannot be read ({error})"
                raise ValueError(
                    f"Row {len(digests)} of the {name} set (file {path!r}): the audio file {problem}. Fix the path "
                    "or drop the row."
                ) from error
        return digests
    names = [input_name] if input_name else []
    names += [column for column in ("input_values", "input_features") if column not in names]
    for column in names:
        if column in dataset.column_names:
            return [
                hashlib.sha1(np.ascontiguousarray(np.asarray(row, dtype=np.float32)).tobytes()).hexdigest()
                for row in dataset.with_format("numpy")[column]
            ]
    raise ValueError(
        f"The {name} set has neither an audio column {audio_column!r} nor model inputs {names} (columns: "
        f"{dataset.column_names}). Pass audio_column=<the column's name>."
    )


def check_request(
    forget_dataset,
    retain_dataset=None,
    audio_column: str = "audio",
    input_name: str | None = None,
    method: str | None = None,
) -> str:
    """The check of an unlearning request, run before any training (the trainer's construction, and a pipeline's
    reference models): the forget set is given and not empty, for every method (a method that trains on the retain
    set alone still answers a request to forget these rows), and no recording is on both sides, compared by content
    so that copies count. Returns a digest of the forget set's content (order-free), which checkpoints record so that
    a resume can tell whether it answers the same request.

    Args:
        forget_dataset, retain_dataset (`datasets.Dataset`): the sets (audio or featurized rows).
        audio_column (`str`, *optional*, defaults to `"audio"`): the audio column.
        input_name (`str`, *optional*): the model's main input, for featurized data.
        method (`str`, *optional*): the method's key, for the messages.
    """
    who = f"Method {method!r}" if method else "Unlearning"
    if forget_dataset is None:
        raise ValueError(
            f"{who} answers a request to forget samples: pass forget_dataset=<Dataset> (also for methods that train "
            "on the retain set alone: the forget set is what the run is checked and recorded against)."
        )
    if len(forget_dataset) == 0:
        raise ValueError(f"The forget set is empty: a request must name samples to forget ({who.lower()}).")
    forget = content_digests(forget_dataset, audio_column, input_name, "forget")
    if retain_dataset is not None and len(retain_dataset):
        first = {}
        for index, digest in enumerate(forget):
            first.setdefault(digest, index)
        retain = content_digests(retain_dataset, audio_column, input_name, "retain")
        both = [(first[digest], j) for j, digest in enumerate(retain) if digest in first]
        if both:
            pairs = ", ".join(f"forget row {i} = retain row {j}" for i, j in both[:5])
            raise ValueError(
                f"{len(both)} recording(s) appear in both the forget and the retain set (same content: {pairs}"
                f"{', ...' if len(both) > 5 else ''}): remove them from the retain set (hf_unlearn.make_forget_split "
                "keeps identical recordings on one side)."
            )
    return hashlib.sha256("".join(sorted(forget)).encode()).hexdigest()


def set_digest(dataset, audio_column: str = "audio", input_name: str | None = None, name: str = "given") -> str | None:
    """An order-free digest of a set's content ([`content_digests`], cached), or `None` for no set: checkpoints
    record the retain set's, so that a resume on changed data is refused."""
    if dataset is None or len(dataset) == 0:
        return None
    return hashlib.sha256(
        "".join(sorted(content_digests(dataset, audio_column, input_name, name))).encode()
    ).hexdigest()


def check_same_data(checkpoint: str, written_for: dict, side: str, digest: str | None) -> None:
    """Refuses to resume `checkpoint` when the `side` set it was written for (its `<side>_digest`) differs from this
    run's (rows added, removed or changed): the resumed run would mix two data sets."""
    saved = written_for.get(f"{side}_digest")
    if saved is not None and digest is not None and saved != digest:
        raise ValueError(
            f"{checkpoint!r} was written for another {side} set (its content digest differs: rows were added, "
            f"removed or changed since): resuming it would train on two different {side} sets. Pass the {side} set "
            "of that run, or start from the original model."
        )


def check_launch(args) -> None:
    """Several processes on a machine without CUDA train together only with `use_cpu=True` (gloo); without it every
    process would train alone on all the data. FSDP through accelerate or the Trainer's `fsdp=` is refused there: it
    would silently run DDP. Raised on every rank, at the start."""
    import torch

    world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world_size > 1 and not torch.cuda.is_available() and not getattr(args, "use_cpu", False):
        raise ValueError(
            f"{world_size} processes were launched on a machine without CUDA, but use_cpu is not set: each process "
            "would train alone on the whole data. Pass use_cpu=True (or --use_cpu) to train on CPU over gloo, or "
            "launch one process."
        )
    wants_fsdp = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" or bool(getattr(args, "fsdp", None))
    if world_size > 1 and not torch.cuda.is_available() and wants_fsdp:
        # accelerate 1.15 enables FSDP for accelerator devices only: on a CPU it silently runs DDP (MULTI_CPU).
        raise ValueError(
            "FSDP was requested (an accelerate config with distributed_type: FSDP, or the Trainer's fsdp= "
            "argument) on a machine without CUDA: accelerate would run plain DDP instead, every process holding "
            "the whole model. To shard on CPU, load the model with FSDP2 yourself: "
            "AutoModelForAudioClassification.from_pretrained(path, distributed_config=DistributedConfig("
            "fsdp_size=<processes>)) under torchrun (docs/multi_process.md); or drop FSDP from the launch."
        )


def check_checkpoint_folder(path, what: str = "checkpoint") -> None:
    """Refuses a model folder that does not exist or whose weights cannot be read (a truncated or corrupt
    `*.safetensors`), naming the path and what is wrong. Reads only the files' headers."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ValueError(f"The {what} folder {path!r} does not exist: check the path (or the Hub repo id).")
    if os.path.isfile(os.path.join(path, INCOMPLETE_SAVE_NAME)):  # left by a save that failed midway
        raise ValueError(
            f"The {what} folder {path!r} is incomplete: the run that wrote it failed while it was being saved (it "
            f"holds {INCOMPLETE_SAVE_NAME}), so its files may be partly written. Run the unlearning and save it "
            "again, or load another checkpoint."
        )
    from safetensors import safe_open

    for name in sorted(os.listdir(path)):
        if name.endswith(".safetensors"):
            file = os.path.join(path, name)
            try:
                with safe_open(file, framework="pt") as handle:
                    handle.keys()
                size = os.path.getsize(file)
                with open(file, "rb") as raw:
                    header = int.from_bytes(raw.read(8), "little")
                ends = [end for _, end in _tensor_ranges(file, header)]
                if ends and 8 + header + max(ends) > size:
                    raise ValueError(f"the tensors need {8 + header + max(ends)} bytes but the file has {size}")
            except Exception as error:  # the readers raise their own types (SafetensorError, OSError, ...)
                raise ValueError(
                    f"The {what} file {file!r} is truncated or corrupt ({error}): copy or download it again."
                ) from error


def _tensor_ranges(file: str, header_size: int):
    with open(file, "rb") as raw:
        raw.seek(8)
        header = json.loads(raw.read(header_size))
    return [tuple(entry["data_offsets"]) for key, entry in header.items() if key != "__metadata__"]


# ------------------------------------------------------------------------------------------- the model's weights
def nonfinite_parameters(model) -> list[tuple[str, int, int]]:
    """`(name, non-finite count, size)` of each floating-point parameter or buffer of `model` holding NaN or
    infinite values."""
    import torch

    found = []
    tensors = [*model.named_parameters(), *model.named_buffers()]
    for name, tensor in tensors:
        if tensor.is_floating_point() and tensor.numel():
            bad = int((~torch.isfinite(tensor.detach())).sum())
            if bad:
                found.append((name, bad, tensor.numel()))
    return found


def check_finite_weights(model, what: str = "original model") -> None:
    """Refuses a model with NaN or infinite weights (a broken checkpoint or an earlier run that diverged), naming the
    parameters: unlearning it would train on NaN losses and save NaN weights."""
    found = nonfinite_parameters(model)
    if found:
        listed = ", ".join(f"{name!r} ({bad} of {size})" for name, bad, size in found[:5])
        name, bad, _ = found[0]
        raise ValueError(
            f"The {what}'s parameter {name!r} has {bad} NaN or infinite value(s) ({len(found)} tensor(s) in all: "
            f"{listed}{', ...' if len(found) > 5 else ''}): the checkpoint is broken, and unlearning it would only "
            "save NaN weights. Load a healthy checkpoint (download or retrain it again) before unlearning."
        )


# ------------------------------------------------------------------------------------------- other models' files
def model_signature(config) -> dict:
    """What must agree between a model and a checkpoint loaded into it: `model_type`, `num_labels` and the label
    names in id order (plain strings)."""
    id2label = getattr(config, "id2label", None) or {}
    names = [str(id2label.get(i, id2label.get(str(i), ""))) for i in range(len(id2label))]
    return {"model_type": getattr(config, "model_type", None), "num_labels": getattr(config, "num_labels", None),
            "labels": names}  # fmt: skip


def check_same_model(checkpoint, config, what: str = "checkpoint", model: str = "model", fix: str = "") -> None:
    """Refuses `checkpoint` (a local folder with a `config.json`) when its model differs from `config`'s in
    architecture or label set, naming both sides' `model_type`, `num_labels` and label names. Folders without a
    `config.json` (a PEFT adapter's) are left to their loaders."""
    path = os.path.join(os.fspath(checkpoint), "config.json")
    if not os.path.isfile(path):
        return
    with open(path) as handle:
        saved = json.load(handle)
    from types import SimpleNamespace

    theirs = model_signature(SimpleNamespace(**{**saved, "num_labels": len(saved.get("id2label") or {})}))
    ours = model_signature(config)
    differ = [key for key in ("model_type", "num_labels", "labels") if theirs[key] != ours[key]]
    if differ:
        listed = "; ".join(
            f"{key}: {what} {_preview(theirs[key]) if key == 'labels' else repr(theirs[key])}, {model} "
            f"{_preview(ours[key]) if key == 'labels' else repr(ours[key])}"
            for key in differ
        )
        raise ValueError(
            f"The {what} {os.fspath(checkpoint)!r} holds another model than the {model} ({listed}). "
            + (fix or f"Use a {what} of this model, or load the model it was written for.")
        )
