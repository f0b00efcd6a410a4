"""Fold the bottlenecks' eval multipliers into a compact model's weights, or refuse to export.

An :class:`~har_vib.vib.bottleneck.InformationBottleneck` multiplies in eval by its 0/1 keep mask
(``eval_mode="hard"``) or by ``mask * mu`` (``eval_mode="mu"``, VIBNet's). Pruning removes the units whose mask
is 0; the multiplier of a kept unit (1, or its ``mu``) must then live in the compact model's weights. Where it
goes (``m`` a kept unit's multiplier; the exact algebra, ``h_0 = c_0 = 0``):

* input feature ``j`` (``input_ib``): ``W_ih[:, j] *= m_j`` (the LSTM/GRU reads ``m_j x_j`` through it);
* LSTM output gate ``o``: ``h = m_o * o * tanh(c)``, so the compact unit carries ``h / m_o`` and every reader
  of ``h`` scales its column: ``W_hh[:, k] *= m_o`` and the head's first ``Linear[:, k] *= m_o``;
* GRU candidate ``n``: ``h_t = (1 - u) * m_n * tanh(.) + u * h_{t-1}`` is ``m_n`` times the recursion without
  ``m_n``: the same column scaling, ``W_hh[:, k] *= m_n``, head ``[:, k] *= m_n``;
* GRU reset gate ``r``: ``m_r * r * (W_hn h + b_hn)``: rows ``W_hn[k] *= m_r`` and ``b_hn[k] *= m_r``.

The LSTM's ``i``, ``f``, ``g`` and the GRU's update gate ``z`` cannot be folded: a multiplier on a sigmoid
(``m * sigmoid(a)`` is no sigmoid) or on the cell input (``tanh(m c)`` is not ``m tanh(c)``) has no place in a
standard ``nn.LSTM``/``nn.GRU``. Their multiplier must be exactly 1 on every kept, open unit (it is under
``eval_mode="hard"``; closed gates, multiplier 0, are handled by :func:`~har_vib.compression.prune.compress`);
otherwise :func:`fold_eval_multipliers` raises :class:`~har_vib.compression.exactness.InexactExportError`.
"""

from __future__ import annotations

import torch

from har_vib.compression.exactness import InexactExportError
from har_vib.compression.params import GATES_PER_CELL, cell_type
from har_vib.models.sequence_classifier import SequenceClassifier
from har_vib.vib.bottleneck import InformationBottleneck
from har_vib.vib.recurrent import VIBGRU, VIBLSTM

# gates whose eval multiplier has no place in a standard nn.LSTM / nn.GRU (see the module docstring)
UNFOLDABLE_GATES = {"lstm": ("i", "f", "g"), "gru": ("z",)}
_GATE_NAMES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


def eval_multiplier(ib: InformationBottleneck) -> torch.Tensor:
    """What ``ib`` multiplies by in eval mode, (dim,): the 0/1 mask or ``mask * mu`` (no gradient)."""
    return ib.multiplier(sample=False).detach()


def gate_multipliers(model: SequenceClassifier, hidden: torch.Tensor) -> dict[str, torch.Tensor]:
    """The eval multiplier of each gate at the kept units ``hidden``, (len(hidden),) per gate; empty for a plain
    recurrent layer."""
    rnn = model.rnn
    if not isinstance(rnn, (VIBLSTM, VIBGRU)):
        return {}
    m = eval_multiplier(rnn.gate_ib)
    big_h = rnn.hidden_size
    names = _GATE_NAMES[cell_type(rnn)]
    return {gate: m[q * big_h + hidden] for q, gate in enumerate(names)}


def unfoldable(model: SequenceClassifier, hidden: torch.Tensor) -> dict[str, int]:
    """Per gate that cannot be folded, how many kept units have an eval multiplier other than exactly 0 (a closed
    gate) or 1; empty when the compact model can reproduce ``model`` exactly."""
    mults = gate_multipliers(model, hidden)
    if not mults:
        return {}
    found = {}
    for gate in UNFOLDABLE_GATES[cell_type(model.rnn)]:
        m = mults[gate]
        bad = int(((m != 0) & (m != 1)).sum())
        if bad:
            found[gate] = bad
    return found


@torch.no_grad()
def fold_eval_multipliers(
    model: SequenceClassifier, compact: SequenceClassifier, inputs: torch.Tensor, hidden: torch.Tensor
) -> list[str]:
    """Scale ``compact`` (built from ``model`` by :func:`~har_vib.compression.prune.shrink_classifier` with the
    kept ``inputs`` and ``hidden``, both index tensors) in place so it reproduces ``model``'s eval multipliers.

    Returns:
        The sites whose multiplier was not all ones (``"input"``, ``"o"``, ``"r"``, ``"n"``): empty under
        ``eval_mode="hard"``, where folding multiplies by 1.

    Raises:
        InexactExportError: a gate that cannot be folded (LSTM ``i``/``f``/``g``, GRU ``z``) has a multiplier other
            than 0 or 1 on a kept unit, i.e. ``eval_mode="mu"`` on a VIB-LSTM/GRU: no standard layer computes it.
    """
    bad = unfoldable(model, hidden)
    if bad:
        cell = cell_type(model.rnn)
        gates = ", ".join(f"{g} ({n} of {len(hidden)} kept units)" for g, n in bad.items())
        raise InexactExportError(
            f"the {cell.upper()} gate bottlenecks multiply in eval by mask * mu (eval_mode='mu'): gates {gates} "
            f"carry a multiplier other than 0 or 1, which a standard nn.{cell.upper()} cannot reproduce, so the "
            "compact model would not compute what the trained model computes. Train with "
            "model.net.ib.eval_mode=hard (the default); an input-feature bottleneck alone (model=feature_vib_lstm) "
            "may use mu, which folds into the input weights"
        )
    rnn, folded = compact.rnn, []
    if model.input_ib is not None:
        m_in = eval_multiplier(model.input_ib)[inputs].to(rnn.weight_ih_l0.dtype)
        rnn.weight_ih_l0.mul_(m_in.view(1, -1))
        folded += ["input"] if bool((m_in != 1).any()) else []
    mults = gate_multipliers(model, hidden)
    if not mults:
        return folded
    cell, h_new = cell_type(model.rnn), len(hidden)
    carried = mults["o" if cell == "lstm" else "n"].to(rnn.weight_hh_l0.dtype)  # the state carries h / m
    rnn.weight_hh_l0.mul_(carried.view(1, -1))
    compact.head[0].weight.mul_(carried.view(1, -1))
    folded += [("o" if cell == "lstm" else "n")] if bool((carried != 1).any()) else []
    if cell == "gru":
        m_r = mults["r"].to(rnn.weight_hh_l0.dtype)
        n_rows = slice(2 * h_new, GATES_PER_CELL[cell] * h_new)
        rnn.weight_hh_l0[n_rows].mul_(m_r.view(-1, 1))
        rnn.bias_hh_l0[n_rows].mul_(m_r)
        folded += ["r"] if bool((m_r != 1).any()) else []
    return folded
