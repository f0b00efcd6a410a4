"""Shuffling whose every draw is a function of ``(seed, epoch)``: the same batches, and the same random frames per
clip, whether a run is uninterrupted or resumed from a checkpoint, with any number of DataLoader workers.

:class:`EpochSampler` is torch's :class:`DistributedSampler` (the permutation of epoch ``e`` is seeded with
``seed + e``; Lightning calls ``set_epoch``; under DDP each rank gets its share) yielding :class:`EpochIndex`
integers that carry ``(seed, epoch)`` to the dataset, which seeds its per-item randomness from them
(:func:`item_rng`) instead of a worker's or the main process's global generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DistributedSampler


class EpochIndex(int):
    """A dataset index that also says which ``(seed, epoch)`` draw it belongs to (pickles with its attributes)."""

    seed: int
    epoch: int

    def __new__(cls, index: int, seed: int, epoch: int) -> EpochIndex:
        obj = super().__new__(cls, index)
        obj.seed, obj.epoch = int(seed), int(epoch)
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (EpochIndex, (int(self), self.seed, self.epoch))


def item_rng(index: int) -> np.random.Generator:
    """The generator of one item's random choices (frames, flips). For an :class:`EpochIndex`: seeded by
    ``(seed, epoch, index)``; for a plain index (a loader without :class:`EpochSampler`): drawn from torch's global
    generator, as torch's own samplers do."""
    if isinstance(index, EpochIndex):
        return np.random.default_rng([index.seed, index.epoch, int(index)])
    return np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))


class EpochSampler(DistributedSampler):
    """Args: dataset; ``num_replicas`` / ``rank``: the DDP world (1 / 0 in one process); seed: the run's seed."""

    def __init__(self, dataset: Any, num_replicas: int = 1, rank: int = 0, seed: int = 0) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=int(seed))

    def __iter__(self) -> Iterator[int]:
        for index in super().__iter__():
            yield EpochIndex(index, self.seed, self.epoch)
