"""Unstructured magnitude pruning of a trained recurrent layer to a parameter budget (a baseline for VIB).

The smallest-magnitude entries of ``W_ih`` and ``W_hh`` (one global ranking over both) are set to 0 until the
layer holds ``keep`` parameters, biases (kept dense) included, so the budget is comparable with a compact VIB
model's ``lstm_params_after``. The layer keeps its shape: the saving is in non-zeros, which a dense runtime does
not turn into speed or a smaller file; ``compression.json`` says so with ``"dense_storage": true``.
"""

from __future__ import annotations

import torch
from torch import nn

WEIGHTS = ("weight_ih_l0", "weight_hh_l0")
BIASES = ("bias_ih_l0", "bias_hh_l0")


def bias_count(rnn: nn.Module) -> int:
    """Entries of the bias vectors (never pruned)."""
    return sum(getattr(rnn, b).numel() for b in BIASES if getattr(rnn, b, None) is not None)


def magnitude_masks(rnn: nn.Module, keep: int) -> dict[str, torch.Tensor]:
    """Boolean masks of the weights to keep so that kept weights + biases = ``keep`` (ties broken by order)."""
    weights = [getattr(rnn, w).detach() for w in WEIGHTS]
    budget = keep - bias_count(rnn)
    total = sum(w.numel() for w in weights)
    if not 0 < budget <= total:
        raise ValueError(
            f"magnitude pruning to {keep} parameters leaves {budget} weights for this layer "
            f"({total} weights + {bias_count(rnn)} biases): choose keep between {bias_count(rnn) + 1} and "
            f"{total + bias_count(rnn)}"
        )
    flat = torch.cat([w.abs().flatten() for w in weights])
    kept = torch.zeros_like(flat, dtype=torch.bool)
    kept[torch.topk(flat, budget, sorted=False).indices] = True
    masks, start = {}, 0
    for name, w in zip(WEIGHTS, weights):
        masks[name] = kept[start : start + w.numel()].view_as(w)
        start += w.numel()
    return masks


@torch.no_grad()
def apply_masks_(rnn: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero the pruned weights in place (also after every fine-tuning step, so they stay pruned)."""
    for name, mask in masks.items():
        getattr(rnn, name).mul_(mask)


def nonzero_param_count(rnn: nn.Module) -> int:
    """Non-zero weights plus every bias entry, counted from the module."""
    return sum(int((getattr(rnn, w) != 0).sum()) for w in WEIGHTS) + bias_count(rnn)
