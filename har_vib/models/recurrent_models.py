"""Registered recurrent classifiers: naive_lstm, vib_lstm, naive_gru, vib_gru."""

from __future__ import annotations

from typing import Any, Optional

from torch import nn

from har_vib.models.registry import register_model
from har_vib.models.sequence_classifier import SequenceClassifier, make_head
from har_vib.vib.bottleneck import InformationBottleneck
from har_vib.vib.recurrent import VIBGRU, VIBLSTM


def _build(
    rnn: nn.Module,
    hidden_size: int,
    num_classes: int,
    dropout: float,
    head_hidden: int,
    input_ib: Optional[InformationBottleneck] = None,
) -> SequenceClassifier:
    return SequenceClassifier(
        rnn=rnn, head=make_head(hidden_size, num_classes, head_hidden), input_ib=input_ib, dropout=dropout
    )


@register_model
def naive_lstm(
    input_size: int, num_classes: int, hidden_size: int = 256, dropout: float = 0.0, head_hidden: int = 0
) -> SequenceClassifier:
    """Plain ``nn.LSTM`` classifier (the uncompressed baseline)."""
    rnn = nn.LSTM(input_size, hidden_size, batch_first=True)
    return _build(rnn, hidden_size, num_classes, dropout, head_hidden)


@register_model
def naive_gru(
    input_size: int, num_classes: int, hidden_size: int = 256, dropout: float = 0.0, head_hidden: int = 0
) -> SequenceClassifier:
    """Plain ``nn.GRU`` classifier (the uncompressed baseline)."""
    rnn = nn.GRU(input_size, hidden_size, batch_first=True)
    return _build(rnn, hidden_size, num_classes, dropout, head_hidden)


def _ib_kwargs(ib: Optional[dict[str, Any]]) -> dict[str, Any]:
    return dict(ib or {})


@register_model
def vib_lstm(
    input_size: int,
    num_classes: int,
    hidden_size: int = 256,
    dropout: float = 0.0,
    head_hidden: int = 0,
    input_vib: bool = True,
    ib: Optional[dict[str, Any]] = None,
) -> SequenceClassifier:
    """VIB-LSTM classifier: bottlenecks on the four gates and (optionally) on the input features."""
    kw = _ib_kwargs(ib)
    input_ib = InformationBottleneck(input_size, **kw) if input_vib else None
    return _build(VIBLSTM(input_size, hidden_size, **kw), hidden_size, num_classes, dropout, head_hidden, input_ib)


@register_model
def vib_gru(
    input_size: int,
    num_classes: int,
    hidden_size: int = 256,
    dropout: float = 0.0,
    head_hidden: int = 0,
    input_vib: bool = True,
    ib: Optional[dict[str, Any]] = None,
) -> SequenceClassifier:
    """VIB-GRU classifier: bottlenecks on the three gates and (optionally) on the input features."""
    kw = _ib_kwargs(ib)
    input_ib = InformationBottleneck(input_size, **kw) if input_vib else None
    return _build(VIBGRU(input_size, hidden_size, **kw), hidden_size, num_classes, dropout, head_hidden, input_ib)
