"""Whether an export reproduces the model it was made from, as a check that fails loudly.

Every export path measures the largest absolute logit difference between the model it was made from (the
masked VIB model, the thresholded ISS model, the eager compact model) and what it wrote (the compact model, its
TorchScript and ONNX files). :func:`require_exact` turns a difference above :func:`export_tolerance` into an
:class:`InexactExportError`, so an inexact export is an error, never a number in a report nobody reads.

The tolerance is float32 round-off, not a modelling error: ``1e-4 + 1e-4 * max|reference logit|``. Reordered
float32 sums (a fused ``nn.LSTM`` against a Python-loop VIB-LSTM, onnxruntime against PyTorch) stay well under it;
a multiplier left out of the export (``mask * mu`` against a 0/1 mask) is orders of magnitude above it. The
difference is measured with TF32 off (:func:`full_precision`): on an Ampere-or-later GPU cuDNN's TF32 kernels
alone reach 1e-3.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

EXPORT_ATOL = 1e-4
EXPORT_RTOL = 1e-4


class InexactExportError(RuntimeError):
    """An exported model does not compute what the model it was made from computes (beyond float round-off)."""


def export_tolerance(scale: float) -> float:
    """The largest logit difference an exact export may show when the reference's logits reach ``scale`` in
    absolute value: ``EXPORT_ATOL + EXPORT_RTOL * scale``."""
    return EXPORT_ATOL + EXPORT_RTOL * float(scale)


@contextlib.contextmanager
def full_precision() -> Iterator[None]:
    """Inside: float32 matmuls and cuDNN kernels without TF32 (restored on exit); no effect on a CPU."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    precision = torch.get_float32_matmul_precision()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
        torch.set_float32_matmul_precision(precision)


@dataclass(frozen=True)
class Parity:
    """How closely a candidate's logits follow a reference's over some inputs.

    Attributes:
        max_abs_diff: the largest absolute logit difference.
        scale: the largest absolute logit of the reference (what the tolerance is relative to).
        agreement: the share of samples whose argmax class is the same (1.0 for no samples).
    """

    max_abs_diff: float
    scale: float
    agreement: float

    @property
    def tolerance(self) -> float:
        """:func:`export_tolerance` at this reference's scale."""
        return export_tolerance(self.scale)

    @property
    def exact(self) -> bool:
        """Whether the difference is float round-off (at most :attr:`tolerance`)."""
        return self.max_abs_diff <= self.tolerance


def compare_logits(pairs: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> Parity:
    """:class:`Parity` of ``(reference, candidate)`` logit pairs, each (B, C)."""
    worst = scale = 0.0
    same = total = 0
    for ref, got in pairs:
        ref, got = ref.detach().float().cpu(), got.detach().float().cpu()
        if ref.numel():
            worst = max(worst, float((ref - got).abs().max()))
            scale = max(scale, float(ref.abs().max()))
            same += int((ref.argmax(-1) == got.argmax(-1)).sum())
            total += int(ref.shape[0])
    return Parity(worst, scale, same / total if total else 1.0)


@torch.no_grad()
def logit_parity(
    reference: nn.Module,
    candidate: nn.Module,
    batches: Iterable[Sequence[Any]],
    device: torch.device,
    inputs: Callable[[Sequence[Any]], Sequence[Any]] = lambda batch: batch[:-1],
) -> Parity:
    """Run both models (eval mode, :func:`full_precision`) on every batch's inputs (default: all but the last
    item, the labels: ``(x, lengths, y)`` -> ``(x, lengths)``, ``(x, y)`` -> ``(x,)``) on ``device``."""
    reference.eval()
    candidate.eval()

    def pairs() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for batch in batches:
            args = [a.to(device) if isinstance(a, torch.Tensor) else a for a in inputs(batch)]
            yield reference(*args), candidate(*args)

    with full_precision():
        return compare_logits(pairs())


def require_exact(parity: Parity, what: str, consequence: str) -> None:
    """Raise unless ``parity`` is exact.

    Args:
        parity: the measured difference.
        what: the export and its reference, e.g. ``"pruned.onnx against the compact model"``.
        consequence: what happens instead, e.g. ``"nothing was exported"``.

    Raises:
        InexactExportError: naming ``what``, the difference, the tolerance, the argmax agreement and ``consequence``.
    """
    if not parity.exact:
        raise InexactExportError(
            f"{what}: logits differ by up to {parity.max_abs_diff:.3g} (float round-off allows "
            f"{parity.tolerance:.3g}; the predicted class agrees on {parity.agreement:.1%} of the samples): the "
            f"export is not exact; {consequence}"
        )
