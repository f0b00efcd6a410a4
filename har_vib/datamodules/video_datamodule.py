"""DataModule for UCF11 / HMDB51 / UCF101 (and synthetic videos in their layouts).

``backbone.name=none``: end-to-end raw frames (T frames of 3*H*W values per step). Any other backbone: cached
per-frame CNN features of the chosen streams (rgb, flow), extracted in :meth:`prepare_data` when missing (flow
first, then features; both resumable), concatenated per frame. Batches are ``(x (B, T, D), lengths, y)``.

The class is assembled from one module per job: the videos and records (:mod:`har_vib.datamodules.video_sources`),
flow and feature extraction (:mod:`har_vib.datamodules.video_extraction`), the compressed frame encoder
(:mod:`har_vib.datamodules.video_encoder`) and the datasets (:mod:`har_vib.datamodules.video_datasets`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from har_vib.data.flow import FlowConfig, flow_config_from
from har_vib.data.sampling import check_strategy
from har_vib.data.splits import DatasetSplit, VideoRecord, carve_validation
from har_vib.data.video import check_decoder
from har_vib.datamodules.base import ClassificationDataModule
from har_vib.datamodules.video_datasets import (
    CachedFeatureDataset,
    RawFrameDataset,
    feature_stats,
    fixed_length_collate,
)
from har_vib.datamodules.video_encoder import CompressedEncoderMixin
from har_vib.datamodules.video_extraction import VideoExtractionMixin
from har_vib.datamodules.video_sources import DATASETS, DEFAULT_DIRS, VideoSourcesMixin
from har_vib.errors import ConfigError
from har_vib.features.fusion import FUSIONS
from har_vib.features.store import FeatureStore
from har_vib.utils.io import write_json

log = logging.getLogger(__name__)

__all__ = ["DATASETS", "DEFAULT_DIRS", "VideoDataModule"]


class VideoDataModule(VideoSourcesMixin, VideoExtractionMixin, CompressedEncoderMixin, ClassificationDataModule):
    """Train / val / test clips of a video dataset; val is carved from train (whole groups where they exist)."""

    collate_fn = staticmethod(fixed_length_collate)

    def __init__(
        self,
        name: str = "ucf11",
        root: str = "data/raw/ucf11",
        video_dir: Optional[str] = None,
        split_dir: Optional[str] = None,
        split: int = 1,
        protocol: str = "logo",
        fold: int = 1,
        test_fraction: float = 0.2,
        layout: Optional[str] = None,
        streams: Sequence[str] = ("rgb",),
        fusion: str = "concat",
        frames: int = 8,
        sampling: str = "random",
        frame_size: Sequence[int] = (120, 160),
        hflip: bool = False,
        min_frames: int = 2,
        decoder: str = "auto",
        standardize: bool = False,
        val_fraction: float = 0.1,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        backbone: Optional[Mapping[str, Any]] = None,
        features: Optional[Mapping[str, Any]] = None,
        flow: Optional[Mapping[str, Any]] = None,
        synthetic: Optional[Mapping[str, Any]] = None,
        report_dir: Optional[str] = None,
    ) -> None:
        super().__init__()
        if name not in DATASETS:
            raise ConfigError(f"dataset.name={name!r}: video datasets are {', '.join(DATASETS)}")
        self.layout = layout or (name if name != "synthetic" else "ucf101")
        if self.layout not in DEFAULT_DIRS:
            raise ConfigError(f"dataset.layout={self.layout!r}: choose one of {', '.join(DEFAULT_DIRS)}")
        self.streams = list(streams)
        if not self.streams or any(s not in ("rgb", "flow") for s in self.streams):
            raise ConfigError(f"dataset.streams={self.streams}: use [rgb], [flow] or [rgb,flow]")
        if fusion not in FUSIONS:
            raise ConfigError(f"dataset.fusion={fusion!r}: use one of {', '.join(FUSIONS)}")
        check_strategy(sampling)
        check_decoder(decoder)
        self.backbone_cfg = dict(backbone or {"name": "none"})
        self.end_to_end = str(self.backbone_cfg.get("name", "none")) == "none"
        if self.end_to_end and self.streams != ["rgb"]:
            raise ConfigError(
                "backbone=none (end-to-end raw frames) uses dataset.streams=[rgb] only; "
                "for flow choose a CNN backbone, e.g. backbone=inception_v3"
            )
        self.features_cfg = dict(features or {})
        if not self.end_to_end and frames > int(self.features_cfg.get("frames", frames)):
            raise ConfigError(
                f"dataset.frames={frames} exceeds features.frames={self.features_cfg.get('frames')} "
                "(the frames cached per video); raise features.frames or lower dataset.frames"
            )
        if batch_size <= 0:
            raise ConfigError(f"dataset.batch_size must be > 0, got {batch_size}")
        self.flow_config: FlowConfig = flow_config_from(
            {k: v for k, v in dict(flow or {}).items() if k not in ("cache_dir", "workers", "device", "batch_pairs")}
        )
        self.flow_cfg = dict(flow or {})
        self.save_hyperparameters(logger=False, ignore=["backbone", "features", "flow", "synthetic"])
        self.synthetic_cfg = dict(synthetic or {})
        root_path = Path(root)
        default_video, default_split = DEFAULT_DIRS[self.layout]
        self._video_dir = Path(video_dir) if video_dir else (root_path / default_video if default_video else None)
        self.split_dir = Path(split_dir) if split_dir else (root_path / default_split if default_split else None)
        self.root = root_path
        self.splits: Optional[DatasetSplit] = None
        self.class_names: list[str] = []
        self.input_dim = 0
        self.train_set = self.val_set = self.test_set = None
        self.skipped: dict[str, str] = {}
        self._stores: Optional[tuple[dict[str, FeatureStore], dict[str, Any]]] = None
        self._fit_cache: Optional[list[VideoRecord]] = None

    @property
    def num_classes(self) -> int:
        """Number of classes (after :meth:`setup`)."""
        return len(self.class_names)

    def prepare_data(self) -> None:
        """Generate synthetic videos if asked; for a CNN backbone, extract missing flow and features."""
        self._ensure_synthetic()
        if self.end_to_end:
            return
        _, stores, _ = self._encoder_and_stores(build_encoder=False)
        videos = self._videos()
        ids, identities = [v for v, _ in videos], self._identities(videos)
        if any(stores[s].open().missing(ids, identities) for s in self.streams):
            self.extract_features()

    # ------------------------------------------------------------------ datasets
    def setup(self, stage: Optional[str] = None) -> None:
        """Parse the split, drop unusable videos (listed in ``skipped_videos.json``), build the datasets."""
        if self.train_set is not None:
            return
        hp = self.hparams
        self._ensure_synthetic()
        self.splits = self.parse_splits()
        self.class_names = list(self.splits.classes)
        if self.end_to_end:
            usable = self._scan_videos(self.splits.all_records())
            make = lambda recs, train: RawFrameDataset(  # noqa: E731
                recs,
                self.video_dir,
                hp.frames,
                int(hp.frame_size[0]),
                int(hp.frame_size[1]),
                hp.sampling,
                train,
                hp.min_frames,
                hp.hflip,
                hp.decoder,
            )
        else:
            _, stores, _ = self._encoder_and_stores(build_encoder=False)
            ordered = [stores[s].open() for s in self.streams]
            usable = self._check_stores(self.splits.all_records(), ordered)
        train = [r for r in self.splits.train if r.video_id in usable]
        test = [r for r in self.splits.test if r.video_id in usable]
        if not train or not test:
            raise ConfigError(
                f"{self.video_dir}: no usable {'train' if not train else 'test'} videos "
                f"({len(self.skipped)} skipped; see skipped_videos.json)"
            )
        fit, val = carve_validation(train, hp.val_fraction, hp.seed)
        if hp.val_fraction > 0 and not val:  # early stopping and the best checkpoint watch val/acc: say why it is empty
            raise ConfigError(
                f"{self.video_dir}: dataset.val_fraction={hp.val_fraction} holds out no validation video: validation "
                f"takes whole groups (UCF) or videos (HMDB51), and no class has 2 of them among its usable training "
                f"videos ({len(train)} usable, {len(self.skipped)} skipped: see the warnings above). Add videos, "
                "repair the skipped ones, or check dataset.split"
            )
        if not self.end_to_end:
            if hp.fusion == "mean" and len({s.dim for s in ordered}) > 1:
                raise ConfigError(
                    f"dataset.fusion=mean needs streams of equal width, got "
                    f"{dict(zip(self.streams, (s.dim for s in ordered)))}; use dataset.fusion=concat"
                )
            # statistics of the videos trained on only: val and test never leak into them
            mean, std = feature_stats(fit, ordered, hp.fusion) if hp.standardize else (None, None)
            make = lambda recs, train: CachedFeatureDataset(  # noqa: E731
                recs, ordered, hp.frames, hp.sampling, train, mean, std, hp.fusion
            )
        self.train_set, self.val_set, self.test_set = make(fit, True), make(val, False), make(test, False)
        self.input_dim = int(self.train_set.dim)
        log.info(
            "%s: %d train, %d val, %d test videos, %d classes, input %d x %d (%d skipped)",
            self._dataset_tag(),
            len(fit),
            len(val),
            len(test),
            self.num_classes,
            hp.frames,
            self.input_dim,
            len(self.skipped),
        )
        if hp.report_dir:
            write_json({"skipped": self.skipped}, Path(hp.report_dir) / "skipped_videos.json")
