"""Tensor-train and tensor-ring LSTMs (TT-LSTM, Yang et al. 2017; TR-LSTM, Pan et al. 2019;
docs/methods/tensorized.md).

Only the input-to-hidden matrix ``W`` (``L x 4H``) is factorised; ``W_hh`` stays dense. ``L = m_1 ... m_d`` and
``4H = n_1 ... n_d`` (the paper's UCF11 setting: ``57,600 = 8 x 20 x 20 x 18`` and ``4 x 256 = 16 x 4 x 4 x 4``,
the first output mode carrying the 4 gates). Core ``k`` has shape ``(r_{k-1}, m_k, n_k, r_k)`` and

    W[(i_1..i_d), (j_1..j_d)] = trace(G_1[:, i_1, j_1, :] ... G_d[:, i_d, j_d, :])

which is a tensor train when ``r_0 = r_d = 1`` and a tensor ring when ``r_0 = r_d = R``. A small einsum
implementation is used instead of tensorly-torch or tednet: the forward is ~20 lines, it needs only torch
(TorchScript/ONNX export stays simple), and the parameter count is exactly the sum of the cores' sizes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, Optional

import torch
from torch import nn

from har_vib.factorised_size import FactorisedSize, balanced_factors, lstm_input_map_size

__all__ = ["TensorizedLSTM", "TensorizedLinear", "balanced_factors"]

log = logging.getLogger(__name__)


class TensorizedLinear(nn.Module):
    """``y = x W`` with ``W`` (``prod(in_modes) x prod(out_modes)``) in tensor-train or tensor-ring form.

    Args:
        in_modes: ``m_1..m_d``, whose product is the input width.
        out_modes: ``n_1..n_d``, whose product is the output width.
        ranks: ``r_0..r_d``; tensor ring when ``r_0 = r_d > 1``, tensor train when both are 1.
        name: what the map is, in the size warning (``"rnn.weight_ih of the TT-LSTM"``).
        shared_params: parameters the layer holding this map has besides it (whole-layer counts in the warning).
        ranks_key: the setting that sets ``ranks``, named in the warning's advice.

    A map whose cores hold at least as many parameters as the dense matrix is logged as a warning (one line:
    :meth:`FactorisedSize.describe`); :attr:`size` keeps the counts.

    Raises:
        ValueError: the modes and ranks do not fit, or ``r_0 != r_d``.
    """

    def __init__(
        self,
        in_modes: Sequence[int],
        out_modes: Sequence[int],
        ranks: Sequence[int],
        name: str = "TensorizedLinear",
        shared_params: int = 0,
        ranks_key: str = "ranks",
    ) -> None:
        super().__init__()
        d = len(in_modes)
        if len(out_modes) != d or len(ranks) != d + 1:
            raise ValueError(f"need d in modes, d out modes and d+1 ranks; got {in_modes}, {out_modes}, {ranks}")
        if ranks[0] != ranks[-1]:
            raise ValueError(f"the first and last rank must be equal (1: train, R: ring), got {ranks}")
        self.in_modes, self.out_modes, self.ranks = list(in_modes), list(out_modes), list(ranks)
        self.size = FactorisedSize(name, tuple(in_modes), tuple(out_modes), tuple(ranks), shared_params, ranks_key)
        if self.size.larger_than_dense:
            log.warning("factorised layer larger than the dense one it replaces: %s", self.size.describe())
        self.in_features, self.out_features = math.prod(in_modes), math.prod(out_modes)
        self.cores = nn.ParameterList(
            nn.Parameter(torch.empty(ranks[k], in_modes[k], out_modes[k], ranks[k + 1])) for k in range(d)
        )
        self.reset_parameters()

    @property
    def is_ring(self) -> bool:
        """Tensor ring (``r_0 = r_d > 1``) rather than tensor train."""
        return self.ranks[0] > 1

    def reset_parameters(self) -> None:
        """Cores scaled so that ``W`` has the variance of a Glorot-uniform dense matrix of the same shape."""
        target_var = 2.0 / (self.in_features + self.out_features)
        # var(W) = prod_k(var_k * r_k) for i.i.d. zero-mean cores (trace over r_0 adds r_0): split evenly
        d = len(self.cores)
        log_var = math.log(target_var) - sum(math.log(r) for r in self.ranks[1:])
        std = math.exp(0.5 * log_var / d)
        for core in self.cores:
            nn.init.normal_(core, 0.0, std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        n = x.numel() // self.in_features
        # t: (N, r_0, outputs so far, r_k, inputs not yet contracted)
        t = x.reshape(n, 1, 1, 1, self.in_features)
        out = 1
        for k, core in enumerate(self.cores):
            r0, r_prev = t.shape[1], t.shape[3]
            t = t.reshape(n, r0, out, r_prev, self.in_modes[k], -1)
            if k == 0:  # open the r_0 index that the trace closes at the end
                t = torch.einsum("nxoamr,pmbq->npobqr", t, core)
            else:
                t = torch.einsum("npoamr,ambq->npobqr", t, core)
            out *= self.out_modes[k]
            t = t.reshape(n, t.shape[1], out, self.ranks[k + 1], -1)
        y = t.squeeze(-1).diagonal(dim1=1, dim2=3).sum(-1)  # trace over r_0 = r_d
        return y.reshape(lead + (self.out_features,))

    def full(self) -> torch.Tensor:
        """The dense ``W`` (``in_features x out_features``): for tests and inspection."""
        return self.forward(torch.eye(self.in_features, device=self.cores[0].device, dtype=self.cores[0].dtype))


class TensorizedLSTM(nn.Module):
    """Single-layer batch-first LSTM whose input-to-hidden map is a :class:`TensorizedLinear`.

    Same interface as ``nn.LSTM(batch_first=True)``: returns ``(outputs, (h_n, c_n))``; gate order i, f, g, o.
    ``ranks_key`` names the setting of ``ranks`` in the warning a map larger than its dense matrix gets.

    Raises:
        ValueError: the modes do not multiply to the sizes, or the ranks do not fit the modes.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        ranks: Sequence[int],
        in_modes: Optional[Sequence[int]] = None,
        hidden_modes: Optional[Sequence[int]] = None,
        ranks_key: str = "model.net.ranks",
    ) -> None:
        super().__init__()
        # modes factorised evenly unless given; the first output mode carries the 4 gates
        size = lstm_input_map_size(input_size, hidden_size, ranks, in_modes, hidden_modes, ranks_key)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = TensorizedLinear(
            size.in_modes, size.out_modes, ranks, size.layer, size.shared_params, ranks_key
        )
        self.bias_ih = nn.Parameter(torch.zeros(4 * hidden_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_hh = nn.Parameter(torch.zeros(4 * hidden_size))
        nn.init.orthogonal_(self.weight_hh)
        with torch.no_grad():
            self.bias_ih[hidden_size : 2 * hidden_size] = 1.0  # forget-gate bias 1 (unit_forget_bias)

    def dense_param_count(self) -> int:
        """Parameters of the dense ``nn.LSTM`` this layer replaces (two bias vectors)."""
        h = self.hidden_size
        return 4 * h * (h + self.input_size) + 8 * h

    def size_report(self) -> dict[str, Any]:
        """``compression.json``'s ``factorised_larger_than_dense`` and the counts of the factorised map."""
        return self.weight_ih.size.report()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b = x.shape[0]
        h = x.new_zeros(b, self.hidden_size)
        c = x.new_zeros(b, self.hidden_size)
        x_proj = self.weight_ih(x) + self.bias_ih  # (B, T, 4H), all steps at once
        outputs = []
        for x_t in x_proj.unbind(1):
            gates = x_t + h @ self.weight_hh.t() + self.bias_hh
            i, f, g, o = gates.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, 1), (h.unsqueeze(0), c.unsqueeze(0))
