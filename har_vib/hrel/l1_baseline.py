"""The L1-norm filter pruning baseline (Li et al. 2017) through Torch-Pruning: in each conv layer the filters
with the smallest L1 norm are removed, the dependent layers (the next conv's input channels, fc1's columns)
follow, in one step."""

from __future__ import annotations

import torch
from torch import nn

from har_vib.vibnet.models import IBLeNet5


def l1_prune_lenet5(net: IBLeNet5, example: torch.Tensor, targets: tuple[int, int]) -> IBLeNet5:
    """Physically prune ``net``'s conv1 / conv2 to ``targets`` filters by L1 norm (in place; returned)."""
    import torch_pruning as tp

    if net.is_vib:
        raise ValueError("the L1 baseline prunes a plain LeNet-5 (model=lenet5)")
    convs = (net.conv1, net.conv2)
    # a hair under the exact ratio: Torch-Pruning keeps int(n * (1 - ratio)) filters
    ratios = {conv: (conv.out_channels - t) / conv.out_channels - 1e-6 for conv, t in zip(convs, targets)}
    pruner = tp.pruner.MagnitudePruner(
        net.eval(),
        example_inputs=example,
        # "first": rank a filter by its own weights' L1 norm (Li et al.), not the group's (dependent layers)
        importance=tp.importance.MagnitudeImportance(p=1, group_reduction="first"),
        pruning_ratio_dict=ratios,
        ignored_layers=[m for m in net.modules() if isinstance(m, nn.Linear)],
    )
    pruner.step()
    kept = tuple(conv.out_channels for conv in convs)
    if kept != tuple(targets):
        raise RuntimeError(f"Torch-Pruning kept {kept} filters, asked for {tuple(targets)}")
    return net
