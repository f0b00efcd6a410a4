"""The int8 stage quantizes what it claims: every weight initializer of ``pruned_int8.onnx`` is int8 and the file is
smaller than ``pruned.onnx``, or no such file is written and the report says, per weight, what would have stayed
float32 and why.

Found by replaying a public bug report: with ``model=naive_gru`` / ``vib_gru`` and ``quantize=true`` the "int8" file
kept the GRU's W and R in float32 (onnxruntime's dynamic quantizer has no GRU kernel) and was reported as the int8
stage: 815,646 -> 813,516 bytes at hidden 256, and larger (16,405 -> 16,959) and slower at hidden 32."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from har_vib.compression.onnx_lean import export_lean_onnx
from har_vib.deploy.stages import deploy_stages
from har_vib.models import create_model


def _onnx(tmp_path: Path, name: str, hidden: int, inputs: int = 6):
    torch.manual_seed(0)
    model = create_model(name, input_size=inputs, num_classes=4, hidden_size=hidden).eval()
    return model, export_lean_onnx(model, tmp_path / "pruned.onnx")


def _float_initializers(path: Path) -> set[str]:
    graph = onnx.load(str(path)).graph
    return {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT}


def test_gru_int8_file_is_not_written_with_its_recurrent_weights_in_fp32(tmp_path: Path):
    from har_vib.compression.quantize import Int8ExportError, quantize_onnx_int8

    _, src = _onnx(tmp_path, "naive_gru", 32)
    dst = tmp_path / "pruned_int8.onnx"
    dst.write_bytes(b"an earlier run's file")  # would pass for this model's int8 file
    with pytest.raises(Int8ExportError, match=r"no int8 kernel for GRU .*LSTM.*: the GRU weights W, R would stay"):
        quantize_onnx_int8(src, dst)
    assert not dst.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pruned.onnx"]  # no temp file either


def test_lstm_int8_file_has_every_weight_in_int8_and_is_smaller(tmp_path: Path):
    from har_vib.compression.quantize import quantize_onnx_int8

    _, src = _onnx(tmp_path, "naive_lstm", 32)
    report = quantize_onnx_int8(src, tmp_path / "pruned_int8.onnx")
    assert report.weights == {"W": "int8", "R": "int8", "head0_w": "int8"}
    assert report.ops == {"W": "LSTM", "R": "LSTM", "head0_w": "Gemm"}
    assert report.fp32_weights == [] and report.problem() is None
    assert report.int8_bytes == (tmp_path / "pruned_int8.onnx").stat().st_size < report.fp32_bytes
    # checked against the file itself: no weight of the source is left as a float initializer
    assert not _float_initializers(tmp_path / "pruned_int8.onnx") & {"W", "R", "head0_w"}


def test_an_int8_file_that_is_not_smaller_is_not_written(tmp_path: Path):
    """A few units: a scale and a zero point per tensor (and the quantize nodes) outweigh int8 storage."""
    from har_vib.compression.quantize import Int8ExportError, quantize_onnx_int8

    _, src = _onnx(tmp_path, "naive_lstm", 3, inputs=3)
    with pytest.raises(Int8ExportError, match=r"would be [\d,]+ bytes, not smaller than the fp32 file's [\d,]+") as err:
        quantize_onnx_int8(src, tmp_path / "pruned_int8.onnx")
    assert err.value.report.fp32_weights == []  # every weight was int8: size alone decides
    assert not (tmp_path / "pruned_int8.onnx").exists()


def _batches() -> list:
    gen = torch.Generator().manual_seed(1)
    return [(torch.randn(8, 10, 6, generator=gen), torch.tensor([10, 9, 8, 7, 6, 5, 4, 0]), torch.arange(8) % 4)]


def test_deploy_stages_say_what_each_runtime_quantized(tmp_path: Path):
    """GRU: PyTorch's dynamic quantization does make nn.GRU int8 (its weights are qint8, its logits move), the
    ONNX file would not: the int8 row keeps PyTorch's accuracy, writes no ONNX file and names the fp32 weights."""
    model, src = _onnx(tmp_path, "naive_gru", 32)
    batches = _batches()
    fp32, int8 = deploy_stages(model, src, batches, quantize=True, clip=(batches[0][0][:1], batches[0][1][:1]))
    assert fp32["stage"] == "fp32" and fp32["onnx_file"] == "pruned.onnx"
    assert int8["stage"] == "int8" and int8["onnx_file"] is None
    assert not (tmp_path / "pruned_int8.onnx").exists()
    assert int8["onnx_weights"] == {"W": "fp32", "R": "fp32", "head0_w": "int8"}
    assert int8["onnx_fp32_weights"] == ["W", "R"]
    assert int8["onnx_quantized_bytes"] >= int8["onnx_fp32_bytes"] == fp32["onnx_bytes"]
    assert "no int8 kernel for GRU" in int8["onnx_skipped"]
    assert int8["onnx_test_acc"] is None and int8["onnx_bytes"] is None and int8["onnx_us_per_clip"] is None
    assert int8["torch_weights"] == {"rnn": "int8", "head.0": "int8"}
    assert 0.0 <= int8["test_acc"] <= 1.0

    lstm, src = _onnx(tmp_path, "naive_lstm", 32)
    _, int8 = deploy_stages(lstm, src, batches, quantize=True, clip=(batches[0][0][:1], batches[0][1][:1]))
    assert int8["onnx_file"] == "pruned_int8.onnx" and int8["onnx_skipped"] is None
    assert int8["onnx_fp32_weights"] == [] and int8["onnx_bytes"] < int8["onnx_fp32_bytes"]
    assert int8["torch_weights"] == {"rnn": "int8", "head.0": "int8"} and 0.0 <= int8["onnx_test_acc"] <= 1.0


def test_pytorch_quantizes_gru_weights_to_int8():
    """Measured rather than assumed: quantize_dynamic replaces nn.GRU, its weights are qint8, its logits differ
    from fp32 by quantization error (not 0, not more than a few percent)."""
    from har_vib.compression.quantize import quantize_int8, torch_int8_weights

    torch.manual_seed(0)
    model = create_model("naive_gru", input_size=6, num_classes=4, hidden_size=32, head_hidden=8).eval()
    quantized = quantize_int8(model)
    assert torch_int8_weights(quantized) == {"rnn": "int8", "head.0": "int8", "head.3": "int8"}
    assert {str(w.dtype) for w in quantized.rnn.get_weight().values()} == {"torch.qint8"}
    x, lengths = torch.randn(16, 12, 6), torch.full((16,), 12)
    with torch.no_grad():
        ref, got = model(x, lengths), quantized(x, lengths)
    assert 0 < float((ref - got).abs().max()) < 0.05 * float(ref.abs().max())
    assert torch_int8_weights(model) == {"rnn": "fp32", "head.0": "fp32", "head.3": "fp32"}


def test_stage_metrics_and_table_name_the_skipped_file():
    from har_vib.callbacks.prune_export import _stage_metrics
    from har_vib.deploy.stages import stages_markdown

    why = "pruned_int8.onnx not written: no GRU kernel"
    fp32 = {"stage": "fp32", "test_acc": 0.5, "onnx_file": "pruned.onnx", "onnx_test_acc": 0.5, "onnx_bytes": 9}
    fp32["onnx_us_per_clip"] = 3.0
    int8 = {"stage": "int8", "test_acc": 0.45, "onnx_file": None, "onnx_test_acc": None, "onnx_bytes": None}
    int8 |= {"onnx_us_per_clip": None, "onnx_skipped": why, "onnx_fp32_weights": ["W", "R"]}
    metrics: dict = {}
    _stage_metrics([fp32, int8], metrics)
    assert metrics == {"test_acc_int8": 0.45, "onnx_test_acc_int8": None, "onnx_int8_skipped": why}
    table = stages_markdown([fp32, int8])
    assert f"| int8 | {why} | W, R | 0.450 | - | - | - |" in table
