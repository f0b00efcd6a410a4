"""Matrix-based Renyi entropy (alpha -> 1) of Gram matrices, and the mutual information built on it
(Sanchez Giraldo, Rao, Principe, IEEE Trans. IT 2015, arXiv:1211.2459, as HRel uses it: docs/methods/hrel.md).

For ``n`` samples with a Gaussian kernel ``K_ij = exp(-||t_i - t_j||^2 / sigma^2)`` (``sigma^2``, not
``2 sigma^2``), ``A = K / tr(K)``, ``S(A) = -sum_i lambda_i log2 lambda_i`` over the eigenvalues of ``A``;
``S(A, B) = S(A o B / tr(A o B))`` and ``I(A; B) = S(A) + S(B) - S(A, B)``. Every function takes a leading
batch of matrices, so the eigendecompositions of many filters run in one batched call (on the GPU when the
tensors are there). Eigenvalues are computed in float64 and negatives from round-off are clamped to 0.
"""

from __future__ import annotations

import torch

from har_vib.hrel.checks import HRelInputError, check_activations

LABEL_SIGMA = 0.1  # HRel's label kernel width: K_y is (numerically) the same-class indicator


def gram_matrix(x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """``exp(-||x_i - x_j||^2 / sigma^2)`` for ``x`` of shape (..., n, p); ``sigma`` broadcasts over the batch."""
    x = x.double()
    sq = (x * x).sum(-1)
    d2 = (sq.unsqueeze(-1) + sq.unsqueeze(-2) - 2.0 * x @ x.transpose(-1, -2)).clamp(min=0.0)
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    return torch.exp(-d2 / sigma.reshape(*sigma.shape, 1, 1) ** 2)


def label_gram(y: torch.Tensor, num_classes: int, sigma: float = LABEL_SIGMA) -> torch.Tensor:
    """Gram matrix of one-hot labels ``y`` (n,) with width ``sigma``."""
    return gram_matrix(torch.nn.functional.one_hot(y.long(), num_classes).double(), sigma)


def normalize_gram(k: torch.Tensor) -> torch.Tensor:
    """``K / tr(K)`` over the last two dimensions."""
    return k / k.diagonal(dim1=-2, dim2=-1).sum(-1)[..., None, None]


def matrix_entropy(a: torch.Tensor) -> torch.Tensor:
    """``-sum lambda log2 lambda`` of the normalised Gram matrices ``a`` (..., n, n), in bits.

    Raises:
        HRelInputError: a matrix holds NaN/inf (from non-finite inputs): its index in the batch is named.
    """
    finite = torch.isfinite(a).flatten(-2).all(-1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite.reshape(-1), as_tuple=False).flatten().tolist()
        raise HRelInputError(
            f"matrix_entropy: Gram matrices {bad[:8]} of the batch (flattened; the filter index in a batch of "
            "filters) hold NaN/inf, from non-finite inputs; check the activations (har_vib.hrel.checks)"
        )
    lam = torch.linalg.eigvalsh(a.double()).clamp(min=0.0)
    terms = torch.where(lam > 0, lam * torch.log2(torch.where(lam > 0, lam, torch.ones_like(lam))), 0.0)
    return -terms.sum(-1)


def joint_entropy(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``S(A o B / tr(A o B))``: the entropy of the pair (Hadamard product of the Gram matrices)."""
    return matrix_entropy(normalize_gram(a * b))


def mutual_information(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``I(A; B) = S(A) + S(B) - S(A, B)`` of normalised Gram matrices (batched; ``b`` broadcasts)."""
    return matrix_entropy(a) + matrix_entropy(b) - joint_entropy(a, b)


def kernel_width_by_alignment(
    x: torch.Tensor, k_y: torch.Tensor, points: int = 100, layer: str = "the activations"
) -> float:
    """HRel's width rule: the ``sigma`` in ``linspace(0.3, 10 * mean pairwise distance, points)`` whose Gram
    matrix of ``x`` (n, p) best aligns with the label Gram ``k_y``:
    ``2 log2(tr(K K_y) / (||K||_F ||K_y||_F))`` maximal.

    Raises:
        HRelInputError: ``x`` is not finite (the columns and samples named; ``layer`` names ``x`` in the message).
    """
    check_activations(x.flatten(1), layer, unit="column")
    x = x.double().flatten(1)
    d = torch.cdist(x, x)
    top = max(10.0 * float(d.mean()), 0.31)
    grid = torch.linspace(0.3, top, points, dtype=x.dtype, device=x.device)
    k = torch.exp(-(d**2).unsqueeze(0) / grid.view(-1, 1, 1) ** 2)
    k_y = k_y.double()
    align = (k * k_y).sum((-1, -2)) / (torch.linalg.matrix_norm(k) * torch.linalg.matrix_norm(k_y))
    return float(grid[int(torch.argmax(2.0 * torch.log2(align)))])
