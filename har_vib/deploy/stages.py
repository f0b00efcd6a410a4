"""The deployable forms of a compact model side by side: fp32 and int8, each with its test accuracy, its ONNX
file's size on disk and onnxruntime's single-thread latency per clip."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from har_vib.compression.finetune import evaluate_accuracy
from har_vib.compression.onnx_export import onnx_feeds, onnx_session
from har_vib.compression.quantize import file_size, quantize_int8, quantize_onnx_int8
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


def deploy_stages(
    model: nn.Module, onnx_path: str | Path, test_batches: Iterable, quantize: bool, clip: tuple[torch.Tensor, ...]
) -> list[dict[str, Any]]:
    """Rows ``stage, test_acc, onnx_test_acc, onnx_bytes, onnx_us_per_clip`` for fp32 and (with ``quantize``)
    dynamic int8; ``clip`` is one ``(x, lengths)`` example of batch 1 for the latency."""
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
        int8_path = quantize_onnx_int8(onnx_path, onnx_path.with_name(onnx_path.stem + "_int8.onnx"))
        rows.append(
            {
                "stage": "int8",
                "test_acc": evaluate_accuracy(quantize_int8(model), batches, torch.device("cpu")),
                "onnx_file": int8_path.name,
                "onnx_test_acc": onnx_accuracy(int8_path, batches),
                "onnx_bytes": file_size(int8_path),
                "onnx_us_per_clip": onnx_latency_us(int8_path, x, lengths),
            }
        )
    return rows
