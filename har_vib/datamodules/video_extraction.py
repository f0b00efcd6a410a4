"""Flow and feature extraction of a video dataset (the extraction side of
:class:`har_vib.datamodules.video_datamodule.VideoDataModule`): the frame encoder and one feature store per stream,
TV-L1 flow of every video, then the features of every stream, each resumable and shardable."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from har_vib.data.flow import extract_dataset_flow, flow_root, root_key
from har_vib.data.shards import ALL, Shard
from har_vib.errors import ConfigError
from har_vib.features.store import FeatureStore

log = logging.getLogger("har_vib.datamodules.video_datamodule")  # VideoDataModule's log lines keep their logger name


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class VideoExtractionMixin:
    """Encoder, stores and extraction, for :class:`~har_vib.datamodules.video_datamodule.VideoDataModule`, whose
    ``__init__`` sets what these methods read (``hparams``, ``root``, ``streams``, ``end_to_end``, ``backbone_cfg``,
    ``features_cfg``, ``flow_cfg``, ``flow_config``, ``_stores``) and whose other mixins give the videos
    (:class:`~har_vib.datamodules.video_sources.VideoSourcesMixin`) and the compressed encoder
    (:class:`~har_vib.datamodules.video_encoder.CompressedEncoderMixin`)."""

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

    def _flow_root(self) -> Path:
        """Where this dataset's TV-L1 flow lives (one folder per flow setting)."""
        cache = self.flow_cfg.get("cache_dir", self.root.parent / "flow")
        return flow_root(cache, self._dataset_tag(), self.flow_config, self.video_dir, self.hparams.decoder)

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
        from har_vib.features.backbones import BackboneSpec, download_weights, weights_source
        from har_vib.features.extract import extract_features

        reports: dict[str, Any] = {}
        if "flow" in self.streams:
            # the encoder's weights first (a download, or its error): not after hours of TV-L1; nothing is read
            spec = BackboneSpec.from_config(self.backbone_cfg)
            kind, hub = weights_source(spec)
            if kind == "download":
                download_weights(spec, hub)
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


def _output_dim(encoder: Any) -> int:
    """Feature width, checked by one forward of a blank frame (some timm heads differ from num_features)."""
    crop = encoder.prep.crop
    with torch.inference_mode():
        out = encoder(torch.zeros(1, crop, crop, 3, dtype=torch.uint8))
    return int(out.shape[-1])
