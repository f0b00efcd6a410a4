"""Temporal-segment front end of TS-LSTM (Ma et al. 2019, arXiv:1703.10667) and TS-VIB-LSTM
(docs/methods/ts-lstm.md).

The ``T`` frame features are cut into ``S`` equal segments of ``T // S`` frames (a tail shorter than a segment
is dropped, as the authors' code drops frame 25 of 25 with S = 3). Each segment has its own ``BatchNorm1d``
over the feature dimension, shared by that segment's frames, and is max-pooled over time: the recurrent layer
then runs over ``S`` pooled vectors.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn


class TemporalSegmentPool(nn.Module):
    """``(B, T, L) -> (B, S, L)``: per-segment batch norm, then max over the segment's frames."""

    def __init__(self, num_features: int, segments: int = 3) -> None:
        super().__init__()
        if segments < 1:
            raise ValueError(f"segments must be >= 1, got {segments}")
        self.segments = segments
        self.norms = nn.ModuleList(nn.BatchNorm1d(num_features) for _ in range(segments))

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, t, d = x.shape
        if lengths is not None and bool((lengths != t).any()):
            raise ValueError("temporal segments need equal-length clips (every length equal to T)")
        seg = t // self.segments
        if seg < 1:
            raise ValueError(f"{t} frames cannot make {self.segments} temporal segments")
        pooled = []
        for s, norm in enumerate(self.norms):
            part = x[:, s * seg : (s + 1) * seg].reshape(b * seg, d)
            pooled.append(norm(part).view(b, seg, d).amax(dim=1))
        return torch.stack(pooled, dim=1)

    def select(self, index: torch.Tensor) -> TemporalSegmentPool:
        """A copy that handles only features ``index`` (for the compact model after input pruning)."""
        new = TemporalSegmentPool(len(index), self.segments).to(index.device)
        with torch.no_grad():
            for old_bn, new_bn in zip(self.norms, new.norms):
                new_bn.weight.copy_(old_bn.weight[index])
                new_bn.bias.copy_(old_bn.bias[index])
                new_bn.running_mean.copy_(old_bn.running_mean[index])
                new_bn.running_var.copy_(old_bn.running_var[index])
                new_bn.num_batches_tracked.copy_(old_bn.num_batches_tracked)
                new_bn.momentum, new_bn.eps = old_bn.momentum, old_bn.eps
        new.train(self.training)
        return new
