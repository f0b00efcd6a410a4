"""VIBNet layers and structured pruning: per-channel noise, spatial KL weighting, exact compact networks,
and the rW / rN conventions."""

from __future__ import annotations

import pytest
import torch

from har_vib.models import create_model
from har_vib.vibnet import ConvInformationBottleneck, architecture_counts, prune_network
from har_vib.vibnet.models import IBVGG
from har_vib.vibnet.prune import ChannelScale


def _kill(ib, units, value=10.0):
    with torch.no_grad():
        ib.logvar[units] = value


def test_conv_bottleneck_noise_is_per_sample_and_channel_and_kl_is_spatial():
    torch.manual_seed(0)
    ib = ConvInformationBottleneck(3, spatial=16, init_logvar=0.0).train()
    y = ib(torch.ones(2, 3, 4, 4))
    assert torch.allclose(y, y[:, :, :1, :1].expand_as(y))  # one multiplier per (sample, channel)
    assert not torch.allclose(y[0], y[1])
    base = 0.5 * torch.log1p(ib.mu.pow(2) / (ib.logvar.exp() + 1e-8)).sum()
    assert torch.allclose(ib.kl(), 16 * base)
    _kill(ib, [1])
    out = ib.eval()(torch.ones(1, 3, 2, 2))
    assert out[0, 1].abs().sum() == 0 and out[0, 0].abs().sum() > 0


@pytest.mark.parametrize("eval_mode", ["hard", "mu"])
def test_pruned_mlp_equals_the_bottlenecked_net(eval_mode):
    torch.manual_seed(0)
    net = create_model("vib_lenet300_100", input_size=64, num_classes=10, hidden=(30, 20), ib={"eval_mode": eval_mode})
    ibs = net.bottlenecks()
    _kill(ibs[0], list(range(0, 64, 3)))
    _kill(ibs[1], [0, 5, 6])
    _kill(ibs[2], list(range(10)))
    with torch.no_grad():
        for ib in ibs:
            sign = torch.where(torch.rand_like(ib.mu) < 0.5, -1.0, 1.0)
            ib.mu.copy_(sign * torch.empty_like(ib.mu).uniform_(0.5, 1.5))  # negative mu folds exactly after ReLU
    pruned = prune_network(net, (64,))
    x = torch.randn(7, 64)
    assert torch.allclose(net.eval()(x), pruned.model(x), atol=1e-5)
    assert pruned.kept["hidden1"] == [i for i in range(30) if i not in (0, 5, 6)]
    assert pruned.report["neurons_after"] == len(pruned.kept["input"]) + 27 + 10
    linears = [m for m in pruned.model if isinstance(m, torch.nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(27, 42), (10, 27), (10, 10)]  # 64 - 22 inputs


@pytest.mark.parametrize("negative_mu", [False, True])
def test_pruned_lenet5_equals_the_bottlenecked_net(negative_mu):
    torch.manual_seed(0)
    net = create_model("vib_lenet5", input_size=(1, 8, 8), num_classes=10, padding=2, ib={"eval_mode": "mu"})
    _kill(net.ib1, [1, 7, 19])
    _kill(net.ib2, list(range(0, 50, 2)))
    _kill(net.ib_flat, list(range(0, 200, 7)))
    _kill(net.ib_fc, list(range(250)))
    if negative_mu:
        with torch.no_grad():
            net.ib1.mu[3] = -0.5  # before a max-pool: cannot fold, a ChannelScale must stay
    pruned = prune_network(net, (1, 8, 8))
    x = torch.randn(5, 1, 8, 8)
    assert torch.allclose(net.eval()(x), pruned.model(x), atol=1e-5)
    assert any(isinstance(m, ChannelScale) for m in pruned.model) == negative_mu
    assert pruned.report["kept"]["conv1"] == 17 and pruned.report["kept"]["conv2"] == 25
    # flattened features of pruned conv2 channels are dropped even where the flat mask kept them
    assert all(f // 4 % 2 == 1 for f in pruned.kept["flat"])


@pytest.mark.parametrize("negative_mu", [False, True])
def test_pruned_vgg_equals_the_bottlenecked_net(negative_mu):
    """Filters and BN channels sliced together; multipliers fold into the next conv / linear (through a max-pool
    only when positive); per-block kl_mult scales each conv bottleneck's KL on top of its H*W."""
    torch.manual_seed(0)
    net = create_model(
        "vib_vgg",
        input_size=(1, 8, 8),
        num_classes=10,
        cfg=[8, 8, "M", 16, "M"],
        fc=[12],
        ib={"eval_mode": "mu"},
        kl_mult=[0.5, 0.25],
    )
    assert [ib.kl_mult for ib in net.conv_ibs] == [0.5, 0.5, 0.25]
    assert [ib.spatial for ib in net.conv_ibs] == [64, 64, 16]
    with torch.no_grad():
        for bn in net.bns:  # non-trivial statistics: a removed channel's BN offset would show
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.bias.uniform_(-0.5, 0.5)
    _kill(net.conv_ibs[0], [0, 3])
    _kill(net.conv_ibs[1], [1, 2, 7])
    _kill(net.conv_ibs[2], list(range(0, 16, 2)))
    _kill(net.fc_ibs[0], [4, 5])
    if negative_mu:
        with torch.no_grad():
            net.conv_ibs[1].mu[4] = -0.7  # before a max-pool
            net.conv_ibs[0].mu[1] = -0.3  # straight into conv2: folds whatever its sign
    pruned = prune_network(net, (1, 8, 8))
    x = torch.randn(4, 1, 8, 8)
    assert torch.allclose(net.eval()(x), pruned.model(x), atol=1e-5)
    assert sum(isinstance(m, ChannelScale) for m in pruned.model) == int(negative_mu)
    assert pruned.report["kept"] == {"conv1": 6, "conv2": 5, "conv3": 8, "fc1": 10}
    convs = [m for m in pruned.model if isinstance(m, torch.nn.Conv2d)]
    assert [tuple(c.weight.shape[:2]) for c in convs] == [(6, 1), (5, 6), (8, 5)]
    assert pruned.report["rW"] < 1


def test_counts_follow_the_lenet_conventions():
    mlp = create_model("lenet300_100", input_size=784, num_classes=10)
    counts = architecture_counts(mlp, (784,))
    assert counts["weights"] == 784 * 300 + 300 * 100 + 100 * 10 == 266_200
    assert counts["neurons"] == 784 + 300 + 100
    lenet = create_model("lenet5", input_size=(1, 28, 28), num_classes=10)
    counts = architecture_counts(lenet, (1, 28, 28))
    assert counts["neurons"] == 20 + 50 + 800 + 500
    assert counts["weights"] == 20 * 25 + 50 * 20 * 25 + 800 * 500 + 500 * 10
    assert counts["flops"] == 20 * 25 * 24 * 24 + 50 * 20 * 25 * 8 * 8 + 800 * 500 + 500 * 10


@pytest.mark.parametrize("cfg", [[8, "M", "M", 16, "M"], [8, 16, "M", "M"]])
def test_vgg_cfg_with_two_pools_in_a_row_is_refused_when_built(cfg):
    """It was built with the flattened size of two poolings while forward pooled once: a shape error at the first
    batch (``mat1 and mat2 shapes cannot be multiplied``)."""
    with pytest.raises(ValueError, match="two 'M' in a row"):
        IBVGG((1, 8, 8), 10, cfg=cfg, fc=[16])
