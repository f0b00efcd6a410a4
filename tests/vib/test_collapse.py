"""A pruning that keeps nothing names the settings in force that caused it (with their values), each site's
log(mu^2/sigma^2) range against the threshold, which of threshold or KL term is the cause, and what to change:
the same for VIB-LSTM/GRU (compress), VIBNet (prune_network), ISS (iss_compress) and the encoder sites."""

from __future__ import annotations

import logging
import re

import pytest
import torch

from har_vib.compression import NothingKeptError, compress
from har_vib.compression.iss import iss_compress
from har_vib.encoders.compress import CompressionSettings, _min_channel_guard
from har_vib.encoders.masks import SiteMultipliers
from har_vib.encoders.sites import ChannelSite
from har_vib.models import create_model
from har_vib.vib.collapse import collapse_settings
from har_vib.vibnet.prune import prune_network

RUN = {"beta": 1e-3, "model.ib_lr": 0.03}


def _close_all(model: torch.nn.Module) -> None:
    """Every bottleneck at log(mu^2/sigma^2) about -10: what a KL term that won does."""
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "logvar") and hasattr(m, "mu"):
                m.logvar.fill_(10.0)


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("vib_lstm", "every hidden unit"),
        ("vib_gru", "every hidden unit"),
        ("feature_vib_lstm", "every input feature"),
    ],
)
def test_a_threshold_collapse_names_the_threshold_and_its_value(name: str, what: str):
    model = create_model(name, input_size=5, num_classes=3, hidden_size=6, ib={"threshold": 50.0})
    with pytest.raises(NothingKeptError) as info:
        compress(model, RUN)
    msg = str(info.value)
    assert f"pruned {what}" in msg
    assert "beta=0.001, model.ib_lr=0.03, model.net.ib.threshold=50:" in msg
    assert re.search(r"input_ib -?[\d.]+\.\.[\d.]+ \(0/5 kept\)", msg)
    assert "vs threshold 50" in msg and "The threshold is the cause" in msg
    assert "lower it below" in msg and "lower beta" not in msg
    if name != "feature_vib_lstm":  # the gate bottleneck, gate by gate
        gates = "ifgo" if name == "vib_lstm" else "rzn"
        assert all(f"rnn.gate_ib[{g}] " in msg for g in gates)
    assert model.input_ib.threshold == 50.0  # the diagnosis leaves the thresholds as they were


def test_a_kl_collapse_names_beta_and_the_ib_learning_rate_with_their_values():
    model = create_model("vib_lstm", input_size=3, num_classes=2, hidden_size=4)
    _close_all(model.rnn)
    with pytest.raises(NothingKeptError) as info:
        compress(model, RUN)
    msg = str(info.value)
    assert "with beta=0.001, model.ib_lr=0.03, model.net.ib.threshold=0:" in msg
    assert "The KL term is the cause" in msg and "lower beta (now 0.001)" in msg and "model.ib_lr (now 0.03)" in msg
    assert "(3/3 kept)" in msg  # the input bottleneck kept its features: the hidden side collapsed


def test_non_default_kl_mult_and_init_logvar_are_named():
    model = create_model("vib_lstm", input_size=3, num_classes=2, hidden_size=4, ib={"init_logvar": 3.0, "kl_mult": 2})
    with pytest.raises(NothingKeptError) as info:
        compress(model)
    msg = str(info.value)
    assert "model.net.ib.kl_mult=2" in msg and "model.net.ib.init_logvar=3" in msg
    assert "The initialisation is the cause" in msg and "use the default -9" in msg
    assert "model.net.ib.kl_mult (now 2)" in msg


def test_collapse_settings_come_from_the_lightning_hparams():
    class HP:
        beta, ib_lr, lr = 0.5, 0.2, 1.0

    assert collapse_settings(HP()) == {"beta": 0.5, "model.ib_lr": 0.2}
    assert collapse_settings({"beta": 0.1}) == {"beta": 0.1}


@pytest.mark.parametrize("name", ["vib_lenet5", "vib_lenet300_100"])
def test_vibnet_collapse_is_the_same_error_not_a_conv_crash(name: str):
    """A VIBNet bottleneck that keeps nothing: a constant predictor, one NothingKeptError naming the settings
    (it was a RuntimeError about a weight of size [0, 1, 5, 5] from the compact net's first forward)."""
    torch.manual_seed(0)
    shape = (1, 8, 8)
    kw = {"padding": 2} if name == "vib_lenet5" else {}
    net = create_model(name, input_size=shape, num_classes=10, ib={"threshold": 50.0}, **kw)
    with pytest.raises(NothingKeptError) as info:
        prune_network(net, shape, RUN)
    msg = str(info.value)
    assert "model.net.ib.threshold=50" in msg and "beta=0.001" in msg and "The threshold is the cause" in msg
    assert "(0/" in msg and "vs threshold 50" in msg


def test_vibnet_layer_emptied_by_the_previous_one_is_a_collapse():
    """LeNet-5's flattened features of the kept conv2 channels: none left although each bottleneck keeps some."""
    torch.manual_seed(0)
    net = create_model("vib_lenet5", input_size=(1, 8, 8), num_classes=10, padding=2)
    per_channel = net.ib_flat.dim // net.ib2.dim
    with torch.no_grad():
        net.ib2.logvar[1:] = 10.0  # conv2 keeps channel 0 only
        net.ib_flat.logvar[:per_channel] = 10.0  # whose flattened features the flat bottleneck drops
    with pytest.raises(NothingKeptError, match=r"every unit of flat \(0 of its inputs left\)"):
        prune_network(net, (1, 8, 8))


def test_iss_collapse_names_the_threshold_key_and_the_group_norms():
    torch.manual_seed(0)
    model = create_model("naive_lstm", input_size=5, num_classes=3, hidden_size=7).eval()
    with pytest.raises(NothingKeptError) as info:
        iss_compress(model, 100.0, True, {"model.group_lasso": 0.1})
    msg = str(info.value)
    assert "with model.group_lasso=0.1, model.iss_threshold=100: squared group norms" in msg
    assert "vs threshold 100" in msg and "The threshold is the cause: lower model.iss_threshold below" in msg
    with torch.no_grad():  # every group exactly 0: the penalty did it
        model.rnn.weight_ih_l0.zero_()
        model.rnn.weight_hh_l0.zero_()
        model.head[0].weight.zero_()
    settings = {"model.iss_stage.group_lasso": 0.5}
    with pytest.raises(NothingKeptError, match=r"model.iss_stage.threshold=0.01.* lower model.iss_stage.group_lasso"):
        iss_compress(model, 0.01, True, settings, "model.iss_stage.threshold")


def test_an_emptied_encoder_site_names_the_compression_settings(caplog):
    site = ChannelSite(conv="blocks.0.conv", bn="blocks.0.bn", channels=4, spatial=1)
    mult = SiteMultipliers([site], threshold=30.0)
    settings = CompressionSettings(beta=1e-4, ib_lr=0.05, threshold=30.0, min_channels=2)
    with caplog.at_level(logging.WARNING):
        z = _min_channel_guard([site], mult, 2, settings)
    assert int((z[site.conv] != 0).sum()) == 2
    (line,) = [r.getMessage() for r in caplog.records if "blocks.0.conv" in r.getMessage()]
    assert (
        "backbone.compression.beta=0.0001, backbone.compression.ib_lr=0.05, backbone.compression.threshold=30" in line
    )
    assert "The threshold is the cause: lower backbone.compression.threshold below" in line
