"""Intrinsic Sparse Structures (ISS, Wen et al. 2018): group lasso on whole LSTM/GRU hidden units.

One ISS component is everything that makes or consumes hidden unit ``k`` (Wen et al., ICLR 2018,
arXiv:1709.05027), in PyTorch layout:

* rows ``q*H + k`` of ``W_ih`` and ``W_hh`` for every gate ``q`` (what computes the unit's gates);
* column ``k`` of ``W_hh`` (the unit's state feeding every gate at the next step);
* column ``k`` of the head's first ``Linear`` (the unit's state feeding the classifier), unless
  ``include_head=False`` (the VIB-LSTM authors' variant, docs/methods/iss.md, leaves it out).

Biases are not in the group. The regulariser is ``sum_k sqrt(||g_k||^2 + 1e-8)``; training also zeroes every
weight below ``tau`` in magnitude after each step (as Wen et al. do), so groups reach exact zeros. A unit is
removed when its squared group norm is at most ``threshold``: the weights of its group are zeroed first, so
the exported model reproduces the thresholded one exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from har_vib.compression.params import GATES_PER_CELL, cell_type
from har_vib.compression.prune import CompressionResult, NothingKeptError, compression_report, shrink_classifier
from har_vib.models.sequence_classifier import SequenceClassifier

EPS = 1e-8


@dataclass(frozen=True)
class ISSStage:
    """The ISS stage that follows VIB pruning (``model=vib_iss_lstm``; docs/methods/iss.md): ``epochs`` of training of
    the compact model with group lasso ``group_lasso``, then removal of the units whose squared group norm is at
    most ``threshold``. The authors' variant leaves the head out of the group and uses ``0.01`` for both."""

    group_lasso: float = 0.01
    epochs: int = 100
    threshold: float = 0.01
    include_head: bool = False
    zero_threshold: float = 1e-4


def _head_linear(model: SequenceClassifier) -> nn.Linear:
    first = model.head[0]
    if not isinstance(first, nn.Linear):
        raise TypeError(f"the head must start with nn.Linear, got {type(first).__name__}")
    return first


def group_sq_norms(rnn: nn.Module, head: Optional[nn.Linear] = None) -> torch.Tensor:
    """Squared L2 norm of each hidden unit's ISS group, shape (H,); differentiable."""
    big_h = rnn.hidden_size
    g = GATES_PER_CELL[cell_type(rnn)]
    rows_ih = rnn.weight_ih_l0.view(g, big_h, -1).pow(2).sum(dim=(0, 2))
    rows_hh = rnn.weight_hh_l0.view(g, big_h, big_h).pow(2).sum(dim=(0, 2))
    cols_hh = rnn.weight_hh_l0.pow(2).sum(dim=0)
    norms = rows_ih + rows_hh + cols_hh
    if head is not None:
        norms = norms + head.weight.pow(2).sum(dim=0)
    return norms


def group_lasso_penalty(model: SequenceClassifier, include_head: bool = True) -> torch.Tensor:
    """``sum_k sqrt(||g_k||^2 + 1e-8)`` over the hidden units of ``model.rnn``."""
    head = _head_linear(model) if include_head else None
    return torch.sqrt(group_sq_norms(model.rnn, head) + EPS).sum()


@torch.no_grad()
def zero_small_weights_(model: SequenceClassifier, tau: float, include_head: bool = True) -> int:
    """Set every recurrent weight (and head weight, with ``include_head``) with ``|w| < tau`` to 0; returns how
    many entries are zero afterwards."""
    tensors = [model.rnn.weight_ih_l0, model.rnn.weight_hh_l0]
    if include_head:
        tensors.append(_head_linear(model).weight)
    zeros = 0
    for w in tensors:
        w.masked_fill_(w.abs() < tau, 0.0)
        zeros += int((w == 0).sum())
    return zeros


def kept_hidden(model: SequenceClassifier, threshold: float, include_head: bool = True) -> torch.Tensor:
    """Indices of the hidden units whose squared group norm exceeds ``threshold``."""
    head = _head_linear(model) if include_head else None
    with torch.no_grad():
        norms = group_sq_norms(model.rnn, head)
    return torch.nonzero(norms > threshold, as_tuple=False).flatten()


@torch.no_grad()
def zero_groups_(model: SequenceClassifier, pruned: torch.Tensor, include_head: bool = True) -> None:
    """Write the removal of units ``pruned`` into the weights: their group entries and their gate biases."""
    rnn = model.rnn
    big_h = rnn.hidden_size
    g = GATES_PER_CELL[cell_type(rnn)]
    rows = torch.cat([q * big_h + pruned for q in range(g)])
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        getattr(rnn, name)[rows] = 0.0
    rnn.weight_hh_l0[:, pruned] = 0.0
    if include_head:
        _head_linear(model).weight[:, pruned] = 0.0


def iss_collapse_message(
    model: SequenceClassifier,
    threshold: float,
    include_head: bool,
    settings: Optional[Mapping[str, Any]] = None,
    threshold_key: str = "model.iss_threshold",
) -> str:
    """One line for a group lasso that removed every hidden unit: the settings in force with their values
    (``settings``: ``{config key: value}`` of the group-lasso weight and zeroing threshold), the squared group
    norms against ``threshold`` (set by ``threshold_key``), whether the threshold or the penalty is the cause,
    and what to change."""
    head = _head_linear(model) if include_head else None
    with torch.no_grad():
        norms = group_sq_norms(model.rnn, head)
    others = {k: v for k, v in (settings or {}).items() if k != threshold_key}
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in others.items())
    shown = f"{shown}, {threshold_key}={threshold:g}" if shown else f"{threshold_key}={threshold:g}"
    top = float(norms.max())
    line = (
        f"group lasso removed every hidden unit (0/{norms.numel()} kept) with {shown}: squared group norms "
        f"{float(norms.min()):.3g}..{top:.3g} vs threshold {threshold:g}"
    )
    if top > 0:
        return f"{line}. The threshold is the cause: lower {threshold_key} below {top:.3g}"
    penalty = " or ".join(f"{k} (now {v:g})" for k, v in others.items()) or "the group-lasso weight"
    return f"{line}. The penalty is the cause: every group is exactly 0; lower {penalty}"


def iss_compress(
    model: SequenceClassifier,
    threshold: float = 0.0,
    include_head: bool = True,
    settings: Optional[Mapping[str, Any]] = None,
    threshold_key: str = "model.iss_threshold",
) -> CompressionResult:
    """Remove the hidden units whose squared ISS group norm is ``<= threshold``; a standard compact model.

    ``model`` is modified: the removed units' gate rows and biases are zeroed in place (the thresholded model).
    Such a unit's state stays exactly 0 (LSTM: ``g = tanh(0) = 0`` keeps ``c = 0``, so ``h = o * tanh(0) = 0``;
    GRU: ``n = 0`` and ``h = z * h_prev`` stays 0), so ``result.model`` reproduces ``model`` exactly.

    Raises:
        NothingKeptError: no unit's group exceeds ``threshold``; the message (:func:`iss_collapse_message`) names
            ``threshold_key`` and ``settings`` (the run's group-lasso keys and values) and what to change.
    """
    rnn = model.rnn
    if not isinstance(rnn, (nn.LSTM, nn.GRU)):
        raise TypeError(f"iss_compress needs a plain nn.LSTM/nn.GRU, got {type(rnn).__name__}")
    hidden = kept_hidden(model, threshold, include_head)
    if len(hidden) == 0:
        raise NothingKeptError(iss_collapse_message(model, threshold, include_head, settings, threshold_key))
    keep = torch.zeros(rnn.hidden_size, dtype=torch.bool, device=hidden.device)
    keep[hidden] = True
    zero_groups_(model, torch.nonzero(~keep, as_tuple=False).flatten(), include_head=True)
    inputs = torch.arange(rnn.input_size, device=hidden.device)
    compact = shrink_classifier(model, inputs, hidden)
    report = compression_report(model, compact, inputs, hidden, threshold)
    report["method"] = "iss"
    return CompressionResult(model=compact, report=report)
