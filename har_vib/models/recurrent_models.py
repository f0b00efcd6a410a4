"""Registered recurrent classifiers: naive/vib LSTM and GRU, TT/TR-LSTM, TS-LSTM and TS-VIB-LSTM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from torch import nn

from har_vib.factorised_size import DEFAULT_REFUSE_SIZE_RATIO, lstm_input_map_size, refuse_pointless
from har_vib.models.registry import register_model
from har_vib.models.sequence_classifier import SequenceClassifier, make_head
from har_vib.models.temporal_segments import TemporalSegmentPool
from har_vib.models.tensorized import TensorizedLSTM
from har_vib.vib.bottleneck import InformationBottleneck
from har_vib.vib.recurrent import VIBGRU, VIBLSTM


def _plain(
    cls: type[nn.Module],
    input_size: int,
    num_classes: int,
    hidden_size: int,
    dropout: float,
    head_hidden: int,
    segments: int = 0,
) -> SequenceClassifier:
    return SequenceClassifier(
        rnn=cls(input_size, hidden_size, batch_first=True),
        head=make_head(hidden_size, num_classes, head_hidden),
        dropout=dropout,
        frontend=TemporalSegmentPool(input_size, segments) if segments else None,
    )


def _vib(
    cls: type[nn.Module],
    input_size: int,
    num_classes: int,
    hidden_size: int,
    dropout: float,
    head_hidden: int,
    input_vib: bool,
    ib: Optional[dict[str, Any]],
    segments: int = 0,
) -> SequenceClassifier:
    kw = dict(ib or {})
    return SequenceClassifier(
        rnn=cls(input_size, hidden_size, **kw),
        head=make_head(hidden_size, num_classes, head_hidden),
        input_ib=InformationBottleneck(input_size, **kw) if input_vib else None,
        dropout=dropout,
        frontend=TemporalSegmentPool(input_size, segments) if segments else None,
    )


@register_model
def naive_lstm(
    input_size: int, num_classes: int, hidden_size: int = 256, dropout: float = 0.0, head_hidden: int = 0
) -> SequenceClassifier:
    """Plain ``nn.LSTM`` classifier (the uncompressed baseline)."""
    return _plain(nn.LSTM, input_size, num_classes, hidden_size, dropout, head_hidden)


@register_model
def naive_gru(
    input_size: int, num_classes: int, hidden_size: int = 256, dropout: float = 0.0, head_hidden: int = 0
) -> SequenceClassifier:
    """Plain ``nn.GRU`` classifier (the uncompressed baseline)."""
    return _plain(nn.GRU, input_size, num_classes, hidden_size, dropout, head_hidden)


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
    """VIB-LSTM classifier: bottlenecks on the four gates and (optionally) on the input features.

    ``ib`` holds :class:`InformationBottleneck` settings shared by every bottleneck.
    """
    return _vib(VIBLSTM, input_size, num_classes, hidden_size, dropout, head_hidden, input_vib, ib)


@register_model
def feature_vib_lstm(
    input_size: int,
    num_classes: int,
    hidden_size: int = 256,
    dropout: float = 0.0,
    head_hidden: int = 0,
    input_vib: bool = True,
    ib: Optional[dict[str, Any]] = None,
) -> SequenceClassifier:
    """A plain ``nn.LSTM`` behind the feature-mask bottleneck only: the paper's Table 4 ablation
    "w/o VIB on LSTM" (only input features are pruned; every hidden unit stays)."""
    if not input_vib:
        raise ValueError("feature_vib_lstm is the input bottleneck alone; without it use naive_lstm")
    return SequenceClassifier(
        rnn=nn.LSTM(input_size, hidden_size, batch_first=True),
        head=make_head(hidden_size, num_classes, head_hidden),
        input_ib=InformationBottleneck(input_size, **dict(ib or {})),
        dropout=dropout,
    )


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
    return _vib(VIBGRU, input_size, num_classes, hidden_size, dropout, head_hidden, input_vib, ib)


def _tensorized(
    input_size: int,
    num_classes: int,
    hidden_size: int,
    dropout: float,
    head_hidden: int,
    ranks: Sequence[int],
    in_modes: Optional[Sequence[int]],
    hidden_modes: Optional[Sequence[int]],
    refuse_size_ratio: Optional[float],
) -> SequenceClassifier:
    """Raises :class:`~har_vib.errors.ConfigError` before building a factorised map ``refuse_size_ratio`` times
    (or more) the size of its dense matrix; a smaller excess is a warning (:class:`TensorizedLinear`)."""
    refuse_pointless(lstm_input_map_size(input_size, hidden_size, ranks, in_modes, hidden_modes), refuse_size_ratio)
    return SequenceClassifier(
        rnn=TensorizedLSTM(input_size, hidden_size, ranks, in_modes, hidden_modes),
        head=make_head(hidden_size, num_classes, head_hidden),
        dropout=dropout,
    )


@register_model
def tt_lstm(
    input_size: int,
    num_classes: int,
    hidden_size: int = 256,
    dropout: float = 0.0,
    head_hidden: int = 0,
    ranks: Sequence[int] = (1, 4, 4, 4, 1),
    in_modes: Optional[Sequence[int]] = None,
    hidden_modes: Optional[Sequence[int]] = None,
    refuse_size_ratio: Optional[float] = DEFAULT_REFUSE_SIZE_RATIO,
) -> SequenceClassifier:
    """TT-LSTM: input-to-hidden matrix in tensor-train form (modes factorised evenly unless given).

    ``refuse_size_ratio``: refuse (:class:`~har_vib.errors.ConfigError`) when the factorised map holds at least
    this many times the parameters of the dense matrix it replaces; None: only warn.
    """
    return _tensorized(
        input_size, num_classes, hidden_size, dropout, head_hidden, ranks, in_modes, hidden_modes, refuse_size_ratio
    )


@register_model
def tr_lstm(
    input_size: int,
    num_classes: int,
    hidden_size: int = 256,
    dropout: float = 0.0,
    head_hidden: int = 0,
    ranks: Sequence[int] = (4, 4, 4, 4, 4),
    in_modes: Optional[Sequence[int]] = None,
    hidden_modes: Optional[Sequence[int]] = None,
    refuse_size_ratio: Optional[float] = DEFAULT_REFUSE_SIZE_RATIO,
) -> SequenceClassifier:
    """TR-LSTM: input-to-hidden matrix in tensor-ring form (first rank = last rank).

    ``refuse_size_ratio``: refuse (:class:`~har_vib.errors.ConfigError`) when the factorised map holds at least
    this many times the parameters of the dense matrix it replaces; None: only warn.
    """
    return _tensorized(
        input_size, num_classes, hidden_size, dropout, head_hidden, ranks, in_modes, hidden_modes, refuse_size_ratio
    )


@register_model
def ts_lstm(
    input_size: int,
    num_classes: int,
    hidden_size: int = 512,
    dropout: float = 0.0,
    head_hidden: int = 0,
    segments: int = 3,
) -> SequenceClassifier:
    """TS-LSTM: per-segment batch norm and max-pooling over ``segments`` temporal segments, then an LSTM."""
    return _plain(nn.LSTM, input_size, num_classes, hidden_size, dropout, head_hidden, segments)


@register_model
def ts_vib_lstm(
    input_size: int,
    num_classes: int,
    hidden_size: int = 512,
    dropout: float = 0.0,
    head_hidden: int = 0,
    input_vib: bool = True,
    ib: Optional[dict[str, Any]] = None,
    segments: int = 3,
) -> SequenceClassifier:
    """TS-VIB-LSTM: the temporal-segment front end, then the VIB-LSTM (feature bottleneck on pooled vectors)."""
    return _vib(VIBLSTM, input_size, num_classes, hidden_size, dropout, head_hidden, input_vib, ib, segments)
