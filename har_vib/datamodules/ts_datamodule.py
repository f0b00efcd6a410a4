"""DataModule over the classification datasets that aeon ships (BasicMotions by default)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from har_vib.data.sequences import (
    SequenceDataset,
    channel_stats,
    check_bundled_name,
    load_bundled,
    pad_collate,
    stratified_split,
)
from har_vib.datamodules.base import ClassificationDataModule
from har_vib.errors import ConfigError


class TimeSeriesDataModule(ClassificationDataModule):
    """Train / val / test from an aeon-bundled dataset; val is carved from train, stratified, with ``seed``.

    Channels are standardised with statistics of the training part. Batches are ``(x, lengths, y)`` with
    ``x`` right-padded to (B, T_max, C).
    """

    collate_fn = staticmethod(pad_collate)

    def __init__(
        self,
        name: str = "BasicMotions",
        val_fraction: float = 0.2,
        batch_size: int = 10,
        eval_batch_size: int = 64,
        num_workers: int = 0,
        standardize: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_bundled_name(name)
        if batch_size <= 0:
            raise ConfigError(f"dataset.batch_size must be > 0, got {batch_size}")
        self.save_hyperparameters(logger=False)
        self.train_set: Optional[SequenceDataset] = None
        self.val_set: Optional[SequenceDataset] = None
        self.test_set: Optional[SequenceDataset] = None
        self.class_names: list[str] = []
        self.input_dim = 0

    @property
    def num_classes(self) -> int:
        """Number of classes (after :meth:`setup`)."""
        return len(self.class_names)

    def setup(self, stage: Optional[str] = None) -> None:
        """Load and split once; later calls are no-ops."""
        if self.train_set is not None:
            return
        hp = self.hparams
        train = load_bundled(hp.name, "train")
        test = load_bundled(hp.name, "test")
        self.class_names = sorted(set(train.labels.tolist()))
        unknown = sorted(set(test.labels.tolist()) - set(self.class_names))
        if unknown:
            raise ConfigError(f"dataset {hp.name!r}: test labels {unknown} never occur in its train split")
        index = {c: i for i, c in enumerate(self.class_names)}
        y_train = np.array([index[c] for c in train.labels])
        y_test = np.array([index[c] for c in test.labels])
        kept, held = stratified_split(train.labels, hp.val_fraction, hp.seed)
        fit_seqs = [train.sequences[i] for i in kept]
        if hp.standardize:
            mean, std = channel_stats(fit_seqs)
        else:
            mean, std = np.zeros(1, np.float32), np.ones(1, np.float32)

        def norm(seqs: list[np.ndarray]) -> list[np.ndarray]:
            return [(s - mean) / std for s in seqs]

        self.input_dim = int(train.sequences[0].shape[1])
        self.train_set = SequenceDataset(norm(fit_seqs), y_train[kept])
        self.val_set = SequenceDataset(norm([train.sequences[i] for i in held]), y_train[held])
        self.test_set = SequenceDataset(norm(test.sequences), y_test)
