"""Which channels of a CNN can be removed on their own: Torch-Pruning's dependency graph groups every layer that
must shrink together with a conv's output channels; a *site* is such a group that

- has a BatchNorm (the mask sits on its output, before the activation, so it folds into the BN exactly),
- is read by a later conv or linear layer (its channels do not go straight to the encoder's output), and
- has no residual addition in it (channels of a residual stream are shared by every block of a stage).

Expansion / bottleneck channels of inverted-residual and basic blocks (MobileNet, EfficientNet, ResNet) and the
branch channels of Inception blocks are sites; residual streams and the final feature channels are not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

BN_TYPES = (nn.BatchNorm2d,)


@dataclass(frozen=True)
class ChannelSite:
    """One prunable channel group, named by its root conv (the conv whose output channels are removed) and the
    BatchNorm whose output carries the mask (the last BN of the group, the one whose output the consumers read).
    ``spatial`` is that BN's ``H * W`` at the example input size."""

    conv: str
    bn: str
    channels: int
    spatial: int


def module_order(model: nn.Module) -> dict[str, int]:
    """Position of every named module in definition order (timm defines modules in forward order)."""
    return {name: i for i, (name, _) in enumerate(model.named_modules())}


def find_sites(model: nn.Module, example: torch.Tensor, unsupported: list[str] | None = None) -> list[ChannelSite]:
    """Every prunable channel group of ``model`` (see the module docstring), in forward order.

    Groups left out because their structure cannot be folded exactly are described in ``unsupported`` (when given):
    grouped (not depthwise) convolutions, whose channels go in whole groups (RegNet); a normalisation other than
    BatchNorm (ConvNeXt's LayerNorm); a BatchNorm over maps concatenated with other layers' (DenseNet's transitions
    and dense layers' inputs).
    """
    import torch_pruning as tp

    model = model.eval()
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example)
    names = {m: n for n, m in model.named_modules()}
    order = module_order(model)
    seen: set[frozenset[int]] = set()
    sites: list[tuple[str, str, int]] = []
    for conv_name, conv in model.named_modules():
        if not isinstance(conv, nn.Conv2d) or conv.groups != 1:
            continue
        group = graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=[0])
        members = [(dep.target.module, dep.handler) for dep, _ in group]
        key = frozenset(id(m) for m, _ in members)
        if key in seen:
            continue
        seen.add(key)
        adds = [m for m, _ in members if str(getattr(m, "_grad_fn", None) or "").startswith("Add")]
        consumers = [
            m
            for m, h in members
            if isinstance(m, (nn.Conv2d, nn.Linear)) and getattr(h, "__name__", "") == "prune_in_channels"
        ]
        bns = [m for m, _ in members if isinstance(m, BN_TYPES) and m in names]
        norms = [m for m, _ in members if "norm" in type(m).__name__.lower()]
        if adds or not consumers or not norms:  # no normalisation at all (SE convs, MLPs): never a site
            continue
        why = _unfoldable(conv, members, bns, names)
        if why:
            if unsupported is not None:
                unsupported.append(f"{conv_name}: {why}")
            continue
        bn = max(bns, key=lambda m: order[names[m]])
        sites.append((conv_name, names[bn], conv.out_channels))
    spatial = _spatial_sizes(model, [bn for _, bn, _ in sites], example)
    return [ChannelSite(c, b, n, spatial[b]) for c, b, n in sorted(sites, key=lambda s: order[s[0]])]


def _unfoldable(conv: nn.Conv2d, members: list, bns: list[nn.Module], names: dict) -> str | None:
    """Why a channel group of ``conv`` cannot be masked and folded exactly, or None."""
    for m, _ in members:
        if isinstance(m, nn.Conv2d) and 1 < m.groups < m.in_channels:
            return f"grouped convolution {names.get(m, '?')} (groups={m.groups}): channels go in whole groups"
    if not bns:
        norms = sorted({type(m).__name__ for m, _ in members if "norm" in type(m).__name__.lower()})
        return f"{', '.join(norms)} instead of a BatchNorm after it: the mask cannot be folded"
    for bn in bns:
        if bn.num_features != conv.out_channels:
            return f"BatchNorm {names[bn]} normalises {bn.num_features} concatenated channels, not this conv's"
    return None


@torch.no_grad()
def _spatial_sizes(model: nn.Module, bn_names: list[str], example: torch.Tensor) -> dict[str, int]:
    modules = dict(model.named_modules())
    sizes: dict[str, int] = {}

    def record(name: str):
        def hook(module: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
            sizes.setdefault(name, int(out.shape[-1] * out.shape[-2]))

        return hook

    hooks = [modules[name].register_forward_hook(record(name)) for name in bn_names]
    try:
        model(example)
    finally:
        for h in hooks:
            h.remove()
    return sizes


def is_bn_act(bn: nn.Module) -> bool:
    """Whether ``bn`` applies its activation inside its forward (timm's BatchNormAct2d: batch_norm -> drop -> act)."""
    return isinstance(getattr(bn, "drop", None), nn.Module) and isinstance(getattr(bn, "act", None), nn.Module)


def hook_bn_output(model: nn.Module, site: ChannelSite, fn: Callable[[torch.Tensor], torch.Tensor]):
    """Apply ``fn`` to ``site``'s BatchNorm output before its activation; returns the hook handle.

    For timm's BatchNormAct2d the hook sits in front of its ``drop`` module (whose input is the normalised map,
    still without activation); for a plain BatchNorm2d, on the BN's output."""
    bn = model.get_submodule(site.bn)
    if is_bn_act(bn):
        return bn.drop.register_forward_pre_hook(lambda m, args: (fn(args[0]), *args[1:]))
    return bn.register_forward_hook(lambda m, i, out: fn(out))
