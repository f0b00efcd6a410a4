"""Image classification data for VIBNet: scikit-learn's shipped 8x8 digits (no download), or MNIST / CIFAR-10
from the torchvision folders when the user has them on disk (never downloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import TensorDataset, default_collate

from har_vib.data.sequences import stratified_split
from har_vib.datamodules.base import ClassificationDataModule
from har_vib.errors import ConfigError

IMAGE_DATASETS = ("digits", "mnist", "cifar10")


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images.astype(np.float32)[:, None] / 16.0, data.target.astype(np.int64)  # (N, 1, 8, 8) in [0, 1]


def _torchvision(name: str, root: Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "cifar10": datasets.CIFAR10}[name]
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError as err:
        raise ConfigError(
            f"dataset.name={name}: not found under {root} ({err}). This project never downloads: put torchvision's "
            f"{cls.__name__} files there (e.g. {root}/{cls.__name__}/raw/ for MNIST, {root}/cifar-10-batches-py/ for "
            "CIFAR-10) or set dataset.root; dataset.name=digits needs no files"
        ) from None
    x = np.asarray(ds.data, dtype=np.float32) / 255.0
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    return x, np.asarray(ds.targets, dtype=np.int64)


class ImageDataModule(ClassificationDataModule):
    """Train / val / test images, standardised per channel with the training part's statistics; batches are
    ``(x (B, C, H, W), y)``. Digits has no official split: ``test_fraction`` of every class is held out
    (seeded), then ``val_fraction`` of the rest; MNIST and CIFAR-10 use their official test sets."""

    collate_fn = staticmethod(default_collate)

    def __init__(
        self,
        name: str = "digits",
        root: str = "data/raw/images",
        val_fraction: float = 0.1,
        test_fraction: float = 0.25,
        batch_size: int = 64,
        eval_batch_size: int = 256,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if name not in IMAGE_DATASETS:
            raise ConfigError(f"dataset.name={name!r}: image datasets are {', '.join(IMAGE_DATASETS)}")
        self.save_hyperparameters(logger=False)
        self.input_dim: tuple[int, int, int] = (0, 0, 0)
        self.num_classes = 10
        self.train_set: Optional[TensorDataset] = None

    def setup(self, stage: Optional[str] = None) -> None:
        """Load, split and standardise (idempotent)."""
        if self.train_set is not None:
            return
        hp = self.hparams
        if hp.name == "digits":
            x, y = _digits()
            rest, test = stratified_split(y, hp.test_fraction, hp.seed)
            x_test, y_test, x, y = x[test], y[test], x[rest], y[rest]
        else:
            x, y = _torchvision(hp.name, Path(hp.root), train=True)
            x_test, y_test = _torchvision(hp.name, Path(hp.root), train=False)
        fit, val = stratified_split(y, hp.val_fraction, hp.seed + 1)
        mean = x[fit].mean(axis=(0, 2, 3), keepdims=True)
        std = x[fit].std(axis=(0, 2, 3), keepdims=True) + 1e-6

        def tensors(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
            return TensorDataset(torch.from_numpy((images - mean) / std).float(), torch.from_numpy(labels))

        self.train_set, self.val_set = tensors(x[fit], y[fit]), tensors(x[val], y[val])
        self.test_set = tensors(x_test, y_test)
        self.input_dim = tuple(int(v) for v in x.shape[1:])  # type: ignore[assignment]
        self.num_classes = int(max(y.max(), y_test.max()) + 1)

    def prepare_data(self) -> None:
        """Nothing to fetch: digits ships with scikit-learn, the others must be on disk."""
