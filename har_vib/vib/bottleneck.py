"""The Information Bottleneck (VIB) layer: learnable per-unit Gaussian multiplicative masks.

Each unit ``j`` of a ``d``-wide signal is multiplied by ``z_j = mu_j + eps * sigma_j`` in training
(``eps ~ N(0, 1)``, drawn afresh on every call, for every sample). With the prior variance optimised in
closed form, the KL term of the bottleneck is ``1/2 * sum_j log(1 + mu_j^2 / sigma_j^2)`` (VIBNet, Dai et
al. 2018; VIB-LSTM, Srivastava et al. 2021, Eq. 6). Units whose log signal-to-noise ratio
``log(mu^2 / sigma^2)`` is not above a threshold (default 0) carry no information and are pruned.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

EvalMode = Literal["hard", "mu"]
EPS = 1e-8


class InformationBottleneck(nn.Module):
    """Per-unit Gaussian multiplicative bottleneck over the last dimension of its input.

    Args:
        dim: number of units ``d``.
        init_mu: mean of the initial ``mu`` (1.0: the layer starts as the identity).
        init_logvar: mean of the initial ``log sigma^2`` (-9: almost no noise at start).
        init_std: standard deviation of both initialisations.
        kl_mult: per-layer multiplier of the KL term (``kml`` in the authors' code).
        threshold: keep unit ``j`` iff ``log(mu_j^2 / sigma_j^2) > threshold``.
        eval_mode: ``"hard"`` multiplies by the 0/1 keep mask in eval (the VIB-LSTM authors' choice, and
            what the exported compact model reproduces); ``"mu"`` multiplies by ``mask * mu`` (VIBNet).

    Setting :attr:`fixed_mask` to ``True`` makes the layer multiply by the 0/1 keep mask in training
    too, so a masked model can be fine-tuned in place with its pruning pattern held; ``mu`` and ``log sigma^2``
    then get no gradient from the data term. (The pipeline's own fine-tune stage trains the exported compact
    ``nn.LSTM`` instead, which is equivalent and cheaper.)
    """

    def __init__(
        self,
        dim: int,
        init_mu: float = 1.0,
        init_logvar: float = -9.0,
        init_std: float = 0.01,
        kl_mult: float = 1.0,
        threshold: float = 0.0,
        eval_mode: EvalMode = "hard",
    ) -> None:
        super().__init__()
        if dim <= 0:
            raise ValueError(f"InformationBottleneck needs dim > 0, got {dim}")
        if eval_mode not in ("hard", "mu"):
            raise ValueError(f"eval_mode must be 'hard' or 'mu', got {eval_mode!r}")
        self.dim = dim
        self.kl_mult = kl_mult
        self.threshold = threshold
        self.eval_mode: EvalMode = eval_mode
        self.fixed_mask = False
        self.mu = nn.Parameter(torch.empty(dim))
        self.logvar = nn.Parameter(torch.empty(dim))
        self._init = (init_mu, init_logvar, init_std)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw ``mu ~ N(init_mu, init_std^2)`` and ``log sigma^2 ~ N(init_logvar, init_std^2)``."""
        init_mu, init_logvar, init_std = self._init
        with torch.no_grad():
            self.mu.normal_(init_mu, init_std)
            self.logvar.normal_(init_logvar, init_std)

    def log_snr(self) -> torch.Tensor:
        """``log(mu^2 / sigma^2)`` per unit (no gradient)."""
        mu = self.mu.detach()
        return torch.log(mu.pow(2) + EPS) - self.logvar.detach()

    def keep_mask(self) -> torch.Tensor:
        """Boolean mask of the units that survive pruning."""
        return self.log_snr() > self.threshold

    def kept_indices(self) -> torch.Tensor:
        """Sorted indices of the kept units."""
        return torch.nonzero(self.keep_mask(), as_tuple=False).flatten()

    def kl(self) -> torch.Tensor:
        """KL term ``1/2 * kl_mult * sum_j log(1 + mu_j^2 / (sigma_j^2 + 1e-8))`` (differentiable)."""
        ratio = self.mu.pow(2) / (self.logvar.exp() + EPS)
        return 0.5 * self.kl_mult * torch.log1p(ratio).sum()

    def multiplier(self, sample: bool, batch_shape: tuple[int, ...] = ()) -> torch.Tensor:
        """What the layer multiplies by: ``mu + eps * sigma`` of shape ``(*batch_shape, dim)`` with fresh
        noise when ``sample``, else the eval (or fixed) mask of shape ``(dim,)``.

        Recurrent cells draw the multipliers of all time steps at once, ``batch_shape = (B, T)``: that is
        independent noise per sample and per step, as if drawn inside the loop, at a fraction of the cost.
        """
        if sample:
            eps = torch.randn((*batch_shape, self.dim), device=self.mu.device, dtype=self.mu.dtype)
            return torch.addcmul(self.mu, eps, torch.exp(0.5 * self.logvar))
        mask = self.keep_mask().to(self.mu.dtype)
        if self.fixed_mask or self.eval_mode == "hard":
            return mask
        return mask * self.mu.detach()

    @property
    def sampling(self) -> bool:
        """Whether a forward call now draws noise (training and masks not fixed)."""
        return self.training and not self.fixed_mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Multiply ``x`` (``(..., dim)``) unit-wise by the bottleneck's multiplier."""
        if x.shape[-1] != self.dim:
            raise ValueError(f"InformationBottleneck(dim={self.dim}) got input with last dim {x.shape[-1]}")
        return x * self.multiplier(self.sampling, tuple(x.shape[:-1]))

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, kl_mult={self.kl_mult}, threshold={self.threshold}, "
            f"eval_mode={self.eval_mode!r}, fixed_mask={self.fixed_mask}"
        )
