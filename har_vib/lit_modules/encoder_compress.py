"""The encoder-compression stage (methods and settings: :mod:`har_vib.encoders.compress`): train the frame encoder
with Lightning (:mod:`har_vib.lit_modules.encoder_fit`) with VIBNet bottlenecks, HRel masks or plainly, pick the
channels to drop, fold, prune with Torch-Pruning, fine-tune, count parameters and MACs before and after.
(Formerly ``har_vib.encoders.compress.compress_encoder``.)
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from har_vib.data.splits import VideoRecord
from har_vib.encoders.budget import encoder_cost, keep_ratio_for_macs, uniform_counts
from har_vib.encoders.compress import (
    METHODS,
    CompressionSettings,
    _min_channel_guard,
    l1_scores,
    site_relevance,
)
from har_vib.encoders.fit import ClipFrames, clip_accuracy, clip_loader, describe
from har_vib.encoders.masks import SiteMultipliers, fold_into_bn, zeroed_channels
from har_vib.encoders.plan import EncoderPlan, apply_plan
from har_vib.encoders.sites import find_sites
from har_vib.errors import ConfigError
from har_vib.features.backbones import FrameEncoder
from har_vib.features.extract import ClipSource
from har_vib.lit_modules.encoder_fit import EncoderFitModule, fit_encoder

log = logging.getLogger("har_vib.encoders.compress")  # the stage logs under its old module name, as before


def compress_encoder(
    encoder: FrameEncoder,
    method: str,
    records: Sequence[VideoRecord],
    sources: Mapping[str, ClipSource],
    num_classes: int,
    settings: CompressionSettings,
    accelerator: str = "auto",
    progress: bool = True,
) -> tuple[nn.Module, EncoderPlan]:
    """Compress ``encoder.backbone`` on the training clips ``records``; returns the pruned backbone (a copy, in
    eval mode, BN statistics of the fine-tuned model) and its plan with ``stats``."""
    if method not in ("dense", "vib", "hrel", "l1"):
        raise ConfigError(f"backbone.compress={method!r}: choose one of {', '.join(METHODS)}")
    if not records:
        raise ConfigError("encoder compression needs training videos; the split has none")
    torch.manual_seed(settings.seed)
    crop = encoder.prep.crop
    encoder = copy.deepcopy(encoder).cpu()
    backbone = encoder.backbone
    before = encoder_cost(backbone, crop)
    unsupported: list[str] = []
    sites = find_sites(backbone, torch.zeros(1, 3, crop, crop), unsupported)
    if not sites:
        norms = sorted({type(m).__name__ for m in backbone.modules() if "norm" in type(m).__name__.lower()})
        detail = f"; not supported here: {'; '.join(unsupported[:3])}" if unsupported else ""
        detail += f" (its normalisation layers: {', '.join(norms) or 'none'})"
        raise ConfigError(
            "backbone.compress: the backbone has no prunable channel groups (a conv -> BatchNorm read by a later "
            f"layer, outside residual streams){detail}. Choose another backbone or backbone.compress=none"
        )
    if unsupported:
        log.info("encoder compression leaves %d channel groups whole: %s", len(unsupported), "; ".join(unsupported[:3]))
    keep_ratio = settings.keep_ratio
    budget: dict[str, Any] = {}
    if settings.target_macs is not None and method in ("hrel", "l1"):
        keep_ratio, planned = keep_ratio_for_macs(
            backbone, sites, crop, int(settings.target_macs), settings.min_channels
        )
        budget = {"target_macs": int(settings.target_macs), "keep_ratio": keep_ratio, "planned_macs": planned}
        log.info(
            "encoder %s: keeping %.4f of every site's channels for %s MACs per frame (target %s)",
            method,
            keep_ratio,
            f"{planned:,}",
            f"{int(settings.target_macs):,}",
        )
    train_set = ClipFrames(records, sources, settings.frames, train=True, seed=settings.seed)
    eval_set = ClipFrames(records, sources, settings.frames, train=False, seed=settings.seed)
    loader = clip_loader(train_set, settings.batch_size, True, settings.num_workers, settings.seed)
    eval_loader = clip_loader(eval_set, settings.batch_size, False, settings.num_workers, settings.seed)
    kind = "vib" if method == "vib" else "mask"
    mult = SiteMultipliers(sites, kind, settings.spatial_kl, settings.kl_mult, settings.threshold)
    if method in ("vib", "hrel"):
        mult.install(backbone)
    module = EncoderFitModule(
        encoder,
        list(sources),
        num_classes,
        mult,
        beta=settings.beta if method == "vib" else 0.0,
        lr=settings.lr,
        ib_lr=settings.ib_lr,
        weight_decay=settings.weight_decay,
    )
    history: dict[str, Any] = {}
    if method == "dense":  # the control: the same training, nothing removed
        history["dense"] = fit_encoder(module, loader, settings.epochs, accelerator, progress)
    elif method == "l1":  # Li et al.: train, drop the filters of smallest L1 norm, fine-tune
        history["dense"] = fit_encoder(module, loader, settings.epochs, accelerator, progress)
        module.to("cpu")
        scores = l1_scores(backbone, sites, crop)
        counts = uniform_counts(sites, keep_ratio, settings.min_channels)
        for site in sites:
            mult.mask(site)[torch.argsort(scores[site.conv], descending=True)[counts[site.conv] :]] = 0.0
        mult.install(backbone)
    elif method == "vib":
        history["vib"] = fit_encoder(module, loader, settings.epochs, accelerator, progress)
        log.info("encoder VIB training: %s", describe(history["vib"]))
    else:
        history["warmup"] = fit_encoder(module, loader, settings.warmup_epochs, accelerator, progress)
        history["rounds"] = []
        module.to("cpu")
        rel_batches = [b for _, b in zip(range(settings.relevance_batches), eval_loader)]
        for r in range(1, settings.rounds + 1):
            share = 1.0 - (1.0 - keep_ratio) * r / settings.rounds
            scores = site_relevance(module, mult, rel_batches, num_classes)
            for site in sites:
                mask = mult.mask(site)
                target = uniform_counts([site], share, settings.min_channels)[site.conv]
                s = scores[site.conv].clone()
                s[mask == 0] = float("inf")
                drop = int((mask != 0).sum()) - target
                if drop > 0:
                    mask[torch.argsort(s)[:drop]] = 0.0
            rows = fit_encoder(module, loader, settings.epochs, accelerator, progress)
            history["rounds"].append({"share": share, "epochs": rows})
            module.to("cpu")
    module.to("cpu")
    acc_masked = clip_accuracy(module, eval_loader)
    multipliers = _min_channel_guard(sites, mult, settings.min_channels, settings)
    mult.remove()
    fold_into_bn(backbone, sites, multipliers)
    plan = EncoderPlan(method, crop, sites, zeroed_channels(multipliers))
    apply_plan(backbone, plan)
    module.multipliers = None
    acc_pruned = clip_accuracy(module, eval_loader)
    history["finetune"] = fit_encoder(module, loader, settings.finetune_epochs, accelerator, progress)
    module.to("cpu")
    after = encoder_cost(backbone, crop)
    kept = plan.kept()
    plan.stats = {
        "before": before,
        "after": after,
        "param_ratio": before["params"] / after["params"],
        "mac_ratio": before["macs_per_frame"] / after["macs_per_frame"],
        "site_channels_before": sum(s.channels for s in sites),
        "site_channels_after": sum(kept.values()),
        "kept_per_site": kept,
        "train_clip_acc_masked": acc_masked,
        "train_clip_acc_pruned": acc_pruned,
        "train_clip_acc_finetuned": clip_accuracy(module, eval_loader),
        "history": history,
        "train_videos": len(records),
        **({"budget": budget} if budget else {}),
    }
    log.info(
        "encoder %s: %d -> %d params (%.2fx), %d -> %d MACs per frame (%.2fx), %d -> %d site channels",
        method,
        before["params"],
        after["params"],
        plan.stats["param_ratio"],
        before["macs_per_frame"],
        after["macs_per_frame"],
        plan.stats["mac_ratio"],
        plan.stats["site_channels_before"],
        plan.stats["site_channels_after"],
    )
    return backbone.eval(), plan
