"""Filter relevance: ``Rel_i = mean over mini-batches of I(A(T_i); A(Y))`` where ``T_i`` is filter ``i``'s
activation map flattened per sample (HRel, Sarvani et al. 2022, arXiv:2202.10716; docs/methods/hrel.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional

import torch

from har_vib.hrel.checks import check_activations, check_labels, check_width
from har_vib.hrel.entropy import gram_matrix, label_gram, mutual_information, normalize_gram


@torch.no_grad()
def batch_relevance(
    maps: torch.Tensor,
    y: torch.Tensor,
    sigma: float,
    num_classes: int,
    layer: str = "the layer",
    batch: Optional[int] = None,
) -> torch.Tensor:
    """``I(A(T_i); A(Y))`` in bits, shape (F,), of every filter ``i`` for one batch of activation maps
    (n, F, H, W) and labels ``y`` (n,) (class indices below ``num_classes``): the F eigendecompositions run as
    one batched call. ``layer`` and ``batch`` name the maps in errors.

    Raises:
        HRelInputError: a non-finite activation (named by filter and sample), a label that is not a class index,
            or a kernel width ``sigma`` that is not a finite number > 0.
    """
    check_activations(maps, layer, batch)
    check_labels(y, num_classes, batch, layer)
    check_width(sigma, layer)
    n, filters = maps.shape[:2]
    per_filter = maps.reshape(n, filters, -1).transpose(0, 1)  # (F, n, H*W)
    a = normalize_gram(gram_matrix(per_filter, sigma))
    a_y = normalize_gram(label_gram(y.to(maps.device), num_classes))
    return mutual_information(a, a_y.unsqueeze(0)).float()


@torch.no_grad()
def filter_relevance(
    maps_and_labels: Iterable[tuple[torch.Tensor, torch.Tensor]],
    sigma: float,
    num_classes: int,
    layer: str = "the layer",
) -> torch.Tensor:
    """Mean of :func:`batch_relevance` over ``(maps, y)`` mini-batches: one score per filter, in bits.

    Raises:
        HRelInputError: a non-finite activation or a bad label (naming ``layer``, the batch, filter and sample).
        ValueError: no batches.
    """
    total, batches = None, 0
    for maps, y in maps_and_labels:
        scores = batch_relevance(maps, y, sigma, num_classes, layer, batches)
        total = scores if total is None else total + scores
        batches += 1
    if total is None:
        raise ValueError("filter_relevance got no batches")
    return total / batches
