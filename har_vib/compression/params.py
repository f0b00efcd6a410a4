"""Parameter accounting for recurrent layers in the two conventions the literature uses.

PyTorch keeps two bias vectors per layer (``b_ih`` and ``b_hh``): an LSTM has ``4H(H + L) + 8H``
parameters. This is the convention that reproduces the VIB-LSTM paper's 33.57M (L = H = 2048) and 9.44M
(L = 4096, H = 512) and its compression ratios. Some rows of the paper (VIB-LSTM + ISS: 1,680) count one
bias vector, ``4H(H + L + 1)``.
"""

from __future__ import annotations

from torch import nn

GATES_PER_CELL = {"lstm": 4, "gru": 3}


def recurrent_param_count(cell: str, input_size: int, hidden_size: int, bias_vectors: int = 2) -> int:
    """Parameters of a single-layer recurrent ``cell`` ('lstm' or 'gru') with ``bias_vectors`` biases (0-2)."""
    if cell not in GATES_PER_CELL:
        raise ValueError(f"cell must be one of {sorted(GATES_PER_CELL)}, got {cell!r}")
    if bias_vectors not in (0, 1, 2):
        raise ValueError(f"bias_vectors must be 0, 1 or 2, got {bias_vectors}")
    g = GATES_PER_CELL[cell]
    return g * hidden_size * (hidden_size + input_size) + bias_vectors * g * hidden_size


def recurrent_weight_count(rnn: nn.Module) -> int:
    """Counted from the module itself: ``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``.

    Bottleneck parameters (``mu``, ``log sigma^2``) are training-time only and are not counted.
    """
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    if not hasattr(rnn, "weight_ih_l0"):  # a factorised layer (TT/TR-LSTM): every parameter it holds
        return sum(p.numel() for p in rnn.parameters())
    return sum(getattr(rnn, n).numel() for n in names if getattr(rnn, n, None) is not None)


def dense_equivalent_count(rnn: nn.Module) -> int:
    """Parameters of the dense layer ``rnn`` stands for: itself for ``nn.LSTM``/``nn.GRU`` and VIB layers, the
    dense LSTM a factorised TT/TR layer replaces."""
    if hasattr(rnn, "dense_param_count"):
        return int(rnn.dense_param_count())
    return recurrent_weight_count(rnn)


def cell_type(rnn: nn.Module) -> str:
    """'lstm' or 'gru' for a plain or VIB recurrent layer."""
    from har_vib.models.tensorized import TensorizedLSTM
    from har_vib.vib.recurrent import VIBGRU, VIBLSTM

    if isinstance(rnn, (nn.LSTM, VIBLSTM, TensorizedLSTM)):
        return "lstm"
    if isinstance(rnn, (nn.GRU, VIBGRU)):
        return "gru"
    raise TypeError(f"unsupported recurrent layer {type(rnn).__name__}; expected an LSTM or GRU")


def deployable_param_count(model: nn.Module) -> int:
    """Parameters a deployed model carries: everything except Information Bottleneck ``mu``/``logvar``."""
    from har_vib.vib.bottleneck import InformationBottleneck

    ib_params = {id(p) for m in model.modules() if isinstance(m, InformationBottleneck) for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in ib_params)
