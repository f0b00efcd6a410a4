"""Batched feature extraction: DataLoader workers decode, the encoder runs on batches of frames from many
videos, every video's features land in the :class:`~har_vib.features.store.FeatureStore` atomically.

Videos that cannot be read are skipped with their reason (``skipped.json``, per shard when the extraction is split
across processes: :mod:`har_vib.data.shards`); nothing stops the run, and a rerun only does what is missing. A
failed write (disk full, quota, permissions) is not the video's fault: it raises an ``OSError`` naming the file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from har_vib.data.flow import flow_skipped, flow_state, flow_to_image, read_flow, read_flow_meta
from har_vib.data.sampling import sample_indices
from har_vib.data.shards import ALL, Shard
from har_vib.data.video import DECODING, VideoDecodeError, known_probes, read_frames, remember_probes
from har_vib.features.backbones import FrameEncoder, Preprocessing
from har_vib.features.store import FeatureStore
from har_vib.utils.workers import loader_worker_options

log = logging.getLogger(__name__)

STREAMS = ("rgb", "flow")


@dataclass(frozen=True)
class ClipSource:
    """Where a stream's frames come from (the video folder for rgb, the flow root for flow) and how they are
    brought to the backbone's input (``prep``: timm's eval resize and centre crop)."""

    stream: str
    folder: Path
    frames: int
    sampling: str = "uniform"
    prep: Preprocessing | None = None
    min_frames: int = 2
    flow_bound: float = 20.0
    decoder: str = "auto"


def load_clip(
    source: ClipSource,
    video_id: str,
    rel_path: str,
    sampler: Callable[[int], np.ndarray] | None = None,
    flow_skips: Callable[[], Mapping[str, str]] | None = None,
) -> np.ndarray:
    """``source.frames`` uint8 frames of one video at the backbone's input size, (T, crop, crop, 3) (native size
    when ``source.prep`` is None); ``sampler`` (frame count -> indices) replaces the source's deterministic
    sampling (training draws random frames). ``flow_skips`` gives the flow extraction's skip records (read once by
    the caller, not once per video without flow: that re-read every ``skipped*.json``, quadratic in the videos).
    Raises :class:`VideoDecodeError` for an unusable video."""
    sampler = sampler or (lambda n: sample_indices(n, source.frames, source.sampling))
    if source.stream == "rgb":
        frames = read_frames(source.folder / rel_path, sampler, min_frames=source.min_frames, decoder=source.decoder)
    else:
        folder = source.folder / video_id
        if not (folder / "meta.json").is_file():
            skips = flow_skips() if flow_skips is not None else flow_skipped(source.folder)
            reason = skips.get(video_id) or "not extracted (run scripts/extract_flow.py with the same settings)"
            raise VideoDecodeError(folder, f"no optical flow: {reason}")
        n = int(read_flow_meta(folder)["num_flow_frames"])
        if n < 1:
            raise VideoDecodeError(folder, "no optical flow: the video has a single frame")
        frames = flow_to_image(read_flow(folder, sampler(n)), source.flow_bound)
    return source.prep.apply(frames) if source.prep is not None else frames


class ClipDataset(Dataset):
    """Items ``(index, frames uint8 tensor or None, reason or None)`` for the extraction loop."""

    def __init__(self, source: ClipSource, items: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.items = list(items)
        self._flow_skips: Mapping[str, str] | None = None

    def flow_skips(self) -> Mapping[str, str]:
        """The flow extraction's skip records, read once per process (the first time a video has no flow)."""
        if self._flow_skips is None:
            self._flow_skips = flow_skipped(self.source.folder)
        return self._flow_skips

    def __len__(self) -> int:
        return len(self.items)

    def __getstate__(self) -> dict:
        # sent to each DataLoader worker when it starts: with it whatever this process probed of these videos (a
        # DataModule's setup scan), which the worker does not inherit, so no video is decoded twice to be counted
        state = dict(self.__dict__)
        if self.source.stream == "rgb":
            state["_probes"] = known_probes(self.source.folder / rel for _, rel in self.items)
        return state

    def __setstate__(self, state: dict) -> None:
        remember_probes(state.pop("_probes", {}))
        self.__dict__.update(state)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str | None]:
        video_id, rel = self.items[i]
        try:
            return i, torch.from_numpy(load_clip(self.source, video_id, rel, flow_skips=self.flow_skips)), None
        except VideoDecodeError as err:
            return i, None, err.reason


def _collate(batch: list) -> list:
    return batch


@dataclass
class ExtractionReport:
    """Counts and timings of one extraction run."""

    extracted: int = 0
    skipped: int = 0
    done_before: int = 0
    frames: int = 0
    seconds: float = 0.0
    forward_seconds: float = 0.0

    def summary(self) -> str:
        """The line printed at the end: ``N extracted, M skipped``."""
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.extracted} extracted, {self.skipped} skipped ({self.done_before} already in the store; "
            f"{self.frames} frames in {self.seconds:.1f} s = {rate:.1f} frames/s)"
        )


def _warn_recomputing(stream: str, why: str, ids: Sequence[str]) -> None:
    """One warning listing (the first five of) the entries recomputed and why."""
    if ids:
        shown = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
        log.warning("features %s: %d %s, recomputing: %s", stream, len(ids), why, shown)


def extract_features(
    encoder: FrameEncoder,
    source: ClipSource,
    store: FeatureStore,
    videos: Sequence[tuple[str, str]],
    batch_size: int = 64,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    identities: Mapping[str, dict[str, int] | None] | None = None,
    shard: Shard = ALL,
) -> ExtractionReport:
    """Encode every ``(video_id, relative path)`` that ``shard`` owns and that has no current entry; record the
    videos that fail in the shard's skipped file (``skipped.json`` unsharded).

    ``identities`` maps a video id to its video file's identity (:func:`~har_vib.utils.io.file_identity`): an
    entry made from another version of the file is recomputed (and said so). Frames of several videos share one
    forward pass of ``batch_size`` frames; every clip arrives at the backbone's input size, so videos of any
    size or aspect stack. On CUDA the encoder runs in bf16 autocast with channels_last inputs. A failed write
    raises an ``OSError`` naming the entry's file; the entries written before it stay, nothing is recorded as
    skipped, and a rerun resumes.
    """
    store.open(shard)
    videos = shard.select(videos)
    identities = dict(identities or {})
    device = torch.device(device)
    report = ExtractionReport()
    _warn_recomputing(
        source.stream,
        "videos changed since they were extracted (size or modification time)",
        store.stale([v for v, _ in videos], identities),
    )
    todo = [(v, rel) for v, rel in videos if not store.is_valid(v, identities.get(v))]
    corrupt = [v for v, _ in todo if store.is_current(v, identities.get(v))]
    _warn_recomputing(source.stream, "entries are unreadable (truncated or corrupt)", corrupt)
    report.done_before = len(videos) - len(todo)
    skipped: dict[str, str] = {}  # every video of todo is tried now: earlier reasons are replaced
    encoder = encoder.to(device).eval()
    if device.type == "cuda":
        encoder = encoder.to(memory_format=torch.channels_last)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    videos_per_batch = max(1, batch_size // source.frames)
    num_workers = min(num_workers, len(todo))  # none to start when everything is in the store already
    workers = loader_worker_options(num_workers)  # a clean start: no decoder state inherited
    loader = DataLoader(
        ClipDataset(source, todo),
        batch_size=videos_per_batch,
        num_workers=num_workers,
        collate_fn=_collate,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if num_workers > 0 else None,
        persistent_workers=False,
        **workers,
    )
    start = time.perf_counter()
    bar = tqdm(total=len(todo), desc=f"features {source.stream}", unit="video", disable=not progress)
    try:
        for batch in loader:
            good = [(i, clip) for i, clip, reason in batch if clip is not None]
            for i, _, reason in batch:
                if reason is not None:
                    skipped[todo[i][0]] = reason
                    log.warning("skipped %s: %s", todo[i][1], reason)
            if good:
                frames = torch.cat([clip for _, clip in good]).to(device, non_blocking=True)
                t0 = time.perf_counter()
                with torch.inference_mode(), autocast:
                    feats = torch.cat([encoder(chunk) for chunk in frames.split(batch_size)])
                feats = feats.float().cpu().numpy()
                report.forward_seconds += time.perf_counter() - t0
                for k, (i, _) in enumerate(good):
                    vid = todo[i][0]
                    store.save(vid, feats[k * source.frames : (k + 1) * source.frames], identities.get(vid))
                report.extracted += len(good)
                report.frames += len(frames)
            bar.update(len(batch))
    finally:
        bar.close()  # before any error message: a bar closed at exit would print after it
    report.seconds = time.perf_counter() - start
    for vid in skipped:
        store.drop(vid)  # an outdated entry of a video that now fails
    # this shard's file: its failures now, and earlier records of videos not in this run's list
    ids = {v for v, _ in videos}
    store.write_skipped(
        {**{k: r for k, r in store.own_skipped(shard).items() if k not in ids}, **skipped},
        {v: identities.get(v) for v in skipped},
        shard,
    )
    merged = store.skipped()
    report.skipped = sum(v in merged for v in ids)
    return report


def store_key(
    dataset: str,
    video_root: str | Path,
    stream: str,
    backbone_name: str,
    model_name: str,
    weights_id: str,
    preprocessing: dict[str, Any],
    frames: int,
    sampling: str,
    dim: int,
    flow_key: dict[str, Any] | None = None,
    decoder: str = "auto",
) -> dict[str, Any]:
    """Everything that determines a stored feature (the store folder is a hash of this)."""
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
    key = {
        "dataset": dataset,
        "video_root": str(Path(video_root).resolve()),
        "stream": stream,
        "backbone": backbone_name,
        "model_name": model_name,
        "weights": weights_id,
        "preprocessing": preprocessing,
        "frames": int(frames),
        "sampling": sampling,
        "dim": int(dim),
    }
    key["decoding"] = {"version": DECODING, "decoder": decoder}
    if stream == "flow":
        key["flow"] = flow_key or {}
    return key


@dataclass
class ShardStatus:
    """What is left of one shard: per part (``tvl1``: the flow images, then ``<stream>-features``) how many of its
    videos are done, skipped (their own fault, recorded) and left (neither: the shard has not run, or not
    finished)."""

    shard: Shard
    videos: int = 0
    done: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    left: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """True when no video of the shard is left in any part."""
        return not any(self.left.values())


def extraction_status(
    video_ids: Sequence[str],
    num_shards: int,
    identities: Mapping[str, dict[str, int] | None] | None = None,
    flow_root: Path | None = None,
    stores: Mapping[str, FeatureStore] | None = None,
) -> list[ShardStatus]:
    """One :class:`ShardStatus` per shard of ``num_shards``: which shards of an array are finished. A video counts
    as done when its flow folder / feature entry is current for its file (``identities``; reads each video's
    small record, not its features)."""
    identities = dict(identities or {})
    parts: dict[str, tuple[Callable[[str], bool], set[str]]] = {}
    if flow_root is not None:
        parts["tvl1"] = (
            lambda v: flow_state(flow_root, v, identities.get(v)) == "current",
            set(flow_skipped(flow_root)),
        )
    for stream, store in (stores or {}).items():
        parts[f"{stream}-features"] = (lambda v, s=store: s.is_current(v, identities.get(v)), set(store.skipped()))
    rows = [ShardStatus(Shard(k, num_shards)) for k in range(num_shards)]
    for row in rows:
        mine = [v for v in video_ids if row.shard.owns(v)]
        row.videos = len(mine)
        for part, (is_done, skipped) in parts.items():
            done = sum(is_done(v) for v in mine)
            gave_up = sum(v in skipped for v in mine)
            row.done[part], row.skipped[part], row.left[part] = done, gave_up, len(mine) - done - gave_up
    return rows
