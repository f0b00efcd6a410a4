"""Turn a trained VIB model into a compact standard model: ``nn.LSTM``/``nn.GRU`` plus a sliced head.

Kept sets (Srivastava et al., WACV 2021, arXiv:2010.01343; docs/methods/vib-lstm.md):

* input features ``J``: kept by the input bottleneck (all features when there is none);
* hidden units ``K``: LSTM unit k is kept iff its i, g and o masks all keep it; GRU unit k iff its n mask
  keeps it. A unit outside ``K`` outputs exactly 0 under the eval masks, so removing it changes nothing.

Rows ``R = {q*H + k : q gate, k in K}`` (gate-major) of the stacked weights are kept, and the columns ``J``
of ``W_ih`` and ``K`` of ``W_hh`` and of the head's first ``Linear``. Indexing is by these sets, never by
non-zero entries, so kept weights that happen to be 0 survive.

A kept unit whose forget (LSTM) or reset/update (GRU) mask is 0 uses a zero gate in the masked model. The
compact model has no masks, so that gate's row is zeroed and its bias set to ``-1e4``: ``sigmoid`` then
returns exactly 0 and the compact model reproduces the masked eval model.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from har_vib.compression.fold import fold_eval_multipliers
from har_vib.compression.params import (
    GATES_PER_CELL,
    cell_type,
    dense_equivalent_count,
    deployable_param_count,
    recurrent_param_count,
    recurrent_weight_count,
)
from har_vib.models.sequence_classifier import SequenceClassifier
from har_vib.vib.collapse import NothingKeptError, collapse_message
from har_vib.vib.recurrent import VIBGRU, VIBLSTM

CLOSED_GATE_BIAS = -1.0e4
# gates that are multiplied by their mask but whose zero does not silence a unit
_CLOSABLE_GATES = {"lstm": ("f",), "gru": ("r", "z")}


@dataclass
class CompressionResult:
    """The compact model and the figures that describe it."""

    model: SequenceClassifier
    report: dict[str, Any] = field(default_factory=dict)


def size_report(
    rnn: nn.Module, after: int, inputs: list[int], hidden: list[int], threshold: float | None
) -> dict[str, Any]:
    """The size fields every ``compression.json`` carries: ``rnn`` is the layer before pruning, ``after``
    the parameter count of the exported layer (0 when nothing is left), ``inputs``/``hidden`` the kept sets."""
    before = dense_equivalent_count(rnn)
    return {
        "cell": cell_type(rnn),
        "lstm_params_before": before,
        "lstm_params_after": after,
        "compression_ratio": before / after if after else None,
        "input_dim_before": int(rnn.input_size),
        "input_dim_after": len(inputs),
        "hidden_before": int(rnn.hidden_size),
        "hidden_after": len(hidden),
        "kept_inputs": list(inputs),
        "kept_hidden": list(hidden),
        "threshold": threshold,
    }


def kept_sets(model: SequenceClassifier) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the kept input features ``J`` and hidden units ``K`` of a VIB model."""
    rnn = model.rnn
    if isinstance(rnn, (VIBLSTM, VIBGRU)):
        hidden = torch.nonzero(rnn.kept_hidden_mask(), as_tuple=False).flatten()
    elif isinstance(rnn, (nn.LSTM, nn.GRU)) and model.input_ib is not None:  # feature mask only: every unit
        hidden = torch.arange(rnn.hidden_size, device=rnn.weight_hh_l0.device)
    else:
        raise TypeError(
            f"compress() needs a VIB recurrent layer or an input bottleneck, got {type(rnn).__name__} "
            f"{'with' if model.input_ib is not None else 'without'} an input bottleneck"
        )
    if model.input_ib is not None:
        inputs = model.input_ib.kept_indices()
    else:
        inputs = torch.arange(rnn.input_size, device=hidden.device)
    return inputs, hidden


def _slice_head(head: nn.Sequential, hidden: torch.Tensor) -> nn.Sequential:
    new_head = copy.deepcopy(head)
    first = head[0]
    if not isinstance(first, nn.Linear):
        raise TypeError(f"the head must start with nn.Linear, got {type(first).__name__}")
    sliced = nn.Linear(len(hidden), first.out_features, bias=first.bias is not None)
    with torch.no_grad():
        sliced.weight.copy_(first.weight[:, hidden])
        if first.bias is not None:
            sliced.bias.copy_(first.bias)
    new_head[0] = sliced.to(first.weight.device)
    return new_head


def shrink_recurrent(
    rnn: nn.Module, inputs: torch.Tensor, hidden: torch.Tensor, closed: dict[str, torch.Tensor] | None = None
) -> nn.Module:
    """A standard ``nn.LSTM``/``nn.GRU`` holding rows ``R`` (gate-major), input columns ``inputs`` and recurrent
    columns ``hidden`` of ``rnn`` (plain or VIB). ``closed`` maps a gate to the positions (in ``hidden``) whose
    gate is shut: their rows are zeroed and their bias set to ``-1e4``, so ``sigmoid`` gives exactly 0."""
    cell = cell_type(rnn)
    big_h = rnn.hidden_size
    n_gates = GATES_PER_CELL[cell]
    gate_names = ("i", "f", "g", "o") if cell == "lstm" else ("r", "z", "n")
    rows = torch.cat([q * big_h + hidden for q in range(n_gates)])
    h_new = len(hidden)
    with torch.no_grad():
        w_ih = rnn.weight_ih_l0[rows][:, inputs].clone()
        w_hh = rnn.weight_hh_l0[rows][:, hidden].clone()
        b_ih = rnn.bias_ih_l0[rows].clone()
        b_hh = rnn.bias_hh_l0[rows].clone()
        for gate, shut in (closed or {}).items():
            r = gate_names.index(gate) * h_new + shut
            w_ih[r] = 0.0
            w_hh[r] = 0.0
            b_ih[r] = CLOSED_GATE_BIAS
            b_hh[r] = 0.0
    recurrent_cls = nn.LSTM if cell == "lstm" else nn.GRU
    new_rnn = recurrent_cls(len(inputs), h_new, batch_first=True).to(rnn.weight_ih_l0.device)
    with torch.no_grad():
        new_rnn.weight_ih_l0.copy_(w_ih)
        new_rnn.weight_hh_l0.copy_(w_hh)
        new_rnn.bias_ih_l0.copy_(b_ih)
        new_rnn.bias_hh_l0.copy_(b_hh)
    assert recurrent_weight_count(new_rnn) == recurrent_param_count(cell, len(inputs), h_new)
    return new_rnn


def shrink_classifier(
    model: SequenceClassifier,
    inputs: torch.Tensor,
    hidden: torch.Tensor,
    closed: dict[str, torch.Tensor] | None = None,
) -> SequenceClassifier:
    """The compact :class:`SequenceClassifier`: kept inputs selected up front, a shrunk standard recurrent
    layer, the head's first layer sliced to the kept hidden units; no bottleneck layers."""
    rnn = model.rnn
    big_l = rnn.input_size
    selected = inputs if model.input_index is None else model.input_index[inputs]
    all_inputs = model.input_index is None and len(inputs) == big_l
    frontend = model.frontend
    if frontend is not None and not all_inputs:
        frontend = frontend.select(inputs)  # per-feature front ends (temporal-segment batch norm) follow the inputs
    compact = SequenceClassifier(
        rnn=shrink_recurrent(rnn, inputs, hidden, closed),
        head=_slice_head(model.head, hidden),
        input_index=None if all_inputs else selected,
        dropout=model.dropout.p,
        frontend=copy.deepcopy(frontend),
        input_features=model.input_features,  # x keeps its width: the kept columns are gathered from it
    )
    compact.train(model.training)
    return compact


def compression_report(
    model: SequenceClassifier,
    compact: SequenceClassifier,
    inputs: torch.Tensor,
    hidden: torch.Tensor,
    threshold: float | None,
) -> dict[str, Any]:
    """The ``compression.json`` fields of ``model`` -> ``compact``, counted from the modules themselves."""
    rnn, cell = model.rnn, cell_type(model.rnn)
    after = recurrent_weight_count(compact.rnn)
    before_1b = recurrent_param_count(cell, rnn.input_size, rnn.hidden_size, bias_vectors=1)
    after_1b = recurrent_param_count(cell, len(inputs), len(hidden), bias_vectors=1)
    report = size_report(rnn, after, inputs.tolist(), hidden.tolist(), threshold)
    report.update(
        {
            "lstm_params_before_1bias": before_1b,
            "lstm_params_after_1bias": after_1b,
            "compression_ratio_1bias": before_1b / after_1b,
            "total_params_before": deployable_param_count(model),
            "total_params_after": deployable_param_count(compact),
        }
    )
    return report


def _gate_masks(rnn: nn.Module) -> dict[str, torch.Tensor]:
    return rnn.gate_masks() if isinstance(rnn, (VIBLSTM, VIBGRU)) else {}


def _threshold(model: SequenceClassifier) -> float:
    gate_ib = getattr(model.rnn, "gate_ib", None)
    return float((gate_ib if gate_ib is not None else model.input_ib).threshold)


def compress(model: SequenceClassifier, settings: Mapping[str, Any] | None = None) -> CompressionResult:
    """Build the compact standard model equivalent to ``model`` in eval mode: hard 0/1 masks, or ``mask * mu``
    where that folds into the weights (:mod:`har_vib.compression.fold`; ``report["folded_multipliers"]``).

    Raises:
        NothingKeptError: if no hidden unit or no input feature survives; the message names the settings in
            force (``settings``: the run's ``{"beta": ..., "model.ib_lr": ...}``, and the bottlenecks' threshold,
            ``kl_mult``, ``init_logvar``), each site's ``log(mu^2/sigma^2)`` range and what to change.
        InexactExportError: a gate bottleneck evaluates with ``mask * mu`` on a gate no standard layer can scale
            (LSTM i/f/g, GRU z): no exact compact model exists.
    """
    rnn = model.rnn
    inputs, hidden = kept_sets(model)
    cell = cell_type(rnn)
    if len(hidden) == 0 or len(inputs) == 0:
        counts = f"({len(inputs)}/{rnn.input_size} inputs, {len(hidden)}/{rnn.hidden_size} hidden kept)"
        side = 1 if len(hidden) == 0 else 0  # which of kept_sets() is empty
        what = f"every {'hidden unit' if side else 'input feature'} {counts}"
        raise NothingKeptError(collapse_message(model, what, lambda: len(kept_sets(model)[side]), settings))
    masks = _gate_masks(rnn)
    closed = {
        gate: torch.nonzero(~masks[gate][hidden], as_tuple=False).flatten()
        for gate in _CLOSABLE_GATES[cell]
        if gate in masks
    }
    compact = shrink_classifier(model, inputs, hidden, closed)
    folded = fold_eval_multipliers(model, compact, inputs, hidden)  # eval_mode="mu": mu into weights, or refused
    report = compression_report(model, compact, inputs, hidden, _threshold(model))
    report["gate_alive"] = {gate: int(m.sum()) for gate, m in masks.items()}
    report["closed_gates"] = {gate: hidden[shut].tolist() for gate, shut in closed.items()}
    report["folded_multipliers"] = folded
    return CompressionResult(model=compact, report=report)


def collapsed_report(model: SequenceClassifier) -> dict[str, Any]:
    """The report of a model whose bottlenecks kept nothing: the compact model is a constant predictor."""
    rnn = model.rnn
    inputs, hidden = kept_sets(model)
    report = size_report(rnn, 0, inputs.tolist(), hidden.tolist(), _threshold(model))
    report["gate_alive"] = {gate: int(m.sum()) for gate, m in _gate_masks(rnn).items()}
    report["collapsed"] = True
    return report
