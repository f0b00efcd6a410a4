"""The deployable forms of a compact model side by side: fp32 and int8, each with its test accuracy, its ONNX
file's size on disk and onnxruntime's single-thread latency per clip.

The int8 row says what was quantized rather than assuming it: which PyTorch modules became int8
(``torch_weights``) and, per weight initializer of the ONNX graph, whether onnxruntime stored it as int8
(``onnx_weights``). ``pruned_int8.onnx`` is written only when every weight in it is int8 and it is smaller than
``pruned.onnx``; otherwise ``onnx_file`` is None and ``onnx_skipped`` says why (a GRU: onnxruntime has no dynamic
int8 GRU kernel, so its ``W`` and ``R`` would stay float32).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from har_vib.compression.finetune import evaluate_accuracy
from har_vib.compression.onnx_export import onnx_feeds, onnx_session
from har_vib.compression.quantize import (
    Int8ExportError,
    file_size,
    quantize_int8,
    quantize_onnx_int8,
    torch_int8_weights,
)
from har_vib.deploy.latency import time_call


def onnx_accuracy(path: str | Path, batches: Iterable) -> float:
    """Top-1 accuracy of the ONNX file over ``(x, lengths, y)`` batches, run by onnxruntime."""
    session = onnx_session(path)
    correct = total = 0
    for x, lengths, y in batches:
        logits = session.run(None, onnx_feeds(session, x.cpu().numpy(), lengths.cpu().numpy()))[0]
        correct += int((np.argmax(logits, axis=-1) == y.cpu().numpy()).sum())
        total += int(y.numel())
    return correct / max(total, 1)


def onnx_latency_us(path: str | Path, x: torch.Tensor, lengths: torch.Tensor, min_seconds: float = 0.2) -> float:
    """Median onnxruntime latency (one thread) per clip of ``(x, lengths)``, microseconds."""
    session = onnx_session(path, threads=1)
    feeds = onnx_feeds(session, x.cpu().numpy(), lengths.cpu().numpy())
    return time_call(lambda: session.run(None, feeds), len(x), min_seconds=min_seconds).median_us


def int8_row(
    model: nn.Module, onnx_path: Path, batches: list, clip: tuple[torch.Tensor, torch.Tensor]
) -> dict[str, Any]:
    """The int8 stage: PyTorch's dynamic int8 copy of ``model`` and onnxruntime's of ``onnx_path``.

    Keys: ``test_acc`` (PyTorch int8) and ``torch_weights`` (module -> int8/fp32); ``onnx_weights`` (weight
    initializer -> int8/fp32), ``onnx_fp32_weights``, ``onnx_fp32_bytes``, ``onnx_quantized_bytes`` (what the
    quantizer produced); ``onnx_file``, ``onnx_test_acc``, ``onnx_bytes``, ``onnx_us_per_clip`` of
    ``<stem>_int8.onnx``, all None and ``onnx_skipped`` set to the reason when it was not written."""
    quantized = quantize_int8(model)
    row: dict[str, Any] = {
        "stage": "int8",
        "test_acc": evaluate_accuracy(quantized, batches, torch.device("cpu")),
        "torch_weights": torch_int8_weights(quantized),
    }
    try:
        report = quantize_onnx_int8(onnx_path, onnx_path.with_name(onnx_path.stem + "_int8.onnx"))
    except Int8ExportError as err:
        return {
            **row,
            **err.report.as_dict(),
            "onnx_file": None,
            "onnx_skipped": str(err),
            "onnx_test_acc": None,
            "onnx_bytes": None,
            "onnx_us_per_clip": None,
        }
    int8_path = onnx_path.with_name(onnx_path.stem + "_int8.onnx")
    return {
        **row,
        **report.as_dict(),
        "onnx_file": int8_path.name,
        "onnx_skipped": None,
        "onnx_test_acc": onnx_accuracy(int8_path, batches),
        "onnx_bytes": file_size(int8_path),
        "onnx_us_per_clip": onnx_latency_us(int8_path, *clip),
    }


def deploy_stages(
    model: nn.Module, onnx_path: str | Path, test_batches: Iterable, quantize: bool, clip: tuple[torch.Tensor, ...]
) -> list[dict[str, Any]]:
    """Rows ``stage, test_acc, onnx_file, onnx_test_acc, onnx_bytes, onnx_us_per_clip`` for fp32 and (with
    ``quantize``) dynamic int8 (:func:`int8_row`: also what was quantized, and ``onnx_skipped``); ``clip`` is one
    ``(x, lengths)`` example of batch 1 for the latency."""
    onnx_path = Path(onnx_path)
    batches = list(test_batches)
    x, lengths = clip
    rows = [
        {
            "stage": "fp32",
            "test_acc": evaluate_accuracy(model, batches, next(model.parameters()).device),
            "onnx_file": onnx_path.name,
            "onnx_test_acc": onnx_accuracy(onnx_path, batches),
            "onnx_bytes": file_size(onnx_path),
            "onnx_us_per_clip": onnx_latency_us(onnx_path, x, lengths),
        }
    ]
    if quantize:
        rows.append(int8_row(model, onnx_path, batches, (x, lengths)))
    return rows


def stages_markdown(rows: Iterable[dict[str, Any]]) -> str:
    """The stages as a Markdown table: file (or why none was written), weights stored as int8 vs fp32, accuracy in
    PyTorch and in onnxruntime, bytes on disk and latency."""
    lines = [
        "| stage | ONNX file | fp32 weights | test acc | ONNX test acc | bytes | us/clip |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fp32 = ", ".join(r.get("onnx_fp32_weights", [])) or ("all" if r["stage"] == "fp32" else "none")
        file = r["onnx_file"] or r.get("onnx_skipped") or "-"  # the reason starts with '<file> not written:'
        acc = "-" if r["onnx_test_acc"] is None else f"{r['onnx_test_acc']:.3f}"
        size = "-" if r["onnx_bytes"] is None else f"{r['onnx_bytes']:,}"
        us = "-" if r["onnx_us_per_clip"] is None else f"{r['onnx_us_per_clip']:,.1f}"
        lines.append(f"| {r['stage']} | {file} | {fp32} | {r['test_acc']:.3f} | {acc} | {size} | {us} |")
    return "\n".join(lines)
