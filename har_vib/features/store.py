"""On-disk feature store: one ``.npy`` per video, in a folder keyed by a hash of everything that produced it.

``<cache>/<dataset>/<stream>-<backbone>-<hash>/`` holds ``manifest.json`` (the full key: dataset and its video
folder, backbone tag, weights digest, preprocessing, frames cached and how they were sampled, stream, flow
parameters), ``entries/<class>/<video>.npy`` (float32, shape (frames, dim)) and ``skipped.json``. Entries are
per video, not per split, so one store serves every split and fold of a dataset. Each entry is written to a
temp file and renamed, so a crash leaves either the whole entry or nothing; entries are checked (shape, dtype)
when read, and a store can be verified as a whole (every expected video present or skipped with a reason).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from har_vib.utils.io import atomic_save, remove_stale_temps, stable_hash, write_json

# float32: float16 underflows (random-init MobileNet, |x|~1e-5) and overflows (random-init Inception, |x|>65504)
DTYPE = np.float32


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

    def open(self) -> FeatureStore:
        """Create the folder and manifest (or check the manifest matches); clear leftovers of crashed writes."""
        manifest = self.root / "manifest.json"
        if manifest.is_file():
            stored = json.loads(manifest.read_text())
            if stored.get("key") != json.loads(json.dumps(self.key, default=str)):
                raise ValueError(f"{manifest} was written for another key; delete {self.root} to rebuild")
        else:
            write_json({"key": self.key, "dtype": np.dtype(DTYPE).name}, manifest)
        self.entries.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.entries)
        return self

    def path(self, video_id: str) -> Path:
        """Entry file of a video (class folders mirror the dataset's)."""
        return self.entries / f"{video_id}.npy"

    def has(self, video_id: str) -> bool:
        """True when the entry exists (it only exists once completely written)."""
        return self.path(video_id).is_file()

    def save(self, video_id: str, features: np.ndarray) -> None:
        """Check shape (frames, dim) and finiteness, write as float32, atomically."""
        arr = np.asarray(features)
        if arr.shape != (self.frames, self.dim):
            raise ValueError(f"{video_id}: features of shape {arr.shape}, the store holds {(self.frames, self.dim)}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{video_id}: non-finite features")

        def _write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, arr.astype(DTYPE))

        atomic_save(_write, self.path(video_id))

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

    def is_valid(self, video_id: str) -> bool:
        """True when the entry exists and passes :meth:`load`'s checks."""
        if not self.has(video_id):
            return False
        try:
            self.load(video_id)
        except CorruptEntryError:
            return False
        return True

    def skipped(self) -> dict[str, str]:
        """Videos that could not be extracted, with their reasons."""
        path = self.root / "skipped.json"
        return json.loads(path.read_text()).get("skipped", {}) if path.is_file() else {}

    def write_skipped(self, skipped: dict[str, str]) -> None:
        """Record the skipped videos (atomically)."""
        write_json({"skipped": dict(sorted(skipped.items()))}, self.root / "skipped.json")

    def missing(self, video_ids: Iterable[str]) -> list[str]:
        """Ids with no entry that are not recorded as skipped."""
        skipped = self.skipped()
        return [v for v in video_ids if v not in skipped and not self.has(v)]
