"""TT/TR-LSTM: the factorised matrix equals its cores' trace product, the paper's parameter counts, the LSTM."""

from __future__ import annotations

import itertools
import logging
import math

import pytest
import torch
from torch import nn

from har_vib.errors import ConfigError
from har_vib.models import create_model
from har_vib.models.tensorized import TensorizedLinear, TensorizedLSTM, balanced_factors


def _dense_from_cores(layer: TensorizedLinear) -> torch.Tensor:
    """W[(i_1..i_d), (j_1..j_d)] = trace(G_1[:, i_1, j_1, :] ... G_d[:, i_d, j_d, :]), entry by entry."""
    w = torch.empty(layer.in_features, layer.out_features, dtype=torch.float64)
    cores = [c.detach().double() for c in layer.cores]
    for i_idx in itertools.product(*[range(m) for m in layer.in_modes]):
        row = int(torch.tensor(i_idx) @ torch.tensor(_strides(layer.in_modes)))
        for j_idx in itertools.product(*[range(n) for n in layer.out_modes]):
            col = int(torch.tensor(j_idx) @ torch.tensor(_strides(layer.out_modes)))
            prod = torch.eye(cores[0].shape[0], dtype=torch.float64)
            for core, i, j in zip(cores, i_idx, j_idx):
                prod = prod @ core[:, i, j, :]
            w[row, col] = torch.trace(prod)
    return w


def _strides(modes: list[int]) -> list[int]:
    return [math.prod(modes[k + 1 :]) for k in range(len(modes))]


@pytest.mark.parametrize("ranks", [[1, 2, 3, 1], [3, 2, 2, 3]], ids=["train", "ring"])
def test_forward_is_x_times_the_trace_product(ranks):
    torch.manual_seed(0)
    layer = TensorizedLinear([3, 2, 4], [2, 3, 2], ranks)
    w = _dense_from_cores(layer)
    x = torch.randn(5, 24, dtype=torch.float64)
    assert torch.allclose(layer.double()(x), x @ w, atol=1e-10)


def test_paper_tt_setting_counts_3360_and_the_vib_table_total():
    layer = TensorizedLinear([8, 20, 20, 18], [16, 4, 4, 4], [1, 4, 4, 4, 1])
    assert sum(p.numel() for p in layer.parameters()) == 3360  # Yang et al. 2017's UCF11: 58,982,400 / 3,360 = 17,554x
    lstm = TensorizedLSTM(57600, 256, [1, 4, 4, 4, 1], [8, 20, 20, 18], [4, 4, 4, 4])
    assert sum(p.numel() for p in lstm.parameters()) == 267_552  # 262,144 W_hh + 3,360 + 2 x 1,024 biases
    assert lstm.dense_param_count() == 59_246_592


def test_lstm_matches_nn_lstm_given_the_same_dense_weights():
    torch.manual_seed(0)
    tt = TensorizedLSTM(12, 4, [1, 3, 1], [3, 4], [2, 2]).double()
    ref = nn.LSTM(12, 4, batch_first=True).double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(_dense_from_cores(tt.weight_ih).t())
        ref.weight_hh_l0.copy_(tt.weight_hh)
        ref.bias_ih_l0.copy_(tt.bias_ih)
        ref.bias_hh_l0.copy_(tt.bias_hh)
    x = torch.randn(3, 6, 12, dtype=torch.float64)
    out, (h, c) = tt(x)
    ref_out, (ref_h, ref_c) = ref(x)
    assert torch.allclose(out, ref_out, atol=1e-10) and torch.allclose(c, ref_c, atol=1e-10)


def test_balanced_factors_and_bad_modes():
    assert balanced_factors(57600, 4) == [20, 20, 12, 12] and math.prod(balanced_factors(6, 4)) == 6
    with pytest.raises(ValueError, match="multiply"):
        TensorizedLSTM(10, 4, [1, 2, 1], [3, 3], [2, 2])
    with pytest.raises(ValueError, match="first and last rank"):
        TensorizedLinear([2, 2], [2, 2], [1, 2, 3])


def test_registered_models_train_and_script():
    torch.manual_seed(0)
    # ring ranks 2 at this tiny size: the default ranks 4 make a ring 2.6x the dense 6x32 matrix (refused)
    for name, ranks in (("tt_lstm", (1, 4, 4, 4, 1)), ("tr_lstm", (2, 2, 2, 2, 2))):
        model = create_model(name, input_size=6, num_classes=3, hidden_size=8, ranks=ranks)
        loss = model(torch.randn(4, 5, 6)).logsumexp(-1).mean()
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())
        scripted = torch.jit.script(model.eval())
        x = torch.randn(2, 5, 6)
        assert torch.allclose(scripted(x), model(x), atol=1e-6)


def _size_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "larger than the dense one" in r.getMessage()]


@pytest.mark.parametrize(
    ("name", "ranks", "counts"),
    [
        ("tt_lstm", [1, 64, 64, 1], "19,584 parameters vs 384 for the dense 6x64 matrix"),
        ("tr_lstm", [8, 8, 8, 8], "3,456 parameters vs 384 for the dense 6x64 matrix"),
    ],
    ids=["train", "ring"],
)
def test_factorised_map_larger_than_dense_warns_in_one_line_and_reports(caplog, name, ranks, counts):
    """Large ranks on small sizes: the "compressed" layer is bigger than the nn.LSTM it replaces. One warning line
    names the layer, both counts, the ranks and smaller ranks; the layer's report says so with both counts."""
    with caplog.at_level(logging.WARNING):
        model = create_model(name, input_size=6, num_classes=3, hidden_size=16, ranks=ranks, refuse_size_ratio=None)
    (line,) = _size_warnings(caplog)
    assert "rnn.weight_ih" in line and counts in line and f"ranks {ranks}" in line
    assert "the whole layer" in line and "model.net.ranks=[" in line
    report = model.rnn.size_report()
    assert report["factorised_larger_than_dense"] is True
    assert report["factorised"]["params"] == sum(c.numel() for c in model.rnn.weight_ih.cores)
    assert report["factorised"]["dense_params"] == 6 * 4 * 16
    suggested = model.rnn.weight_ih.size.smaller_ranks()
    assert suggested is not None
    smaller = TensorizedLSTM(6, 16, suggested)
    assert smaller.weight_ih.size.params < 6 * 4 * 16  # the advice compresses


@pytest.mark.parametrize(("name", "ranks"), [("tt_lstm", [1, 64, 64, 1]), ("tr_lstm", [8, 8, 8, 8])])
def test_factorised_map_twice_the_dense_size_is_refused_by_default(name, ranks):
    with pytest.raises(ConfigError, match=r"rnn.weight_ih .*set model.net.refuse_size_ratio=null to train it anyway"):
        create_model(name, input_size=6, num_classes=3, hidden_size=16, ranks=ranks)
    # just under the ratio: built, with the warning
    model = create_model(name, input_size=6, num_classes=3, hidden_size=16, ranks=ranks, refuse_size_ratio=1e9)
    assert model.rnn.size_report()["factorised_larger_than_dense"] is True


def test_any_tensorized_map_warns_and_smaller_ones_do_not(caplog):
    with caplog.at_level(logging.WARNING):
        big = TensorizedLinear([2, 2], [2, 2], [1, 8, 1], name="probe map")  # 64 core parameters vs 16
        TensorizedLinear([8, 20, 20, 18], [16, 4, 4, 4], [1, 4, 4, 4, 1])  # the paper's: 3,360 vs 58,982,400
        TensorizedLSTM(12, 4, [1, 3, 1], [3, 4], [2, 2])  # 96 vs 192
    (line,) = _size_warnings(caplog)
    assert line.startswith("factorised layer larger than the dense one it replaces: probe map")
    assert "64 parameters vs 16" in line
    assert big.size.larger_than_dense and big.size.kind == "tensor_train"
    one_core = TensorizedLinear([4], [4], [1, 1])  # a single core is the dense matrix itself: no ranks compress
    assert one_core.size.smaller_ranks() is None and "more modes" in one_core.size.advice()
