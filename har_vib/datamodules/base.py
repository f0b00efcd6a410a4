"""What every classification DataModule here shares: seeded shuffling and the three loaders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader


class ClassificationDataModule(L.LightningDataModule):
    """Subclasses set ``train_set`` / ``val_set`` / ``test_set`` in ``setup`` and ``collate_fn``; hparams hold
    ``batch_size``, ``eval_batch_size``, ``num_workers`` and ``seed``."""

    collate_fn: Callable[[list], Any]
    train_set: Any = None
    val_set: Any = None
    test_set: Any = None

    def _loader(self, dataset: Any, batch_size: int, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() before asking for a dataloader")
        generator = torch.Generator().manual_seed(self.hparams.seed) if shuffle else None
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            collate_fn=type(self).collate_fn,
            num_workers=self.hparams.num_workers,
            generator=generator,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.hparams.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        if self.val_set is None or len(self.val_set) == 0:
            return []  # type: ignore[return-value]
        return self._loader(self.val_set, self.hparams.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.hparams.eval_batch_size, shuffle=False)
