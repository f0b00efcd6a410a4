"""ONNX export of a (compact) sequence classifier, with dynamic batch and time axes, and its parity check in
onnxruntime.

The model is exported with two inputs, ``x`` (B, T, F) float32 and ``lengths`` (B,) int64, and one output,
``logits`` (B, C). ``nn.LSTM``/``nn.GRU`` become ONNX's own ``LSTM``/``GRU`` operators, which onnxruntime runs
as fused kernels. The TorchScript-based exporter is used (``dynamo=False``): it needs no extra package and
maps recurrent layers to those operators.

Two limits of tracing: a model that ignores ``lengths`` (temporal-segment front ends take equal-length clips)
has ``x`` as its only input, and a recurrent layer that steps through time in Python (the factorised TT/TR
LSTMs) is traced at the example's length, so its file has a dynamic batch axis only.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from har_vib.utils.io import atomic_save

OPSET = 17


def has_dynamic_time(model: nn.Module) -> bool:
    """Whether the ONNX export of ``model`` accepts any clip length (its recurrent layer is a torch one)."""
    return isinstance(getattr(model, "rnn", None), (nn.LSTM, nn.GRU))


def export_onnx(model: nn.Module, path: str | Path, x: torch.Tensor, lengths: torch.Tensor) -> Path:
    """Write ``model`` (eval mode, CPU) to ``path`` as ONNX, traced on the example ``(x, lengths)``; the batch
    axis is dynamic, and the time axis too when :func:`has_dynamic_time`."""
    path = Path(path)
    model = model.eval().cpu()
    args = (x.cpu().float(), lengths.cpu().long())
    x_axes = {0: "batch", 1: "time"} if has_dynamic_time(model) else {0: "batch"}

    def write(tmp: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and deprecation chatter; parity is checked instead
            torch.onnx.export(
                model,
                args,
                tmp,
                dynamo=False,
                opset_version=OPSET,
                input_names=["x", "lengths"],
                output_names=["logits"],
                dynamic_axes={"x": x_axes, "lengths": {0: "batch"}, "logits": {0: "batch"}},
            )

    atomic_save(write, path)
    return path


def onnx_session(path: str | Path, threads: int = 0):
    """An onnxruntime CPU session for ``path``; ``threads`` > 0 pins intra- and inter-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def onnx_feeds(session, x: torch.Tensor | np.ndarray, lengths: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
    """The inputs ``session`` declares, from ``(x, lengths)`` (a model that ignores lengths has none)."""
    arrays = {"x": np.asarray(x, dtype=np.float32), "lengths": np.asarray(lengths, dtype=np.int64)}
    return {i.name: arrays[i.name] for i in session.get_inputs()}


def onnx_max_abs_diff(model: nn.Module, path: str | Path, x: torch.Tensor, lengths: torch.Tensor) -> float:
    """Largest absolute difference between PyTorch's and onnxruntime's logits on ``(x, lengths)``."""
    model = model.eval().cpu()
    x, lengths = x.cpu().float(), lengths.cpu().long()
    with torch.no_grad():
        expected = model(x, lengths).numpy()
    session = onnx_session(path)
    got = session.run(None, onnx_feeds(session, x.numpy(), lengths.numpy()))[0]
    return float(np.max(np.abs(expected - got))) if expected.size else 0.0
