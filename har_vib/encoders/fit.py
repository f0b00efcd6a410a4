"""Training the frame encoder on the task, its pure-PyTorch side: clips of the training videos, ``frames`` frames
each (:class:`ClipFrames`, :func:`clip_loader`), and the clip accuracy of the encoder with its per-stream heads.

The model and the fit (every stream through the shared encoder, the frame features averaged per clip, TSN-style,
and classified by a linear head per stream) are :class:`har_vib.lit_modules.encoder_fit.EncoderFitModule` and
:func:`har_vib.lit_modules.encoder_fit.fit_encoder`, in the Lightning layer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from har_vib.data.sampling import sample_indices
from har_vib.data.splits import VideoRecord
from har_vib.data.video import VideoDecodeError
from har_vib.features.backbones import FrameEncoder
from har_vib.features.extract import ClipSource, load_clip
from har_vib.utils.workers import loader_worker_options

log = logging.getLogger(__name__)

Item = Optional[tuple[dict[str, torch.Tensor], int]]


class ClipModel(Protocol):
    """What the helpers here and in :mod:`har_vib.encoders.compress` use of the model being trained: the frame
    encoder, one head per stream, the device, eval mode and the per-stream clip logits
    (:class:`har_vib.lit_modules.encoder_fit.EncoderFitModule` is one)."""

    encoder: FrameEncoder
    heads: Mapping[str, nn.Module]
    device: torch.device

    def eval(self) -> Any: ...

    def logits(self, batch: list[tuple[dict[str, torch.Tensor], int]]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Per-stream clip logits (B, C) and labels (B,)."""
        ...


class ClipFrames(Dataset):
    """``({stream: uint8 frames (K, H, W, 3)}, label)`` per training video; ``train`` draws ``K`` random frames
    per call (fresh every epoch), otherwise ``K`` evenly spaced ones. Unreadable videos give ``None`` (dropped by
    the collate function) so one broken file never stops the run."""

    def __init__(
        self,
        records: Sequence[VideoRecord],
        sources: Mapping[str, ClipSource],
        frames: int,
        train: bool,
        seed: int = 0,
    ) -> None:
        self.records = list(records)
        self.sources = dict(sources)
        self.frames = frames
        self.train = train
        self.seed = seed
        self.calls = 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> Item:
        rec = self.records[i]
        self.calls += 1
        rng = np.random.default_rng([self.seed, i, self.calls, torch.initial_seed() % 2**32]) if self.train else None
        sampler = lambda n: sample_indices(n, self.frames, "random", rng=rng, train=self.train)  # noqa: E731
        try:
            clip = {
                s: torch.from_numpy(load_clip(src, rec.video_id, rec.path, sampler)) for s, src in self.sources.items()
            }
        except VideoDecodeError as err:
            log.warning("encoder training skips %s: %s", rec.path, err.reason)
            return None
        return clip, int(rec.label)


def collate_clips(batch: list[Item]) -> list[tuple[dict[str, torch.Tensor], int]]:
    """Keep the readable items as a list (frame sizes may differ between videos before the crop)."""
    return [b for b in batch if b is not None]


def clip_loader(dataset: ClipFrames, batch_size: int, shuffle: bool, num_workers: int, seed: int) -> DataLoader:
    """A DataLoader over :class:`ClipFrames` with a seeded shuffle."""
    gen = torch.Generator().manual_seed(seed)
    workers = loader_worker_options(num_workers)  # a clean start: no decoder state inherited
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=collate_clips,
        generator=gen,
        persistent_workers=False,
        **workers,
    )


@torch.no_grad()
def clip_accuracy(module: ClipModel, loader: DataLoader) -> float:
    """Accuracy of the clip heads (streams' logits summed) on ``loader``, in eval mode."""
    module.eval()
    correct = total = 0
    for batch in loader:
        if not batch:
            continue
        logits, y = module.logits(batch)
        pred = torch.stack(list(logits.values())).sum(0).argmax(1)
        correct += int((pred == y).sum())
        total += len(y)
    return correct / max(total, 1)


def describe(history: Sequence[Mapping[str, Any]]) -> str:
    """The last history row as one log line."""
    if not history:
        return "no epochs"
    return ", ".join(f"{k} {v:.4g}" for k, v in history[-1].items())
