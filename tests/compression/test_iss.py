"""ISS group lasso: group definition, exact removal of emptied units, and that the penalty empties groups."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from har_vib.compression.iss import (
    group_lasso_penalty,
    group_sq_norms,
    iss_compress,
    kept_hidden,
    zero_small_weights_,
)
from har_vib.compression.params import recurrent_param_count
from har_vib.models import create_model

L, H, C = 5, 7, 3


def _model(name: str = "naive_lstm") -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, input_size=L, num_classes=C, hidden_size=H).eval()


@pytest.mark.parametrize(("name", "gates"), [("naive_lstm", 4), ("naive_gru", 3)])
def test_group_norms_match_the_group_written_out(name: str, gates: int):
    model = _model(name)
    rnn, head = model.rnn, model.head[0]
    norms = group_sq_norms(rnn, head)
    for k in range(H):
        rows = [q * H + k for q in range(gates)]
        expected = (
            rnn.weight_ih_l0[rows].pow(2).sum()
            + rnn.weight_hh_l0[rows].pow(2).sum()
            + rnn.weight_hh_l0[:, k].pow(2).sum()
            + head.weight[:, k].pow(2).sum()
        )
        assert norms[k].item() == pytest.approx(expected.item(), rel=1e-6)
    without_head = group_sq_norms(rnn)
    assert torch.allclose(norms - without_head, head.weight.pow(2).sum(0))
    assert group_lasso_penalty(model).item() == pytest.approx(torch.sqrt(norms + 1e-8).sum().item(), rel=1e-6)


@pytest.mark.parametrize(("name", "gates"), [("naive_lstm", 4), ("naive_gru", 3)])
def test_removing_units_under_the_threshold_is_exact(name: str, gates: int):
    model = _model(name)
    shrink = [1, 4, 5]
    with torch.no_grad():  # make three units' groups tiny, but not zero
        for k in shrink:
            rows = [q * H + k for q in range(gates)]
            model.rnn.weight_ih_l0[rows] *= 1e-3
            model.rnn.weight_hh_l0[rows] *= 1e-3
            model.rnn.weight_hh_l0[:, k] *= 1e-3
            model.head[0].weight[:, k] *= 1e-3
    result = iss_compress(model, threshold=1e-4)
    compact = result.model.eval()
    assert result.report["kept_hidden"] == [k for k in range(H) if k not in shrink]
    assert isinstance(compact.rnn, type(model.rnn)) and compact.rnn.hidden_size == H - len(shrink)
    assert result.report["lstm_params_after"] == recurrent_param_count(name.split("_")[1], L, H - len(shrink))
    x = torch.randn(4, 9, L)
    lengths = torch.tensor([9, 3, 6, 1])
    with torch.no_grad():  # ``model`` now holds the thresholded weights: the compact model reproduces it
        assert torch.allclose(compact(x, lengths), model(x, lengths), atol=1e-6)


def test_group_lasso_with_zeroing_empties_whole_groups():
    torch.manual_seed(0)
    model = create_model("naive_lstm", input_size=L, num_classes=C, hidden_size=16).train()
    x, y = torch.randn(64, 8, L), torch.randint(0, C, (64,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    start = len(kept_hidden(model, threshold=1e-3))
    for _ in range(300):
        loss = F.cross_entropy(model(x), y) + 0.05 * group_lasso_penalty(model)
        opt.zero_grad()
        loss.backward()
        opt.step()
        zero_small_weights_(model, 1e-3)
    assert start == 16
    assert len(kept_hidden(model, threshold=1e-3)) < 16  # some units' groups collapsed
    assert (group_sq_norms(model.rnn, model.head[0]) < 1e-3).any()


def test_iss_refuses_vib_layers():
    with pytest.raises(TypeError, match="plain nn.LSTM"):
        iss_compress(_model("vib_lstm"))
