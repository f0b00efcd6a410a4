"""Evaluation metrics computed outside a Trainer."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def image_accuracy(model: nn.Module, batches: Iterable, device: torch.device) -> float:
    """Top-1 accuracy of ``model`` (eval mode) over ``(x, y)`` batches."""
    model.eval()
    correct = total = 0
    for x, y in batches:
        correct += int((model(x.to(device)).argmax(-1) == y.to(device)).sum())
        total += len(y)
    return correct / max(total, 1)
