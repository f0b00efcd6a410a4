"""Parameter accounting reproduces the paper's figures, and agrees with torch's own modules."""

import pytest
from torch import nn

from har_vib.compression import recurrent_param_count, recurrent_weight_count
from har_vib.vib import VIBLSTM


def test_paper_totals_two_bias_convention():
    # VIB-LSTM paper (Srivastava et al. 2021): 33.57M (L = H = 2048), 9.44M (L = 4096, H = 512)
    assert recurrent_param_count("lstm", 2048, 2048) == 33_570_816
    assert recurrent_param_count("lstm", 4096, 512) == 9_441_280
    # the CNN VIB-LSTM row: 2,052 parameters, 16,360x
    assert round(recurrent_param_count("lstm", 2048, 2048) / 2052) == 16360


def test_one_bias_convention_matches_vib_iss_row():
    # VIB-LSTM + ISS: 1,680 = 4 * 7 * (52 + 7 + 1)
    assert recurrent_param_count("lstm", 52, 7, bias_vectors=1) == 1680
    assert recurrent_param_count("lstm", 57_600, 256, bias_vectors=1) == 59_245_568


@pytest.mark.parametrize(("cls", "cell"), [(nn.LSTM, "lstm"), (nn.GRU, "gru")])
def test_formula_agrees_with_torch_modules(cls, cell):
    for feats, hidden in [(2048, 2048), (7, 3), (1, 1)]:
        module = cls(feats, hidden, device="meta")
        assert recurrent_weight_count(module) == sum(p.numel() for p in module.parameters())
        assert recurrent_weight_count(module) == recurrent_param_count(cell, feats, hidden)


def test_vib_layer_counts_only_deployable_weights():
    vib = VIBLSTM(5, 4)
    assert recurrent_weight_count(vib) == recurrent_param_count("lstm", 5, 4)
    assert sum(p.numel() for p in vib.parameters()) == recurrent_param_count("lstm", 5, 4) + 2 * 16


def test_rejects_unknown_cell_and_bias_count():
    with pytest.raises(ValueError, match="cell"):
        recurrent_param_count("rnn", 3, 3)
    with pytest.raises(ValueError, match="bias_vectors"):
        recurrent_param_count("lstm", 3, 3, bias_vectors=3)
