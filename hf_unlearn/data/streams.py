"""Training streams: the rows an unlearning epoch runs over, built from featurized forget and retain sets.

- [`PairedUnlearningDataset`] pairs forget and retain rows deterministically for methods that use both, and gives
  forget rows a fixed random label when a method needs one (drawn once by the task, see `Task.random_labels`).
- [`MixedUnlearningDataset`] is one flat stream of forget rows and a seeded share of retain rows, each flagged
  (Bad Teaching, BT-L).
- [`PhasedUnlearningDataset`] runs an epoch as whole passes over one side at a time (SCRUB's max pass over forget
  then min pass over retain; SalUn's and RandLabel's forget pass then retain pass), in the order of its
  [`PassSampler`].

Both return rows for [`UnlearningCollator`].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from hf_unlearn.data.collator import FORGET_FLAG, LABELS, RANDOM_LABELS
from hf_unlearn.tasks import Task

SIDES = ("forget", "retain")


def _row(stream, side: str, index: int) -> dict:
    row = dict(getattr(stream, side)[int(index)])
    if side == "forget" and stream.random_labels is not None:
        row[RANDOM_LABELS] = int(stream.random_labels[index])
    return row


def _draw_random_labels(forget, num_labels, task, seed):
    """Each forget row's fixed random label (drawn once, seeded), or None without `num_labels`."""
    if num_labels is None or forget is None:
        return None
    if task is None:
        raise ValueError("Random labels are drawn by the task: pass task=<Task> together with num_labels.")
    true = torch.as_tensor(np.asarray(forget[LABELS]), dtype=torch.long)
    return task.random_labels(true, num_labels, torch.Generator().manual_seed(seed)).numpy()


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
        self.random_labels = _draw_random_labels(forget, num_labels, task, seed)

    def __len__(self) -> int:
        return self.length

    def _row(self, side: str, index: int) -> dict:
        return _row(self, side, index)

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


class PhasedUnlearningDataset(torch.utils.data.Dataset):
    """An epoch made of whole passes over one side at a time, e.g. `passes=("forget", "retain")`: every forget row
    (in a shuffled order), then every retain row. Items are `{side: row}`, so a batch holds one side only and the
    collator gives `{"forget": batch}` or `{"retain": batch}`: the phase of a step is the side of its batch, a function
    of the data, so a resumed run resumes it. The order comes from [`PassSampler`] (`make_sampler`), which the trainer
    uses instead of the Trainer's random sampler.

    Every pass is a slot of fixed length (its side's size rounded up to whole optimizer steps: the last batch is
    filled up with rows of the same side drawn again), so epochs keep one length. `passes_at(epoch)` may fill a slot
    with the other side's rows in later epochs (SCRUB, after its max epochs: the forget slot holds retain rows).

    Args:
        forget, retain (`datasets.Dataset`): featurized rows (see [`featurize`]); both needed.
        passes (`Sequence[str]`): the sides of the slots of an epoch, in order.
        passes_at (`Callable[[int], Sequence[str]]`, *optional*): the side whose rows fill each slot in a given epoch
            (same length as `passes`); defaults to `passes` in every epoch.
        seed (`int`): seed of the random labels.
        num_labels (`int`, *optional*), task ([`Task`], *optional*): draw random labels for forget rows, as in
            [`PairedUnlearningDataset`].
    """

    def __init__(
        self,
        forget,
        retain,
        passes: Sequence[str] = SIDES,
        passes_at: Callable[[int], Sequence[str]] | None = None,
        seed: int = 42,
        num_labels: int | None = None,
        task: Task | None = None,
    ):
        if forget is None or retain is None or not len(forget) or not len(retain):
            raise ValueError("PhasedUnlearningDataset needs a non-empty forget set and a non-empty retain set.")
        if not passes or any(side not in SIDES for side in passes):
            raise ValueError(f"passes must be a non-empty sequence of {SIDES}, got {passes!r}.")
        self.forget, self.retain, self.passes = forget, retain, tuple(passes)
        self.passes_at = passes_at or (lambda epoch: self.passes)
        self.sizes = {"forget": len(forget), "retain": len(retain)}
        self.random_labels = _draw_random_labels(forget, num_labels, task, seed)

    def __len__(self) -> int:
        return self.sizes["forget"] + self.sizes["retain"]

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        if i < self.sizes["forget"]:
            return {"forget": _row(self, "forget", i)}
        return {"retain": _row(self, "retain", i - self.sizes["forget"])}

    def slot_lengths(self, unit: int) -> list[int]:
        """Rows per slot: its side's size rounded up to a multiple of `unit` (rows per optimizer step)."""
        return [math.ceil(self.sizes[side] / unit) * unit for side in self.passes]

    def make_sampler(self, args) -> "PassSampler":
        """The sampler of this stream for a `TrainingArguments`: whole optimizer steps of all processes per slot."""
        unit = args.per_device_train_batch_size * args.gradient_accumulation_steps * max(args.world_size, 1)
        return PassSampler(self, unit, args.data_seed if args.data_seed is not None else args.seed)


class PassSampler(torch.utils.data.Sampler):
    """Indices of a [`PhasedUnlearningDataset`] for one epoch (set by `set_epoch`, which the Trainer calls): slot by
    slot, a permutation of the slot's side seeded by `(seed, epoch, slot)`, repeated and cut to the slot's length.
    Every slot is a whole number of optimizer steps of all processes, so no step mixes two passes."""

    def __init__(self, stream: PhasedUnlearningDataset, unit: int, seed: int):
        self.stream, self.unit, self.seed, self.epoch = stream, unit, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return sum(self.stream.slot_lengths(self.unit))

    def __iter__(self):
        order = []
        sides = self.stream.passes_at(self.epoch)
        for slot, (length, side) in enumerate(zip(self.stream.slot_lengths(self.unit), sides)):
            rng = np.random.default_rng([self.seed, self.epoch, slot])
            size = self.stream.sizes[side]
            drawn = np.concatenate([rng.permutation(size) for _ in range(math.ceil(length / size))])[:length]
            order.extend((drawn + (0 if side == "forget" else self.stream.sizes["forget"])).tolist())
        return iter(order)
