"""Export a compact model: TorchScript and ONNX (both loadable without har_vib) and a plain state dict with its
spec.

Input contract, the same in every format (eager :class:`~har_vib.models.sequence_classifier.SequenceClassifier`,
``pruned.pt``, ``pruned.onnx``, ``pruned_int8.onnx``):

* ``x``: (B, T, F) float32, B >= 1, T >= 0, F the number of input features the model was trained on
  (``input_features``, before input pruning: a compact model gathers its kept columns from x). The ONNX files
  declare F as a fixed dimension, so onnxruntime refuses another F (``INVALID_ARGUMENT : Got invalid dimensions
  for input: x ... index: 2 Got: 4 Expected: 3``); eager and TorchScript raise ``ValueError``. B = 0 is refused
  by eager and TorchScript (``ValueError``); onnxruntime 1.32 crashes on it (a segfault in its LSTM/GRU
  kernels), so never feed it an empty batch;
* ``lengths``: (B,) int64 with ``0 <= lengths[b] <= T``; a clip of length 0 (and every clip when T = 0) is
  classified from the zero initial state, i.e. ``head(0)``. int32 (or any other dtype) is refused by all of them
  (TorchScript and eager: ``TypeError``; onnxruntime: ``INVALID_ARGUMENT``), as are negative lengths or lengths
  above T (``ValueError`` / ``INVALID_ARGUMENT``). TorchScript and eager also take ``lengths=None`` (every clip
  T long);
* output ``logits``: (B, C) float32.

Temporal-segment models (a front end) take equal-length clips: their ONNX file has ``x`` only. Factorised TT/TR
layers are traced at the example's clip length: their ONNX file takes that T only.
"""

from __future__ import annotations

import copy
import io
import warnings
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from har_vib.compression.exactness import InexactExportError, compare_logits, export_tolerance, full_precision
from har_vib.compression.onnx_export import export_onnx, has_dynamic_time, onnx_logits
from har_vib.compression.onnx_lean import export_lean_onnx, supports_lean
from har_vib.compression.params import cell_type
from har_vib.models.sequence_classifier import SequenceClassifier
from har_vib.utils.io import write_bytes, write_json

__all__ = ["export_compact", "model_spec", "save_torch", "save_torchscript", "write_json"]


def save_torchscript(scripted: torch.jit.ScriptModule, path: str | Path) -> Path:
    """Write a TorchScript module to ``path`` atomically. Serialised in memory, then written by Python: a full
    disk raises ``OSError`` naming ``path`` (``torch.jit.save`` to a file aborts the process natively).

    Raises: ``OSError`` (ENOSPC, EFBIG, EACCES, EROFS...) with ``filename`` = ``path``; nothing is left behind."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.save.*is deprecated", category=FutureWarning)
        torch.jit.save(scripted, buffer)
    write_bytes(buffer.getvalue(), path)
    return Path(path)


def save_torch(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` atomically, serialised in memory then written by Python (``torch.save`` to
    a file raises an unhelpful RuntimeError on a full disk).

    Raises: ``OSError`` with ``filename`` = ``path``; nothing is left behind."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(buffer.getvalue(), path)
    return Path(path)


def model_spec(model: SequenceClassifier) -> dict[str, Any]:
    """What it takes to rebuild ``model`` from plain torch modules and its state dict."""
    head = [
        {"type": type(m).__name__, **({"in": m.in_features, "out": m.out_features} if isinstance(m, nn.Linear) else {})}
        for m in model.head
    ]
    return {
        "cell": cell_type(model.rnn),
        "rnn_type": type(model.rnn).__name__,
        "input_features": int(model.input_features),
        "input_size": int(model.rnn.input_size),
        "hidden_size": int(model.rnn.hidden_size),
        "batch_first": True,
        "input_index": None if model.input_index is None else model.input_index.tolist(),
        "frontend": None if model.frontend is None else type(model.frontend).__name__,
        "head": head,
        "forward": "x (B, T, F) -> x[..., input_index] -> rnn -> output at step lengths-1 -> head",
    }


def parity_inputs(
    x: torch.Tensor, lengths: torch.Tensor, other_length: bool = True, varied_lengths: bool = True
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The example batch, and a second one with another batch size (and clip length, with ``other_length``)
    drawn at the first one's scale, which proves the exported axes are dynamic. With ``varied_lengths`` the second
    batch's clips are right-padded to lengths T, about T/2, ... and its last clip has length 0 (the edge of the
    input contract, where the runtimes used to disagree); otherwise every clip is T long."""
    b, t, f = x.shape
    gen = torch.Generator().manual_seed(0)
    other_t = t + 3 if other_length else t
    x2 = torch.randn(b + 1, other_t, f, generator=gen) * x.float().std().clamp(min=1e-3) + x.float().mean()
    lengths2 = torch.full((b + 1,), other_t, dtype=torch.long)
    if varied_lengths:
        lengths2 = torch.div(other_t * torch.arange(b + 1, 0, -1), b + 1, rounding_mode="floor")
        lengths2[-1] = 0
    return [(x, lengths), (x2, lengths2)]


def export_compact(
    model: SequenceClassifier,
    out_dir: str | Path,
    example: Optional[tuple[torch.Tensor, torch.Tensor]] = None,
) -> dict[str, Any]:
    """Write ``pruned.pt`` (TorchScript), ``pruned_state_dict.pt`` and ``pruned_spec.json`` into ``out_dir``;
    with an ``example`` batch ``(x, lengths)`` also ``pruned.onnx``, then check both files against the eager model
    on it and on a batch of another size, clip length and lengths (a clip of length 0 among them, see
    :func:`parity_inputs`). Inputs and output of every file follow the module docstring's contract.
    ``model`` itself is left where it is (the export works on a CPU copy).

    Returns:
        The written paths by kind, and with an example ``torchscript_max_abs_diff`` / ``onnx_max_abs_diff`` (the
        largest logit difference to the eager model), ``export_file_tolerance`` (the float round-off they were
        held to) and ``onnx_dynamic_axes``.

    Raises:
        OSError: naming the file that could not be written (disk full, permission denied); every file is
            written atomically, so none is left half-written and no temp file stays behind.
        InexactExportError: ``pruned.pt`` or ``pruned.onnx`` differs from the eager model by more than float
            round-off (:func:`~har_vib.compression.exactness.export_tolerance`); the differing file is removed.
    """
    out = Path(out_dir)
    model = copy.deepcopy(model).eval().cpu()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*is deprecated", category=FutureWarning)
        scripted = torch.jit.script(model)
    paths = {
        "torchscript": out / "pruned.pt",
        "state_dict": out / "pruned_state_dict.pt",
        "spec": out / "pruned_spec.json",
    }
    save_torchscript(scripted, paths["torchscript"])
    save_torch(model.state_dict(), paths["state_dict"])
    write_json(model_spec(model), paths["spec"])
    result: dict[str, Any] = {k: str(v) for k, v in paths.items()}
    if example is not None:
        x, lengths = example[0].cpu().float(), example[1].cpu().long()
        if model.frontend is not None:  # temporal segments take equal-length clips only
            lengths = torch.full_like(lengths, x.shape[1])
        if supports_lean(model):  # the minimal hand-written graph: same function, a fraction of the latency
            paths["onnx"] = export_lean_onnx(model, out / "pruned.onnx")
        else:
            paths["onnx"] = export_onnx(model, out / "pruned.onnx", x, lengths)
        result["onnx"] = str(paths["onnx"])
        loaded = torch.jit.load(str(paths["torchscript"]))
        inputs = parity_inputs(x, lengths, other_length=has_dynamic_time(model), varied_lengths=model.frontend is None)
        with torch.no_grad(), full_precision():
            eager = [model(xi, li) for xi, li in inputs]
            ts = compare_logits(zip(eager, (loaded(xi, li) for xi, li in inputs)))
        onnx = compare_logits(zip(eager, (torch.from_numpy(onnx_logits(paths["onnx"], xi, li)) for xi, li in inputs)))
        for kind, parity in (("torchscript", ts), ("onnx", onnx)):
            if not parity.exact:
                paths[kind].unlink(missing_ok=True)
                raise InexactExportError(
                    f"{paths[kind].name} does not reproduce the model it was exported from: logits differ by up to "
                    f"{parity.max_abs_diff:.3g} (float round-off allows {parity.tolerance:.3g}; the class agrees on "
                    f"{parity.agreement:.1%} of {sum(len(i[0]) for i in inputs)} clips, one of length 0); the file "
                    "was removed"
                )
        result["torchscript_max_abs_diff"], result["onnx_max_abs_diff"] = ts.max_abs_diff, onnx.max_abs_diff
        result["export_file_tolerance"] = export_tolerance(ts.scale)
        result["onnx_dynamic_axes"] = ["batch", "time"] if has_dynamic_time(model) else ["batch"]
    return result
