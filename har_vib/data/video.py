"""Video decoding with decord: frame count, and chosen frames resized at decode time.

Every failure (missing, unreadable, zero-length, corrupt, truncated, too short) surfaces as one
:class:`VideoDecodeError` whose ``reason`` is short enough for a ``skipped.json`` entry. A reader is opened per
call and dropped afterwards (decord's readers hold decoder state and memory; dmlc/decord#197).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path

import numpy as np


class VideoDecodeError(RuntimeError):
    """A video cannot be used; ``reason`` says why in a few words."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class VideoInfo:
    """Frame count and native size of a decodable video."""

    num_frames: int
    width: int
    height: int
    fps: float


def _decord():
    import decord

    return decord


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoDecodeError(path, "file not found")
    if not path.is_file():
        raise VideoDecodeError(path, "not a regular file")
    if not os.access(path, os.R_OK):
        raise VideoDecodeError(path, "permission denied")
    if path.stat().st_size == 0:
        raise VideoDecodeError(path, "zero-length file")


def _open(path: Path, width: int = -1, height: int = -1):
    _check_file(path)
    decord = _decord()
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), width=width, height=height, num_threads=1)
    except Exception as err:  # decord raises RuntimeError or DECORDError with multi-line FFmpeg text
        raise VideoDecodeError(path, f"cannot open: {str(err).strip().splitlines()[0][:160]}") from None


def probe(path: str | Path) -> VideoInfo:
    """Frame count, native width/height and fps, by opening the container (decodes at most one frame)."""
    path = Path(path)
    reader = _open(path)
    num = len(reader)
    if num <= 0:
        raise VideoDecodeError(path, "no decodable frames")
    try:
        height, width = reader[0].shape[:2]
    except Exception as err:
        raise VideoDecodeError(path, f"first frame does not decode: {str(err).splitlines()[0][:160]}") from None
    return VideoInfo(num, int(width), int(height), float(reader.get_avg_fps()))


def short_side_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) scaled so the shorter side is exactly ``short_side``, aspect kept (long side rounded)."""
    scale = short_side / min(width, height)
    if width <= height:
        return short_side, max(short_side, int(round(height * scale)))
    return max(short_side, int(round(width * scale))), short_side


def read_frames(
    path: str | Path,
    indices: np.ndarray | list[int] | Callable[[int], np.ndarray],
    size: tuple[int, int] | None = None,
    min_frames: int = 1,
) -> np.ndarray:
    """Frames ``indices`` as uint8 RGB (T, H, W, 3), decoded at ``size=(width, height)`` (native if None).

    ``indices`` may be a function of the frame count (a sampler), so the container is opened only once.

    Indices past the end are clamped to the last frame the container reports (decord can hang when asked for
    frames a container over-reports, dmlc/decord#373, so the count is re-checked against what decodes).
    Raises :class:`VideoDecodeError` for a video with fewer than ``min_frames`` frames.
    """
    path = Path(path)
    width, height = size if size is not None else (-1, -1)
    try:
        return _decode(path, indices, width, height, min_frames)
    except VideoDecodeError as err:
        if size is None or not err.reason.startswith("decoding failed"):
            raise
    # decord's decode-time scaler rejects some output sizes ("The size must exactly match", e.g. 16x12):
    # decode at the native size and resize with OpenCV instead
    import cv2

    frames = _decode(path, indices, -1, -1, min_frames)
    return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])


def _decode(path: Path, indices, width: int, height: int, min_frames: int) -> np.ndarray:
    reader = _open(path, width, height)
    num = len(reader)
    if num < max(1, min_frames):
        raise VideoDecodeError(path, f"too short: {num} frames, need at least {max(1, min_frames)}")
    chosen = indices(num) if callable(indices) else indices
    idx = np.clip(np.asarray(chosen, dtype=np.int64), 0, num - 1)
    try:
        frames = reader.get_batch(idx.tolist()).asnumpy()
    except Exception as err:
        raise VideoDecodeError(path, f"decoding failed: {str(err).strip().splitlines()[0][:160]}") from None
    finally:
        del reader
    if frames.shape[0] != len(idx) or frames.ndim != 4 or frames.shape[-1] != 3:
        raise VideoDecodeError(path, f"decoder returned shape {frames.shape} for {len(idx)} frames")
    return frames


def frame_count(path: str | Path) -> int:
    """Number of frames the container reports (no frame is decoded)."""
    path = Path(path)
    return len(_open(path))
