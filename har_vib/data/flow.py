"""TV-L1 optical flow, by OpenCV contrib or by the batched PyTorch port (``flow.backend=opencv|torch``), stored
per video as 8-bit images (the denseflow / mmaction2 layout).

Flow between frames ``i`` and ``i+1`` is clipped to ``[-bound, bound]`` pixels and mapped linearly to
``[0, 255]`` (``u8 = round((f + bound) * 255 / (2 bound))``, so 127.5 is zero motion), then written as
``flow_x_%05d.jpg`` / ``flow_y_%05d.jpg``, 1-based, in one folder per video, next to a ``meta.json`` that records
the algorithm, its parameters and the bound. A video with N frames has N-1 flow frames.

A dataset's flow lives under ``<cache>/<dataset>/tvl1-<hash>``, the hash covering the flow settings, the video
folder and how videos are decoded, so a second copy of a dataset never reads another copy's flow. Each video's
``meta.json`` records the size and modification time of the video file it was computed from; a video changed or
re-encoded since is recomputed (and said so). A folder is written to a temp name and renamed when complete, so an
interrupted extraction never leaves a half-written video behind, and a rerun skips every current folder.

Extraction can be split into shards (:mod:`har_vib.data.shards`): each process writes only the folders of the
videos it owns and its own ``skipped.shard-<k>-of-<n>.json``; :func:`flow_skipped` merges them. Only a video's own
fault (it does not decode, it is too short, its flow cannot be computed) makes it a skipped video; a failed write
(disk full, quota, permissions) is an ``OSError`` naming the file, and stops the extraction with nothing recorded.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from har_vib.data.shards import ALL, Shard, read_skipped, remove_own_temps, temp_filter
from har_vib.data.tvl1_params import TVL1Params  # defined here before; still importable from here
from har_vib.data.video import (
    DECODING,
    VideoDecodeError,
    clean_reason,
    probe,
    read_frames,
    short_side_size,
)
from har_vib.errors import ConfigError
from har_vib.utils.io import TMP_PREFIX, atomic_dir, file_identity, stable_hash, write_json

META_FILE = "meta.json"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlowConfig:
    """Everything that determines the stored flow of a video."""

    tvl1: TVL1Params = TVL1Params()
    bound: float = 20.0
    short_side: int | None = None  # resize (aspect kept) before flow; None = native size
    image_format: str = "jpg"
    jpeg_quality: int = 95
    min_frames: int = 2
    backend: str = "opencv"  # opencv | torch (same algorithm, same output format; its own cache folder)

    def __post_init__(self) -> None:
        if self.min_frames < 2:
            raise ConfigError(f"flow.min_frames={self.min_frames}: flow needs at least 2 frames (one pair)")

    def key(self) -> dict[str, Any]:
        """The fields that change stored pixels (used in the cache folder's hash)."""
        fields = asdict(self)
        return {"algorithm": f"tvl1-{fields.pop('backend')}", **fields}


def flow_config_from(cfg: Any) -> FlowConfig:
    """Build a :class:`FlowConfig` from a mapping (the Hydra ``flow`` group); unknown keys are an error."""
    data = dict(cfg or {})
    data.pop("_target_", None)
    for runtime_only in ("device", "batch_pairs"):  # how the torch backend runs, not what it computes
        data.pop(runtime_only, None)
    if data.get("backend", "opencv") not in ("opencv", "torch"):
        raise ConfigError(f"flow.backend={data['backend']!r}: use opencv or torch")
    tvl1 = dict(data.pop("tvl1", {}) or {})
    if "lambda" in tvl1:
        tvl1["lambda_"] = tvl1.pop("lambda")
    try:
        return FlowConfig(tvl1=TVL1Params(**tvl1), **data)
    except TypeError as err:
        raise ConfigError(f"flow config: {err} (see conf/flow/tvl1.yaml for the keys)") from None


def check_optflow() -> None:
    """Raise a clear error when OpenCV lacks the contrib ``optflow`` module that holds TV-L1."""
    if not hasattr(cv2, "optflow"):
        raise ConfigError(
            "this OpenCV build has no cv2.optflow (TV-L1 lives in opencv-contrib). Fix: "
            "pip uninstall -y opencv-python opencv-python-headless && pip install opencv-contrib-python-headless"
        )


def create_tvl1(params: TVL1Params) -> Any:
    """An OpenCV ``DualTVL1OpticalFlow`` with ``params`` (note OpenCV's keyword ``innnerIterations``)."""
    check_optflow()
    return cv2.optflow.DualTVL1OpticalFlow_create(
        tau=params.tau,
        theta=params.theta,
        nscales=params.nscales,
        warps=params.warps,
        epsilon=params.epsilon,
        innnerIterations=params.inner_iterations,
        outerIterations=params.outer_iterations,
        scaleStep=params.scale_step,
        gamma=params.gamma,
        medianFiltering=params.median_filtering,
        lambda_=params.lambda_,
    )


def quantize_flow(flow: np.ndarray, bound: float) -> np.ndarray:
    """Float flow (..., 2) in pixels -> uint8: clip to +-bound, map linearly to [0, 255]."""
    scaled = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2 * bound))
    return np.round(scaled).astype(np.uint8)


def dequantize_flow(flow_u8: np.ndarray, bound: float) -> np.ndarray:
    """uint8 flow -> float pixels (the inverse of :func:`quantize_flow` up to rounding)."""
    return flow_u8.astype(np.float32) * (2 * bound / 255.0) - bound


def tvl1_flow(frames_rgb: np.ndarray, params: TVL1Params = TVL1Params()) -> np.ndarray:
    """Float32 flow (N-1, H, W, 2) between consecutive RGB frames (N, H, W, 3)."""
    if len(frames_rgb) < 2:
        raise ValueError(f"flow needs at least 2 frames, got {len(frames_rgb)}")
    algo = create_tvl1(params)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames_rgb]
    out = np.empty((len(gray) - 1, *gray[0].shape, 2), np.float32)
    for i in range(len(gray) - 1):
        out[i] = algo.calc(gray[i], gray[i + 1], None)
    return out


def flow_to_image(flow_u8: np.ndarray, bound: float) -> np.ndarray:
    """Stored flow (..., H, W, 2) uint8 -> 3-channel uint8 image for an ImageNet CNN.

    Channels: R = x component, G = y component (both as stored, 128 = still), B = motion magnitude
    ``min(|f|, bound) * 255 / bound`` (0 = still). Every channel is a monotone map of the flow, so the image
    carries direction and speed.
    """
    f = dequantize_flow(flow_u8, bound)
    mag = np.minimum(np.sqrt((f**2).sum(-1)), bound) * (255.0 / bound)
    return np.concatenate([flow_u8, np.round(mag).astype(np.uint8)[..., None]], axis=-1)


def frame_name(component: str, index: int, image_format: str = "jpg") -> str:
    """``flow_x_00001.jpg`` style names, 1-based like denseflow."""
    return f"flow_{component}_{index + 1:05d}.{image_format}"


def write_flow_folder(folder: Path, flow_u8: np.ndarray, meta: dict[str, Any], config: FlowConfig) -> None:
    """Write one video's flow images and ``meta.json`` atomically, replacing an outdated folder.

    Images are encoded in memory and written with Python's file I/O (``cv2.imwrite`` only returns False on a full
    disk), so a failed write raises an ``OSError`` that names the file (as it will be called once the folder is
    complete) and carries the kernel's errno; the temp folder is removed and nothing is left at ``folder``."""
    ext = f".{config.image_format}"
    params = [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality] if config.image_format == "jpg" else []
    with atomic_dir(folder, replace=True) as tmp:
        for i, pair in enumerate(flow_u8):
            for c, component in enumerate("xy"):
                name = frame_name(component, i, config.image_format)
                ok, data = cv2.imencode(ext, np.ascontiguousarray(pair[..., c]), params)
                if not ok:
                    raise ValueError(f"OpenCV cannot encode flow as {config.image_format!r} (flow.image_format)")
                try:
                    with open(tmp / name, "wb") as fh:
                        fh.write(data.tobytes())
                except OSError as err:
                    raise _named(err, folder / name) from None
        try:
            write_json({**meta, "num_flow_frames": int(len(flow_u8))}, tmp / META_FILE)
        except OSError as err:
            raise _named(err, folder / META_FILE) from None


def read_flow_meta(folder: str | Path) -> dict[str, Any]:
    """The ``meta.json`` of a finished flow folder."""
    return json.loads((Path(folder) / META_FILE).read_text())


def read_flow(folder: str | Path, indices: Sequence[int] | np.ndarray) -> np.ndarray:
    """Stored flow frames ``indices`` (0-based, clamped to the last one) as uint8 (T, H, W, 2)."""
    folder = Path(folder)
    meta = read_flow_meta(folder)
    n, fmt = int(meta["num_flow_frames"]), meta.get("image_format", "jpg")
    out = []
    for i in np.clip(np.asarray(indices, dtype=np.int64), 0, n - 1):
        xy = [cv2.imread(str(folder / frame_name(c, int(i), fmt)), cv2.IMREAD_GRAYSCALE) for c in "xy"]
        if xy[0] is None or xy[1] is None:
            raise VideoDecodeError(folder, f"flow frame {int(i) + 1} is missing or unreadable")
        out.append(np.stack(xy, axis=-1))
    return np.stack(out)


def flow_root(
    cache_dir: str | Path, dataset: str, config: FlowConfig, video_dir: str | Path, decoder: str = "auto"
) -> Path:
    """Folder of a dataset's flow for one configuration: ``<cache>/<dataset>/tvl1-<hash>``, the hash covering the
    flow settings, the (resolved) video folder and the decoding."""
    return Path(cache_dir) / dataset / f"tvl1-{stable_hash(root_key(config, video_dir, decoder), 10)}"


def root_key(config: FlowConfig, video_dir: str | Path, decoder: str = "auto") -> dict[str, Any]:
    """Everything a flow root's content depends on (written to its ``params.json``)."""
    return {
        **config.key(),
        "video_root": str(Path(video_dir).resolve()),
        "decoding": {"version": DECODING, "decoder": decoder},
    }


def flow_folder(root: Path, video_id: str) -> Path:
    """Where one video's flow lives under a flow root (mirrors the dataset's class folders)."""
    return root / video_id


def flow_state(root: Path, video_id: str, identity: dict[str, int] | None = None) -> str:
    """``missing`` (no complete folder: it exists only once complete), ``stale`` (computed from another version of
    the video file than ``identity`` describes) or ``current``; reads the folder's ``meta.json`` at most once."""
    meta = flow_folder(root, video_id) / META_FILE
    if not meta.is_file():
        return "missing"
    if identity is None:
        return "current"
    try:
        return "current" if json.loads(meta.read_text()).get("source") == identity else "stale"
    except (OSError, ValueError):
        return "stale"


def flow_skipped(root: str | Path) -> dict[str, str]:
    """``{video id: reason}`` of the videos whose flow could not be computed, merged from every shard's skipped
    file under ``root``; a video with a complete flow folder (a later run succeeded) is not listed."""
    root = Path(root)
    reasons, _ = read_skipped(root)
    return {v: r for v, r in sorted(reasons.items()) if not (flow_folder(root, v) / META_FILE).is_file()}


def is_done(root: Path, video_id: str, identity: dict[str, int] | None = None) -> bool:
    """True when the video's flow folder is complete and, when ``identity`` is given, current."""
    return flow_state(root, video_id, identity) == "current"


def extract_video_flow(
    video_path: str | Path, folder: Path, config: FlowConfig, decoder: str = "auto"
) -> dict[str, Any]:
    """Decode every frame of one video, run OpenCV's TV-L1 on consecutive pairs, store the result (with the
    identity the video file had before decoding began). Raises :class:`VideoDecodeError` (and OpenCV's errors)
    for the video's faults, an ``OSError`` naming the file for a failed write."""
    identity = file_identity(video_path)
    frames = _decode_for_flow(video_path, config, decoder)
    return _write_video(folder, str(video_path), frames, tvl1_flow(frames, config.tvl1), config, identity)


_cancel: Any = None  # a worker's multiprocessing Event: set once a write failed, so queued videos are not started


def _worker_init(cancel: Any = None) -> None:
    global _cancel
    cv2.setNumThreads(1)
    _cancel = cancel


# (video id, skip reason or None, seconds, (errno, strerror, filename) of a failed write or None, started)
Result = tuple[str, str | None, float, tuple[int | None, str | None, str | None] | None, bool]


def _extract_one(job: tuple[str, str, str, FlowConfig, str]) -> Result:
    """One video, in a worker: a decode or flow failure is the video's (its reason is returned); a failed write is
    returned as the error's parts (re-raised by the parent: an exception object need not survive pickling)."""
    video_id, video_path, folder, config, decoder = job
    if _cancel is not None and _cancel.is_set():
        return video_id, None, 0.0, None, False
    start = time.perf_counter()
    try:
        identity = file_identity(video_path)
        frames = _decode_for_flow(video_path, config, decoder)
        flow = tvl1_flow(frames, config.tvl1)
    except VideoDecodeError as err:
        return video_id, err.reason, time.perf_counter() - start, None, True
    except MemoryError:  # native size x frame count beyond this machine: say so, go on with the others
        reason = "out of memory computing its flow (set flow.short_side)"
        return video_id, reason, time.perf_counter() - start, None, True
    except (cv2.error, OSError, ValueError) as err:  # one broken video never stops the others
        return video_id, f"{type(err).__name__}: {clean_reason(err)}", time.perf_counter() - start, None, True
    try:
        _write_video(Path(folder), str(video_path), frames, flow, config, identity)
    except OSError as err:  # the disk's fault, not the video's: stops the extraction
        return video_id, None, time.perf_counter() - start, (err.errno, err.strerror, err.filename), True
    return video_id, None, time.perf_counter() - start, None, True


def _decode_for_flow(video_path: str | Path, config: FlowConfig, decoder: str = "auto") -> np.ndarray:
    """Every frame, resized (aspect kept) to ``config.short_side`` as each is decoded, so a long HD video never sits
    in memory at its native size."""
    size = (lambda w, h: short_side_size(w, h, config.short_side)) if config.short_side else None
    return read_frames(video_path, lambda n: np.arange(n), size=size, min_frames=config.min_frames, decoder=decoder)


def _write_video(
    folder: Path,
    video_path: str,
    frames: np.ndarray,
    flow: np.ndarray,
    config: FlowConfig,
    identity: dict[str, int] | None,
) -> dict[str, Any]:
    meta = {
        **config.key(),
        "video": str(video_path),
        "num_frames": int(len(frames)),
        "height": int(frames.shape[1]),
        "width": int(frames.shape[2]),
        "source": identity,
    }
    try:
        write_flow_folder(folder, quantize_flow(flow, config.bound), meta, config)
    except OSError as err:
        if err.filename is None or TMP_PREFIX in str(err.filename):  # name the folder, not a temp
            raise _named(err, folder) from None
        raise
    return meta


def _drop_folder(folder: Path) -> None:
    """Remove an outdated flow folder of a video that now fails (moved aside first, so it vanishes at once): a
    complete folder always means the video's last extraction succeeded."""
    if not folder.exists():
        return
    aside = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f"{TMP_PREFIX}{folder.name}.old."))
    os.replace(folder, aside / "x")
    shutil.rmtree(aside, ignore_errors=True)


def _flow_size(video_path: str, config: FlowConfig, decoder: str) -> tuple[int, int]:
    """(height, width) of a video's flow frames; (0, 0) for a video that does not decode (it is skipped later)."""
    try:
        info = probe(video_path, decoder)
    except VideoDecodeError:
        return (0, 0)
    width, height = (info.width, info.height)
    if config.short_side:
        width, height = short_side_size(width, height, config.short_side)
    return (height, width)


def _extract_torch(
    todo: Sequence[tuple[str, str, str, FlowConfig, str]],
    config: FlowConfig,
    device: str,
    batch_pairs: int,
    skipped: dict[str, str],
    bar: Any,
) -> int:
    """The torch backend: frame pairs of consecutive videos (of one frame size) fill batches of
    ``batch_pairs``; a video is written as soon as all its pairs are done. Videos are taken in order of their flow
    frame size, so a dataset of many sizes (HMDB51) still fills whole batches."""
    import torch

    from har_vib.data.tvl1_torch import tvl1_torch

    todo = sorted(todo, key=lambda job: _flow_size(job[1], config, job[4]))
    params = config.tvl1
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    pending: list[dict[str, Any]] = []  # videos with pairs still to compute
    queue: list[tuple[dict[str, Any], int]] = []  # (video, pair index)
    written = 0

    def run_queue() -> None:
        nonlocal written
        if queue:
            prev = torch.from_numpy(np.stack([v["gray"][i] for v, i in queue])).to(device)
            nxt = torch.from_numpy(np.stack([v["gray"][i + 1] for v, i in queue])).to(device)
            for (v, i), f in zip(queue, tvl1_torch(prev, nxt, params).cpu().numpy()):
                v["flow"][i] = f
                v["left"] -= 1
            queue.clear()
        for v in [v for v in pending if v["left"] == 0]:
            _write_video(Path(v["folder"]), v["path"], v["frames"], v["flow"], config, v["source"])
            pending.remove(v)
            written += 1
            bar.update()

    for video_id, path, folder, _, decoder in todo:
        identity = file_identity(path)
        try:
            frames = _decode_for_flow(path, config, decoder)
        except VideoDecodeError as err:
            _record(video_id, err.reason, skipped)
            bar.update()
            continue
        except (OSError, ValueError) as err:
            _record(video_id, f"{type(err).__name__}: {clean_reason(err)}", skipped)
            bar.update()
            continue
        gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]).astype(np.float32)
        if pending and gray.shape[1:] != pending[0]["gray"].shape[1:]:
            run_queue()  # a batch holds one frame size: finish the queued videos first
        video = {
            "path": path,
            "folder": folder,
            "frames": frames,
            "gray": gray,
            "left": len(gray) - 1,
            "source": identity,
            "flow": np.zeros((len(gray) - 1, *gray.shape[1:], 2), np.float32),
        }
        pending.append(video)
        for i in range(len(gray) - 1):
            queue.append((video, i))
            if len(queue) >= batch_pairs:
                run_queue()
    run_queue()
    return written


def extract_dataset_flow(
    videos: Sequence[tuple[str, str | Path]],
    root: str | Path,
    config: FlowConfig,
    workers: int = 1,
    progress: bool = True,
    device: str = "auto",
    batch_pairs: int = 64,
    decoder: str = "auto",
    key: dict[str, Any] | None = None,
    shard: Shard = ALL,
) -> dict[str, Any]:
    """TV-L1 flow for every ``(video_id, path)`` that ``shard`` owns and that is not yet done under ``root``
    (``key``: what ``root`` was hashed from, :func:`root_key`, written to its ``params.json``): OpenCV in
    ``workers`` processes, or the torch backend in batches of ``batch_pairs`` frame pairs on ``device`` (auto: CUDA
    when there is one).

    Resumable: finished videos are skipped, leftovers of this shard's interrupted writes removed (another shard's
    temp may be a write in progress). A video whose file changed since its flow was computed (size or modification
    time) is recomputed. Videos that fail (the video's fault) are listed with their reason in the shard's skipped
    file (``skipped.json`` unsharded; :func:`flow_skipped` merges them). A failed write raises an ``OSError`` that
    names the file, after the videos in progress have finished; nothing of the failed video is left and nothing is
    recorded as skipped. Returns counts ``{extracted, done_before, skipped, recomputed}`` of this shard's videos.
    """
    if config.backend == "opencv":
        check_optflow()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    remove_own_temps(root, temp_filter(root, shard, suffixes=(".old",)))
    params = key or {**config.key(), "decoding": {"version": DECODING, "decoder": decoder}}
    _write_shared_json(params, root / "params.json")
    mine = shard.select(videos)
    states = {vid: flow_state(root, vid, file_identity(path)) for vid, path in mine}
    stale = [vid for vid, state in states.items() if state == "stale"]
    if stale:
        log.warning(
            "TV-L1 flow: %d videos changed since their flow was computed (size or modification time), recomputing: %s",
            len(stale),
            ", ".join(stale[:5]) + (" ..." if len(stale) > 5 else ""),
        )
    todo = [
        (vid, str(path), str(flow_folder(root, vid)), config, decoder) for vid, path in mine if states[vid] != "current"
    ]
    skipped: dict[str, str] = {}
    extracted = 0
    bar = tqdm(total=len(todo), desc=f"TV-L1 flow ({config.backend})", unit="video", disable=not progress)
    try:
        if config.backend == "torch":
            extracted = _extract_torch(todo, config, device, batch_pairs, skipped, bar)
        elif workers > 1 and len(todo) > 1:
            # spawn, not fork: forking a process that already runs decoder / OpenMP threads can deadlock the children
            # (callers' scripts need the usual `if __name__ == "__main__":` guard, as train.py and scripts/ have)
            ctx = mp.get_context("spawn")
            cancel = ctx.Event()
            failure = None
            with ctx.Pool(workers, initializer=_worker_init, initargs=(cancel,)) as pool:
                # after a failed write the queued videos return at once and the ones in progress finish (cleaning up
                # their temp folders), so leaving the pool (which terminates the workers) interrupts no write
                for vid, reason, _, io_error, started in pool.imap_unordered(_extract_one, todo, chunksize=1):
                    if io_error is not None and failure is None:
                        failure = io_error
                        cancel.set()
                    elif started and io_error is None:
                        extracted += _record(vid, reason, skipped)
                    bar.update()
            if failure is not None:
                raise OSError(*failure)
        else:
            for job in todo:
                vid, reason, _, io_error, _ = _extract_one(job)
                if io_error is not None:
                    raise OSError(*io_error)
                extracted += _record(vid, reason, skipped)
                bar.update()
    finally:
        bar.close()  # before any error message: a bar closed at exit would print after it
    for vid in skipped:
        _drop_folder(flow_folder(root, vid))  # an outdated folder of a video that now fails
    # this shard's file: its failures now, and earlier records of videos not in this run's list
    own = root / shard.skipped_file
    mine_ids = {vid for vid, _ in mine}
    try:
        earlier = json.loads(own.read_text()).get("skipped", {}) if own.is_file() else {}
    except (ValueError, AttributeError):
        earlier = {}  # not a record: rewritten below
    kept = {v: r for v, r in earlier.items() if v not in mine_ids}
    write_json({"skipped": dict(sorted({**kept, **skipped}.items()))}, own)
    return {
        "extracted": extracted,
        "done_before": len(mine) - len(todo),
        "skipped": len(skipped),
        "recomputed": len(stale),
    }


def _write_shared_json(data: Any, path: Path) -> None:
    """Write a file every shard writes alike (``params.json``) only when it differs: concurrent shards write the
    same bytes atomically, and a finished root is not touched again."""
    try:
        if path.is_file() and json.loads(path.read_text()) == json.loads(json.dumps(data, default=str)):
            return
    except ValueError:
        pass  # unreadable: rewrite it
    write_json(data, path)


def _named(err: OSError, path: Path) -> OSError:
    """``err`` naming ``path`` (``write()`` on a full disk raises without a file name; a file in a temp folder is
    named as it will be called once the folder is complete)."""
    err.filename, err.filename2 = str(path), None
    return err


def _record(vid: str, reason: str | None, skipped: dict[str, str]) -> int:
    """1 if the video was extracted; else note its reason in ``skipped`` and return 0."""
    if reason is None:
        return 1
    skipped[vid] = reason
    return 0
