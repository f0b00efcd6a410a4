"""Small real sequence-classification datasets shipped inside the aeon package, splits, and padded batching
(the user's own files: :mod:`har_vib.data.sequence_files`).

Only the datasets bundled with aeon are offered: loading any other name would make aeon download it, and
har-vib never touches the network at run time.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from har_vib.data.sequence_files import SequenceSplit, load_ts_file
from har_vib.errors import ConfigError

__all__ = [  # SequenceSplit lives in sequence_files (no torch there: train.py's path checks import it)
    "SequenceDataset",
    "SequenceSplit",
    "bundled_classification_datasets",
    "channel_stats",
    "check_bundled_name",
    "load_bundled",
    "pad_collate",
    "stratified_split",
]


def _aeon_data_dir() -> Path:
    import aeon

    return Path(os.path.dirname(aeon.__file__)) / "datasets" / "data"


def _is_classification_ts(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            low = line.strip().lower()
            if low.startswith("@classlabel"):
                return low.split()[1] == "true"
            if low.startswith("@data"):
                break
    return False


@lru_cache(maxsize=1)
def bundled_classification_datasets() -> tuple[str, ...]:
    """Names of the classification datasets aeon ships (with both a TRAIN and a TEST ``.ts`` file)."""
    names = []
    root = _aeon_data_dir()
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        train, test = folder / f"{folder.name}_TRAIN.ts", folder / f"{folder.name}_TEST.ts"
        if train.exists() and test.exists() and _is_classification_ts(train):
            names.append(folder.name)
    return tuple(names)


def check_bundled_name(name: str) -> None:
    """Raise a :class:`ConfigError` naming the choices if aeon does not ship dataset ``name``."""
    available = bundled_classification_datasets()
    if name not in available:
        raise ConfigError(
            f"unknown dataset.name={name!r} for dataset=ts; the classification datasets aeon ships are: "
            f"{', '.join(available)} (set e.g. dataset.name=BasicMotions)"
        )


def load_bundled(name: str, split: str) -> SequenceSplit:
    """Load split ``'train'`` or ``'test'`` of the aeon-bundled dataset ``name``."""
    check_bundled_name(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = _aeon_data_dir() / name / f"{name}_{split.upper()}.ts"
    return load_ts_file(path, source=f"dataset.name={name} ({path.name})")


def channel_stats(sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std, each (C,), over every time step of every (T_i, C) sequence; NaNs are ignored. A
    channel with no finite value gets mean 0 and std 1, a constant one std 1."""
    stacked = np.concatenate(sequences, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN channel: handled below
        mean = np.nanmean(stacked, axis=0)
        std = np.nanstd(stacked, axis=0)
    mean[~np.isfinite(mean)] = 0.0
    std[~np.isfinite(std) | (std < 1e-8)] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held_out): ``fraction`` of every class held out, at least one sample of classes with 2+."""
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    held = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        n = int(round(len(idx) * fraction))
        if fraction > 0 and n == 0 and len(idx) > 1:
            n = 1
        held.extend(idx[:n].tolist())
    held_arr = np.sort(np.asarray(held, dtype=int))
    kept = np.setdiff1d(np.arange(len(labels)), held_arr)
    return kept, held_arr


class SequenceDataset(Dataset):
    """Sequences as float tensors (T, C) with integer labels."""

    def __init__(self, sequences: list[np.ndarray], targets: np.ndarray) -> None:
        if len(sequences) != len(targets):
            raise ValueError(f"{len(sequences)} sequences but {len(targets)} targets")
        self.sequences = [torch.from_numpy(np.nan_to_num(s, nan=0.0)) for s in sequences]
        self.targets = torch.as_tensor(targets, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sequences[i], self.targets[i]


def pad_collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pad (T_i, C) sequences to (B, T_max, C); return ``(x, lengths, y)``."""
    seqs, ys = zip(*batch)
    lengths = torch.tensor([s.shape[0] for s in seqs], dtype=torch.long)
    x = torch.nn.utils.rnn.pad_sequence(list(seqs), batch_first=True)
    return x, lengths, torch.stack(list(ys))
