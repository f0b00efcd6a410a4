"""DataModule for UCF11 / HMDB51 / UCF101 (and synthetic videos in their layouts).

``backbone.name=none``: end-to-end raw frames (T frames of 3*H*W values per step). Any other backbone: cached
per-frame CNN features of the chosen streams (rgb, flow), extracted in :meth:`prepare_data` when missing (flow
first, then features; both resumable), concatenated per frame. Batches are ``(x (B, T, D), lengths, y)``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import torch

from har_vib.data.flow import FlowConfig, extract_dataset_flow, flow_config_from, flow_root, root_key
from har_vib.data.sampling import check_strategy
from har_vib.data.shards import ALL, Shard
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
from har_vib.data.video import VideoDecodeError, check_decoder, frame_count
from har_vib.datamodules.base import ClassificationDataModule
from har_vib.datamodules.video_datasets import (
    FUSIONS,
    CachedFeatureDataset,
    RawFrameDataset,
    feature_stats,
    fixed_length_collate,
)
from har_vib.errors import ConfigError
from har_vib.features.store import FeatureStore
from har_vib.utils.io import file_identity, stable_hash, write_json

log = logging.getLogger(__name__)

DATASETS = ("ucf11", "hmdb51", "ucf101", "synthetic")
DEFAULT_DIRS = {
    "ucf101": ("UCF-101", "ucfTrainTestlist"),
    "hmdb51": ("videos", "testTrainMulti_7030_splits"),
    "ucf11": (None, None),  # either release, or the class folders themselves: see resolve_ucf11_video_dir
}


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class VideoDataModule(ClassificationDataModule):
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

    @property
    def num_classes(self) -> int:
        """Number of classes (after :meth:`setup`)."""
        return len(self.class_names)

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

    def _encoder_and_stores(self, build_encoder: bool) -> tuple[Any, dict[str, FeatureStore], dict[str, Any]]:
        """The frame encoder (when asked), one store per stream and the clip sources. The stores' keys need the
        encoder's output width, so the encoder is built once per DataModule; only the keys are kept after that."""
        if self._stores is None or build_encoder:
            encoder, self._stores = self._build_encoder_and_stores(compress=build_encoder)
            return (encoder if build_encoder else None), *self._stores
        return None, *self._stores

    def _build_encoder_and_stores(
        self, compress: bool = False
    ) -> tuple[Any, tuple[dict[str, FeatureStore], dict[str, Any]]]:
        from har_vib.features.backbones import BackboneSpec, FrameEncoder, create_backbone, preprocessing_for
        from har_vib.features.extract import ClipSource, store_key

        spec = BackboneSpec.from_config(self.backbone_cfg)
        model, weights_id = create_backbone(spec)
        prep = preprocessing_for(model, spec.img_size)
        encoder = FrameEncoder(model, prep)
        dim = _output_dim(encoder)
        frames = int(self.features_cfg.get("frames", 32))
        sampling = str(self.features_cfg.get("sampling", "uniform"))
        cache = self.features_cfg.get("cache_dir", self.root.parent / "features")
        fr = self._flow_root()
        sources = {
            stream: ClipSource(
                stream,
                self.video_dir if stream == "rgb" else fr,
                frames,
                sampling,
                prep,
                self.hparams.min_frames,
                self.flow_config.bound,
                self.hparams.decoder,
            )
            for stream in self.streams
        }
        method = str(self.backbone_cfg.get("compress", "none") or "none")
        self._compression_settings().check_method(method)  # before any work: settings the method would ignore
        encoder_dir = None
        if method != "none":
            encoder_dir = self._encoder_dir(method, spec, weights_id, prep.key())
            self._check_budget(method, model, prep.crop, encoder_dir)
            # features of a compressed encoder are keyed by the folder that identifies it (hash of what made it)
            weights_id = f"{weights_id}+{method}-{encoder_dir.name}"
            if compress:
                encoder = FrameEncoder(self._compressed_backbone(model, encoder, method, encoder_dir, sources), prep)
        stores = {
            stream: FeatureStore(
                cache,
                store_key(
                    self._dataset_tag(),
                    self.video_dir,
                    stream,
                    spec.name,
                    spec.model_name,
                    weights_id,
                    prep.key(),
                    frames,
                    sampling,
                    dim,
                    self.flow_config.key(),
                    self.hparams.decoder,
                ),
            )
            for stream in self.streams
        }
        return encoder, (stores, {"sources": sources, "flow_root": fr, "encoder_dir": encoder_dir})

    # ------------------------------------------------------------------ compressed frame encoder
    def _compression_settings(self) -> Any:
        from har_vib.encoders.compress import CompressionSettings

        cfg = dict(self.backbone_cfg.get("compression") or {})
        cfg.setdefault("seed", int(self.hparams.seed))
        return CompressionSettings.from_config(cfg)

    def _check_budget(self, method: str, model: Any, crop: int, encoder_dir: Path) -> None:
        """Before any store is opened or frame decoded: refuse a ``target_macs`` the encoder cannot reach (once per
        DataModule; nothing to check when the compressed encoder is already cached)."""
        from har_vib.encoders.budget import check_budget
        from har_vib.encoders.plan import PLAN_FILE
        from har_vib.encoders.sites import find_sites

        settings = self._compression_settings()
        if method not in ("hrel", "l1") or settings.target_macs is None or getattr(self, "_budget_ok", False):
            return
        if not (encoder_dir / PLAN_FILE).is_file():
            sites = find_sites(model, torch.zeros(1, 3, crop, crop))
            if sites:  # none: compress_encoder says why, naming the structures
                check_budget(model, sites, crop, int(settings.target_macs), settings.min_channels)
        self._budget_ok = True

    def _fit_records(self) -> list[VideoRecord]:
        """The training videos less the validation ones (what the encoder is compressed on), parsed once."""
        if getattr(self, "_fit_cache", None) is None:
            self._fit_cache, _ = carve_validation(
                self.parse_splits().train, self.hparams.val_fraction, self.hparams.seed
            )
        return self._fit_cache

    def _encoder_dir(self, method: str, spec: Any, weights_id: str, prep_key: Mapping[str, Any]) -> Path:
        """Where the compressed encoder of this setting lives: a hash of everything that produced it (data, split,
        training videos, streams, flow settings, backbone and its weights, method and its settings)."""
        import dataclasses

        from har_vib.encoders.compress import METHODS

        if method not in METHODS:
            raise ConfigError(f"backbone.compress={method!r}: choose one of {', '.join(METHODS)}")
        settings = self._compression_settings()
        fit = self._fit_records()
        key = {
            "version": 1,
            "dataset": self._dataset_tag(),
            "video_root": str(self.video_dir.resolve()),
            "train_videos": stable_hash(sorted(r.video_id for r in fit)),
            "streams": self.streams,
            "flow": self.flow_config.key() if "flow" in self.streams else None,
            "model_name": spec.model_name,
            "weights": weights_id,
            "preprocessing": dict(prep_key),
            "method": method,
            "settings": dataclasses.asdict(settings),
        }
        cache = Path(self.backbone_cfg.get("compression", {}).get("cache_dir") or self.root.parent / "encoders")
        return cache / self._dataset_tag() / f"{spec.name}-{method}-{stable_hash(key)}"

    def _compressed_backbone(
        self, model: Any, encoder: Any, method: str, folder: Path, sources: Mapping[str, Any]
    ) -> Any:
        """The compressed backbone: loaded from ``folder`` when it is there, else compressed now (on the training
        videos less validation) and saved there atomically."""
        from har_vib.encoders.compress import compress_encoder
        from har_vib.encoders.plan import PLAN_FILE, load_compressed, save_compressed
        from har_vib.features.backbones import BackboneSpec, create_backbone

        if (folder / PLAN_FILE).is_file():
            log.info("compressed encoder: %s", folder)
            return load_compressed(folder, model)[0]
        device = resolve_device(str(self.features_cfg.get("device", "auto")))
        pruned, plan = compress_encoder(
            encoder,
            method,
            self._fit_records(),
            sources,
            self.parse_splits().num_classes,
            self._compression_settings(),
            accelerator="gpu" if device.type == "cuda" else "cpu",
        )
        save_compressed(folder, pruned, plan)
        log.info("compressed encoder saved to %s", folder)
        # reload through the plan: what feature extraction uses is exactly what a later run will load
        return load_compressed(folder, create_backbone(BackboneSpec.from_config(self.backbone_cfg))[0])[0]

    def encoder_summary(self) -> dict[str, Any] | None:
        """Parameters and MACs per frame of the frame encoder, before and after compression (None for
        end-to-end runs); the compressed encoder's folder and per-site channel counts when there is one."""
        if self.end_to_end:
            return None
        from har_vib.encoders.compress import encoder_cost
        from har_vib.encoders.plan import read_plan
        from har_vib.features.backbones import BackboneSpec, create_backbone, preprocessing_for

        _, _, extra = self._encoder_and_stores(build_encoder=False)
        folder = extra.get("encoder_dir")
        if folder is not None:
            plan = read_plan(folder)
            stats = plan.stats
            return {
                "method": plan.method,
                "folder": str(folder),
                "crop": plan.crop,
                "before": stats["before"],
                "after": stats["after"],
                "site_channels_before": stats.get("site_channels_before"),
                "site_channels_after": stats.get("site_channels_after"),
            }
        spec = BackboneSpec.from_config(self.backbone_cfg)
        model = create_backbone(spec)[0]
        crop = preprocessing_for(model, spec.img_size).crop
        cost = encoder_cost(model, crop)
        return {"method": "none", "folder": None, "crop": crop, "before": cost, "after": cost}

    def _flow_root(self) -> Path:
        """Where this dataset's TV-L1 flow lives (one folder per flow setting)."""
        cache = self.flow_cfg.get("cache_dir", self.root.parent / "flow")
        return flow_root(cache, self._dataset_tag(), self.flow_config, self.video_dir, self.hparams.decoder)

    def _dataset_tag(self) -> str:
        """The dataset's name in cache paths; synthetic data adds a hash of its spec and renderer version, so
        flow and features of regenerated videos never mix with those of an earlier rendering."""
        if self.hparams.name != "synthetic":
            return self.hparams.name
        return f"synthetic-{self.layout}-{stable_hash(marker_text(self._synthetic_spec()), 8)}"

    def _videos(self) -> list[tuple[str, str]]:
        return [(r.video_id, r.path) for r in self.parse_splits().all_records()]

    def extract_flow(self, progress: bool = True, shard: Shard = ALL) -> dict[str, int]:
        """TV-L1 flow of every video of the dataset (of ``shard``'s videos) that has none yet; returns the counts."""
        self._ensure_synthetic()
        fr = self._flow_root()
        return extract_dataset_flow(
            [(v, self.video_dir / rel) for v, rel in self._videos()],
            fr,
            self.flow_config,
            workers=int(self.flow_cfg.get("workers", 1)),
            progress=progress,
            device=str(self.flow_cfg.get("device", "auto")),
            batch_pairs=int(self.flow_cfg.get("batch_pairs", 64)),
            decoder=self.hparams.decoder,
            key=root_key(self.flow_config, self.video_dir, self.hparams.decoder),
            shard=shard,
        )

    def extract_features(self, progress: bool = True, shard: Shard = ALL) -> dict[str, Any]:
        """Flow (when a stream needs it), then features of every stream for every video (of ``shard``'s videos)
        without a valid entry.

        Returns ``{stream: ExtractionReport}`` (plus ``optical_flow`` counts); skipped videos are in each store's
        ``skipped.json``.
        """
        if self.end_to_end:
            raise ConfigError("backbone=none has no features to extract; choose backbone=inception_v3 (or another)")
        self._ensure_synthetic()
        # extraction draws from torch's RNG (DataLoader seeds): keep it out of the training run's RNG stream, so a
        # run that extracts first trains exactly like a run that finds the features cached
        with torch.random.fork_rng():
            return self._extract_features(progress, shard)

    def _extract_features(self, progress: bool, shard: Shard = ALL) -> dict[str, Any]:
        from har_vib.features.extract import extract_features

        reports: dict[str, Any] = {}
        if "flow" in self.streams:
            reports["optical_flow"] = self.extract_flow(progress, shard)
        encoder, stores, extra = self._encoder_and_stores(build_encoder=True)
        device = resolve_device(str(self.features_cfg.get("device", "auto")))
        videos = self._videos()
        identities = self._identities(videos)
        for stream in self.streams:
            reports[stream] = extract_features(
                encoder,
                extra["sources"][stream],
                stores[stream],
                videos,
                batch_size=int(self.features_cfg.get("batch_size", 64)),
                num_workers=int(self.features_cfg.get("num_workers", 0)),
                device=device,
                progress=progress,
                identities=identities,
                shard=shard,
            )
            log.info("features %s: %s", stream, reports[stream].summary())
        return reports

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


def _output_dim(encoder: Any) -> int:
    """Feature width, checked by one forward of a blank frame (some timm heads differ from num_features)."""
    crop = encoder.prep.crop
    with torch.inference_mode():
        out = encoder(torch.zeros(1, crop, crop, 3, dtype=torch.uint8))
    return int(out.shape[-1])
