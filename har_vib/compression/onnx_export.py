"""ONNX export of a (compact) sequence classifier, with dynamic batch and time axes, and its parity check in
onnxruntime.

The model is exported with two inputs, ``x`` (B, T, F) float32 and ``lengths`` (B,) int64 with values in
``[0, T]`` (0: the clip is classified from the zero initial state), and one output, ``logits`` (B, C) float32;
onnxruntime refuses any other dtype (int32 lengths included) and lengths outside ``[0, T]``, as eager PyTorch and
TorchScript do (:func:`~har_vib.models.sequence_classifier.check_inputs`). ``nn.LSTM``/``nn.GRU`` become ONNX's
own ``LSTM``/``GRU`` operators, which onnxruntime runs as fused kernels. The TorchScript-based exporter is used
(``dynamo=False``): it needs no extra package and maps recurrent layers to those operators.

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
    axis is dynamic, and the time axis too when :func:`has_dynamic_time`. The feature axis stays fixed at the
    example's width, which the eager model checks is its ``input_features``: onnxruntime refuses any other."""
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
    """The inputs ``session`` declares, from ``(x, lengths)`` (a model that ignores lengths has none): ``x`` as
    float32 and integer ``lengths`` as int64, the dtypes the files take (this helper converts; the files refuse).

    Raises:
        TypeError: ``lengths`` is not an integer array (a float length would be truncated silently)."""
    lengths = np.asarray(lengths)
    if not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"lengths must be integers (the ONNX input is int64), got {lengths.dtype}")
    arrays = {"x": np.asarray(x, dtype=np.float32), "lengths": lengths.astype(np.int64)}
    return {i.name: arrays[i.name] for i in session.get_inputs()}


def onnx_logits(path: str | Path, x: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
    """onnxruntime's logits (B, C) of the file ``path`` on ``(x, lengths)`` (lengths fed only if it takes them)."""
    session = onnx_session(path)
    return session.run(None, onnx_feeds(session, x.cpu().float().numpy(), lengths.cpu().long().numpy()))[0]


def onnx_max_abs_diff(model: nn.Module, path: str | Path, x: torch.Tensor, lengths: torch.Tensor) -> float:
    """Largest absolute difference between PyTorch's and onnxruntime's logits on ``(x, lengths)``."""
    model = model.eval().cpu()
    x, lengths = x.cpu().float(), lengths.cpu().long()
    with torch.no_grad():
        expected = model(x, lengths).numpy()
    got = onnx_logits(path, x, lengths)
    return float(np.max(np.abs(expected - got))) if expected.size else 0.0
