"""The encoder-compression stage: pick channels to drop by VIBNet, HRel or the L1 norm of their filters, fold,
prune with Torch-Pruning, fine-tune, count parameters and MACs before and after.

- ``vib``: a :class:`ConvInformationBottleneck` on every site, trained with the weights on CE + beta * KL
  (VIBNet; KL per site weighted by its ``H * W`` unless ``spatial_kl`` is off); channels whose
  ``log(mu^2 / sigma^2)`` is not above ``threshold`` go, the kept ones carry ``mu`` folded into their BN.
- ``dense``: the control, the same training without masks; nothing is removed.
- ``hrel``: after ``warmup_epochs`` of plain training, ``rounds`` rounds of: score every unmasked channel by the
  mutual information of its map with the labels (the matrix-based Renyi estimator, HRel), mask the least
  relevant ones of each site down to the round's share of ``keep_ratio``, fine-tune with the masks held.
- ``l1``: L1-norm filter pruning (Li et al., "Pruning Filters for Efficient ConvNets", ICLR 2017,
  arXiv:1608.08710): the dense training, then every site keeps its ``keep_ratio`` share of filters of largest
  L1 norm (Torch-Pruning's magnitude importance of the site's conv), then the fine-tuning.

``target_macs`` (hrel, l1) replaces ``keep_ratio`` by the largest share whose pruned encoder costs at most that many
MACs per frame, so criteria can be compared at the cost a VIB run reached (see :mod:`har_vib.encoders.budget`).

This module holds the pure-PyTorch parts (the settings, the L1 and HRel channel scores, the minimum-channel guard);
the stage itself, which trains with Lightning, is :func:`har_vib.lit_modules.encoder_compress.compress_encoder`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from har_vib.encoders.budget import encoder_cost  # re-exported (har_vib.pipeline, tests)
from har_vib.encoders.fit import ClipModel
from har_vib.encoders.masks import SiteMultipliers
from har_vib.encoders.sites import ChannelSite, hook_bn_output
from har_vib.errors import ConfigError
from har_vib.hrel.checks import check_activations, check_labels
from har_vib.hrel.entropy import kernel_width_by_alignment, label_gram
from har_vib.hrel.relevance import batch_relevance

log = logging.getLogger(__name__)

METHODS = ("none", "dense", "vib", "hrel", "l1")
__all__ = ["METHODS", "CompressionSettings", "encoder_cost", "l1_scores", "site_relevance"]


@dataclass(frozen=True)
class CompressionSettings:
    """The ``backbone.compression`` config (see conf/backbone/_compression.yaml for the meaning of each key)."""

    epochs: int = 4
    finetune_epochs: int = 2
    frames: int = 4
    batch_size: int = 8
    num_workers: int = 0
    lr: float = 1e-3
    ib_lr: float = 1e-2
    weight_decay: float = 0.0
    beta: float = 1e-5
    spatial_kl: bool = True
    kl_mult: float = 1.0
    threshold: float = 0.0
    keep_ratio: float = 0.5
    warmup_epochs: int = 2
    rounds: int = 2
    relevance_batches: int = 4
    min_channels: int = 1
    target_macs: int | None = None
    seed: int = 0

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> CompressionSettings:
        """Build from ``backbone.compression``; an unknown key is a :class:`ConfigError` naming it."""
        data = {k: v for k, v in dict(cfg or {}).items() if k != "cache_dir"}
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"backbone.compression: unknown key(s) {unknown}; known: {', '.join(cls.__dataclass_fields__)}"
            )
        settings = cls(**data)
        if not 0.0 < settings.keep_ratio <= 1.0:
            raise ConfigError(f"backbone.compression.keep_ratio must be in (0, 1], got {settings.keep_ratio}")
        if settings.frames < 1 or settings.batch_size < 1:
            raise ConfigError("backbone.compression.frames and batch_size must be >= 1")
        if settings.min_channels < 1:
            raise ConfigError(
                f"backbone.compression.min_channels must be >= 1 (a site keeps at least one channel), got "
                f"{settings.min_channels}"
            )
        if settings.target_macs is not None:
            try:
                target = 0 if isinstance(settings.target_macs, bool) else int(settings.target_macs)
            except (TypeError, ValueError):
                target = 0
            if target <= 0 or target != settings.target_macs:
                raise ConfigError(
                    "backbone.compression.target_macs must be a positive whole number of MACs per frame (or null), "
                    f"got {settings.target_macs!r}"
                )
        return settings

    def check_method(self, method: str) -> None:
        """Refuse settings that ``method`` would silently ignore: ``target_macs`` only steers hrel and l1 (a vib
        encoder's cost follows from beta and the threshold; dense and none remove nothing)."""
        if self.target_macs is not None and method not in ("hrel", "l1"):
            raise ConfigError(
                f"backbone.compression.target_macs={self.target_macs} has no effect with backbone.compress={method}: "
                "it sets the cost of hrel and l1 (a vib encoder's cost follows from backbone.compression.beta and "
                "threshold); drop it or choose backbone.compress=hrel|l1"
            )


def l1_scores(model: nn.Module, sites: Sequence[ChannelSite], crop: int) -> dict[str, torch.Tensor]:
    """L1 norm of every filter of every site's conv (Li et al. 2017), through Torch-Pruning's magnitude importance
    of the site's pruning group ranked by its first member, the conv itself."""
    import torch_pruning as tp

    model = model.eval()
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, 3, crop, crop))
    importance = tp.importance.MagnitudeImportance(p=1, group_reduction="first", normalizer=None)
    scores = {}
    for site in sites:
        conv = model.get_submodule(site.conv)
        group = graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=list(range(site.channels)))
        with torch.no_grad():
            scores[site.conv] = importance(group).detach().cpu()
    return scores


def _emptied_site_message(site: ChannelSite, snr: torch.Tensor, kept: int, settings: CompressionSettings) -> str:
    """A site whose bottleneck kept fewer than ``min_channels`` channels: the settings in force with their values,
    the site's ``log(mu^2/sigma^2)`` range against the threshold, the cause and the fix (as
    :func:`har_vib.vib.collapse.collapse_message` says it for the sequence and VIBNet models)."""
    key = "backbone.compression"
    high = float(snr.max())
    line = (
        f"{site.conv}: the bottleneck kept {kept}/{site.channels} channels with {key}.beta={settings.beta:g}, "
        f"{key}.ib_lr={settings.ib_lr:g}, {key}.threshold={settings.threshold:g}: log(mu^2/sigma^2) "
        f"{float(snr.min()):.3g}..{high:.3g} vs threshold {settings.threshold:g}; keeping its "
        f"{key}.min_channels={settings.min_channels} of highest log(mu^2/sigma^2)"
    )
    if settings.threshold > 0 and high > 0:
        return f"{line}. The threshold is the cause: lower {key}.threshold below {high:.3g}"
    return (
        f"{line}. The KL term is the cause: lower {key}.beta (now {settings.beta:g}) or {key}.ib_lr "
        f"(now {settings.ib_lr:g})"
    )


def _min_channel_guard(
    sites: Sequence[ChannelSite],
    multipliers: SiteMultipliers,
    min_channels: int,
    settings: CompressionSettings | None = None,
) -> dict[str, torch.Tensor]:
    """Eval multipliers where no site keeps fewer than ``min_channels``: a site the bottleneck emptied keeps its
    channels of highest log SNR, each scaled by its ``mu``; each such site is a warning naming ``settings`` (the
    run's ``backbone.compression``, default :class:`CompressionSettings` when None) and what to change."""
    z = multipliers.eval_multipliers()
    if multipliers.kind != "vib":
        return z
    settings = settings or CompressionSettings(min_channels=min_channels)
    for site in sites:
        ib = multipliers.bottleneck(site)
        kept = int((z[site.conv] != 0).sum())
        need = min(min_channels, site.channels) - kept
        if need > 0:
            snr = ib.log_snr().clone()
            log.warning("%s", _emptied_site_message(site, snr, kept, settings))
            snr[z[site.conv] != 0] = -float("inf")
            top = torch.topk(snr, need).indices
            z[site.conv][top] = ib.mu.detach()[top]
    return z


@torch.no_grad()
def site_relevance(
    module: ClipModel,
    multipliers: SiteMultipliers,
    loader: Sequence,
    num_classes: int,
) -> dict[str, torch.Tensor]:
    """HRel score (bits) of every channel of every site: the mean of I(map; label) over ``loader``'s batches and
    the streams (one estimate per batch and stream), with the frame maps of every stream labelled by their clip's
    label. The kernel width of each site is the alignment-optimal one, smoothed (0.9 / 0.1) over those estimates in
    turn, as HRel smooths it over batches."""
    module.eval()
    captured: dict[str, torch.Tensor] = {}
    backbone = module.encoder.backbone

    def capture(site: ChannelSite):
        def fn(x: torch.Tensor) -> torch.Tensor:
            out = multipliers.multiply(site, x)
            captured[site.conv] = out.detach()
            return out

        return fn

    multipliers.remove()
    handles = [hook_bn_output(backbone, s, capture(s)) for s in multipliers.sites]
    sums: dict[str, torch.Tensor] = {}
    sigma: dict[str, float] = {}
    batches = 0
    try:
        for index, batch in enumerate(loader):
            if not batch:
                continue
            for stream in module.heads:
                x = torch.cat([module.encoder.preprocess(clip[stream].to(module.device)) for clip, _ in batch])
                y = torch.tensor([label for clip, label in batch for _ in range(len(clip[stream]))])
                check_labels(y, num_classes, index)
                captured.clear()
                backbone(x)
                k_y = label_gram(y.to(x.device), num_classes)
                for site in multipliers.sites:
                    maps = captured[site.conv].float()
                    layer = f"{site.conv} ({stream} frames; a sample is a frame of the batch's clips)"
                    check_activations(maps, layer, index, unit="channel")
                    best = kernel_width_by_alignment(maps.flatten(1), k_y, layer=layer)
                    sigma[site.conv] = best if site.conv not in sigma else 0.9 * sigma[site.conv] + 0.1 * best
                    score = batch_relevance(maps, y, sigma[site.conv], num_classes, layer, index).cpu()
                    sums[site.conv] = sums.get(site.conv, 0) + score
                batches += 1
    finally:
        for h in handles:
            h.remove()
        multipliers.install(backbone)
    if not batches:
        raise RuntimeError("HRel relevance got no readable clips")
    return {k: v / batches for k, v in sums.items()}
