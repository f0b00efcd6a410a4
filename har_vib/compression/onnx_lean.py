"""A minimal ONNX graph for a compact recurrent classifier, written node by node.

The tracing exporter spells ``nn.LSTM`` with the ops that build its zero initial states and picks the last
valid step with a dozen index ops; on a model of a few units those ops cost more than the recurrence. This
graph is ``Gather`` (the kept input features) -> ``Transpose`` (time first) -> ONNX ``LSTM``/``GRU`` with
``sequence_lens`` (its ``Y_h`` output *is* the state at each clip's last valid step) -> the head as ``Gemm``
and ``Relu`` nodes, with an eval-mode ``BatchNorm1d`` folded into the ``Linear`` before it.

Gate orders differ: PyTorch LSTM rows are (i, f, g, o), ONNX wants (i, o, f, c); PyTorch GRU rows are
(r, z, n), ONNX wants (z, r, h) with ``linear_before_reset = 1`` (PyTorch applies ``r`` after the recurrent
matmul).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from har_vib.utils.io import atomic_save

OPSET = 17


def supports_lean(model: nn.Module) -> bool:
    """Whether :func:`export_lean_onnx` can write ``model``: a plain ``nn.LSTM``/``nn.GRU`` (one layer,
    batch-first, unidirectional), no front end, a head of Linear / BatchNorm1d / ReLU."""
    rnn = getattr(model, "rnn", None)
    if not isinstance(rnn, (nn.LSTM, nn.GRU)) or getattr(model, "frontend", None) is not None:
        return False
    if rnn.num_layers != 1 or rnn.bidirectional or not rnn.batch_first or not rnn.bias:
        return False
    if getattr(model, "input_ib", None) is not None:
        return False
    return all(isinstance(m, (nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout, nn.Identity)) for m in model.head)


def _reorder(tensor: np.ndarray, hidden: int, order: list[int]) -> np.ndarray:
    blocks = [tensor[q * hidden : (q + 1) * hidden] for q in range(len(order))]
    return np.concatenate([blocks[q] for q in order], axis=0)


def _head_layers(head: nn.Sequential) -> list[tuple[str, Any]]:
    """The head as (``gemm``, (W, b)) and (``relu``, None) steps, BatchNorm folded into the Gemm before it."""
    steps: list[tuple[str, Any]] = []
    for m in head:
        if isinstance(m, nn.Linear):
            w = m.weight.detach().cpu().double().numpy()
            b = m.bias.detach().cpu().double().numpy() if m.bias is not None else np.zeros(m.out_features)
            steps.append(("gemm", (w, b)))
        elif isinstance(m, nn.BatchNorm1d):
            if not steps or steps[-1][0] != "gemm":
                raise ValueError("a BatchNorm1d in the head must follow a Linear to be folded")
            w, b = steps[-1][1]
            scale = m.weight.detach().cpu().double().numpy() / np.sqrt(m.running_var.cpu().double().numpy() + m.eps)
            shift = m.bias.detach().cpu().double().numpy() - m.running_mean.cpu().double().numpy() * scale
            steps[-1] = ("gemm", (w * scale[:, None], b * scale + shift))
        elif isinstance(m, nn.ReLU):
            steps.append(("relu", None))
    return steps


def export_lean_onnx(model: nn.Module, path: str | Path) -> Path:
    """Write ``model`` (see :func:`supports_lean`) as the minimal graph; inputs ``x`` (B, T, F) float32 (F fixed at
    ``model.input_features``, the width it was trained on, whatever input features it keeps) and
    ``lengths`` (B,) int64 in ``[0, T]``, output ``logits`` (B, C) float32; batch and time axes dynamic. A length
    of 0 (or T = 0) gives ``Y_h`` = the zero initial state, as the eager model does; onnxruntime refuses lengths
    outside ``[0, T]`` and any dtype other than int64 (the contract of :mod:`har_vib.compression.export`)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if not supports_lean(model):
        raise ValueError(f"export_lean_onnx needs a plain LSTM/GRU classifier, got {type(model).__name__}")
    rnn = model.rnn
    hidden = rnn.hidden_size
    is_lstm = isinstance(rnn, nn.LSTM)
    order = [0, 3, 1, 2] if is_lstm else [1, 0, 2]  # (i,f,g,o) -> (i,o,f,c); (r,z,n) -> (z,r,h)
    w = _reorder(rnn.weight_ih_l0.detach().cpu().numpy(), hidden, order)[None]
    r = _reorder(rnn.weight_hh_l0.detach().cpu().numpy(), hidden, order)[None]
    b = np.concatenate(
        [
            _reorder(rnn.bias_ih_l0.detach().cpu().numpy(), hidden, order),
            _reorder(rnn.bias_hh_l0.detach().cpu().numpy(), hidden, order),
        ]
    )[None]
    inits = [
        numpy_helper.from_array(w.astype(np.float32), "W"),
        numpy_helper.from_array(r.astype(np.float32), "R"),
        numpy_helper.from_array(b.astype(np.float32), "B"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
    ]
    nodes = []
    x = "x"
    index = getattr(model, "input_index", None)
    if index is not None:
        inits.append(numpy_helper.from_array(index.detach().cpu().numpy().astype(np.int64), "input_index"))
        nodes.append(helper.make_node("Gather", ["x", "input_index"], ["x_kept"], axis=2))
        x = "x_kept"
    nodes += [
        helper.make_node("Transpose", [x], ["x_tbf"], perm=[1, 0, 2]),
        helper.make_node("Cast", ["lengths"], ["seq_lens"], to=TensorProto.INT32),
    ]
    attrs = {"hidden_size": hidden}
    if not is_lstm:
        attrs["linear_before_reset"] = 1
    op = "LSTM" if is_lstm else "GRU"
    nodes.append(helper.make_node(op, ["x_tbf", "W", "R", "B", "seq_lens"], ["", "y_h"], **attrs))
    nodes.append(helper.make_node("Squeeze", ["y_h", "axis0"], ["h_last"]))
    current = "h_last"
    for k, (kind, params) in enumerate(_head_layers(model.head)):
        out = f"head{k}"
        if kind == "gemm":
            inits.append(numpy_helper.from_array(params[0].astype(np.float32), f"head{k}_w"))
            inits.append(numpy_helper.from_array(params[1].astype(np.float32), f"head{k}_b"))
            nodes.append(helper.make_node("Gemm", [current, f"head{k}_w", f"head{k}_b"], [out], transB=1))
        else:
            nodes.append(helper.make_node("Relu", [current], [out]))
        current = out
    nodes[-1].output[0] = "logits"
    classes = _head_layers(model.head)[-1][1][0].shape[0]
    graph = helper.make_graph(
        nodes,
        "compact_recurrent_classifier",
        [
            # F fixed: onnxruntime refuses x of another width (the Gather alone would read any wider x)
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", int(model.input_features)]),
            helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        inits,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="har-vib")
    onnx.checker.check_model(onnx_model)
    atomic_save(lambda tmp: onnx.save(onnx_model, tmp), Path(path))
    return Path(path)
