"""Post-training dynamic int8 quantization of a compact model (seed 004's quantization stage): weights of the
recurrent layer and the Linear layers stored as int8, activations quantized on the fly.

Two forms: PyTorch's (``torch.ao.quantization.quantize_dynamic``, what the accuracy is measured on) and
onnxruntime's (``onnxruntime.quantization.quantize_dynamic`` on the exported ONNX file, what an edge runtime
loads).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

from har_vib.utils.io import atomic_save


def quantize_int8(model: nn.Module) -> nn.Module:
    """A CPU copy of ``model`` with ``nn.LSTM``/``nn.GRU``/``nn.Linear`` weights in int8 (dynamic quantization)."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notices
        return quantize_dynamic(copy.deepcopy(model).cpu().eval(), {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8)


def quantize_onnx_int8(src: str | Path, dst: str | Path) -> Path:
    """Write the int8 (dynamic, weights only stored as int8) version of the ONNX file ``src`` to ``dst``,
    atomically: onnxruntime writes ``dst`` in place, which a full disk left truncated. ``src`` is handed over
    loaded: given a path, onnxruntime writes a shape-inferred copy ``<src>-inferred.onnx`` next to it, which a
    full disk truncates silently (a protobuf DecodeError follows) and leaves behind; given the model, its
    scratch copy goes to a temp folder of its own that it always removes.

    Raises: ``OSError`` naming ``dst`` when it cannot be written; no partial or temp file is left next to it."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(src))
    atomic_save(lambda tmp: quantize_dynamic(model, tmp, weight_type=QuantType.QInt8), dst)
    return Path(dst)


def file_size(path: str | Path) -> int:
    """Bytes on disk."""
    return Path(path).stat().st_size
