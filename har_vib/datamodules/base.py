"""What every classification DataModule here shares: seeded shuffling and the three loaders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from har_vib.datamodules.samplers import EpochSampler
from har_vib.utils.workers import loader_worker_options


class ClassificationDataModule(L.LightningDataModule):
    """Subclasses set ``train_set`` / ``val_set`` / ``test_set`` in ``setup`` and ``collate_fn``; hparams hold
    ``batch_size``, ``eval_batch_size``, ``num_workers`` and ``seed``."""

    collate_fn: Callable[[list], Any]
    train_set: Any = None
    val_set: Any = None
    test_set: Any = None

    def _loader(self, dataset: Any, batch_size: int, sampler: EpochSampler | None = None) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() before asking for a dataloader")
        workers = loader_worker_options(self.hparams.num_workers)  # a clean start: no decoder state inherited
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=type(self).collate_fn,
            num_workers=self.hparams.num_workers,
            # its own generator: iterating a loader (it draws worker seeds) never moves the global random stream
            generator=torch.Generator().manual_seed(int(self.hparams.seed)),
            **workers,
        )

    def _replicas(self) -> tuple[int, int]:
        """``(world_size, rank)`` of the Trainer this DataModule serves; ``(1, 0)`` outside one."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def train_dataloader(self, whole: bool = False) -> DataLoader:
        """Shuffled training batches. The order of epoch ``e`` is a function of ``(seed, e)`` alone (Lightning calls
        the sampler's ``set_epoch``), so a run resumed from a checkpoint sees the batches an uninterrupted run sees.
        Under DDP each rank gets its share (:class:`EpochSampler` is a ``DistributedSampler`` over the Trainer's world);
        ``whole=True`` gives one process the full training set (pruning and fine-tuning on rank 0)."""
        replicas, rank = (1, 0) if whole else self._replicas()
        if self.train_set is None:  # before the sampler, which would fail on None
            raise RuntimeError("call setup() before asking for a dataloader")
        sampler = EpochSampler(self.train_set, num_replicas=replicas, rank=rank, seed=int(self.hparams.seed))
        return self._loader(self.train_set, self.hparams.batch_size, sampler)

    def val_dataloader(self) -> DataLoader:
        if self.val_set is None or len(self.val_set) == 0:
            return []  # type: ignore[return-value]
        return self._loader(self.val_set, self.hparams.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.hparams.eval_batch_size)
