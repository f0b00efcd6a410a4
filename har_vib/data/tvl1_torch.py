"""Dual TV-L1 optical flow (Zach, Pock and Bischof 2007) in PyTorch, batched over frame pairs, following the
structure of OpenCV's ``DualTVL1OpticalFlow`` (opencv_contrib optflow, tvl1flow.cpp) step by step:

* a pyramid of ``nscales`` levels, each ``scale_step`` times the previous (bilinear resize), stopping before
  a side falls under 16 pixels; the flow is solved coarse to fine, upsampled (bilinear) and divided by
  ``scale_step`` between levels;
* per level, ``warps`` warpings: ``I1`` and its centred gradient are warped by the current flow (bicubic),
  linearised into ``rho(u) = rho_c + grad I1w . u``;
* per warping, up to ``outer_iterations`` rounds, each starting with a median filter of the flow
  (``median_filtering``), then up to ``inner_iterations`` of: the point-wise thresholding step for ``v``
  (``lambda * theta``), ``u = v + theta div p``, and the dual step
  ``p <- (p + tau/theta grad u) / (1 + tau/theta |grad u|)``; rounds stop early once the squared change of
  ``u`` summed over the image is under ``epsilon^2 * H * W`` (per pair: converged pairs stop updating).

Images are grey levels in [0, 255] as OpenCV converts 8-bit input. Everything runs in float32 on the tensors'
device (CUDA when there is one), on a batch ``(B, H, W)`` of pairs of one size.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from har_vib.data.tvl1_params import TVL1Params  # the same parameters, defaults and meaning as the OpenCV backend

MIN_SIDE = 16  # OpenCV stops the pyramid before a side falls under 16 pixels


def centered_gradient(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences ``(I[x+1] - I[x-1]) / 2`` of (B, H, W), one-sided halves at the borders (OpenCV)."""
    dx = torch.empty_like(img)
    dy = torch.empty_like(img)
    dx[..., 1:-1] = 0.5 * (img[..., 2:] - img[..., :-2])
    dx[..., 0] = 0.5 * (img[..., 1] - img[..., 0])
    dx[..., -1] = 0.5 * (img[..., -1] - img[..., -2])
    dy[..., 1:-1, :] = 0.5 * (img[..., 2:, :] - img[..., :-2, :])
    dy[..., 0, :] = 0.5 * (img[..., 1, :] - img[..., 0, :])
    dy[..., -1, :] = 0.5 * (img[..., -1, :] - img[..., -2, :])
    return dx, dy


def forward_gradient(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences of (B, H, W); 0 on the last column / row."""
    ux = torch.zeros_like(u)
    uy = torch.zeros_like(u)
    ux[..., :-1] = u[..., 1:] - u[..., :-1]
    uy[..., :-1, :] = u[..., 1:, :] - u[..., :-1, :]
    return ux, uy


def divergence(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Backward-difference divergence, the negative adjoint of :func:`forward_gradient`."""
    div = torch.zeros_like(px)
    div[..., 1:-1] += px[..., 1:-1] - px[..., :-2]
    div[..., 0] += px[..., 0]
    div[..., -1] -= px[..., -2]
    div[..., 1:-1, :] += py[..., 1:-1, :] - py[..., :-2, :]
    div[..., 0, :] += py[..., 0, :]
    div[..., -1, :] -= py[..., -2, :]
    return div


def median_filter(u: torch.Tensor, size: int) -> torch.Tensor:
    """``size`` x ``size`` median of (B, H, W) with replicated borders (``cv2.medianBlur``)."""
    if size <= 1:
        return u
    r = size // 2
    padded = F.pad(u.unsqueeze(1), (r, r, r, r), mode="replicate")
    patches = F.unfold(padded, size)  # (B, size*size, H*W)
    return patches.median(dim=1).values.view_as(u)


def resize(img: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of (B, H, W) (half-pixel centres, no antialiasing: ``cv2.INTER_LINEAR``)."""
    return F.interpolate(img.unsqueeze(1), size=(height, width), mode="bilinear", align_corners=False).squeeze(1)


def downscale(img: torch.Tensor, height: int, width: int, factor: float) -> torch.Tensor:
    """``cv2.resize(img, None, fx=factor, fy=factor)`` (bilinear) to (height, width): OpenCV samples source
    coordinate ``(d + 0.5) / factor - 0.5``, with ``1 / factor`` rather than the size ratio, clamped at the
    borders."""
    b, h, w = img.shape
    inv = 1.0 / factor
    xs = ((torch.arange(width, device=img.device, dtype=img.dtype) + 0.5) * inv - 0.5).clamp(0, w - 1)
    ys = ((torch.arange(height, device=img.device, dtype=img.dtype) + 0.5) * inv - 0.5).clamp(0, h - 1)
    gy, gx = torch.meshgrid(2.0 * ys / max(h - 1, 1) - 1.0, 2.0 * xs / max(w - 1, 1) - 1.0, indexing="ij")
    grid = torch.stack((gx, gy), dim=-1).expand(b, height, width, 2)
    return F.grid_sample(img.unsqueeze(1), grid, mode="bilinear", padding_mode="border", align_corners=True).squeeze(1)


def warp(img: torch.Tensor, u1: torch.Tensor, u2: torch.Tensor) -> torch.Tensor:
    """``img(x + u1, y + u2)`` by bicubic interpolation (a = -0.75), 0 outside the image: ``cv2.remap``'s
    default ``BORDER_CONSTANT``, as OpenCV's TV-L1 calls it (where both the warped image and its gradient are 0
    the data term switches off and only the smoothness term acts)."""
    b, h, w = img.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, device=img.device, dtype=img.dtype),
        torch.arange(w, device=img.device, dtype=img.dtype),
        indexing="ij",
    )
    gx = 2.0 * (xs + u1) / max(w - 1, 1) - 1.0
    gy = 2.0 * (ys + u2) / max(h - 1, 1) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(img.unsqueeze(1), grid, mode="bicubic", padding_mode="zeros", align_corners=True).squeeze(1)


def pyramid_sizes(height: int, width: int, p: TVL1Params) -> list[tuple[int, int]]:
    """Level sizes, finest first: ``round(side * scale_step^s)`` while both sides stay >= 16."""
    sizes = [(height, width)]
    for _ in range(1, p.nscales):
        h, w = sizes[-1]
        nh, nw = int(round(h * p.scale_step)), int(round(w * p.scale_step))
        if nh < MIN_SIDE or nw < MIN_SIDE:
            break
        sizes.append((nh, nw))
    return sizes


def _one_scale(i0: torch.Tensor, i1: torch.Tensor, u1: torch.Tensor, u2: torch.Tensor, p: TVL1Params) -> None:
    """Solve one pyramid level in place on ``u1``, ``u2`` (B, H, W)."""
    b, h, w = i0.shape
    l_t, taut = p.lambda_ * p.theta, p.tau / p.theta
    scaled_eps = p.epsilon * p.epsilon * h * w
    i1x, i1y = centered_gradient(i1)
    p11, p12, p21, p22 = (torch.zeros_like(u1) for _ in range(4))
    for _ in range(p.warps):
        i1w, i1wx, i1wy = warp(i1, u1, u2), warp(i1x, u1, u2), warp(i1y, u1, u2)
        grad = i1wx * i1wx + i1wy * i1wy
        rho_c = i1w - i1wx * u1 - i1wy * u2 - i0
        active = torch.ones(b, dtype=torch.bool, device=i0.device)
        for _ in range(p.outer_iterations):
            if not bool(active.any()):
                break
            if p.median_filtering > 1:
                keep = active.view(-1, 1, 1)
                u1.copy_(torch.where(keep, median_filter(u1, p.median_filtering), u1))
                u2.copy_(torch.where(keep, median_filter(u2, p.median_filtering), u2))
            inner_active = active.clone()
            for _ in range(p.inner_iterations):
                if not bool(inner_active.any()):
                    break
                keep = inner_active.view(-1, 1, 1)
                # thresholding step: v = u + d(rho(u))
                rho = rho_c + i1wx * u1 + i1wy * u2
                fi = torch.where(grad > 1e-10, -rho / grad.clamp(min=1e-10), torch.zeros_like(rho))
                coef = torch.where(rho < -l_t * grad, l_t, torch.where(rho > l_t * grad, -l_t, fi))
                v1, v2 = u1 + coef * i1wx, u2 + coef * i1wy
                # primal step: u = v + theta div p
                new1 = v1 + p.theta * divergence(p11, p12)
                new2 = v2 + p.theta * divergence(p21, p22)
                error = ((new1 - u1) ** 2 + (new2 - u2) ** 2).sum(dim=(1, 2))
                u1.copy_(torch.where(keep, new1, u1))
                u2.copy_(torch.where(keep, new2, u2))
                # dual step
                u1x, u1y = forward_gradient(u1)
                u2x, u2y = forward_gradient(u2)
                ng1 = 1.0 + taut * torch.sqrt(u1x * u1x + u1y * u1y)
                ng2 = 1.0 + taut * torch.sqrt(u2x * u2x + u2y * u2y)
                p11.copy_(torch.where(keep, (p11 + taut * u1x) / ng1, p11))
                p12.copy_(torch.where(keep, (p12 + taut * u1y) / ng1, p12))
                p21.copy_(torch.where(keep, (p21 + taut * u2x) / ng2, p21))
                p22.copy_(torch.where(keep, (p22 + taut * u2y) / ng2, p22))
                inner_active &= error > scaled_eps
            # a round whose last inner error fell under epsilon ends this warping for that pair
            active &= inner_active


@torch.no_grad()
def tvl1_torch(prev: torch.Tensor, nxt: torch.Tensor, params: TVL1Params = TVL1Params()) -> torch.Tensor:
    """Flow from ``prev`` to ``nxt`` (B, H, W) grey levels in [0, 255] -> (B, H, W, 2) float32 ``(u_x, u_y)``,
    pixels, on their device."""
    if prev.shape != nxt.shape or prev.dim() != 3:
        raise ValueError(f"need two (B, H, W) batches of one shape, got {tuple(prev.shape)} and {tuple(nxt.shape)}")
    if params.gamma != 0.0:
        raise ValueError("the torch backend implements gamma = 0 (OpenCV's default) only")
    prev, nxt = prev.float(), nxt.float()
    b, h, w = prev.shape
    sizes = pyramid_sizes(h, w, params)
    levels0, levels1 = [prev] * len(sizes), [nxt] * len(sizes)
    for s in range(1, len(sizes)):  # each level from the previous one, as OpenCV builds it
        levels0[s] = downscale(levels0[s - 1], *sizes[s], params.scale_step)
        levels1[s] = downscale(levels1[s - 1], *sizes[s], params.scale_step)
    u1 = torch.zeros_like(levels0[-1])
    u2 = torch.zeros_like(levels0[-1])
    for s in range(len(sizes) - 1, -1, -1):
        _one_scale(levels0[s], levels1[s], u1, u2, params)
        if s == 0:
            break
        fh, fw = sizes[s - 1]
        u1 = resize(u1, fh, fw) / params.scale_step
        u2 = resize(u2, fh, fw) / params.scale_step
    return torch.stack((u1, u2), dim=-1)


def end_point_error(flow: torch.Tensor, reference: torch.Tensor, border: int = 0) -> float:
    """Mean Euclidean distance between two (..., H, W, 2) flows, ignoring ``border`` pixels at each side."""
    if border:
        flow = flow[..., border:-border, border:-border, :]
        reference = reference[..., border:-border, border:-border, :]
    return float(torch.linalg.vector_norm(flow - reference, dim=-1).mean())


def rotation_flow(height: int, width: int, degrees: float) -> torch.Tensor:
    """Ground-truth flow (H, W, 2) of a rotation by ``degrees`` about the image centre."""
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    cx, cy = (width - 1) / 2, (height - 1) / 2
    a = math.radians(degrees)
    x, y = xs - cx, ys - cy
    return torch.stack((math.cos(a) * x - math.sin(a) * y - x, math.sin(a) * x + math.cos(a) * y - y), dim=-1)
