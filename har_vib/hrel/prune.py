"""HRel's iterative filter pruning on LeNet-5 (Sarvani et al. 2022, arXiv:2202.10716; docs/methods/hrel.md).

Per round, score every remaining filter of each conv layer by its relevance (mutual information of its activation
map with the labels), mask the ``floor(n * p) + 1`` least relevant filters of every layer still above its target,
fine-tune with the masks held; when every layer is at its target, remove the masked filters physically.

The activation map is the Conv2d output (pre-ReLU), the LeNet-5 convention of the authors' code; the kernel
width of each layer is chosen by alignment with the label kernel, smoothed over batches (0.9 / 0.1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn
from torch.nn import functional as F

from har_vib.hrel.checks import check_activations, check_labels, likely_source, module_name
from har_vib.hrel.entropy import kernel_width_by_alignment, label_gram
from har_vib.hrel.relevance import batch_relevance
from har_vib.vibnet.models import IBLeNet5
from har_vib.vibnet.prune import remove_filters

log = logging.getLogger(__name__)


@torch.no_grad()
def conv_maps(net: nn.Module, conv: nn.Conv2d, batches: Iterable) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(conv output, labels)`` per ``(x, y)`` batch, the net in eval mode.

    Raises:
        HRelInputError: a batch's conv output is not finite: the layer, filters, batch and samples are named, with
            the probable source (the input, non-finite weights, or an overflow).
    """
    net.eval()
    device = conv.weight.device
    name = module_name(net, conv)
    captured: list[torch.Tensor] = []
    handle = conv.register_forward_hook(lambda m, i, o: captured.append(o.detach()))
    try:
        for index, (x, y) in enumerate(batches):
            captured.clear()
            net(x.to(device))
            maps = captured[0]
            if not bool(torch.isfinite(maps).all()):
                check_activations(maps, name, index, source=likely_source(net, conv, x))
            yield maps, y
    finally:
        handle.remove()


def layer_width(
    maps_and_labels: Iterable[tuple[torch.Tensor, torch.Tensor]], num_classes: int, layer: str = "the layer"
) -> float:
    """The layer's kernel width: alignment-optimal on each batch's whole flattened activations, smoothed
    ``sigma <- 0.9 sigma + 0.1 sigma*`` from the first batch's value.

    Raises:
        HRelInputError: non-finite activations or labels that are not class indices (``layer`` and the batch named).
    """
    sigma: Optional[float] = None
    for index, (maps, y) in enumerate(maps_and_labels):
        check_activations(maps, layer, index)
        check_labels(y, num_classes, index, layer)
        best = kernel_width_by_alignment(maps.flatten(1), label_gram(y.to(maps.device), num_classes), layer=layer)
        sigma = best if sigma is None else 0.9 * sigma + 0.1 * best
    if sigma is None:
        raise ValueError("layer_width got no batches")
    return sigma


def relevance_of(net: nn.Module, conv: nn.Conv2d, batches: list, num_classes: int) -> torch.Tensor:
    """HRel score of every filter of ``conv``: mean over ``batches`` of I(map; labels), in bits.

    Raises:
        HRelInputError: a non-finite activation of ``conv`` (its name, the filters, batch and samples, and the
            probable source) or a label that is not a class index.
    """
    name = module_name(net, conv)
    sigma = layer_width(conv_maps(net, conv, batches), num_classes, name)
    total = None
    for index, (maps, y) in enumerate(conv_maps(net, conv, batches)):
        scores = batch_relevance(maps, y, sigma, num_classes, name, index)
        total = scores if total is None else total + scores
    return total / len(batches)


def apply_filter_masks_(convs: list[nn.Conv2d], masks: list[torch.Tensor]) -> None:
    """Zero the weights and biases of masked-out filters (and keep them at 0 after every optimiser step)."""
    with torch.no_grad():
        for conv, keep in zip(convs, masks):
            conv.weight[~keep] = 0.0
            if conv.bias is not None:
                conv.bias[~keep] = 0.0


def train_images(
    net: nn.Module,
    batches: Iterable,
    epochs: int,
    lr: float,
    after_step: Optional[Callable[[], None]] = None,
    weight_decay: float = 0.0,
) -> None:
    """Adam on cross-entropy over ``(x, y)`` batches for ``epochs`` epochs."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    device = next(net.parameters()).device
    net.train()
    for _ in range(epochs):
        for x, y in batches:
            loss = F.cross_entropy(net(x.to(device)), y.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step()
    net.eval()


@dataclass
class HRelResult:
    """The physically smaller network, the kept filters per conv layer and the per-round history."""

    model: nn.Sequential
    kept: list[list[int]]
    history: list[dict[str, Any]] = field(default_factory=list)


def hrel_prune_lenet5(
    net: IBLeNet5,
    train_batches: list,
    num_classes: int,
    targets: tuple[int, int] = (2, 3),
    fractions: tuple[float, float] = (0.04, 0.12),
    finetune_epochs: int = 5,
    lr: float = 1e-3,
    relevance_batches: Optional[int] = None,
    evaluate: Optional[Callable[[nn.Module], float]] = None,
) -> HRelResult:
    """Prune the conv filters of a trained plain LeNet-5 down to ``targets`` filters per layer, HRel's way.

    ``relevance_batches`` limits how many training batches the relevance is averaged over (None: all, as in
    the paper); ``evaluate(net)`` (e.g. validation accuracy) is recorded after every round.
    """
    if net.is_vib:
        raise ValueError("HRel prunes a plain LeNet-5 (model=lenet5), not one with bottlenecks")
    convs = [net.conv1, net.conv2]
    masks = [torch.ones(c.out_channels, dtype=torch.bool, device=c.weight.device) for c in convs]
    scored = train_batches[:relevance_batches] if relevance_batches else train_batches
    history: list[dict[str, Any]] = []
    while any(int(m.sum()) > t for m, t in zip(masks, targets)):
        for conv, mask, target, frac in zip(convs, masks, targets, fractions):
            alive = int(mask.sum())
            if alive <= target:
                continue
            rel = relevance_of(net, conv, scored, num_classes)
            rel[~mask] = float("inf")  # already pruned: never chosen again
            k = min(int(alive * frac) + 1, alive - target)
            mask[torch.argsort(rel)[:k]] = False
        apply_filter_masks_(convs, masks)
        train_images(net, train_batches, finetune_epochs, lr, after_step=lambda: apply_filter_masks_(convs, masks))
        row = {"round": len(history) + 1, "filters": [int(m.sum()) for m in masks]}
        if evaluate is not None:
            row["accuracy"] = evaluate(net)
        history.append(row)
        log.info("HRel round %d: filters %s", row["round"], row["filters"])
    keep = [torch.nonzero(m, as_tuple=False).flatten() for m in masks]
    return HRelResult(model=remove_filters(net, keep[0], keep[1]), kept=[k.tolist() for k in keep], history=history)
