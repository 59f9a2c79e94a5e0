"""From featurized rows to model batches: the batch keys, and [`UnlearningCollator`], which pads model inputs of
different lengths and collates flat or paired (`{"forget": row, "retain": row}`) batches."""

from __future__ import annotations

import numpy as np
import torch

from hf_unlearn.data.features import LABELS

RANDOM_LABELS = "random_labels"
# Bookkeeping columns a method may add to its rows; collated as long tensors, not model inputs (see `model_batch`).
FORGET_FLAG = "forget_flag"  # 1 for a forget row, 0 for a retain row of a mixed stream
ROW_INDEX = "row_index"  # position of the row in its (forget or retain) set
LONG_KEYS = (LABELS, RANDOM_LABELS, FORGET_FLAG, ROW_INDEX)
BOOKKEEPING_KEYS = (RANDOM_LABELS, FORGET_FLAG, ROW_INDEX)


def model_batch(batch: dict) -> dict:
    """`batch` without the bookkeeping keys (`BOOKKEEPING_KEYS`): the model inputs and `labels`."""
    return {key: value for key, value in batch.items() if key not in BOOKKEEPING_KEYS}


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
