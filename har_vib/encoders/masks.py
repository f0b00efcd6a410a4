"""Per-channel multipliers on an encoder's prunable sites: VIBNet bottlenecks (trained) or fixed 0/1 masks (HRel),
installed as forward hooks so the timm modules stay untouched, and folded into the BatchNorms before pruning."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from har_vib.encoders.sites import ChannelSite, hook_bn_output
from har_vib.vibnet.layers import ConvInformationBottleneck


def _key(site: ChannelSite) -> str:
    return site.conv.replace(".", "__")


class SiteMultipliers(nn.Module):
    """One multiplier per channel of every site: a :class:`ConvInformationBottleneck` (``kind="vib"``; its KL
    weighted by the site's ``H * W`` when ``spatial_kl``, VIBNet's ``S_l``) or a fixed 0/1 ``mask`` buffer
    (``kind="mask"``, all ones at start)."""

    def __init__(
        self,
        sites: Sequence[ChannelSite],
        kind: str = "vib",
        spatial_kl: bool = True,
        kl_mult: float = 1.0,
        threshold: float = 0.0,
    ) -> None:
        super().__init__()
        if kind not in ("vib", "mask"):
            raise ValueError(f"kind must be 'vib' or 'mask', got {kind!r}")
        self.sites = list(sites)
        self.kind = kind
        self.handles: list = []
        if kind == "vib":
            self.ib = nn.ModuleDict(
                {
                    _key(s): ConvInformationBottleneck(
                        s.channels,
                        spatial=s.spatial if spatial_kl else 1,
                        kl_mult=kl_mult,
                        threshold=threshold,
                        eval_mode="mu",
                    )
                    for s in self.sites
                }
            )
        else:
            for s in self.sites:
                self.register_buffer(f"mask_{_key(s)}", torch.ones(s.channels))

    def bottleneck(self, site: ChannelSite) -> ConvInformationBottleneck:
        """The bottleneck of ``site`` (``kind="vib"``)."""
        return self.ib[_key(site)]

    def mask(self, site: ChannelSite) -> torch.Tensor:
        """The fixed 0/1 mask of ``site`` (``kind="mask"``)."""
        return getattr(self, f"mask_{_key(site)}")

    def multiply(self, site: ChannelSite, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, H, W) times ``site``'s multiplier."""
        if self.kind == "vib":
            return self.bottleneck(site)(x)
        return x * self.mask(site).view(1, -1, 1, 1).to(x.dtype)

    def install(self, model: nn.Module) -> None:
        """Hook every site of ``model`` (idempotent)."""
        self.remove()
        self.handles = [hook_bn_output(model, s, lambda x, s=s: self.multiply(s, x)) for s in self.sites]

    def remove(self) -> None:
        """Take the hooks off."""
        for h in self.handles:
            h.remove()
        self.handles = []

    def kl(self) -> torch.Tensor:
        """Sum of the bottlenecks' (spatially weighted) KL terms; 0 for fixed masks."""
        if self.kind != "vib":
            return torch.zeros(())
        return torch.stack([b.kl() for b in self.ib.values()]).sum()

    @torch.no_grad()
    def eval_multipliers(self) -> dict[str, torch.Tensor]:
        """What each site multiplies by at deploy time: ``keep_mask * mu`` (VIBNet's eval) or the 0/1 mask."""
        if self.kind == "vib":
            return {s.conv: self.bottleneck(s).multiplier(False).detach().clone() for s in self.sites}
        return {s.conv: self.mask(s).detach().clone() for s in self.sites}

    def removed(self) -> dict[str, list[int]]:
        """Channel indices whose deploy multiplier is 0, per site."""
        return zeroed_channels(self.eval_multipliers())


def zeroed_channels(multipliers: dict[str, torch.Tensor]) -> dict[str, list[int]]:
    """Indices of the channels whose multiplier is 0 (the ones to remove), per site."""
    return {conv: torch.nonzero(z == 0).flatten().tolist() for conv, z in multipliers.items()}


@torch.no_grad()
def fold_into_bn(model: nn.Module, sites: Sequence[ChannelSite], multipliers: dict[str, torch.Tensor]) -> None:
    """Scale each site's BatchNorm affine by its multiplier: ``z * (w x_hat + b) = (z w) x_hat + (z b)``, exact
    for any sign of ``z`` because the multiplier sits before the activation. Zeroed channels then output exactly 0
    and their activation keeps them at 0 (ReLU, hard-swish, SiLU, GELU all map 0 to 0)."""
    for site in sites:
        bn = model.get_submodule(site.bn)
        if bn.weight is None or bn.bias is None:
            raise ValueError(f"{site.bn} has no affine weight/bias to fold the channel multipliers into")
        z = multipliers[site.conv].to(bn.weight)
        bn.weight.mul_(z)
        bn.bias.mul_(z)
