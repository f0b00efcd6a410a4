"""VIB-LSTM and VIB-GRU: recurrent layers whose gate outputs pass through Information Bottlenecks.

Both layers are batch-first, single-layer and unidirectional, store their weights under the same names and
in the same gate order as ``torch.nn.LSTM`` / ``torch.nn.GRU`` (``weight_ih_l0``, ``weight_hh_l0``,
``bias_ih_l0``, ``bias_hh_l0``), so weights move between a plain and a VIB layer by name. The bottleneck
parameters are shared over time; noise is re-drawn at every time step in training.

VIB-LSTM (Srivastava et al. 2021, Eq. 8), with ``z_q`` the multiplier of gate ``q``::

    i = z_i * sigmoid(a_i)   f = z_f * sigmoid(a_f)   g = z_g * tanh(a_g)   o = z_o * sigmoid(a_o)
    c_t = f * c_{t-1} + i * g            h_t = o * tanh(c_t)

VIB-GRU, the same idea on PyTorch's GRU (gate order r, z, n)::

    r = z_r * sigmoid(a_r)   u = z_z * sigmoid(a_z)   n = z_n * tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h_t = (1 - u) * n + u * h_{t-1}
"""

from __future__ import annotations

import math

import torch
from torch import nn

from har_vib.vib.bottleneck import InformationBottleneck

LSTM_GATES = ("i", "f", "g", "o")
GRU_GATES = ("r", "z", "n")


class _VIBRecurrent(nn.Module):
    """Shared parameters and mask bookkeeping of the VIB recurrent layers."""

    gates: tuple[str, ...] = ()

    def __init__(self, input_size: int, hidden_size: int, **ib_kwargs: object) -> None:
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(f"input_size and hidden_size must be > 0, got {input_size}, {hidden_size}")
        n = len(self.gates)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.batch_first = True
        self.weight_ih_l0 = nn.Parameter(torch.empty(n * hidden_size, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(n * hidden_size, hidden_size))
        self.bias_ih_l0 = nn.Parameter(torch.empty(n * hidden_size))
        self.bias_hh_l0 = nn.Parameter(torch.empty(n * hidden_size))
        self.gate_ib = InformationBottleneck(n * hidden_size, **ib_kwargs)  # type: ignore[arg-type]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) on every weight and bias, as ``torch.nn.LSTM``/``GRU`` do."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in (self.weight_ih_l0, self.weight_hh_l0, self.bias_ih_l0, self.bias_hh_l0):
            nn.init.uniform_(p, -bound, bound)

    def gate_slice(self, gate: str) -> slice:
        """Rows of the stacked weights (and units of ``gate_ib``) that belong to ``gate``."""
        q = self.gates.index(gate)
        return slice(q * self.hidden_size, (q + 1) * self.hidden_size)

    def gate_masks(self) -> dict[str, torch.Tensor]:
        """Boolean keep mask of every gate's bottleneck, keyed by gate name."""
        keep = self.gate_ib.keep_mask()
        return {gate: keep[self.gate_slice(gate)] for gate in self.gates}

    def kept_hidden_mask(self) -> torch.Tensor:
        """Hidden units that can be non-zero under the eval masks (see subclasses)."""
        raise NotImplementedError

    def kl(self) -> torch.Tensor:
        """KL term of the gate bottlenecks."""
        return self.gate_ib.kl()

    def _check_input(self, x: torch.Tensor, state: object) -> None:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects batch-first input (B, T, {self.input_size}), got {tuple(x.shape)}"
            )
        if state is not None:
            raise NotImplementedError(f"{type(self).__name__} always starts from a zero state")

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, batch_first=True"


class VIBLSTM(_VIBRecurrent):
    """Single-layer batch-first LSTM with Information Bottlenecks on its i, f, g, o gate outputs."""

    gates = LSTM_GATES

    def kept_hidden_mask(self) -> torch.Tensor:
        """Unit k survives iff its i, g and o masks all keep it (f alone cannot silence it, h_0 = c_0 = 0)."""
        m = self.gate_masks()
        return m["i"] & m["g"] & m["o"]

    def forward(self, x: torch.Tensor, state: None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Run over ``x`` (B, T, L); return outputs (B, T, H) and the final ``(h, c)``, each (1, B, H)."""
        self._check_input(x, state)
        b, t_len, _ = x.shape
        hs = self.hidden_size
        x_proj = torch.nn.functional.linear(x, self.weight_ih_l0, self.bias_ih_l0 + self.bias_hh_l0)
        z = self.gate_ib.multiplier(self.gate_ib.sampling, (b, t_len))  # (B, T, 4H) or (4H,)
        is_g = torch.zeros(4 * hs, dtype=torch.bool, device=x.device)
        is_g[2 * hs : 3 * hs] = True
        w_hh_t = self.weight_hh_l0.t()
        # unbind once: indexing x_proj[:, t] in the loop would make backward O(T^2)
        x_steps = x_proj.unbind(1)
        z_steps = z.unbind(1) if z.dim() == 3 else [z] * t_len
        h = x.new_zeros(b, hs)
        c = x.new_zeros(b, hs)
        outputs = []
        for t in range(t_len):
            a = torch.addmm(x_steps[t], h, w_hh_t)
            act = torch.where(is_g, torch.tanh(a), torch.sigmoid(a)) * z_steps[t]
            i, f, g, o = act.chunk(4, dim=1)
            c = torch.addcmul(f * c, i, g)
            h = o * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h.unsqueeze(0), c.unsqueeze(0))


class VIBGRU(_VIBRecurrent):
    """Single-layer batch-first GRU with Information Bottlenecks on its r, z, n gate outputs."""

    gates = GRU_GATES

    def kept_hidden_mask(self) -> torch.Tensor:
        """Unit k survives iff its n mask keeps it: with n_k = 0 and h_0 = 0, h_k stays 0 forever."""
        return self.gate_masks()["n"]

    def forward(self, x: torch.Tensor, state: None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run over ``x`` (B, T, L); return outputs (B, T, H) and the final ``h`` (1, B, H)."""
        self._check_input(x, state)
        b, t_len, _ = x.shape
        hs = self.hidden_size
        x_proj = torch.nn.functional.linear(x, self.weight_ih_l0, self.bias_ih_l0)
        mult = self.gate_ib.multiplier(self.gate_ib.sampling, (b, t_len))  # (B, T, 3H) or (3H,)
        x_steps = x_proj.unbind(1)  # see VIBLSTM.forward
        m_steps = mult.unbind(1) if mult.dim() == 3 else [mult] * t_len
        h = x.new_zeros(b, hs)
        outputs = []
        for t in range(t_len):
            m, xa = m_steps[t], x_steps[t]
            ha = torch.nn.functional.linear(h, self.weight_hh_l0, self.bias_hh_l0)
            rz = torch.sigmoid(xa[:, : 2 * hs] + ha[:, : 2 * hs]) * m[..., : 2 * hs]
            r, u = rz[:, :hs], rz[:, hs:]
            n = torch.tanh(torch.addcmul(xa[:, 2 * hs :], r, ha[:, 2 * hs :])) * m[..., 2 * hs :]
            h = torch.addcmul(n, u, h - n)  # (1 - u) * n + u * h
            outputs.append(h)
        return torch.stack(outputs, dim=1), h.unsqueeze(0)
