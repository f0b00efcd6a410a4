"""HRel's inputs must be finite: one NaN or inf in a filter's activation map makes its Gram matrix NaN, and the
batched eigendecomposition of the whole layer then fails (torch's ``LinAlgError``, naming no filter). These checks
refuse such inputs first, with one :class:`HRelInputError` that names the layer, the filter index(es), the batch and
sample(s) when known, the kind of value (NaN, +inf, -inf), where it probably came from, and what to do.

Non-finite activations are refused rather than excluded: a filter whose map is NaN or inf has no defined relevance,
and ranking it (to prune or to keep) would hide a diverged network or corrupt data.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

_SHOWN = 8  # filters (and samples per filter) named in full; the rest are counted


class HRelInputError(ValueError):
    """An HRel input (activations, labels or kernel width) is not finite or out of range: the message names the
    layer, the filter(s) and the batch/sample(s) when known, and what to do."""


def _indices(idx: list[int]) -> str:
    shown = ", ".join(str(i) for i in idx[:_SHOWN])
    return shown + (f" and {len(idx) - _SHOWN} more" if len(idx) > _SHOWN else "")


def _kinds(values: torch.Tensor) -> str:
    kinds = []
    if bool(torch.isnan(values).any()):
        kinds.append("NaN")
    if bool((values == math.inf).any()):
        kinds.append("+inf")
    if bool((values == -math.inf).any()):
        kinds.append("-inf")
    return "/".join(kinds)


def _where(batch: Optional[int]) -> str:
    return f" of batch {batch}" if batch is not None else ""


def nonfinite_summary(values: torch.Tensor, unit: str = "filter") -> Optional[str]:
    """``None`` when ``values`` (n, F, ...) is finite; else ``"filter(s) 3, 7: filter 3 NaN in sample(s) 0, 2; ..."``
    (``unit`` names the dimension 1 entries: filter, channel, unit, feature)."""
    n, width = values.shape[0], values.shape[1] if values.dim() > 1 else 1
    flat = values.detach().reshape(n, width, -1)
    bad = ~torch.isfinite(flat)
    if not bool(bad.any()):
        return None
    per = bad.any(-1)  # (n, F)
    units = torch.nonzero(per.any(0), as_tuple=False).flatten().tolist()
    parts = []
    for f in units[:_SHOWN]:
        samples = torch.nonzero(per[:, f], as_tuple=False).flatten().tolist()
        values_f = flat[:, f][bad[:, f]]
        parts.append(f"{unit} {f} {_kinds(values_f)} in sample(s) {_indices(samples)}")
    more = f"; and {len(units) - _SHOWN} more {unit}s" if len(units) > _SHOWN else ""
    return f"{unit}(s) {_indices(units)} ({'; '.join(parts)}{more})"


def check_activations(
    maps: torch.Tensor,
    layer: str,
    batch: Optional[int] = None,
    unit: str = "filter",
    source: str = "",
) -> None:
    """Refuse non-finite activations ``maps`` (n, F, ...) of ``layer``.

    Args:
        maps: one batch of the layer's activations, sample-major; dimension 1 is the filter (or unit) index.
        layer: the layer's name (``conv2``), named in the message.
        batch: the batch index, when known.
        unit: what dimension 1 counts (``filter``, ``unit``).
        source: where the values probably came from (:func:`likely_source`), appended to the message.

    Raises:
        HRelInputError: naming the layer, every non-finite filter with its kind (NaN, +inf, -inf) and samples.
    """
    summary = nonfinite_summary(maps, unit)
    if summary is None:
        return
    raise HRelInputError(
        f"HRel cannot score {layer}: non-finite activations{_where(batch)} in {summary}. A filter's relevance is "
        f"the mutual information of its Gram matrix with the labels', undefined with NaN/inf{source}. Fix the "
        "source (the input data, or a network whose training diverged: lower the learning rate, clip gradients, or "
        "start from an earlier checkpoint) before pruning; non-finite filters are not scored or pruned silently"
    )


def check_labels(y: torch.Tensor, num_classes: int, batch: Optional[int] = None, layer: str = "") -> None:
    """Refuse labels ``y`` (n,) that are not whole numbers in ``[0, num_classes)`` (NaN, inf, fractions, out of
    range).

    Raises:
        HRelInputError: naming the bad samples, their values and the batch.
    """
    where = f" for {layer}" if layer else ""
    y = y.detach().flatten()
    if y.is_floating_point() or y.is_complex():
        bad = ~torch.isfinite(y)
        if bool(bad.any()):
            samples = torch.nonzero(bad, as_tuple=False).flatten().tolist()
            raise HRelInputError(
                f"HRel labels{where}{_where(batch)} are non-finite ({_kinds(y[bad])}) in sample(s) "
                f"{_indices(samples)}: labels must be class indices 0..{num_classes - 1}; fix the dataset's labels"
            )
        bad = y != torch.round(y)
        if bool(bad.any()):
            samples = torch.nonzero(bad, as_tuple=False).flatten().tolist()
            raise HRelInputError(
                f"HRel labels{where}{_where(batch)} are not whole numbers in sample(s) {_indices(samples)} (e.g. "
                f"{float(y[bad][0])}): labels must be class indices 0..{num_classes - 1}"
            )
    bad = (y < 0) | (y >= num_classes)
    if bool(bad.any()):
        samples = torch.nonzero(bad, as_tuple=False).flatten().tolist()
        raise HRelInputError(
            f"HRel labels{where}{_where(batch)} lie outside 0..{num_classes - 1} in sample(s) {_indices(samples)} "
            f"(e.g. {y[bad][0].item()}): labels must be class indices below num_classes={num_classes}"
        )


def check_width(sigma: float | torch.Tensor, layer: str) -> None:
    """Refuse a kernel width that is not a finite number > 0.

    Raises:
        HRelInputError: naming the layer and the width.
    """
    s = torch.as_tensor(sigma, dtype=torch.float64)
    if not bool(torch.isfinite(s).all()) or not bool((s > 0).all()):
        raise HRelInputError(f"HRel kernel width of {layer} is {s.tolist()}: it must be a finite number > 0")


def likely_source(net: nn.Module, layer: nn.Module, x: torch.Tensor) -> str:
    """Where non-finite activations of ``layer`` (a module of ``net``) computed from input ``x`` probably come
    from, as a clause for :func:`check_activations`: the input (its bad samples), non-finite weights (their
    names), or neither (an overflow in the forward pass)."""
    summary = nonfinite_summary(x, unit="channel") if x.dim() > 1 else None
    if summary is not None:
        return f"; the input x itself is non-finite: {summary}"
    bad = [name for name, p in net.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        return f"; these weights hold NaN/inf (training diverged): {', '.join(bad[:_SHOWN])}"
    return "; the input and every weight are finite: values overflowed in the forward pass up to it"


def module_name(net: nn.Module, module: nn.Module) -> str:
    """``module``'s name in ``net`` (``conv2``), or its class name when it is not a submodule."""
    return next((name for name, m in net.named_modules() if m is module and name), type(module).__name__)
