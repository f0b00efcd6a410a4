"""Structured pruning of VIBNet nets: a physically smaller standard network (fewer neurons and filters, the next
layer's inputs sliced) that reproduces the bottlenecked net in eval mode exactly.

Eval multipliers (``m`` or ``m * mu``) are folded into the next layer's input columns wherever that is exact: a
multiplier applied after ReLU and before a Linear or conv always folds; one applied before a max-pool folds
only when it is positive (``max(a * z) = z * max(a)`` needs ``z > 0``), otherwise an explicit per-channel
:class:`ChannelScale` stays in the network (docs/methods/vibnet.md).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from har_vib.vib.bottleneck import InformationBottleneck
from har_vib.vib.collapse import NothingKeptError, collapse_message
from har_vib.vibnet.models import IBMLP, IBVGG, IBLeNet5


class Select(nn.Module):
    """Keep features ``index`` of the last dimension."""

    def __init__(self, index: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("index", index.long().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(-1, self.index)


class ChannelScale(nn.Module):
    """Multiply channel ``c`` of ``(B, C, H, W)`` by ``scale[c]`` (kept when it cannot be folded)."""

    def __init__(self, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.view(1, -1, 1, 1)


@dataclass
class PrunedNet:
    """The compact network, the units kept per bottleneck, and its size report."""

    model: nn.Sequential
    kept: dict[str, list[int]]
    report: dict[str, Any] = field(default_factory=dict)


def _eval_multiplier(ib: nn.Module, n: int, device: torch.device) -> torch.Tensor:
    if isinstance(ib, InformationBottleneck):
        return ib.multiplier(sample=False).detach()
    return torch.ones(n, device=device)


def _is_empty(ib: nn.Module) -> bool:
    return isinstance(ib, InformationBottleneck) and not bool(ib.keep_mask().any())


def _kept(ib: nn.Module, n: int, device: torch.device) -> torch.Tensor:
    if isinstance(ib, InformationBottleneck):
        return ib.kept_indices()
    return torch.arange(n, device=device)


def _linear(weight: torch.Tensor, bias: Optional[torch.Tensor]) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None).to(weight.device)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer


def _conv(like: nn.Conv2d, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> nn.Conv2d:
    layer = nn.Conv2d(
        weight.shape[1], weight.shape[0], like.kernel_size, like.stride, like.padding, bias=bias is not None
    ).to(weight.device)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer


def _prune_mlp(net: IBMLP) -> tuple[nn.Sequential, dict[str, list[int]]]:
    device = net.linears[0].weight.device
    widths = [net.linears[0].in_features] + [lin.out_features for lin in net.linears[:-1]]
    kept = [_kept(ib, n, device) for ib, n in zip(net.ibs, widths)]
    scales = [_eval_multiplier(ib, n, device) for ib, n in zip(net.ibs, widths)]
    layers: list[nn.Module] = [nn.Flatten()]
    if len(kept[0]) < widths[0]:
        layers.append(Select(kept[0]))
    with torch.no_grad():
        for i, linear in enumerate(net.linears):
            rows = kept[i + 1] if i + 1 < len(kept) else torch.arange(linear.out_features, device=device)
            weight = linear.weight[rows][:, kept[i]] * scales[i][kept[i]]  # fold the previous multiplier
            layers.append(_linear(weight, linear.bias[rows] if linear.bias is not None else None))
            if i + 1 < len(net.linears):
                layers.append(nn.ReLU())
    names = ["input"] + [f"hidden{i + 1}" for i in range(len(widths) - 1)]
    return nn.Sequential(*layers), {name: k.tolist() for name, k in zip(names, kept)}


def _prune_lenet5(net: IBLeNet5) -> tuple[nn.Sequential, dict[str, list[int]]]:
    device = net.conv1.weight.device
    c1, c2, fc = net.conv1.out_channels, net.conv2.out_channels, net.fc1.out_features
    flat = net.fc1.in_features
    return build_lenet5(
        net,
        (_kept(net.ib1, c1, device), _eval_multiplier(net.ib1, c1, device)),
        (_kept(net.ib2, c2, device), _eval_multiplier(net.ib2, c2, device)),
        (_kept(net.ib_flat, flat, device), _eval_multiplier(net.ib_flat, flat, device)),
        (_kept(net.ib_fc, fc, device), _eval_multiplier(net.ib_fc, fc, device)),
    )


Kept = tuple[torch.Tensor, torch.Tensor]  # (kept indices, eval multiplier of every unit)


def build_lenet5(net: IBLeNet5, conv1: Kept, conv2: Kept, flat: Kept, fc1: Kept) -> tuple[nn.Sequential, dict]:
    """The LeNet-5 holding only the kept conv filters, flattened features and fc1 units of ``net``, each unit's
    multiplier folded into the next layer (or kept as a :class:`ChannelScale` before a max-pool when it is
    not positive). Also used for filter pruning (HRel, L1) with multipliers of 1."""
    (k1, z1), (k2, z2), (kf, zf), (kfc, zfc) = conv1, conv2, flat, fc1
    device = net.conv1.weight.device
    per_channel = math.prod(net.flat_shape[1:])
    # flattened features whose channel was pruned are 0 whatever the flat mask says: drop them too
    kf = kf[torch.isin(kf // per_channel, k2)]
    position = {int(c): i for i, c in enumerate(k2.tolist())}  # channel -> its index in the compact conv2
    compact_flat = torch.tensor(
        [position[int(f) // per_channel] * per_channel + int(f) % per_channel for f in kf.tolist()],
        dtype=torch.long,
        device=device,
    )
    fold1, fold2 = bool((z1[k1] > 0).all()), bool((z2[k2] > 0).all())
    with torch.no_grad():
        layers: list[nn.Module] = [_conv(net.conv1, net.conv1.weight[k1], net.conv1.bias[k1]), nn.ReLU()]
        if not fold1:
            layers.append(ChannelScale(z1[k1]))
        layers.append(nn.MaxPool2d(2))
        w2 = net.conv2.weight[k2][:, k1]
        if fold1:
            w2 = w2 * z1[k1].view(1, -1, 1, 1)
        layers += [_conv(net.conv2, w2, net.conv2.bias[k2]), nn.ReLU()]
        if not fold2:
            layers.append(ChannelScale(z2[k2]))
        layers += [nn.MaxPool2d(2), nn.Flatten(), Select(compact_flat)]
        w_fc1 = net.fc1.weight[kfc][:, kf] * zf[kf]
        if fold2:
            w_fc1 = w_fc1 * z2[kf // per_channel]
        layers += [_linear(w_fc1, net.fc1.bias[kfc]), nn.ReLU()]
        layers.append(_linear(net.fc2.weight[:, kfc] * zfc[kfc], net.fc2.bias))
    kept = {"conv1": k1.tolist(), "conv2": k2.tolist(), "flat": kf.tolist(), "fc1": kfc.tolist()}
    return nn.Sequential(*layers), kept


def _batchnorm(bn: nn.BatchNorm2d, keep: torch.Tensor) -> nn.BatchNorm2d:
    out = nn.BatchNorm2d(len(keep), eps=bn.eps, momentum=bn.momentum).to(bn.weight.device)
    with torch.no_grad():
        out.weight.copy_(bn.weight[keep])
        out.bias.copy_(bn.bias[keep])
        out.running_mean.copy_(bn.running_mean[keep])
        out.running_var.copy_(bn.running_var[keep])
    return out


def _prune_vgg(net: IBVGG) -> tuple[nn.Sequential, dict[str, list[int]]]:
    """Kept filters of every conv (BN sliced alike), kept units of every hidden FC layer; each multiplier folds
    into the next layer's inputs, through a max-pool only when positive (else a :class:`ChannelScale` stays)."""
    device = net.convs[0].weight.device
    layers: list[nn.Module] = []
    kept: dict[str, list[int]] = {}
    prev_keep = torch.arange(net.convs[0].in_channels, device=device)
    prev_scale = torch.ones(net.convs[0].in_channels, device=device)  # still to fold into the next layer
    with torch.no_grad():
        for i, (conv, bn, ib, pool) in enumerate(zip(net.convs, net.bns, net.conv_ibs, net.pool_after)):
            keep = _kept(ib, conv.out_channels, device)
            z = _eval_multiplier(ib, conv.out_channels, device)
            weight = conv.weight[keep][:, prev_keep] * prev_scale[prev_keep].view(1, -1, 1, 1)
            layers += [_conv(conv, weight, conv.bias[keep]), _batchnorm(bn, keep), nn.ReLU()]
            scale = z
            if pool:
                if not bool((z[keep] > 0).all()):
                    layers.append(ChannelScale(z[keep]))
                    scale = torch.ones_like(z)
                layers.append(nn.MaxPool2d(2))
            prev_keep, prev_scale = keep, scale
            kept[f"conv{i + 1}"] = keep.tolist()
        per_channel = math.prod(net.flat_shape[1:])
        cols = (prev_keep.view(-1, 1) * per_channel + torch.arange(per_channel, device=device)).flatten()
        col_scale = prev_scale.repeat_interleave(per_channel)
        layers.append(nn.Flatten())
        for j, linear in enumerate(net.linears):
            last = j == len(net.linears) - 1
            rows = torch.arange(linear.out_features, device=device)
            if not last:
                rows = _kept(net.fc_ibs[j], linear.out_features, device)
            weight = linear.weight[rows][:, cols] * col_scale[cols]
            layers.append(_linear(weight, linear.bias[rows] if linear.bias is not None else None))
            if not last:
                layers.append(nn.ReLU())
                kept[f"fc{j + 1}"] = rows.tolist()
                col_scale = _eval_multiplier(net.fc_ibs[j], linear.out_features, device)
                cols = rows
    return nn.Sequential(*layers), kept


def remove_filters(net: IBLeNet5, keep1: torch.Tensor, keep2: torch.Tensor) -> nn.Sequential:
    """A plain LeNet-5 without the conv filters outside ``keep1`` / ``keep2`` (and without the fc1 inputs that
    read the removed conv2 filters). Exact when the removed filters' weights and biases are 0."""
    device = net.conv1.weight.device
    ones = lambda n: torch.ones(n, device=device)  # noqa: E731
    flat, fc = net.fc1.in_features, net.fc1.out_features
    model, _ = build_lenet5(
        net,
        (keep1.to(device), ones(net.conv1.out_channels)),
        (keep2.to(device), ones(net.conv2.out_channels)),
        (torch.arange(flat, device=device), ones(flat)),
        (torch.arange(fc, device=device), ones(fc)),
    )
    return model.eval()


def _build(net: nn.Module) -> tuple[nn.Sequential, dict[str, list[int]]]:
    if not isinstance(net, (IBMLP, IBLeNet5, IBVGG)):
        raise TypeError(f"prune_network handles IBMLP, IBLeNet5 and IBVGG, got {type(net).__name__}")
    with warnings.catch_warnings():  # a layer left without inputs (a collapse, refused by the caller) is 0-sized
        warnings.filterwarnings("ignore", "Initializing zero-element tensors")
        if isinstance(net, IBMLP):
            return _prune_mlp(net)
        if isinstance(net, IBLeNet5):
            return _prune_lenet5(net)
        return _prune_vgg(net)


def _fewest_kept(net: nn.Module) -> int:
    """Units kept by the layer that keeps fewest: its bottleneck's kept count, or a layer's kept inputs after the
    previous layer's pruning (LeNet-5's flattened features of the kept conv2 channels)."""
    ibs = [m for m in net.modules() if isinstance(m, InformationBottleneck)]
    fewest = min((len(ib.kept_indices()) for ib in ibs), default=1)
    return fewest if fewest == 0 else min(len(v) for v in _build(net)[1].values())


def prune_network(
    net: nn.Module, input_shape: tuple[int, ...], settings: Optional[Mapping[str, Any]] = None
) -> PrunedNet:
    """The compact standard network equal to ``net`` in eval mode, with its size report (see
    :func:`architecture_counts`); ``input_shape`` is one sample's shape (for FLOPs and activations).

    Raises:
        NothingKeptError: a layer keeps no unit (its bottleneck pruned them all): the net is a constant predictor
            and no standard network can be built. The message names the settings in force (``settings``: the
            run's ``{"beta": ..., "model.ib_lr": ...}``, and the bottlenecks' threshold, ``kl_mult``,
            ``init_logvar``), every site's ``log(mu^2/sigma^2)`` range against the threshold and what to change.
        TypeError: ``net`` is not an IBMLP, IBLeNet5 or IBVGG.
    """
    net = net.eval()
    empty = [f"{name} (0/{ib.dim} kept)" for name, ib in net.named_modules() if _is_empty(ib)]
    kept: dict[str, list[int]] = {}
    if not empty:
        model, kept = _build(net)
        empty = [f"{name} (0 of its inputs left)" for name, k in kept.items() if not k]
    if empty:
        what = f"every unit of {', '.join(empty)}"
        raise NothingKeptError(collapse_message(net, what, lambda: _fewest_kept(net), settings))
    report = {
        "kept": {k: len(v) for k, v in kept.items()},
        **size_report(architecture_counts(net, input_shape), architecture_counts(model.eval(), input_shape)),
    }
    return PrunedNet(model=model.eval(), kept=kept, report=report)


def size_report(before: dict[str, int], after: dict[str, int]) -> dict[str, Any]:
    """VIBNet's size columns from two :func:`architecture_counts`: every count before and after, ``rW``, ``rN``
    and the FLOPs and activation ratios."""
    return {
        **{f"{k}_before": v for k, v in before.items()},
        **{f"{k}_after": v for k, v in after.items()},
        "rW": after["weights"] / before["weights"],
        "rN": after["neurons"] / before["neurons"],
        "flops_ratio": after["flops"] / before["flops"],
        "activation_ratio": after["activations"] / before["activations"],
    }


@torch.no_grad()
def architecture_counts(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """Counted on a forward pass of one sample: ``weights`` (Linear/conv weights, no biases: VIBNet's rW),
    ``neurons`` (every Linear's inputs and every conv's output channels, the "784-300-100" and "20-50-800-500"
    conventions: VIBNet's rN), ``flops`` (multiply-accumulates of the Linear and conv layers) and
    ``activations`` (floats in every Linear/conv output: the run-time memory for one sample)."""
    counts = {"weights": 0, "neurons": 0, "flops": 0, "activations": 0}

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        counts["weights"] += module.weight.numel()
        out = output[0]
        counts["activations"] += out.numel()
        if isinstance(module, nn.Conv2d):
            counts["flops"] += module.weight.numel() * out.shape[-1] * out.shape[-2]
            counts["neurons"] += module.out_channels
        else:
            counts["flops"] += module.weight.numel()
            counts["neurons"] += module.in_features

    weighted = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    handles = [m.register_forward_hook(hook) for m in weighted]
    try:
        model.eval()(torch.zeros(1, *input_shape, device=weighted[0].weight.device))
    finally:
        for h in handles:
            h.remove()
    return counts
