"""The conv form of the Information Bottleneck: one Gaussian multiplier per channel, broadcast over H x W."""

from __future__ import annotations

import torch

from har_vib.vib.bottleneck import InformationBottleneck


class ConvInformationBottleneck(InformationBottleneck):
    """Per-channel bottleneck on ``(B, C, H, W)``: noise ``(B, C, 1, 1)`` per sample and channel (VIBNet,
    Dai et al., ICML 2018, arXiv:1802.10399).
    Its KL is multiplied by ``spatial`` (the map's ``H * W``: every position of a channel
    carries the same multiplier, VIBNet's ``S_l``) and by ``kl_mult``."""

    def __init__(self, channels: int, spatial: int = 1, **kwargs) -> None:
        super().__init__(channels, **kwargs)
        if spatial < 1:
            raise ValueError(f"spatial must be >= 1, got {spatial}")
        self.spatial = spatial

    def kl(self) -> torch.Tensor:
        """``spatial`` times the per-unit KL of :class:`InformationBottleneck`."""
        return super().kl() * self.spatial

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Multiply every channel of ``x`` (``(B, C, H, W)``) by its multiplier."""
        if x.dim() != 4 or x.shape[1] != self.dim:
            raise ValueError(
                f"ConvInformationBottleneck(channels={self.dim}) needs (B, {self.dim}, H, W), got {tuple(x.shape)}"
            )
        z = self.multiplier(self.sampling, (x.shape[0],) if self.sampling else ())
        return x * z.view(*z.shape[:-1], self.dim, 1, 1) if self.sampling else x * z.view(1, self.dim, 1, 1)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", spatial={self.spatial}"
