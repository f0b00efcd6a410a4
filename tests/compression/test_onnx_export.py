"""ONNX and TorchScript exports reproduce PyTorch's logits (atol 1e-5) at any batch size and clip length."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from har_vib.compression import compress
from har_vib.compression.export import export_compact
from har_vib.compression.onnx_export import onnx_max_abs_diff
from har_vib.models import create_model


def _example(features: int, batch: int = 4, steps: int = 9, ragged: bool = True):
    x = torch.randn(batch, steps, features)
    lengths = torch.tensor([steps, 3, 7, 5][:batch]) if ragged else torch.full((batch,), steps)
    return x, lengths


@pytest.mark.parametrize(
    ("name", "op"),
    [("naive_lstm", "LSTM"), ("naive_gru", "GRU"), ("ts_lstm", "LSTM"), ("tt_lstm", None)],
)
def test_export_matches_pytorch(tmp_path: Path, name: str, op: str | None):
    model = create_model(name, input_size=8, num_classes=3, hidden_size=6, head_hidden=5).eval()
    x, lengths = _example(8, ragged=not name.startswith("ts"))
    out = export_compact(model, tmp_path, (x, lengths))
    assert out["onnx_max_abs_diff"] < 1e-5 and out["torchscript_max_abs_diff"] < 1e-5
    graph = onnx.load(out["onnx"]).graph
    if op is not None:  # recurrent layers map to ONNX's fused operators
        assert op in {n.op_type for n in graph.node}
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims[:2] == (["batch", "time"] if op else ["batch", 9])  # TT steps in Python: traced at T = 9
    assert out["onnx_dynamic_axes"] == (["batch", "time"] if op else ["batch"])
    # a model that ignores lengths (equal-length temporal segments) takes x only
    assert [i.name for i in graph.input] == (["x"] if name.startswith("ts") else ["x", "lengths"])


def test_pruned_vib_model_exports_with_its_feature_selection(tmp_path: Path):
    torch.manual_seed(0)
    model = create_model("vib_lstm", input_size=10, num_classes=4, hidden_size=8).eval()
    with torch.no_grad():
        model.input_ib.logvar[[1, 4, 5]] = 10.0  # prune three inputs
        model.rnn.gate_ib.logvar[[2, 8 + 3]] = 10.0  # unit 2 (i gate) pruned, unit 3's forget gate closed
    compact = compress(model).model.eval()
    x, lengths = _example(10)
    out = export_compact(compact, tmp_path, (x, lengths))
    assert out["onnx_max_abs_diff"] < 1e-5
    # the file takes the full 10 features and agrees with the masked VIB model itself
    assert onnx_max_abs_diff(model, out["onnx"], x, lengths) < 1e-5
    assert next(compact.parameters()).device.type == "cpu"  # export worked on a copy


def test_export_leaves_the_model_on_its_device(tmp_path: Path):
    model = create_model("naive_lstm", input_size=4, num_classes=2, hidden_size=3)
    model.train()
    export_compact(model, tmp_path, _example(4))
    assert model.training  # the caller's module is untouched (the export used an eval copy)


@pytest.mark.parametrize("name", ["vib_lstm", "vib_gru"])
def test_lean_graph_matches_pytorch_with_gate_reorder_and_folded_batchnorm(tmp_path: Path, name: str):
    from har_vib.compression.onnx_lean import export_lean_onnx, supports_lean

    torch.manual_seed(0)
    model = create_model(name, input_size=10, num_classes=4, hidden_size=8, head_hidden=6).eval()
    with torch.no_grad():
        model.input_ib.logvar[[1, 4]] = 10.0
        model.rnn.gate_ib.logvar[[2, 8 + 3]] = 10.0  # a pruned unit and a closed second gate (f for LSTM, z for GRU)
        bn = model.head[1]
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2.0)
    compact = compress(model).model.eval()
    assert supports_lean(compact) and not supports_lean(model)  # bottlenecks: not a plain model
    path = export_lean_onnx(compact, tmp_path / "lean.onnx")
    x, lengths = torch.randn(4, 9, 10), torch.tensor([9, 3, 7, 5])
    assert onnx_max_abs_diff(compact, path, x, lengths) < 1e-5
    assert onnx_max_abs_diff(model, path, x, lengths) < 1e-5  # the masked VIB model itself
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops == [
        "Gather",
        "Transpose",
        "Cast",
        "LSTM" if name == "vib_lstm" else "GRU",
        "Squeeze",
        "Gemm",
        "Relu",
        "Gemm",
    ]
