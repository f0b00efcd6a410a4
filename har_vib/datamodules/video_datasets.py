"""torch Datasets over videos: cached CNN features per frame, or raw frames flattened for an end-to-end LSTM."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from har_vib.data.sampling import sample_indices
from har_vib.data.splits import VideoRecord
from har_vib.data.video import VideoDecodeError, known_probes, read_frames, remember_probes
from har_vib.datamodules.samplers import item_rng
from har_vib.features.fusion import fuse_streams, fused_dim
from har_vib.features.store import FeatureStore

log = logging.getLogger(__name__)

__all__ = [
    "CachedFeatureDataset",
    "RawFrameDataset",
    "feature_stats",
    "fixed_length_collate",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CachedFeatureDataset(Dataset):
    """Per video: ``frames`` of the store's cached frames (random subset re-drawn every epoch when training),
    with the streams' features fused per frame (:func:`fuse_streams`) -> ``(x (T, D), y)``."""

    def __init__(
        self,
        records: Sequence[VideoRecord],
        stores: Sequence[FeatureStore],
        frames: int,
        sampling: str = "random",
        train: bool = False,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        fusion: str = "concat",
    ) -> None:
        self.records = list(records)
        self.stores = list(stores)
        self.mean, self.std = mean, std
        self.frames = frames
        self.sampling = sampling
        self.train = train
        self.fusion = fusion
        self.dim = fused_dim([s.dim for s in self.stores], fusion)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        record = self.records[i]
        cached = self.stores[0].frames
        rng = item_rng(i) if self.train else None
        idx = sample_indices(cached, self.frames, self.sampling, rng=rng, train=self.train)
        x = fuse_streams([s.load(record.video_id)[idx] for s in self.stores], self.fusion).astype(np.float32)
        if self.mean is not None and self.std is not None:
            x = (x - self.mean) / self.std
        return torch.from_numpy(x), torch.tensor(record.label)


def feature_stats(
    records: Sequence[VideoRecord], stores: Sequence[FeatureStore], fusion: str = "concat"
) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std (floored at 1e-6 of the largest) of the fused cached features of ``records``."""
    total, total_sq, count = 0.0, 0.0, 0
    for r in records:
        x = fuse_streams([s.load(r.video_id) for s in stores], fusion).astype(np.float64)
        total, total_sq, count = total + x.sum(0), total_sq + (x**2).sum(0), count + len(x)
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    std = np.maximum(std, 1e-6 * std.max() + 1e-12)
    return mean.astype(np.float32), std.astype(np.float32)


class RawFrameDataset(Dataset):
    """End-to-end input: ``frames`` RGB frames decoded at ``(height, width)``, ImageNet-normalised and flattened
    in (C, H, W) order to ``3*H*W`` per step (57,600 at 120x160, the paper's Table 1 setup)."""

    def __init__(
        self,
        records: Sequence[VideoRecord],
        video_dir: str | Path,
        frames: int,
        height: int = 120,
        width: int = 160,
        sampling: str = "random",
        train: bool = False,
        min_frames: int = 1,
        hflip: bool = False,
        decoder: str = "auto",
    ) -> None:
        self.records = list(records)
        self.video_dir = Path(video_dir)
        self.frames, self.height, self.width = frames, height, width
        self.sampling, self.train, self.min_frames = sampling, train, min_frames
        self.hflip = hflip and train
        self.decoder = decoder
        self.mean = np.asarray(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1)
        self.std = np.asarray(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1)
        self._warned: set[str] = set()

    @property
    def dim(self) -> int:
        """Input width per step."""
        return 3 * self.height * self.width

    def __len__(self) -> int:
        return len(self.records)

    def __getstate__(self) -> dict:
        # sent to each DataLoader worker when it starts: with it the probes of the setup scan, which the worker does
        # not inherit (it is not forked from this process), so no clip is decoded twice per epoch to be counted
        state = dict(self.__dict__)
        state["_probes"] = known_probes(self.video_dir / r.path for r in self.records)
        return state

    def __setstate__(self, state: dict) -> None:
        remember_probes(state.pop("_probes", {}))
        self.__dict__.update(state)

    def _clip(self, record: VideoRecord, rng: np.random.Generator | None) -> np.ndarray:
        sampler = lambda n: sample_indices(n, self.frames, self.sampling, rng=rng, train=self.train)  # noqa: E731
        frames = read_frames(
            self.video_dir / record.path, sampler, (self.width, self.height), self.min_frames, self.decoder
        )
        x = frames.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        if rng is not None and self.hflip and rng.random() < 0.5:
            x = x[..., ::-1]
        return ((x - self.mean) / self.std).reshape(self.frames, -1)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = item_rng(i) if self.train else None
        for attempt in range(len(self.records)):
            record = self.records[(i + attempt) % len(self.records)]
            try:
                return torch.from_numpy(np.ascontiguousarray(self._clip(record, rng))), torch.tensor(record.label)
            except VideoDecodeError as err:  # a video that broke after the scan: use the next one, say so once
                if record.path not in self._warned:
                    self._warned.add(record.path)
                    log.warning("skipping unreadable video %s: %s", record.path, err.reason)
        raise RuntimeError("no video of this dataset can be decoded")


def fixed_length_collate(batch: list[tuple[torch.Tensor, torch.Tensor]]):
    """Stack equal-length clips into ``(x (B, T, D), lengths (B,), y (B,))``, the batch format of the models."""
    xs, ys = zip(*batch)
    x = torch.stack(xs)
    return x, torch.full((x.shape[0],), x.shape[1], dtype=torch.long), torch.stack(ys)
