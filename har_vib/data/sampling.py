"""Which frames of a video to use: uniform, random (re-drawn every epoch), TSN segments, the authors' strides.

Every strategy returns ``num_samples`` sorted 0-based indices into ``[0, num_frames)``. A video shorter than
``num_samples`` is padded at the front by repeating its first frame, as the VIB-LSTM authors' loader does
(docs/data-pipeline.md). ``train=False`` always gives a deterministic choice.
"""

from __future__ import annotations

import numpy as np

from har_vib.errors import ConfigError

STRATEGIES = ("uniform", "random", "segment", "strided")


def check_strategy(strategy: str) -> None:
    """Raise a :class:`ConfigError` naming the choices for an unknown strategy."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"sampling strategy {strategy!r} is unknown; choose one of {', '.join(STRATEGIES)}")


def _pad_front(num_frames: int, num_samples: int) -> np.ndarray:
    return np.concatenate([np.zeros(num_samples - num_frames, np.int64), np.arange(num_frames, dtype=np.int64)])


def uniform_indices(num_frames: int, num_samples: int) -> np.ndarray:
    """Evenly spaced frames from first to last (``linspace`` rounded down)."""
    return np.linspace(0, num_frames - 1, num_samples).astype(np.int64)


def random_indices(num_frames: int, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``num_samples`` distinct frames drawn uniformly at random, sorted."""
    return np.sort(rng.choice(num_frames, size=num_samples, replace=False)).astype(np.int64)


def segment_indices(num_frames: int, num_samples: int, rng: np.random.Generator | None) -> np.ndarray:
    """TSN: ``num_samples`` equal segments, a random frame in each (train) or each segment's centre (test)."""
    edges = np.linspace(0, num_frames, num_samples + 1)
    lo, width = edges[:-1], np.diff(edges)
    offset = rng.random(num_samples) * width if rng is not None else width / 2
    return np.minimum(np.floor(lo + offset), num_frames - 1).astype(np.int64)


def strided_indices(num_frames: int, num_samples: int, rng: np.random.Generator | None) -> np.ndarray:
    """The VIB-LSTM authors' loader: stride ``s ~ U{1..N//T}``, start ``~ U{0..N-sT}`` (train); test: start 0,
    stride ``N//T``."""
    max_stride = num_frames // num_samples
    if rng is None:
        stride, start = max_stride, 0
    else:
        stride = int(rng.integers(1, max_stride + 1))
        start = int(rng.integers(0, num_frames - stride * num_samples + 1))
    return start + stride * np.arange(num_samples, dtype=np.int64)


def sample_indices(
    num_frames: int,
    num_samples: int,
    strategy: str = "uniform",
    rng: np.random.Generator | None = None,
    train: bool = False,
) -> np.ndarray:
    """Frame indices for one clip; ``rng`` is required when ``train`` and the strategy is random."""
    check_strategy(strategy)
    if num_frames <= 0:
        raise ValueError(f"cannot sample from a video with {num_frames} frames")
    if num_samples <= 0:
        raise ConfigError(f"number of frames to sample must be > 0, got {num_samples}")
    if num_frames < num_samples:
        return _pad_front(num_frames, num_samples)
    if train and strategy != "uniform" and rng is None:
        raise ValueError(f"strategy {strategy!r} in training needs an rng")
    rng = rng if train else None
    if strategy == "uniform":
        return uniform_indices(num_frames, num_samples)
    if strategy == "random":
        return (
            random_indices(num_frames, num_samples, rng)
            if rng is not None
            else uniform_indices(num_frames, num_samples)
        )
    if strategy == "segment":
        return segment_indices(num_frames, num_samples, rng)
    return strided_indices(num_frames, num_samples, rng)
