"""The compressed frame encoder of a video dataset (``backbone.compress=vib|hrel|l1|dense``), for
:class:`har_vib.datamodules.video_datamodule.VideoDataModule`: its settings, the MAC budget checked before any work,
the cache folder named by a hash of everything that produced it, compressed once (by
:func:`har_vib.lit_modules.encoder_compress.compress_encoder`) and loaded after that, and its cost summary."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from har_vib.datamodules.video_extraction import resolve_device
from har_vib.errors import ConfigError
from har_vib.utils.io import stable_hash

log = logging.getLogger("har_vib.datamodules.video_datamodule")  # VideoDataModule's log lines keep their logger name


class CompressedEncoderMixin:
    """The compressed encoder, for :class:`~har_vib.datamodules.video_datamodule.VideoDataModule`, whose ``__init__``
    sets what these methods read (``hparams``, ``root``, ``streams``, ``end_to_end``, ``backbone_cfg``,
    ``features_cfg``, ``flow_config``) and whose other mixins give the records and stores."""

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
        from har_vib.encoders.plan import PLAN_FILE, load_compressed, save_compressed
        from har_vib.features.backbones import BackboneSpec, create_backbone
        from har_vib.lit_modules.encoder_compress import compress_encoder

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
