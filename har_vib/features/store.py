"""On-disk feature store: one ``.npy`` per video, in a folder keyed by a hash of everything that produced it.

``<cache>/<dataset>/<stream>-<backbone>-<hash>/`` holds ``manifest.json`` (the full key: dataset and its video
folder, backbone tag, weights digest, preprocessing, frames cached and how they were sampled, stream, flow
parameters, decoding), ``entries/<class>/<video>.npy`` (float32, shape (frames, dim)), next to each entry
``<video>.source.json`` (the size and modification time of the video file it was computed from), and the videos
that could not be extracted with their reasons: ``skipped.json``, or one ``skipped.shard-<k>-of-<n>.json`` per shard
of a sharded extraction (:mod:`har_vib.data.shards`; each shard writes only its own file and its own videos'
entries, readers merge them). Entries are per video, not per split, so one store serves every split and fold of a
dataset.

An entry counts only when its source record matches the video file as it is now: a changed or re-encoded video is
recomputed. Writing removes the old entry first, then writes the source record, then the features (each to a temp
file renamed into place), so a crash at any point leaves either a complete, current entry or none. Entries are
checked (shape, dtype) when read, and a store can be verified as a whole (every expected video present or skipped
with a reason). A failed write (disk full, quota, permissions) raises an ``OSError`` that names the entry's file.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from har_vib.data.shards import ALL, Shard, read_skipped, remove_own_temps, temp_filter
from har_vib.utils.io import atomic_save, stable_hash, write_json

# float32: float16 underflows (random-init MobileNet, |x|~1e-5) and overflows (random-init Inception, |x|>65504)
DTYPE = np.float32
SOURCE_SUFFIX = ".source.json"

log = logging.getLogger(__name__)

Identity = dict[str, int] | None


class CorruptEntryError(RuntimeError):
    """A stored entry is missing, unreadable or has the wrong shape or dtype."""


class FeatureStore:
    """Features of one (dataset, stream, backbone, weights, preprocessing, sampling) combination."""

    def __init__(self, cache_dir: str | Path, key: dict[str, Any]) -> None:
        for field in ("dataset", "stream", "backbone", "frames", "dim"):
            if field not in key:
                raise ValueError(f"feature store key needs {field!r}")
        self.key = dict(key)
        self.frames, self.dim = int(key["frames"]), int(key["dim"])
        name = f"{key['stream']}-{key['backbone']}-{stable_hash(self.key)}"
        self.root = Path(cache_dir) / str(key["dataset"]) / name
        self.entries = self.root / "entries"

    def open(self, shard: Shard = ALL) -> FeatureStore:
        """Create the folder and manifest (or check the manifest matches); clear leftovers of crashed writes (of
        ``shard``'s own videos only: another shard's temp may be a write in progress)."""
        manifest = self.root / "manifest.json"
        if manifest.is_file():
            stored = json.loads(manifest.read_text())
            if stored.get("key") != json.loads(json.dumps(self.key, default=str)):
                raise ValueError(f"{manifest} was written for another key; delete {self.root} to rebuild")
        else:
            others = sorted(
                p.name
                for p in self.root.parent.glob(f"{self.key['stream']}-{self.key['backbone']}-*")
                if p != self.root and (p / "manifest.json").is_file()
            )
            if others:
                log.info(
                    "new feature store %s; %d older stores of %s/%s made with other settings (%s) are not read",
                    self.root,
                    len(others),
                    self.key["dataset"],
                    self.root.name.rsplit("-", 1)[0],
                    ", ".join(others[:3]),
                )
            # every shard writes the same bytes (atomically): no shard ever reads a half-written manifest
            write_json({"key": self.key, "dtype": np.dtype(DTYPE).name}, manifest)
        self.entries.mkdir(parents=True, exist_ok=True)
        remove_own_temps(self.root, temp_filter(self.root, shard, (".npy", SOURCE_SUFFIX), entries="entries"))
        return self

    def path(self, video_id: str) -> Path:
        """Entry file of a video (class folders mirror the dataset's)."""
        return self.entries / f"{video_id}.npy"

    def source_path(self, video_id: str) -> Path:
        """The record of the video file an entry was computed from."""
        return self.entries / f"{video_id}{SOURCE_SUFFIX}"

    def has(self, video_id: str) -> bool:
        """True when the entry exists (it only exists once completely written)."""
        return self.path(video_id).is_file()

    def source(self, video_id: str) -> Identity:
        """The recorded identity of the entry's video file (None when there is no record)."""
        try:
            return json.loads(self.source_path(video_id).read_text()).get("source")
        except (OSError, ValueError):
            return None

    def is_current(self, video_id: str, identity: Identity) -> bool:
        """True when the entry exists and was computed from the file ``identity`` describes (any entry counts when
        ``identity`` is None: the video is gone, and its features are all that is left)."""
        return self.has(video_id) and (identity is None or self.source(video_id) == identity)

    def stale(self, video_ids: Iterable[str], identities: Mapping[str, Identity]) -> list[str]:
        """Ids whose entry exists but was computed from another version of the video file."""
        return [
            v
            for v in video_ids
            if self.has(v) and identities.get(v) is not None and not self.is_current(v, identities[v])
        ]

    def save(self, video_id: str, features: np.ndarray, identity: Identity = None) -> None:
        """Check shape (frames, dim) and finiteness, write as float32 with the source record, atomically."""
        arr = np.asarray(features)
        if arr.shape != (self.frames, self.dim):
            raise ValueError(f"{video_id}: features of shape {arr.shape}, the store holds {(self.frames, self.dim)}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{video_id}: non-finite features")

        buffer = io.BytesIO()  # np.save to a file loses the errno ("2048 requested and 992 written")
        np.save(buffer, arr.astype(DTYPE))

        def _write_npy(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                fh.write(buffer.getbuffer())

        path, source = self.path(video_id), self.source_path(video_id)
        path.unlink(missing_ok=True)  # never an old entry beside a new source record
        write_json({"source": identity}, source)  # a failed write raises OSError naming the file (atomic_save)
        try:
            atomic_save(_write_npy, path)
        except BaseException:
            source.unlink(missing_ok=True)
            raise

    def drop(self, video_id: str) -> None:
        """Remove a video's entry and its source record (an outdated entry of a video that now fails: an entry on
        disk always means the video's last extraction succeeded)."""
        self.path(video_id).unlink(missing_ok=True)
        self.source_path(video_id).unlink(missing_ok=True)

    def load(self, video_id: str) -> np.ndarray:
        """The (frames, dim) float32 entry, verified; raises :class:`CorruptEntryError`."""
        path = self.path(video_id)
        try:
            arr = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as err:
            raise CorruptEntryError(f"{path}: cannot read ({err}); delete it and rerun extraction") from None
        if arr.dtype != DTYPE or arr.shape != (self.frames, self.dim):
            raise CorruptEntryError(
                f"{path}: {arr.dtype} {arr.shape}, expected {np.dtype(DTYPE).name} {(self.frames, self.dim)}; "
                "delete it and rerun extraction"
            )
        return np.asarray(arr)

    def is_valid(self, video_id: str, identity: Identity = None) -> bool:
        """True when the entry is current (:meth:`is_current`) and passes :meth:`load`'s checks."""
        if not self.is_current(video_id, identity):
            return False
        try:
            self.load(video_id)
        except CorruptEntryError:
            return False
        return True

    def skipped(self) -> dict[str, str]:
        """Videos that could not be extracted, with their reasons (every shard's file merged; a video with an entry
        is not listed: a later run extracted it)."""
        reasons, _ = read_skipped(self.root)
        return {v: r for v, r in sorted(reasons.items()) if not self.has(v)}

    def skipped_sources(self) -> dict[str, Identity]:
        """The identities of the skipped videos' files when they were tried."""
        reasons, sources = read_skipped(self.root)
        return {v: sources.get(v) for v in sorted(reasons) if not self.has(v)}

    def write_skipped(
        self, skipped: dict[str, str], identities: Mapping[str, Identity] | None = None, shard: Shard = ALL
    ) -> None:
        """Record ``shard``'s skipped videos (its own file, atomically: no other shard writes it) and the identities
        of their files; earlier identities of videos still skipped are kept."""
        known = {**read_skipped(self.root)[1], **dict(identities or {})}
        path = self.root / shard.skipped_file
        data = {"skipped": dict(sorted(skipped.items())), "sources": {v: known.get(v) for v in sorted(skipped)}}
        write_json(data, path)

    def own_skipped(self, shard: Shard = ALL) -> dict[str, str]:
        """What ``shard``'s own skipped file lists (the file it rewrites)."""
        path = self.root / shard.skipped_file
        try:
            return dict(json.loads(path.read_text()).get("skipped", {})) if path.is_file() else {}
        except (ValueError, AttributeError):
            return {}

    def missing(self, video_ids: Iterable[str], identities: Mapping[str, Identity] | None = None) -> list[str]:
        """Ids without a current, readable entry (a truncated or otherwise corrupt entry counts as missing, so a
        run re-extracts it instead of failing mid-epoch), except those recorded as skipped (a skipped video whose
        file has changed since counts as missing: it is tried again)."""
        identities = dict(identities or {})
        skipped, tried = self.skipped(), self.skipped_sources()

        def retry(v: str) -> bool:
            return v not in skipped or (identities.get(v) is not None and tried.get(v) != identities[v])

        return [v for v in video_ids if not self.is_valid(v, identities.get(v)) and retry(v)]
