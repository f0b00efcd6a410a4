"""Where a video dataset's videos are and which of them are usable (the splits-and-records side of
:class:`har_vib.datamodules.video_datamodule.VideoDataModule`): the dataset layouts, synthetic videos generated on
demand, the split's records, the training videos less validation, the cache tag, and the scans that drop unreadable
or unextracted videos."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from har_vib.data.splits import (
    DatasetSplit,
    VideoRecord,
    carve_validation,
    parse_hmdb51,
    parse_ucf11,
    parse_ucf101,
    resolve_ucf11_video_dir,
)
from har_vib.data.synthetic import SyntheticSpec, clips_verified, generate, marker_text
from har_vib.data.video import VideoDecodeError, frame_count
from har_vib.errors import ConfigError
from har_vib.features.store import FeatureStore
from har_vib.utils.io import file_identity, stable_hash

log = logging.getLogger("har_vib.datamodules.video_datamodule")  # VideoDataModule's log lines keep their logger name

DATASETS = ("ucf11", "hmdb51", "ucf101", "synthetic")
DEFAULT_DIRS = {
    "ucf101": ("UCF-101", "ucfTrainTestlist"),
    "hmdb51": ("videos", "testTrainMulti_7030_splits"),
    "ucf11": (None, None),  # either release, or the class folders themselves: see resolve_ucf11_video_dir
}


class VideoSourcesMixin:
    """The dataset's videos and records, for :class:`~har_vib.datamodules.video_datamodule.VideoDataModule`, whose
    ``__init__`` sets what these methods read: ``hparams``, ``root``, ``layout``, ``split_dir``, ``synthetic_cfg``,
    ``skipped``, ``_video_dir`` and ``_fit_cache``."""

    # ------------------------------------------------------------------ data on disk
    @property
    def video_dir(self) -> Path:
        """The folder the split's relative video paths start from (UCF11: whichever release is under root)."""
        if self._video_dir is None:
            self._ensure_synthetic()
            self._video_dir = resolve_ucf11_video_dir(self.root)
        return self._video_dir

    def _identities(self, videos: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """Each video's file identity (size, modification time): what the caches compare."""
        return {v: file_identity(self.video_dir / rel) for v, rel in videos}

    def _synthetic_spec(self) -> SyntheticSpec:
        try:
            return SyntheticSpec(layout=self.layout, **self.synthetic_cfg)
        except TypeError as err:
            raise ConfigError(f"dataset.synthetic: {err}") from None

    def _ensure_synthetic(self) -> None:
        if self.hparams.name != "synthetic":
            return
        spec = self._synthetic_spec()
        marker = self.root / ".complete"
        if marker.is_file():
            if marker.read_text().strip() != marker_text(spec):
                raise ConfigError(
                    f"{self.root} holds synthetic videos made with other settings "
                    f"({marker.read_text().strip()}); delete it or set dataset.root elsewhere"
                )
            if clips_verified(self.root):  # else: completed before clips were decoded back; generate checks them
                return
        log.info("generating synthetic %s-layout videos under %s", self.layout, self.root)
        generate(spec, self.root)

    def parse_splits(self) -> DatasetSplit:
        """Records of the configured split (or UCF11 protocol and fold)."""
        hp = self.hparams
        if self.layout == "ucf101":
            return parse_ucf101(self.video_dir, self.split_dir, hp.split)
        if self.layout == "hmdb51":
            return parse_hmdb51(self.video_dir, self.split_dir, hp.split)
        return parse_ucf11(self.video_dir, hp.protocol, hp.fold, hp.test_fraction, hp.seed)

    def _fit_records(self) -> list[VideoRecord]:
        """The training videos less the validation ones (what the encoder is compressed on), parsed once."""
        if getattr(self, "_fit_cache", None) is None:
            self._fit_cache, _ = carve_validation(
                self.parse_splits().train, self.hparams.val_fraction, self.hparams.seed
            )
        return self._fit_cache

    def _dataset_tag(self) -> str:
        """The dataset's name in cache paths; synthetic data adds a hash of its spec and renderer version, so
        flow and features of regenerated videos never mix with those of an earlier rendering."""
        if self.hparams.name != "synthetic":
            return self.hparams.name
        return f"synthetic-{self.layout}-{stable_hash(marker_text(self._synthetic_spec()), 8)}"

    def _videos(self) -> list[tuple[str, str]]:
        return [(r.video_id, r.path) for r in self.parse_splits().all_records()]

    # ------------------------------------------------------------------ usable videos
    def _scan_videos(self, records: Sequence[VideoRecord]) -> set[str]:
        usable = set()
        for r in records:
            try:
                n = frame_count(self.video_dir / r.path, self.hparams.decoder)
            except VideoDecodeError as err:
                self.skipped[r.video_id] = err.reason
                continue
            if n < self.hparams.min_frames:
                self.skipped[r.video_id] = f"too short: {n} frames, need at least {self.hparams.min_frames}"
                continue
            usable.add(r.video_id)
        for vid, reason in self.skipped.items():
            log.warning("skipping %s: %s", vid, reason)
        return usable

    def _check_stores(self, records: Sequence[VideoRecord], stores: Sequence[FeatureStore]) -> set[str]:
        usable = set()
        identities = self._identities([(r.video_id, r.path) for r in records])
        skipped = [s.skipped() for s in stores]
        for r in records:
            ident = identities[r.video_id]
            reasons = [
                sk.get(r.video_id) or ("" if s.is_current(r.video_id, ident) else "not extracted")
                for s, sk in zip(stores, skipped)
            ]
            problems = [f"{s.key['stream']}: {why}" for s, why in zip(stores, reasons) if why]
            if problems:
                self.skipped[r.video_id] = "; ".join(problems)
            else:
                usable.add(r.video_id)
        not_extracted = [v for v, why in self.skipped.items() if "not extracted" in why]
        if not_extracted:
            raise ConfigError(
                f"{len(not_extracted)} videos have no cached features (e.g. {not_extracted[0]}); run "
                "scripts/extract_features.py with the same dataset/backbone overrides, or call "
                "prepare_data()"
            )
        return usable
