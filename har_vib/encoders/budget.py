"""What a pruned encoder costs, and how many channels a MAC budget allows.

Methods that rank channels (HRel, L1-norm filter pruning) keep the same share of every site's channels; the share
is either given (``keep_ratio``) or chosen so the pruned encoder costs at most ``target_macs`` multiply-accumulates
per frame. Comparing methods at equal deployed cost is the only fair comparison of pruning criteria: a criterion
that removes more channels would otherwise look worse or better for reasons that have nothing to do with which
channels it picks.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from har_vib.encoders.plan import EncoderPlan, apply_plan
from har_vib.encoders.sites import ChannelSite
from har_vib.errors import ConfigError


def encoder_cost(model: nn.Module, crop: int) -> dict[str, int]:
    """Parameters and MACs of one frame at ``crop`` x ``crop`` (Torch-Pruning's op counter)."""
    import torch_pruning as tp

    macs, params = tp.utils.count_ops_and_params(model.eval(), torch.zeros(1, 3, crop, crop))
    return {"params": int(params), "macs_per_frame": int(macs)}


def uniform_counts(sites: Sequence[ChannelSite], keep_ratio: float, min_channels: int = 1) -> dict[str, int]:
    """Channels kept per site when every site keeps ``round(channels * keep_ratio)`` (at least ``min_channels``,
    at most all of them)."""
    return {s.conv: min(s.channels, max(min_channels, round(s.channels * keep_ratio))) for s in sites}


def cost_with_counts(model: nn.Module, sites: Sequence[ChannelSite], crop: int, counts: dict[str, int]) -> int:
    """MACs per frame of a copy of ``model`` whose sites keep ``counts`` channels (which ones does not change the
    cost). ``model`` is not modified."""
    removed = {s.conv: list(range(counts[s.conv], s.channels)) for s in sites}
    pruned = apply_plan(copy.deepcopy(model).cpu(), EncoderPlan("budget", crop, list(sites), removed))
    return encoder_cost(pruned, crop)["macs_per_frame"]


def check_budget(
    model: nn.Module, sites: Sequence[ChannelSite], crop: int, target_macs: int, min_channels: int = 1
) -> tuple[int, int]:
    """MACs per frame of ``model`` whole and with every site at ``min_channels`` (the least it can cost), after
    checking that ``target_macs`` is reachable.

    Raises:
        ConfigError: ``target_macs`` is below that floor (naming target_macs, or min_channels when no site can
            lose a channel at all).
    """
    full = cost_with_counts(model, sites, crop, uniform_counts(sites, 1.0, min_channels))
    if target_macs >= full:
        return full, full
    floor = cost_with_counts(model, sites, crop, uniform_counts(sites, 0.0, min_channels))
    if target_macs < floor:
        if floor >= full:
            raise ConfigError(
                f"backbone.compression.target_macs={target_macs:,} cannot be reached: with "
                f"backbone.compression.min_channels={min_channels} no site can lose a channel (the largest has "
                f"{max(s.channels for s in sites)}), so the encoder stays at {full:,} MACs per frame; lower "
                "min_channels"
            )
        raise ConfigError(
            f"backbone.compression.target_macs={target_macs:,} is below {floor:,} MACs per frame, what this encoder "
            f"costs with min_channels={min_channels} channel(s) per prunable site (its other layers cannot shrink); "
            "raise target_macs or lower backbone.compression.min_channels"
        )
    return full, floor


def keep_ratio_for_macs(
    model: nn.Module,
    sites: Sequence[ChannelSite],
    crop: int,
    target_macs: int,
    min_channels: int = 1,
    steps: int = 14,
) -> tuple[float, int]:
    """The largest uniform keep ratio whose pruned encoder costs at most ``target_macs`` per frame (bisection,
    ``steps`` halvings: the ratio to within 2**-steps), and that cost.

    Raises:
        ConfigError: ``target_macs`` is below what the encoder costs with every site at ``min_channels`` (its
            unprunable layers alone cost more).
    """
    full, floor = check_budget(model, sites, crop, target_macs, min_channels)
    if target_macs >= full:
        return 1.0, full
    lo, lo_cost, hi = 0.0, floor, 1.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        cost = cost_with_counts(model, sites, crop, uniform_counts(sites, mid, min_channels))
        if cost <= target_macs:
            lo, lo_cost = mid, cost
        else:
            hi = mid
    return lo, lo_cost
