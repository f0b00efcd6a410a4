"""Wrap anyone's plain pretrained ``nn.LSTM``/``nn.GRU`` (and head) as a VIB model ready to fine-tune.

This is the route the VIB-LSTM authors recommend (paper, contribution 2): start from a trained naive model,
add bottlenecks initialised near the identity (``mu ~ 1``, ``sigma ~ 0.01``), fine-tune with
``CE + beta * KL``, then :func:`har_vib.compression.compress` it.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from har_vib.models.sequence_classifier import SequenceClassifier
from har_vib.vib.bottleneck import InformationBottleneck
from har_vib.vib.recurrent import VIBGRU, VIBLSTM

_WEIGHTS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def _check_plain_rnn(rnn: nn.Module) -> None:
    if not isinstance(rnn, (nn.LSTM, nn.GRU)):
        raise TypeError(f"expected torch.nn.LSTM or torch.nn.GRU, got {type(rnn).__name__}")
    problems = []
    if rnn.num_layers != 1:
        problems.append(f"num_layers={rnn.num_layers} (wrap each layer separately)")
    if rnn.bidirectional:
        problems.append("bidirectional=True")
    if not rnn.bias:
        problems.append("bias=False")
    if getattr(rnn, "proj_size", 0):
        problems.append(f"proj_size={rnn.proj_size}")
    if problems:
        raise ValueError(
            "vib_from_pretrained supports single-layer unidirectional layers with biases; got " + ", ".join(problems)
        )


def vib_from_pretrained(
    rnn: nn.Module,
    head: nn.Module,
    input_vib: bool = True,
    dropout: float = 0.0,
    **ib_kwargs: Any,
) -> SequenceClassifier:
    """Return a batch-first VIB :class:`SequenceClassifier` whose weights are copies of ``rnn`` and ``head``.

    Args:
        rnn: a trained single-layer ``nn.LSTM`` or ``nn.GRU``; its ``batch_first`` setting does not matter,
            the returned model always takes (B, T, L) input.
        head: the classifier on the last hidden state: an ``nn.Linear`` or an ``nn.Sequential`` whose first
            module is an ``nn.Linear``.
        input_vib: also put a bottleneck on the input features.
        dropout: dropout on the last hidden state during training.
        **ib_kwargs: forwarded to every :class:`InformationBottleneck` (``init_mu``, ``init_logvar``,
            ``kl_mult``, ``threshold``, ``eval_mode``...).
    """
    _check_plain_rnn(rnn)
    if isinstance(head, nn.Linear):
        head = nn.Sequential(head)
    if not isinstance(head, nn.Sequential) or not isinstance(head[0], nn.Linear):
        raise TypeError("head must be nn.Linear or an nn.Sequential starting with nn.Linear")
    if head[0].in_features != rnn.hidden_size:
        raise ValueError(f"head reads {head[0].in_features} features but the layer has {rnn.hidden_size} hidden units")
    vib_cls = VIBLSTM if isinstance(rnn, nn.LSTM) else VIBGRU
    device = rnn.weight_ih_l0.device
    vib_rnn = vib_cls(rnn.input_size, rnn.hidden_size, **ib_kwargs).to(device)
    with torch.no_grad():
        for name in _WEIGHTS:
            getattr(vib_rnn, name).copy_(getattr(rnn, name))
    input_ib = InformationBottleneck(rnn.input_size, **ib_kwargs).to(device) if input_vib else None
    return SequenceClassifier(rnn=vib_rnn, head=copy.deepcopy(head), input_ib=input_ib, dropout=dropout)


def vib_from_naive(model: SequenceClassifier, input_vib: bool = True, **ib_kwargs: Any) -> SequenceClassifier:
    """:func:`vib_from_pretrained` applied to a har-vib naive model (keeps its dropout)."""
    return vib_from_pretrained(model.rnn, model.head, input_vib=input_vib, dropout=model.dropout.p, **ib_kwargs)
