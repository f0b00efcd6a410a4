"""The L1-norm filter baseline (Torch-Pruning): the filters with the largest L1 norm survive, dependent layers
follow, and the result equals the plain LeNet-5 with the other filters removed."""

from __future__ import annotations

import copy

import torch

from har_vib.hrel.l1_baseline import l1_prune_lenet5
from har_vib.models import create_model
from har_vib.vibnet.prune import remove_filters


def test_l1_baseline_keeps_the_largest_filters_and_matches_removal():
    torch.manual_seed(0)
    net = create_model("lenet5", input_size=(1, 8, 8), num_classes=10, padding=2).eval()
    keep1 = torch.argsort(net.conv1.weight.abs().sum((1, 2, 3)), descending=True)[:5].sort().values
    keep2 = torch.argsort(net.conv2.weight.abs().sum((1, 2, 3)), descending=True)[:10].sort().values
    # removing those filters by hand (what L1 pruning means) gives the same function as Torch-Pruning's result
    reference = copy.deepcopy(net)
    with torch.no_grad():
        for conv, keep in ((reference.conv1, keep1), (reference.conv2, keep2)):
            drop = torch.ones(conv.out_channels, dtype=torch.bool)
            drop[keep] = False
            conv.weight[drop] = 0.0
            conv.bias[drop] = 0.0
    expected = remove_filters(reference, keep1, keep2)
    pruned = l1_prune_lenet5(net, torch.randn(1, 1, 8, 8), (5, 10))
    assert (pruned.conv1.out_channels, pruned.conv2.in_channels, pruned.conv2.out_channels) == (5, 5, 10)
    assert pruned.fc1.in_features == 10 * 2 * 2
    x = torch.randn(4, 1, 8, 8)
    assert torch.allclose(pruned(x), expected(x), atol=1e-5)
