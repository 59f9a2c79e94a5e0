"""From audio rows to model batches: feature extraction, forget/retain pairing, padding.

- [`featurize`] runs the feature extractor once over a dataset (resampling first when the audio's rate differs),
  so every epoch reuses the features.
- [`PairedUnlearningDataset`] pairs forget and retain rows deterministically for methods that use both.
- [`MixedUnlearningDataset`] is one flat stream of forget rows and a seeded share of retain rows, each flagged
  (Bad Teaching).
- [`UnlearningCollator`] pads model inputs of different lengths and collates flat or paired batches.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

logger = logging.getLogger(__name__)

LABELS = "labels"
RANDOM_LABELS = "random_labels"
# Bookkeeping columns a method may add to its rows; collated as long tensors, not model inputs (see `model_batch`).
FORGET_FLAG = "forget_flag"  # 1 for a forget row, 0 for a retain row of a mixed stream
ROW_INDEX = "row_index"  # position of the row in its (forget or retain) set
LONG_KEYS = (LABELS, RANDOM_LABELS, FORGET_FLAG, ROW_INDEX)
BOOKKEEPING_KEYS = (RANDOM_LABELS, FORGET_FLAG, ROW_INDEX)


def model_batch(batch: dict) -> dict:
    """`batch` without the bookkeeping keys (`BOOKKEEPING_KEYS`): the model inputs and `labels`."""
    return {key: value for key, value in batch.items() if key not in BOOKKEEPING_KEYS}


def _audio_arrays(values, target_rate: int) -> list[np.ndarray]:
    """Decodes a batch of audio values to float arrays at `target_rate`, resampling with soxr when needed."""
    from hf_unlearn.datasets import load_audio_array

    arrays = []
    for value in values:
        array, rate = load_audio_array(value)
        array = np.asarray(array, dtype=np.float32)
        if array.ndim > 1:  # multi-channel: average to mono, as the transformers feature extractors expect
            array = array.mean(axis=0) if array.shape[0] < array.shape[-1] else array.mean(axis=-1)
        if rate is not None and int(rate) != int(target_rate):
            import soxr

            array = soxr.resample(array, int(rate), int(target_rate)).astype(np.float32)
        arrays.append(array)
    return arrays


def featurize(
    dataset,
    feature_extractor,
    audio_column: str = "audio",
    label_column: str = "label",
    desc: str = "Extracting features",
):
    """Returns `dataset` with the model's input columns and `labels`, ready for [`UnlearningCollator`].

    A dataset that already holds every input column of `feature_extractor.model_input_names` is passed through.
    An `Audio` column at another sampling rate is cast to the extractor's rate (datasets resamples on decode); raw
    `{"array", "sampling_rate"}` dicts are resampled with soxr. Empty clips raise: they cannot be classified.
    """
    from datasets import Audio

    input_names = list(feature_extractor.model_input_names)
    if label_column not in dataset.column_names and LABELS not in dataset.column_names:
        raise ValueError(
            f"The dataset has no label column {label_column!r} (columns: {dataset.column_names}); "
            "pass label_column=<the column's name>."
        )
    if label_column in dataset.column_names and label_column != LABELS:
        if LABELS in dataset.column_names:
            raise ValueError(f"The dataset has both {label_column!r} and {LABELS!r} columns: drop one of them.")
        dataset = dataset.rename_column(label_column, LABELS)
    if all(name in dataset.column_names for name in input_names[:1]):
        return dataset
    if audio_column not in dataset.column_names:
        raise ValueError(
            f"The dataset has neither an audio column {audio_column!r} nor the model inputs {input_names} "
            f"(columns: {dataset.column_names}). Pass audio_column=<the column's name>."
        )
    target_rate = int(feature_extractor.sampling_rate)
    feature = dataset.features[audio_column]
    if isinstance(feature, Audio) and feature.sampling_rate not in (None, target_rate):
        logger.warning(
            "Resampling column %r from %s Hz to the feature extractor's %s Hz.",
            audio_column,
            feature.sampling_rate,
            target_rate,
        )
        dataset = dataset.cast_column(audio_column, Audio(sampling_rate=target_rate, decode=feature.decode))

    def extract(batch):
        arrays = _audio_arrays(batch[audio_column], target_rate)
        empty = [i for i, a in enumerate(arrays) if a.size == 0]
        if empty:
            raise ValueError(f"{len(empty)} empty audio clip(s) in this batch: remove them before unlearning.")
        # All-zero clips carry no information and make some extractors divide by zero (normalisation): refuse them
        # rather than train on NaNs. Quiet but non-zero clips (background noise, "_silence_") are fine.
        silent = [i for i, a in enumerate(arrays) if not np.any(a)]
        if silent:
            raise ValueError(
                f"{len(silent)} silent (all-zero) audio clip(s) in this batch: remove them before unlearning "
                "(e.g. dataset.filter(lambda row: any(row['audio']['array'])))."
            )
        features = feature_extractor(arrays, sampling_rate=target_rate)
        return {name: list(features[name]) for name in features if name in input_names or name == "attention_mask"}

    return dataset.map(
        extract, batched=True, batch_size=64, remove_columns=[audio_column], keep_in_memory=True, desc=desc
    )


def _pad_stack(arrays: list, padding_value: float) -> torch.Tensor:
    arrays = [np.asarray(a) for a in arrays]
    if all(a.shape == arrays[0].shape for a in arrays):
        return torch.from_numpy(np.stack(arrays))
    # Variable-length inputs (raw waveforms, attention masks) are padded at the end of their last axis.
    longest = max(a.shape[-1] for a in arrays)
    padded = [
        np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, longest - a.shape[-1])], constant_values=padding_value)
        for a in arrays
    ]
    return torch.from_numpy(np.stack(padded))


class UnlearningCollator:
    """Collates rows into model batches; paired rows `{"forget": row, "retain": row}` give nested batches.

    Args:
        model_input_names (`list[str]`): the feature extractor's input names (other columns are not model inputs).
        padding_value (`float`, *optional*, defaults to 0.0): value used to pad shorter inputs.
    """

    def __init__(self, model_input_names, padding_value: float = 0.0):
        self.keys = list(dict.fromkeys([*model_input_names, "attention_mask", *LONG_KEYS]))
        self.padding_value = padding_value

    def collate_flat(self, rows: list[dict]) -> dict:
        batch = {}
        for key in self.keys:
            if key not in rows[0]:
                continue
            values = [row[key] for row in rows]
            if key in LONG_KEYS:
                batch[key] = torch.as_tensor(np.asarray(values), dtype=torch.long)
            elif key == "attention_mask":
                batch[key] = _pad_stack(values, 0).long()
            else:
                batch[key] = _pad_stack(values, self.padding_value).float()
        return batch

    def __call__(self, rows: list[dict]) -> dict:
        if rows and ("forget" in rows[0] or "retain" in rows[0]):
            return {
                side: self.collate_flat([row[side] for row in rows])
                for side in ("forget", "retain")
                if side in rows[0]
            }
        return self.collate_flat(rows)


class PairedUnlearningDataset(torch.utils.data.Dataset):
    """Pairs each row of the set an epoch runs over with a row of the other set.

    The partner of row `i` is `partner[i]`, a seeded permutation of the other set, cycled when it is shorter, so the
    pairing is deterministic and independent of the training seed. One side may be left out (methods that use only
    forget or only retain data). With `num_labels`, each forget row also gets a fixed random label different from its
    true one (seeded per row, so it does not depend on batching).

    Args:
        forget, retain (`datasets.Dataset` or `None`): featurized rows (see [`featurize`]).
        epoch_over (`str`): `"forget"`, `"retain"`, `"longest"` or `"shortest"`.
        seed (`int`): pairing seed.
        num_labels (`int`, *optional*): draw random labels for forget rows when given.
    """

    def __init__(
        self, forget=None, retain=None, epoch_over: str = "forget", seed: int = 42, num_labels: int | None = None
    ):
        if forget is None and retain is None:
            raise ValueError("PairedUnlearningDataset needs a forget set, a retain set, or both.")
        self.forget, self.retain = forget, retain
        sizes = {
            "forget": len(forget) if forget is not None else 0,
            "retain": len(retain) if retain is not None else 0,
        }
        if forget is None or retain is None:
            epoch_over = "forget" if forget is not None else "retain"
        elif epoch_over == "longest":
            epoch_over = max(sizes, key=sizes.get)
        elif epoch_over == "shortest":
            epoch_over = min(sizes, key=sizes.get)
        self.epoch_over = epoch_over
        self.length = sizes[epoch_over]
        rng = np.random.default_rng(seed)
        other = "retain" if epoch_over == "forget" else "forget"
        self.partner = None
        if sizes[other]:
            repeats = -(-self.length // sizes[other])
            self.partner = np.concatenate([rng.permutation(sizes[other]) for _ in range(repeats)])[: self.length]
        self.random_labels = None
        if num_labels is not None and forget is not None:
            true = np.asarray(forget[LABELS], dtype=np.int64)
            offsets = np.random.default_rng([seed, 1]).integers(0, num_labels - 1, size=len(true))
            self.random_labels = (true + 1 + offsets) % num_labels  # never the true label (see losses.py)

    def __len__(self) -> int:
        return self.length

    def _row(self, side: str, index: int) -> dict:
        row = dict(getattr(self, side)[int(index)])
        if side == "forget" and self.random_labels is not None:
            row[RANDOM_LABELS] = int(self.random_labels[index])
        return row

    def __getitem__(self, i: int) -> dict:
        item = {self.epoch_over: self._row(self.epoch_over, i)}
        if self.partner is not None:
            other = "retain" if self.epoch_over == "forget" else "forget"
            item[other] = self._row(other, self.partner[i])
        return item


class MixedUnlearningDataset(torch.utils.data.Dataset):
    """One flat stream: every forget row, then a seeded random share of the retain rows, each row flagged with
    `forget_flag` (1 forget, 0 retain). The Trainer's sampler shuffles the stream; the choice of retain rows depends
    only on `seed`, not on the training seed.

    Args:
        forget, retain (`datasets.Dataset`): featurized rows (see [`featurize`]).
        retain_share (`float`): share of the retain rows in the stream; `round(retain_share * len(retain))` of them
            are drawn without replacement.
        seed (`int`): seed of the draw.
    """

    def __init__(self, forget, retain, retain_share: float, seed: int = 42):
        if forget is None or retain is None:
            raise ValueError("MixedUnlearningDataset needs both a forget and a retain set.")
        if not 0.0 <= retain_share <= 1.0:
            raise ValueError(f"retain_share must be in [0, 1], got {retain_share}.")
        self.forget, self.retain = forget, retain
        num_retain = int(round(retain_share * len(retain)))
        # Sorted: the draw decides which rows, the sampler decides the order.
        self.retain_indices = np.sort(np.random.default_rng(seed).choice(len(retain), num_retain, replace=False))
        self.num_forget = len(forget)

    def __len__(self) -> int:
        return self.num_forget + len(self.retain_indices)

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        if i < 0:
            i += len(self)
        if i < self.num_forget:
            return {**self.forget[i], FORGET_FLAG: 1}
        return {**self.retain[int(self.retain_indices[i - self.num_forget])], FORGET_FLAG: 0}
