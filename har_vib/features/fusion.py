"""Fusing the per-frame features of several streams (rgb, flow) into one input per frame, and its width."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FUSIONS = ("concat", "mean")


def fuse_streams(arrays: Sequence[np.ndarray], fusion: str = "concat") -> np.ndarray:
    """Combine per-stream (T, D_s) features per frame: ``concat`` -> (T, sum D_s); ``mean`` -> (T, D), which
    needs equal widths (the paper's HMDB51 LSTM reads 2048 inputs from RGB and flow Inception features)."""
    if fusion == "concat" or len(arrays) == 1:
        return np.concatenate(arrays, axis=1)
    if fusion == "mean":
        return np.mean(np.stack(arrays, axis=0), axis=0)
    raise ValueError(f"unknown stream fusion {fusion!r}; use one of {FUSIONS}")


def fused_dim(dims: Sequence[int], fusion: str = "concat") -> int:
    """Width of :func:`fuse_streams`' output for streams of widths ``dims``."""
    return int(sum(dims)) if fusion == "concat" else int(dims[0])
