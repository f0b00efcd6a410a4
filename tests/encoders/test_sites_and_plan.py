"""Channel sites of timm encoders, exact folding + physical removal, and the on-disk plan round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from har_vib.encoders.compress import CompressionSettings, encoder_cost
from har_vib.encoders.masks import SiteMultipliers, fold_into_bn
from har_vib.encoders.plan import EncoderPlan, apply_plan, load_compressed, read_plan, save_compressed
from har_vib.encoders.sites import find_sites
from har_vib.encoders.trim import remap_input_index, trim_outputs, used_channels
from har_vib.errors import ConfigError


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=0, pretrained=False).eval()
    # non-trivial BN statistics, so a constant BN output of a removed channel would show
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.bias.data.uniform_(-0.5, 0.5)
    return model


def test_resnet18_sites_are_the_block_internal_channels():
    """Residual streams and the final features are not sites; each basic block's conv1 -> bn1 is."""
    sites = find_sites(_model("resnet18"), torch.zeros(1, 3, 64, 64))
    assert [s.conv for s in sites] == [f"layer{i}.{j}.conv1" for i in range(1, 5) for j in range(2)]
    assert [s.bn for s in sites] == [f"layer{i}.{j}.bn1" for i in range(1, 5) for j in range(2)]
    assert [s.channels for s in sites] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [s.spatial for s in sites] == [16 * 16] * 2 + [8 * 8] * 2 + [4 * 4] * 2 + [2 * 2] * 2


def test_mobilenet_site_mask_sits_after_the_depthwise_bn():
    """In an inverted residual block the expansion conv, its BN, the depthwise conv, its BN and the SE convs shrink
    together; the mask goes on the last BN (after the depthwise conv), whose output the next layers read."""
    sites = {s.conv: s for s in find_sites(_model("mobilenetv3_small_100"), torch.zeros(1, 3, 64, 64))}
    assert sites["blocks.2.0.conv_pw"].bn == "blocks.2.0.bn2"
    assert "conv_head" not in sites  # its channels are the encoder's output features
    assert not any(name.endswith("conv_pwl") for name in sites)  # residual stream


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv3_small_100", "regnety_002", "densenet121"])
@pytest.mark.parametrize("kind", ["mask", "vib"])
def test_fold_and_remove_equals_the_masked_model(name: str, kind: str):
    """The masked model (hooks, eval multipliers: 0/1 or mask * mu of any sign) and the folded, physically pruned
    model give the same output; the pruned model is smaller by the removed channels."""
    model = _model(name)
    x = torch.randn(2, 3, 64, 64)
    sites = find_sites(model, x[:1])
    mult = SiteMultipliers(sites, kind=kind)
    gen = torch.Generator().manual_seed(1)
    for s in sites:
        off = torch.randperm(s.channels, generator=gen)[: s.channels // 2]
        if kind == "mask":
            mult.mask(s)[off] = 0.0
        else:
            ib = mult.ib[s.conv.replace(".", "__")]
            sign = torch.randint(0, 2, (s.channels,), generator=gen) * 2.0 - 1.0
            ib.mu.data = sign * (0.5 + torch.rand(s.channels, generator=gen))  # signs mixed, |mu| >= 0.5
            ib.logvar.data[off] = 10.0  # log SNR < 0: removed
    mult.eval()
    mult.install(model)
    with torch.no_grad():
        ref = model(x)
    mult.remove()
    before = encoder_cost(model, 64)
    fold_into_bn(model, sites, mult.eval_multipliers())
    plan = EncoderPlan(kind, 64, sites, mult.removed())
    assert all(len(v) == s.channels // 2 for v, s in zip(plan.removed.values(), sites))
    apply_plan(model, plan)
    with torch.no_grad():
        out = model(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5 * float(ref.abs().max()))
    after = encoder_cost(model, 64)
    assert after["params"] < before["params"] and after["macs_per_frame"] < before["macs_per_frame"]
    for s in sites:
        assert model.get_submodule(s.conv).out_channels == plan.kept()[s.conv]


def test_plan_round_trip(tmp_path: Path):
    """save_compressed -> load_compressed into a fresh backbone rebuilds the same pruned model."""
    model = _model("resnet18")
    sites = find_sites(model, torch.zeros(1, 3, 64, 64))
    removed = {s.conv: list(range(0, s.channels, 3)) for s in sites}
    plan = EncoderPlan("hrel", 64, sites, removed, {"note": 1})
    apply_plan(model, plan)
    save_compressed(tmp_path / "enc", model, plan)
    assert read_plan(tmp_path / "enc").removed == removed
    fresh, loaded = load_compressed(tmp_path / "enc", timm.create_model("resnet18", num_classes=0))
    assert loaded.stats == {"note": 1}
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x))
    with pytest.raises(ConfigError, match="does not fit"):
        load_compressed(tmp_path / "enc", timm.create_model("resnet34", num_classes=0))


def test_compression_settings_name_bad_keys():
    with pytest.raises(ConfigError, match="unknown key"):
        CompressionSettings.from_config({"epochz": 1})
    with pytest.raises(ConfigError, match="keep_ratio"):
        CompressionSettings.from_config({"keep_ratio": 0.0})


@pytest.mark.parametrize("name", ["mobilenetv3_small_100", "resnet18"])
def test_trim_outputs_keeps_the_read_features_exactly(name: str):
    """MobileNet-v3's head conv loses the output channels nothing reads and the rest are unchanged; ResNet's
    output is a residual stream, so it is left whole."""
    model = _model(name)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
    keep = [3, 17, 400, 511]
    trimmed = trim_outputs(model, keep, 64)
    with torch.no_grad():
        out = model(x)
    if name == "resnet18":
        assert not trimmed and out.shape[1] == 512
        return
    assert trimmed and model.conv_head.out_channels == len(keep)
    torch.testing.assert_close(out, ref[:, keep])


def test_remap_input_index_follows_the_stream_layout():
    # two streams of width 10; columns read: rgb 2, 7 and flow 2, 5 -> channels {2, 5, 7} kept per stream
    index = [2, 7, 12, 15]
    keep = used_channels(index, 10)
    assert keep == [2, 5, 7]
    assert remap_input_index(index, 10, keep, 2) == [0, 2, 3, 4]
    with pytest.raises(ValueError):
        remap_input_index([4], 10, keep, 2)


def test_unfoldable_structures_are_named_and_left_whole():
    """RegNet's grouped convolutions and DenseNet's BatchNorms over concatenated maps are left whole, each named
    (they crashed mid-run before); what remains folds exactly (test above)."""
    unsupported: list[str] = []
    sites = find_sites(_model("regnety_002"), torch.zeros(1, 3, 64, 64), unsupported)
    assert [s.conv for s in sites] == ["stem.conv"]
    assert any("grouped convolution s1.b1.conv2.conv (groups=" in u for u in unsupported)
    unsupported = []
    sites = find_sites(_model("densenet121"), torch.zeros(1, 3, 64, 64), unsupported)
    assert len(sites) == 58 and all(s.conv.endswith(".conv1") for s in sites)  # every dense layer's bottleneck
    assert any("normalises 96 concatenated channels" in u for u in unsupported)


def test_a_backbone_without_batchnorm_sites_is_refused_before_training():
    """ConvNeXt normalises with LayerNorm: nothing folds; one error before any training (it crashed in find_sites)."""
    from har_vib.data.splits import VideoRecord
    from har_vib.features.backbones import FrameEncoder, preprocessing_for
    from har_vib.lit_modules.encoder_compress import compress_encoder

    model = _model("convnext_atto")
    encoder = FrameEncoder(model, preprocessing_for(model, 64))
    record = VideoRecord("c/v.avi", 0, "c")
    with pytest.raises(ConfigError, match=r"no prunable channel groups[\s\S]*LayerNorm2d"):
        compress_encoder(encoder, "vib", [record], {}, 2, CompressionSettings())
