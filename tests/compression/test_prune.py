"""compress(): kept sets, exact equivalence with the masked eval model, standard modules out."""

import pytest
import torch
from torch import nn

from har_vib.compression import NothingKeptError, compress, recurrent_param_count
from har_vib.models import create_model


def _kill(ib, units, value=10.0):
    with torch.no_grad():
        for u in units:
            ib.logvar[u] = value


@pytest.mark.parametrize("head_hidden", [0, 5])
def test_lstm_export_is_exact_with_closed_forget_gate(head_hidden):
    hs, feats = 8, 6
    model = create_model("vib_lstm", input_size=feats, num_classes=3, hidden_size=hs, head_hidden=head_hidden)
    gate = model.rnn.gate_ib
    _kill(gate, [0 * hs + 1, 2 * hs + 4, 3 * hs + 6])  # prune units 1 (i), 4 (g), 6 (o)
    _kill(gate, [1 * hs + 2, 1 * hs + 7])  # kept units 2 and 7 have a closed forget gate
    _kill(model.input_ib, [0, 3])
    with torch.no_grad():
        model.rnn.bias_ih_l0[1 * hs + 2] = 3.0  # make an open forget gate matter
    model.eval()
    result = compress(model)
    compact = result.model.eval()
    assert type(compact.rnn) is nn.LSTM
    assert result.report["kept_hidden"] == [0, 2, 3, 5, 7]
    assert result.report["kept_inputs"] == [1, 2, 4, 5]
    assert result.report["closed_gates"]["f"] == [2, 7]
    assert compact.rnn.input_size == 4 and compact.rnn.hidden_size == 5
    assert compact.head[0].in_features == 5
    x = torch.randn(4, 13, feats)
    lengths = torch.tensor([13, 7, 2, 10])
    assert torch.allclose(model(x, lengths), compact(x, lengths), atol=1e-5)


def test_forget_gate_fix_is_needed():
    """Without the closed-gate rewrite the compact model would differ: the test above can fail."""
    hs = 4
    model = create_model("vib_lstm", input_size=3, num_classes=2, hidden_size=hs, input_vib=False).eval()
    _kill(model.rnn.gate_ib, [1 * hs + 0])
    compact = compress(model).model.eval()
    with torch.no_grad():
        compact.rnn.bias_ih_l0[hs + 0] = model.rnn.bias_ih_l0[hs + 0]
        compact.rnn.weight_ih_l0[hs + 0] = model.rnn.weight_ih_l0[hs + 0]
        compact.rnn.weight_hh_l0[hs + 0] = model.rnn.weight_hh_l0[hs + 0][compress(model).report["kept_hidden"]]
    x = torch.randn(2, 20, 3)
    assert not torch.allclose(model(x), compact(x), atol=1e-5)


def test_gru_export_is_exact_with_closed_reset_and_update_gates():
    hs = 6
    model = create_model("vib_gru", input_size=5, num_classes=4, hidden_size=hs)
    gate = model.rnn.gate_ib
    _kill(gate, [2 * hs + 0, 2 * hs + 3])  # n: prunes units 0, 3
    _kill(gate, [0 * hs + 1, 1 * hs + 2, 0 * hs + 5, 1 * hs + 5])  # r/z closed on kept units
    _kill(model.input_ib, [4])
    model.eval()
    result = compress(model)
    assert type(result.model.rnn) is nn.GRU
    assert result.report["kept_hidden"] == [1, 2, 4, 5]
    assert result.report["closed_gates"] == {"r": [1, 5], "z": [2, 5]}
    x = torch.randn(3, 9, 5)
    assert torch.allclose(model(x), result.model.eval()(x), atol=1e-5)


def test_prunes_exactly_the_units_under_threshold():
    hs = 10
    model = create_model("vib_lstm", input_size=4, num_classes=2, hidden_size=hs)
    gate = model.rnn.gate_ib
    with torch.no_grad():
        gate.mu.fill_(1.0)
        gate.logvar.fill_(-1.0)  # log SNR = 1 > 0: kept
        # o-gate log SNRs just above and just below the threshold 0.5
        gate.logvar[3 * hs + 0] = -0.51
        gate.logvar[3 * hs + 1] = -0.49
        gate.logvar[3 * hs + 2] = 5.0
    gate.threshold = 0.5
    result = compress(model)
    assert result.report["kept_hidden"] == [0, *range(3, hs)]
    assert result.report["threshold"] == 0.5
    # the figures come from the exported module and match the closed form
    kept = len(result.report["kept_hidden"])
    n_params = sum(p.numel() for p in result.model.rnn.parameters())
    assert result.report["lstm_params_after"] == n_params == recurrent_param_count("lstm", 4, kept)
    assert result.report["lstm_params_before"] == recurrent_param_count("lstm", 4, hs)


def test_keeps_weights_that_are_exactly_zero():
    model = create_model("vib_lstm", input_size=3, num_classes=2, hidden_size=4).eval()
    with torch.no_grad():
        model.rnn.weight_hh_l0.zero_()
        model.rnn.bias_hh_l0.zero_()
    _kill(model.rnn.gate_ib, [3 * 4 + 1])
    compact = compress(model).model.eval()
    assert compact.rnn.weight_hh_l0.shape == (12, 3)
    x = torch.randn(2, 5, 3)
    assert torch.allclose(model(x), compact(x), atol=1e-6)


def test_everything_pruned_raises_clear_error():
    model = create_model("vib_lstm", input_size=3, num_classes=2, hidden_size=4)
    _kill(model.rnn.gate_ib, range(16))
    with pytest.raises(NothingKeptError, match="lower beta"):
        compress(model)


def test_feature_mask_only_drops_inputs_and_keeps_every_unit():
    """feature_vib_lstm (Table 4's "w/o VIB on LSTM"): a plain LSTM behind the input mask compresses to the
    same LSTM with the pruned input columns removed, exactly."""
    model = create_model("feature_vib_lstm", input_size=7, num_classes=3, hidden_size=5).eval()
    _kill(model.input_ib, [0, 4, 6])
    result = compress(model)
    compact = result.model.eval()
    assert result.report["kept_inputs"] == [1, 2, 3, 5]
    assert result.report["kept_hidden"] == list(range(5))
    assert result.report["lstm_params_after"] == recurrent_param_count("lstm", 4, 5)
    assert type(compact.rnn) is nn.LSTM and compact.input_ib is None
    x = torch.randn(3, 9, 7)
    assert torch.allclose(model(x), compact(x), atol=1e-6)
