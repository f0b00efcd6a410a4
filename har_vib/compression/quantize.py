"""Post-training dynamic int8 quantization of a compact model: weights of the
recurrent layer and the Linear layers stored as int8, activations quantized on the fly.

Two forms: PyTorch's (``torch.ao.quantization.quantize_dynamic``, what the accuracy is measured on) and
onnxruntime's (``onnxruntime.quantization.quantize_dynamic`` on the exported ONNX file, what an edge runtime
loads). Neither is taken on trust: :func:`torch_int8_weights` lists which PyTorch modules were replaced by int8
ones, and :func:`quantize_onnx_int8` inspects the quantized graph's initializers and writes no file named int8
unless every weight matrix in it is int8 and the file is smaller than the fp32 one. (onnxruntime's dynamic
quantizer has kernels for ``LSTM`` (``DynamicQuantizeLSTM``), ``MatMul``/``Gemm``, ``Conv``, ``Gather`` and
``Attention``, none for ``GRU``: a GRU's ``W`` and ``R`` would stay float32. PyTorch quantizes ``nn.GRU``.)
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from har_vib.utils.io import atomic_save

_QUANTIZABLE = (nn.LSTM, nn.GRU, nn.Linear)
# ONNX ops and the input positions that hold weights (float initializers a quantizer should make int8)
_WEIGHT_INPUTS = {"LSTM": (1, 2), "GRU": (1, 2), "RNN": (1, 2), "Gemm": (1,), "MatMul": (0, 1), "Conv": (1,)}


def quantize_int8(model: nn.Module) -> nn.Module:
    """A CPU copy of ``model`` with ``nn.LSTM``/``nn.GRU``/``nn.Linear`` weights in int8 (dynamic quantization);
    :func:`torch_int8_weights` says which modules it replaced."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notices
        return quantize_dynamic(copy.deepcopy(model).cpu().eval(), set(_QUANTIZABLE), dtype=torch.qint8)


def torch_int8_weights(quantized: nn.Module) -> dict[str, str]:
    """Each weight-bearing module of a :func:`quantize_int8` result by name: ``"int8"`` when PyTorch replaced it
    with a dynamically quantized module (its weights stored as qint8), ``"fp32"`` when it is still a float
    ``nn.LSTM``/``nn.GRU``/``nn.Linear``."""
    found: dict[str, str] = {}
    for name, module in quantized.named_modules():
        if any(name.startswith(f"{done}.") for done in found):
            continue  # a quantized module's packed parameters
        if type(module).__module__.startswith("torch.ao.nn.quantized"):
            found[name] = "int8"
        elif type(module) in _QUANTIZABLE:
            found[name] = "fp32"
    return found


class Int8ExportError(ValueError):
    """The quantized ONNX file would not be what its name says: a weight stayed float32, or it is not smaller.
    ``report`` (:class:`OnnxInt8Report`) lists every weight initializer and both sizes."""

    def __init__(self, message: str, report: OnnxInt8Report) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class OnnxInt8Report:
    """What onnxruntime's dynamic quantization did to an ONNX file.

    Attributes:
        weights: each weight initializer of the fp32 graph (the ``W``/``R`` of LSTM/GRU nodes, Gemm/MatMul/Conv
            weights) -> ``"int8"`` (stored as int8 in the quantized graph) or ``"fp32"`` (still float there).
        ops: the weight initializer -> the op that reads it (``"GRU"``, ``"Gemm"``...).
        fp32_bytes, int8_bytes: sizes on disk of the source file and of the quantized one.
        quantizer_ops: the op types onnxruntime's dynamic quantizer has int8 kernels for (its registry).
    """

    weights: dict[str, str]
    ops: dict[str, str]
    fp32_bytes: int
    int8_bytes: int
    quantizer_ops: list[str] = field(default_factory=list)

    @property
    def fp32_weights(self) -> list[str]:
        """Weight initializers that stayed float32."""
        return [name for name, kind in self.weights.items() if kind != "int8"]

    def problem(self) -> Optional[str]:
        """Why the quantized file is not an int8 model (a weight stayed fp32, or it is not smaller); None if it is."""
        stayed = self.fp32_weights
        if stayed:
            by_op: dict[str, list[str]] = {}
            for name in stayed:
                by_op.setdefault(self.ops[name], []).append(name)
            missing = sorted(op for op in by_op if op not in self.quantizer_ops)
            why = (
                f"onnxruntime's dynamic quantizer has no int8 kernel for {', '.join(missing)} (it has "
                f"{', '.join(self.quantizer_ops)})"
                if missing
                else "onnxruntime's dynamic quantizer left them in float32"
            )
            stays = "; ".join(f"{op} weights {', '.join(names)}" for op, names in by_op.items())
            return f"{why}: the {stays} would stay float32"
        if self.int8_bytes >= self.fp32_bytes:
            return (
                f"the quantized file would be {self.int8_bytes:,} bytes, not smaller than the fp32 file's "
                f"{self.fp32_bytes:,} (a scale and a zero point per tensor outweigh int8 storage in a model this small)"
            )
        return None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: weights, fp32 weights, both sizes."""
        return {
            "onnx_weights": dict(self.weights),
            "onnx_fp32_weights": self.fp32_weights,
            "onnx_fp32_bytes": self.fp32_bytes,
            "onnx_quantized_bytes": self.int8_bytes,
        }


def onnx_weight_initializers(model: Any) -> dict[str, str]:
    """The float initializers of ``model`` (an ``onnx.ModelProto``) that ops read as weights, each -> its op type
    (``LSTM``/``GRU`` ``W`` and ``R``, ``Gemm``/``MatMul``/``Conv`` weights; biases and index tensors are not
    weights: dynamic quantization keeps biases in float32 by design)."""
    from onnx import TensorProto

    floats = {i.name for i in model.graph.initializer if i.data_type == TensorProto.FLOAT}
    found: dict[str, str] = {}
    for node in model.graph.node:
        for pos in _WEIGHT_INPUTS.get(node.op_type, ()):
            if pos < len(node.input) and node.input[pos] in floats:
                found.setdefault(node.input[pos], node.op_type)
    return found


def _storage(weights: dict[str, str], quantized: Any) -> dict[str, str]:
    """Each weight name -> ``"int8"`` if the quantized graph holds an int8/uint8 initializer made from it
    (``<name>[_Transposed]_quantized``) and no float initializer of that name, else ``"fp32"``."""
    from onnx import TensorProto

    ints = {TensorProto.INT8, TensorProto.UINT8}
    floats = {i.name for i in quantized.graph.initializer if i.data_type == TensorProto.FLOAT}
    int8 = [i.name for i in quantized.graph.initializer if i.data_type in ints and i.name.endswith("_quantized")]
    return {
        name: "int8" if name not in floats and any(q.startswith(name + "_") for q in int8) else "fp32"
        for name in weights
    }


def quantize_onnx_int8(src: str | Path, dst: str | Path) -> OnnxInt8Report:
    """Write the int8 (dynamic, weights stored as int8) version of the ONNX file ``src`` to ``dst``, atomically,
    only if it is one: every weight initializer int8 and the file smaller than ``src``.

    ``src`` is handed over loaded: given a path, onnxruntime writes a shape-inferred copy ``<src>-inferred.onnx``
    next to it, which a full disk truncates silently (a protobuf DecodeError follows) and leaves behind; given the
    model, its scratch copy goes to a temp folder of its own that it always removes. The quantized graph is
    written to a temp file next to ``dst`` and inspected there (:class:`OnnxInt8Report`).

    Returns:
        The report of the written file.

    Raises:
        Int8ExportError: a weight stayed float32 (e.g. a GRU's ``W``/``R``: onnxruntime has no dynamic int8 GRU)
            or the file is not smaller; nothing is written at ``dst`` and an earlier file there is removed.
        OSError: naming ``dst`` when it cannot be written; no partial or temp file is left next to it.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.registry import IntegerOpsRegistry

    model = onnx.load(str(src))
    ops = onnx_weight_initializers(model)  # before quantize_dynamic rewrites the graph
    fp32_bytes = file_size(src)
    found: list[OnnxInt8Report] = []

    def write(tmp: str) -> None:
        quantize_dynamic(model, tmp, weight_type=QuantType.QInt8)
        report = OnnxInt8Report(
            _storage(ops, onnx.load(tmp)), ops, fp32_bytes, file_size(tmp), sorted(IntegerOpsRegistry)
        )
        found.append(report)
        problem = report.problem()
        if problem is not None:
            raise Int8ExportError(f"{Path(dst).name} not written: {problem}", report)

    try:
        atomic_save(write, dst)
    except Int8ExportError:
        Path(dst).unlink(missing_ok=True)  # an earlier export's file would pass for this model's
        raise
    return found[0]


def file_size(path: str | Path) -> int:
    """Bytes on disk."""
    return Path(path).stat().st_size
