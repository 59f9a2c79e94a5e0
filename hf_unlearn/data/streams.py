"""Training streams: the rows an unlearning epoch runs over, built from featurized forget and retain sets.

- [`PairedUnlearningDataset`] pairs forget and retain rows deterministically for methods that use both, and gives
  forget rows a fixed random label when a method needs one (drawn once by the task, see `Task.random_labels`).
- [`MixedUnlearningDataset`] is one flat stream of forget rows and a seeded share of retain rows, each flagged
  (Bad Teaching).

Both return rows for [`UnlearningCollator`].
"""

from __future__ import annotations

import numpy as np
import torch

from hf_unlearn.data.collator import FORGET_FLAG, LABELS, RANDOM_LABELS
from hf_unlearn.tasks import Task


class PairedUnlearningDataset(torch.utils.data.Dataset):
    """Pairs each row of the set an epoch runs over with a row of the other set.

    The partner of row `i` is `partner[i]`, a seeded permutation of the other set, cycled when it is shorter, so the
    pairing is deterministic and independent of the training seed. One side may be left out (methods that use only
    forget or only retain data). With `num_labels`, each forget row also gets a random label different from its
    true one, drawn once here by `task.random_labels` (seeded), so it is fixed per row across epochs and does not
    depend on batching.

    Args:
        forget, retain (`datasets.Dataset` or `None`): featurized rows (see [`featurize`]).
        epoch_over (`str`): `"forget"`, `"retain"`, `"longest"` or `"shortest"`.
        seed (`int`): seed of the pairing and of the random labels.
        num_labels (`int`, *optional*): draw random labels for forget rows when given.
        task ([`Task`], *optional*): the task that draws the random labels; required with `num_labels`.
    """

    def __init__(
        self,
        forget=None,
        retain=None,
        epoch_over: str = "forget",
        seed: int = 42,
        num_labels: int | None = None,
        task: Task | None = None,
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
            if task is None:
                raise ValueError("Random labels are drawn by the task: pass task=<Task> together with num_labels.")
            true = torch.as_tensor(np.asarray(forget[LABELS]), dtype=torch.long)
            generator = torch.Generator().manual_seed(seed)
            self.random_labels = task.random_labels(true, num_labels, generator).numpy()

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
