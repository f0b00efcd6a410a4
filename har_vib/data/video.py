"""Frame-exact video decoding: frame ``i`` is the ``i``-th frame a plain sequential FFmpeg decode outputs.

Two decoders sit behind :func:`read_frames`:

- **PyAV** (FFmpeg's Python binding), decoding sequentially from the first frame. Exact for every container and
  codec, and it survives containers that lie: an unfinalised AVI that claims 1,073,741,824 frames decodes the
  frames it really holds. The frame count is counted by decoding (cheap: no colour conversion), never read from
  the header.
- **decord**, random access by seeking. Faster on long H.264/HEVC files, but it returns other frames than the
  ones asked for on AVIs with B-frames (Xvid/DivX, the codecs of UCF101 and HMDB51), drops the first GOP of
  MPEG-1 program streams, ignores rotation metadata, and aborts the process (``std::bad_alloc``) on some
  unfinalised AVIs (dmlc/decord#195, #252, #365). It is used only where it is exact: ISO-BMFF files
  (``.mp4``/``.mov``) holding H.264 or HEVC, with no display rotation and a sample count that agrees with the
  stream's duration, and only for sparse reads (at most 1/8 of the frames: a dense read decodes everything
  anyway, and PyAV does it at bounded memory). Everything else goes to PyAV.

``decoder="auto"`` (the default) picks per file as above; ``"pyav"`` or ``"decord"`` force one. Frames carrying a
display rotation (phone videos) are returned upright, as players and the ``ffmpeg`` command show them.

Every failure (missing, unreadable, zero-length, no video stream, corrupt, too short) surfaces as one
:class:`VideoDecodeError` whose ``reason`` is one short line without library build paths or timestamps, fit for
a ``skipped.json`` entry. A reader is opened per call and closed afterwards.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DECODERS = ("auto", "pyav", "decord")
# what caches record about decoding: bump when the frames a video decodes to change
DECODING = "frame-exact-1"
# containers and codecs where decord's random access returns exactly the frames a sequential decode gives
_DECORD_EXACT_FORMATS = ("mov", "mp4")
_DECORD_EXACT_CODECS = ("h264", "hevc")

Indices = np.ndarray | Sequence[int] | Callable[[int], np.ndarray]
Size = tuple[int, int] | Callable[[int, int], tuple[int, int]]
_DECORD_CHUNK = 32  # frames per decord batch
_DECORD_SPARSE = 8  # auto gives decord reads of at most 1/8 of a video's frames (seeking pays off there)
# probes remembered per process: a whole dataset's (UCF101 13,320 videos, HMDB51 6,766; ~0.5 KB each). Fewer than the
# videos an epoch reads and the LRU evicts every entry before its next use: each clip is then decoded twice per epoch
# (the probe counts frames by decoding them all), a step up in cost per video past the limit (it was 4,096)
PROBE_CACHE_SIZE = 1 << 16

# (path, size in bytes, modification time in ns, decoder): one version of a file, as probed
ProbeKey = tuple[str, int, int, str]
_PROBES: OrderedDict[ProbeKey, VideoInfo] = OrderedDict()  # least recently used first
_PROBES_LOCK = threading.Lock()


class VideoDecodeError(RuntimeError):
    """A video cannot be used; ``reason`` says why in a few words."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds, as decoded.

    ``num_frames`` is counted by decoding (not the container's claim); ``width``/``height`` are those of the
    upright frames (after the display rotation); ``decoder`` is the one :func:`read_frames` uses for this file;
    ``decord_exact`` whether decord's seeking is exact for it (what ``auto`` decides by).
    """

    num_frames: int
    width: int
    height: int
    fps: float
    codec: str
    container: str
    rotation: int
    decoder: str
    claimed_frames: int = 0
    decord_exact: bool = False


_BUILD_PATH = re.compile(r"\[[0-9:\s]+\]\s*|(?:/[\w.+-]+)+/(?:src|include)/[\w./+-]+:\d+:\s*")
_QUOTED_PATH = re.compile(r":\s*'[^']*'\s*$|\s*'/[^']*'")
_ABS_PATH = re.compile(r"(?<![\w.])(?:/[^\s,:;'\"]+)+")


def clean_reason(err: BaseException | str, limit: int = 120) -> str:
    """First line of a library error, without build paths, timestamps, errno prefixes or the file's own name."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = _BUILD_PATH.sub("", text)
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)
    text = _QUOTED_PATH.sub("", text)
    text = re.sub(r"\s*([:,])\s*,", r"\1", _ABS_PATH.sub("", text))
    text = re.sub(r"\s{2,}", " ", text).strip(" :,")
    return (text or type(err).__name__)[:limit]


def check_decoder(decoder: str) -> None:
    """Raise a ``ConfigError`` naming the choices for an unknown decoder."""
    if decoder not in DECODERS:
        from har_vib.errors import ConfigError

        raise ConfigError(f"dataset.decoder={decoder!r}: choose one of {', '.join(DECODERS)}")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoDecodeError(path, "file not found")
    if not path.is_file():
        raise VideoDecodeError(path, "not a regular file")
    if not os.access(path, os.R_OK):
        raise VideoDecodeError(path, "permission denied")
    if path.stat().st_size == 0:
        raise VideoDecodeError(path, "zero-length file")


@contextmanager
def _pyav_stream(path: Path) -> Iterator[tuple[Any, Any]]:
    """An open PyAV container and its first video stream, single-threaded (one decoder per worker)."""
    import av

    _check_file(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError) as err:
        raise VideoDecodeError(path, f"cannot open: {clean_reason(err)}") from None
    try:
        if not container.streams.video:
            raise VideoDecodeError(path, "no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        yield container, stream
    finally:
        container.close()


def _decoded(container: Any, stream: Any) -> Iterator[Any]:
    """Frames in decode output order; a corrupt tail ends the video where decoding stops (as ``ffmpeg`` does)."""
    import av

    frames = container.decode(stream)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except (av.FFmpegError, OSError, ValueError, MemoryError):
            return
        yield frame


def _quarter_turns(rotation: int) -> int:
    """A display rotation (degrees counter-clockwise) as quarter turns, 0..3."""
    return int(round(rotation / 90.0)) % 4


def _upright(frame_rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display rotation (degrees counter-clockwise, multiples of 90) as players do."""
    k = _quarter_turns(rotation)
    return np.ascontiguousarray(np.rot90(frame_rgb, k)) if k else frame_rgb


def _rotation(frame: Any) -> int:
    try:
        return int(frame.rotation or 0)
    except (AttributeError, ValueError):
        return 0


def _decord_is_exact(container: Any, stream: Any, rotation: int) -> bool:
    """True when decord's seeking is known to give the frames a sequential decode gives (see the module doc)."""
    formats = set(container.format.name.split(","))
    if not formats & set(_DECORD_EXACT_FORMATS) or stream.codec_context.name not in _DECORD_EXACT_CODECS:
        return False
    if rotation:
        return False
    claimed = int(stream.frames or 0)
    if claimed <= 0 or stream.duration is None or not stream.average_rate:
        return False
    expected = float(stream.duration * stream.time_base * stream.average_rate)
    return abs(claimed - expected) <= max(2.0, 0.02 * expected)


def probe(path: str | Path, decoder: str = "auto") -> VideoInfo:
    """Decoded frame count, upright size, fps and codec of a video, and the decoder :func:`read_frames` uses.

    One pass of PyAV over the file: the first frame gives the size and display rotation; the count comes from
    decoding every frame (no colour conversion), except for files decord reads exactly, whose sample table is
    checked against the stream's duration instead. Results are remembered per process for the file as it is
    (path, size, modification time), so a clip read every epoch is counted once. Raises
    :class:`VideoDecodeError` when no frame decodes.
    """
    check_decoder(decoder)
    path = Path(path)
    _check_file(path)
    st = path.stat()
    return _probe_version((str(path), st.st_size, st.st_mtime_ns, decoder))


def _probe_version(key: ProbeKey) -> VideoInfo:
    """:func:`probe` of one version of a file: remembered, else probed and remembered."""
    with _PROBES_LOCK:
        info = _PROBES.get(key)
        if info is not None:
            _PROBES.move_to_end(key)
            return info
    info = _probe_file(*key)
    remember_probes({key: info})
    return info


def known_probes(paths: Iterable[str | Path] | None = None) -> dict[ProbeKey, VideoInfo]:
    """The probes this process remembers (of the files under ``paths`` only, when given), keyed by file version.

    A DataLoader worker starts with an empty memory (it is not forked from the process that probed: see
    :mod:`har_vib.utils.workers`); datasets hand it these with :func:`remember_probes`, so a clip scanned at setup
    is not decoded a second time to be counted in every epoch.
    """
    wanted = None if paths is None else {str(p) for p in paths}
    with _PROBES_LOCK:
        return {k: v for k, v in _PROBES.items() if wanted is None or k[0] in wanted}


def remember_probes(probes: Mapping[ProbeKey, VideoInfo]) -> None:
    """Add ``probes`` (from :func:`known_probes`, possibly of another process) to this process's memory; the least
    recently used are forgotten past :data:`PROBE_CACHE_SIZE`. An entry only ever answers for the same path, size and
    modification time, so a file changed since is probed again."""
    with _PROBES_LOCK:
        for key, info in probes.items():
            _PROBES[key] = info
            _PROBES.move_to_end(key)
        while len(_PROBES) > PROBE_CACHE_SIZE:
            _PROBES.popitem(last=False)


def forget_probes() -> None:
    """Empty this process's probe memory (tests; a process that rewrote files in place within one mtime tick)."""
    with _PROBES_LOCK:
        _PROBES.clear()


def _probe_file(path_str: str, size: int, mtime_ns: int, decoder: str) -> VideoInfo:
    """:func:`probe` of one version of a file (``size`` and ``mtime_ns`` are the cache key, not read here)."""
    path = Path(path_str)
    with _pyav_stream(path) as (container, stream):
        fmt, codec = container.format.name, stream.codec_context.name
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        frames = _decoded(container, stream)
        first = next(frames, None)
        if first is None:
            raise VideoDecodeError(path, "no decodable frames")
        rotation = _rotation(first)
        exact = _decord_is_exact(container, stream, rotation)
        use = ("decord" if exact else "pyav") if decoder == "auto" else decoder
        claimed = int(stream.frames or 0)
        count = claimed if use == "decord" and exact else 1 + sum(1 for _ in frames)
    width, height = (first.height, first.width) if _quarter_turns(rotation) % 2 else (first.width, first.height)
    return VideoInfo(count, int(width), int(height), fps, codec, fmt.split(",")[0], rotation, use, claimed, exact)


def frame_count(path: str | Path, decoder: str = "auto") -> int:
    """Number of frames :func:`read_frames` can return (decoded, never the container's claim alone)."""
    return probe(path, decoder).num_frames


def short_side_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) scaled so the shorter side is exactly ``short_side``, aspect kept (long side rounded)."""
    scale = short_side / min(width, height)
    if width <= height:
        return short_side, max(short_side, int(round(height * scale)))
    return max(short_side, int(round(width * scale))), short_side


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 frames (T, H, W, 3) resized to ``size=(width, height)`` with OpenCV's area filter (upsampling:
    bilinear), unchanged when already that size."""
    import cv2

    width, height = size
    if frames.shape[2] == width and frames.shape[1] == height:
        return frames
    shrink = width <= frames.shape[2] and height <= frames.shape[1]
    inter = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (width, height), interpolation=inter) for f in frames])


def read_frames(
    path: str | Path,
    indices: Indices,
    size: Size | None = None,
    min_frames: int = 1,
    decoder: str = "auto",
) -> np.ndarray:
    """Frames ``indices`` (0-based, in decode output order) as upright uint8 RGB (T, H, W, 3).

    ``indices`` may be a function of the frame count (a sampler), so the count is known before choosing.
    Indices past the end are clamped to the last frame. ``size=(width, height)``, or a function of the upright
    native ``(width, height)`` returning it, resizes each frame as soon as it is decoded (:func:`resize_frames`),
    so memory holds the frames at their output size, never a whole video at its native size; None keeps the
    native size. Raises :class:`VideoDecodeError` for a video with fewer than ``min_frames`` decodable frames, or
    any other failure.
    """
    check_decoder(decoder)
    path = Path(path)
    info = probe(path, decoder)
    need = max(1, min_frames)
    if info.num_frames < need:
        raise VideoDecodeError(path, f"too short: {info.num_frames} frames, need at least {need}")
    chosen = indices(info.num_frames) if callable(indices) else indices
    idx = np.clip(np.asarray(chosen, dtype=np.int64).reshape(-1), 0, info.num_frames - 1)
    out_size = size(info.width, info.height) if callable(size) else size
    if not len(idx):
        width, height = out_size or (info.width, info.height)
        return np.zeros((0, height, width, 3), np.uint8)
    use = info.decoder
    if use == "decord" and decoder == "auto" and len(np.unique(idx)) * _DECORD_SPARSE > info.num_frames:
        # a dense read decodes (nearly) every frame anyway: PyAV does it sequentially at bounded memory, where
        # decord's native-size buffers grew to 3.7 GB on a 792-frame 720p clip (and it was 2x slower)
        use = "pyav"
    if use == "decord":
        frames = _read_decord(path, idx, info, out_size)
    else:
        frames = _read_pyav(path, idx, info, out_size)
    if frames.ndim != 4 or frames.shape[0] != len(idx) or frames.shape[-1] != 3:
        raise VideoDecodeError(path, f"decoder returned shape {frames.shape} for {len(idx)} frames")
    return frames


def _read_pyav(path: Path, idx: np.ndarray, info: VideoInfo, size: tuple[int, int] | None) -> np.ndarray:
    """Sequential decode up to the last index; only the chosen frames are converted to RGB (and resized)."""
    wanted = set(int(i) for i in idx)
    last = int(idx.max())
    got: dict[int, np.ndarray] = {}
    with _pyav_stream(path) as (container, stream):
        for i, frame in enumerate(_decoded(container, stream)):
            if i in wanted:
                rgb = _upright(frame.to_ndarray(format="rgb24"), info.rotation)
                got[i] = resize_frames(rgb[None], size)[0] if size is not None else rgb
            if i >= last:
                break
    missing = wanted - set(got)
    if missing:
        raise VideoDecodeError(path, f"frame {min(missing)} did not decode on a second pass ({len(got)} did)")
    return np.stack([got[int(i)] for i in idx])


def _read_decord(path: Path, idx: np.ndarray, info: VideoInfo, size: tuple[int, int] | None) -> np.ndarray:
    import decord

    if abs(info.claimed_frames - info.num_frames) > max(2, 0.02 * info.num_frames):
        # decord sizes its buffers from the container's claim: a lying header can abort the process
        claim = f"claims {info.claimed_frames} frames" if info.claimed_frames else "gives no frame count"
        raise VideoDecodeError(
            path,
            f"container {claim}, {info.num_frames} decode; decord cannot read it safely "
            "(use dataset.decoder=auto or pyav)",
        )
    if not info.decord_exact:
        _warn_inexact_decord(str(path))
    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    except Exception as err:  # decord raises RuntimeError / DECORDError with FFmpeg's multi-line text
        raise VideoDecodeError(path, f"cannot open: {clean_reason(err)}") from None
    try:
        if len(reader) != info.num_frames:
            raise VideoDecodeError(path, f"decord counts {len(reader)} frames, a sequential decode {info.num_frames}")
        chunks = [
            reader.get_batch(idx[i : i + _DECORD_CHUNK].tolist()).asnumpy() for i in range(0, len(idx), _DECORD_CHUNK)
        ]
        return np.concatenate([resize_frames(c, size) for c in chunks] if size is not None else chunks)
    except VideoDecodeError:
        raise
    except Exception as err:
        raise VideoDecodeError(path, f"decoding failed: {clean_reason(err)}") from None
    finally:
        del reader


@functools.lru_cache(maxsize=1024)
def _warn_inexact_decord(path: str) -> None:
    """Say once per file that forced decord may return other frames than the ones asked for."""
    log.warning(
        "dataset.decoder=decord on %s: decord's seeking is not frame-exact for this container/codec (AVIs with "
        "B-frames, MPEG-1, rotated videos); frames may be others than the ones asked for. dataset.decoder=auto reads "
        "it exactly",
        path,
    )
