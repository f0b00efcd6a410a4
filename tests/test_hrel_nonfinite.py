"""HRel refuses non-finite inputs with one error naming the layer, the filter(s), the batch and sample(s), the
kind (NaN, +inf, -inf), the probable source and what to do, instead of torch's LinAlgError for the whole layer."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from har_vib.datamodules import ImageDataModule
from har_vib.encoders.compress import site_relevance
from har_vib.encoders.masks import SiteMultipliers
from har_vib.encoders.sites import ChannelSite
from har_vib.hrel import filter_relevance, kernel_width_by_alignment, matrix_entropy
from har_vib.hrel.checks import HRelInputError
from har_vib.hrel.information_plane import information_plane_point
from har_vib.hrel.prune import hrel_prune_lenet5, relevance_of, train_images
from har_vib.hrel.relevance import batch_relevance
from har_vib.models import create_model

KINDS = [(float("nan"), "NaN"), (float("inf"), "+inf"), (float("-inf"), "-inf")]


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, list]:
    """A LeNet-5 trained for an epoch on three batches of digits, and those batches."""
    torch.manual_seed(0)
    dm = ImageDataModule(batch_size=100, seed=0)
    dm.setup()
    batches = list(dm.train_dataloader())[:3]
    net = create_model("lenet5", input_size=dm.input_dim, num_classes=10, padding=2)
    train_images(net, batches, epochs=1, lr=2e-3)
    return net.eval(), batches


def _inject(layer: nn.Module, batch: int, sample: int, filters: list[int], value: float):
    """A forward hook writing ``value`` into ``filters`` of ``sample`` on the ``batch``-th call of every pass."""
    calls = {"n": 0}

    def hook(module: nn.Module, inputs: tuple, out: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if (calls["n"] - 1) % 2 == batch:  # two batches per pass over the data
            out = out.clone()
            out[sample, filters, 1, 2] = value
        return out

    return layer.register_forward_hook(hook)


@pytest.mark.parametrize(("value", "kind"), KINDS, ids=["nan", "+inf", "-inf"])
def test_one_non_finite_activation_names_layer_filter_batch_and_sample(trained, value: float, kind: str):
    net, batches = trained
    handle = _inject(net.conv2, batch=1, sample=3, filters=[2, 7], value=value)
    try:
        with pytest.raises(HRelInputError) as info:
            relevance_of(net, net.conv2, batches[:2], 10)
    finally:
        handle.remove()
    msg = str(info.value)
    assert msg.startswith("HRel cannot score conv2: non-finite activations of batch 1 in filter(s) 2, 7 (")
    assert f"filter 2 {kind} in sample(s) 3; filter 7 {kind} in sample(s) 3" in msg
    assert "Fix the source" in msg
    assert torch.isfinite(relevance_of(net, net.conv2, batches[:2], 10)).all()  # unhooked: scored as before


def test_the_probable_source_is_named_input_or_weights(trained):
    net, batches = trained
    x, y = batches[0]
    bad_x = x.clone()
    bad_x[5, 0, 3, 3] = float("nan")
    with pytest.raises(HRelInputError, match=r"conv1: .* the input x itself is non-finite: channel\(s\) 0 .*sample"):
        relevance_of(net, net.conv1, [(bad_x, y)], 10)
    broken = create_model("lenet5", input_size=(1, 8, 8), num_classes=10, padding=2).eval()
    with torch.no_grad():
        broken.conv1.weight[4, 0, 0, 0] = float("inf")
    with pytest.raises(HRelInputError) as info:
        relevance_of(broken, broken.conv1, [(x, y)], 10)
    msg = str(info.value)
    assert re.search(r"in filter\(s\) 4 \(filter 4 [-+inf/NaN]+ in sample\(s\) ", msg)
    assert "these weights hold NaN/inf (training diverged): conv1.weight" in msg


def test_the_pruning_loop_stops_with_the_same_error(trained):
    net, batches = trained
    handle = _inject(net.conv1, batch=0, sample=0, filters=[11], value=float("nan"))
    try:
        with pytest.raises(HRelInputError, match=r"HRel cannot score conv1: .*\(filter 11 NaN in sample\(s\) 0\)"):
            hrel_prune_lenet5(net, batches[:2], 10, targets=(18, 48), finetune_epochs=0, relevance_batches=2)
    finally:
        handle.remove()


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (torch.tensor([0.0, 1.0, float("nan"), 2.0]), r"are non-finite \(NaN\) in sample\(s\) 2"),
        (torch.tensor([0.0, float("inf"), 1.0, 2.0]), r"are non-finite \(\+inf\) in sample\(s\) 1"),
        (torch.tensor([0.0, 1.5, 1.0, 2.0]), r"are not whole numbers in sample\(s\) 1"),
        (torch.tensor([0, 1, 3, -1]), r"lie outside 0..2 in sample\(s\) 2, 3"),
    ],
    ids=["nan", "inf", "fraction", "range"],
)
def test_labels_that_are_not_class_indices_are_refused(labels: torch.Tensor, message: str):
    maps = torch.randn(4, 5, 3, 3)
    with pytest.raises(HRelInputError, match=r"HRel labels for conv9 of batch 0 " + message):
        batch_relevance(maps, labels, 1.0, 3, layer="conv9", batch=0)


@pytest.mark.parametrize(("value", "kind"), KINDS, ids=["nan", "+inf", "-inf"])
def test_every_entry_point_refuses_non_finite_values(value: float, kind: str):
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    maps = torch.randn(6, 4, 3, 3)
    maps[4, 1, 0, 0] = value
    with pytest.raises(
        HRelInputError, match=rf"the layer: non-finite activations of batch 1 in .*filter 1 {re.escape(kind)}"
    ):
        filter_relevance([(torch.randn(6, 4, 3, 3), y), (maps, y)], 1.0, 3)
    with pytest.raises(HRelInputError, match=r"column\(s\) 9 "):
        kernel_width_by_alignment(maps.flatten(1), torch.eye(6))
    gram = torch.eye(6).repeat(3, 1, 1)
    gram[2, 0, 1] = value
    with pytest.raises(HRelInputError, match=r"Gram matrices \[2\]"):
        matrix_entropy(gram)
    with pytest.raises(HRelInputError, match="kernel width of conv3 is"):
        batch_relevance(torch.randn(6, 4, 3, 3), y, value, 3, layer="conv3")


def test_the_information_plane_names_the_layer_and_unit(trained):
    net, batches = trained
    x, y = batches[0]
    handle = net.fc1.register_forward_hook(lambda m, i, o: o.index_fill(1, torch.tensor([17]), float("nan")))
    try:
        with pytest.raises(HRelInputError, match=r"HRel cannot score fc1: non-finite activations in unit\(s\) 17 "):
            information_plane_point(net, [net.conv1, net.fc1], x, y, 10)
    finally:
        handle.remove()


def test_encoder_channel_relevance_names_the_site_and_batch():
    """The encoder-compression HRel path (site_relevance) refuses a non-finite frame with the site's name."""
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval()
    site = ChannelSite(conv="0", bn="1", channels=4, spatial=36)
    module = SimpleNamespace(
        encoder=SimpleNamespace(backbone=backbone, preprocess=lambda t: t),
        heads={"rgb": None},
        device=torch.device("cpu"),
        eval=lambda: None,
    )
    frames = [torch.randn(2, 3, 8, 8) for _ in range(3)]
    good = [[({"rgb": f}, label) for f, label in zip(frames, (0, 1, 0))]]
    assert site_relevance(module, SiteMultipliers([site], kind="mask"), good, 2)["0"].shape == (4,)
    frames = [f.clone() for f in frames]
    frames[1][1, 0, 2, 2] = float("inf")  # clip 1, frame 1: sample 3 of the batch
    bad = [good[0], [({"rgb": f}, label) for f, label in zip(frames, (0, 1, 0))]]
    with pytest.raises(
        HRelInputError,
        match=r"HRel cannot score 0 \(rgb frames.*\): non-finite activations of batch 1 in channel\(s\) 0, 1, 2, 3 "
        r"\(channel 0 [^;]* in sample\(s\) 3;",
    ):
        site_relevance(module, SiteMultipliers([site], kind="mask"), bad, 2)
