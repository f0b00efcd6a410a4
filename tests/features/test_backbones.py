"""Backbone weights: a local file in timm's naming, checked tensor by tensor; clear errors for missing, foreign or
unused weights; preprocessing."""

from __future__ import annotations

import pytest
import timm
import torch

from har_vib.errors import ConfigError
from har_vib.features.backbones import BackboneSpec, create_backbone, preprocessing_for


def test_weights_file_loads_into_headless_model(tmp_path):
    donor = timm.create_model("resnet18", pretrained=False, num_classes=1000)  # a classifier checkpoint
    with torch.no_grad():
        donor.conv1.weight.fill_(0.125)
    path = tmp_path / "resnet18.pth"
    torch.save(donor.state_dict(), path)
    model, weights_id = create_backbone(BackboneSpec(name="resnet18", model_name="resnet18", weights=str(path)))
    assert torch.equal(model.conv1.weight, donor.conv1.weight)
    assert model.num_classes == 0 and not model.training
    assert weights_id.startswith("file-")


def test_checkpoint_wrappers_prefixes_and_safetensors_load(tmp_path):
    """A training checkpoint ({"state_dict": ...} with DataParallel's ``module.`` prefix) and a .safetensors file
    load the same tensors; tensors the model has no use for (a classifier) are left out."""
    from safetensors.torch import save_file

    donor = timm.create_model("resnet18", pretrained=False, num_classes=1000)
    state = donor.state_dict()
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "ckpt.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    for name in ("ckpt.pth", "w.safetensors"):
        model, _ = create_backbone(BackboneSpec("resnet18", "resnet18", weights=str(tmp_path / name)))
        for key, value in model.state_dict().items():
            torch.testing.assert_close(value, state[key], rtol=0, atol=0)


@pytest.mark.parametrize(
    "case, message",
    [
        ("renamed", r"backbone.weights=.*bad.pth: 1 of the model's \d+ tensors are not in the file \(conv1.weight\)"),
        ("foreign", r"backbone.weights=.*bad.pth: \d+ of the model's \d+ tensors are not in the file"),
        ("reshaped", r"backbone.weights=.*bad.pth: 1 tensor\(s\) have another shape \(conv1.weight: file"),
    ],
)
def test_a_timm_file_for_another_model_is_refused(tmp_path, case, message):
    """A file whose names or shapes do not cover the model is refused in one line naming backbone.weights, never
    loaded halfway with the rest left at random init (timm's own loader only logs missing keys)."""
    state = timm.create_model("resnet18", pretrained=False).state_dict()
    if case == "renamed":
        state["conv_first.weight"] = state.pop("conv1.weight")
    elif case == "foreign":
        state = {"foo": torch.zeros(3)}
    else:
        state["conv1.weight"] = torch.zeros(5, 3, 7, 7)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ConfigError, match=message) as err:
        create_backbone(BackboneSpec("resnet18", "resnet18", weights=str(tmp_path / "bad.pth")))
    assert "timm.create_model('resnet18', pretrained=True)" in str(err.value)


def test_a_weights_file_with_pretrained_false_is_refused(tmp_path):
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), tmp_path / "w.pth")
    spec = BackboneSpec("resnet18", "resnet18", pretrained=False, weights=str(tmp_path / "w.pth"))
    with pytest.raises(ConfigError, match=r"backbone.weights=.*w.pth is set but backbone.pretrained=false"):
        create_backbone(spec)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    spec = BackboneSpec(name="inception_v3", model_name="inception_v3.tv_in1k", weights=str(tmp_path / "no.pth"))
    with pytest.raises(ConfigError, match=r"backbone.weights=.*no.pth: file not found"):
        create_backbone(spec)


@pytest.mark.parametrize("off", ["HF_HUB_OFFLINE", "backbone.download"])
def test_pretrained_without_weights_on_disk_and_downloads_off_says_how_to_get_them(tmp_path, monkeypatch, off):
    """Downloading off (huggingface_hub's HF_HUB_OFFLINE=1, or backbone.download=false) and nothing on disk: the
    error says so, how to turn downloading on, and the other ways; nothing is asked of the Hub
    (tests/features/test_weights_download.py checks that against a stand-in)."""
    import huggingface_hub.constants

    import har_vib.features.backbones as backbones

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    monkeypatch.setattr(backbones, "download_weights", _no_download)
    if off == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        spec = BackboneSpec(name="inception_v3", model_name="inception_v3.tv_in1k", pretrained=True)
        reason, turn_on = "HF_HUB_OFFLINE=1 is set", "unset HF_HUB_OFFLINE"
    else:
        _downloads_allowed(monkeypatch)
        spec = BackboneSpec(name="inception_v3", model_name="inception_v3.tv_in1k", pretrained=True, download=False)
        reason, turn_on = "backbone.download=false", "backbone.download=true"
    with pytest.raises(ConfigError) as err:
        create_backbone(spec)
    message = str(err.value)
    assert "pretrained weights for backbone 'inception_v3.tv_in1k' are not on disk" in message
    assert f"downloading is off ({reason})" in message and turn_on in message
    assert "backbone.weights=" in message and "backbone.pretrained=false" in message
    assert "Hugging Face cache" in message and "efficientnet_lite0" in message


def _no_download(*args, **kwargs):
    raise AssertionError("a download was attempted")


def _downloads_allowed(monkeypatch) -> None:
    """Downloading on in this process (the test suite runs with HF_HUB_OFFLINE=1, tests/conftest.py)."""
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def test_weights_not_on_disk_are_downloaded_when_allowed(tmp_path, monkeypatch):
    """Downloading on and nothing on disk: the weights are fetched (here a stand-in for the download writes the file
    into the cache), then loaded from the cache and identified by the digest of the file, as a cached file is."""
    import huggingface_hub.constants
    from safetensors.torch import save_file

    import har_vib.features.backbones as backbones
    from har_vib.utils.io import file_digest

    _downloads_allowed(monkeypatch)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    donor = timm.create_model("resnet18", pretrained=False)
    with torch.no_grad():
        donor.conv1.weight.fill_(0.25)
    fetched = []

    def fetch(spec, hub):
        fetched.append((hub.repo_id, hub.revision, hub.filenames))
        path = tmp_path / "model.safetensors"
        save_file({k: v.contiguous() for k, v in donor.state_dict().items()}, str(path))
        return path

    monkeypatch.setattr(backbones, "download_weights", fetch)
    model, weights_id = create_backbone(BackboneSpec("resnet18", "resnet18.a1_in1k"))
    assert fetched == [("timm/resnet18.a1_in1k", None, ("model.safetensors", "pytorch_model.bin"))]
    assert weights_id == f"hf-{file_digest(tmp_path / 'model.safetensors')}"
    assert torch.equal(model.conv1.weight, donor.conv1.weight)


def test_a_model_without_hub_weights_is_a_clear_error(monkeypatch):
    """timm's pretrained config names no Hub repository (no hf_hub_id) and no file is given: one error naming the
    model and what to do; an unknown model and an unknown pretrained tag are refused by name."""
    import har_vib.features.backbones as backbones

    _downloads_allowed(monkeypatch)
    monkeypatch.setattr(backbones, "download_weights", _no_download)
    with pytest.raises(ConfigError, match=r"'botnet50ts_256': timm knows no Hugging Face Hub weights .*hf_hub_id"):
        create_backbone(BackboneSpec("botnet", "botnet50ts_256"))
    with pytest.raises(ConfigError, match=r"backbone.model_name='no_such_net' is not a timm model"):
        create_backbone(BackboneSpec("x", "no_such_net"))
    with pytest.raises(ConfigError, match=r"backbone.model_name='resnet18.foo': Invalid pretrained tag"):
        create_backbone(BackboneSpec("x", "resnet18.foo"))


def test_random_init_is_seeded():
    spec = BackboneSpec(name="r18", model_name="resnet18", pretrained=False, init_seed=3)
    a, wid = create_backbone(spec)
    b, _ = create_backbone(spec)
    assert wid == "random-init-seed3" and torch.equal(a.conv1.weight, b.conv1.weight)


@pytest.mark.parametrize(
    ("name", "crop", "resize", "dim"), [("inception_v3", 299, 341, 2048), ("efficientnet_b1", 240, 266, 1280)]
)
def test_paper_backbones_preprocessing_from_timm(name, crop, resize, dim):
    model, _ = create_backbone(BackboneSpec(name=name, model_name=name, pretrained=False))
    prep = preprocessing_for(model)
    assert (prep.crop, prep.resize) == (crop, resize)
    assert prep.mean == (0.5, 0.5, 0.5) and prep.std == (0.5, 0.5, 0.5)
    assert model.num_features == dim


def test_unknown_model_name():
    with pytest.raises(ConfigError, match="not a timm model"):
        create_backbone(BackboneSpec(name="x", model_name="no_such_net", pretrained=False))


def test_a_hub_that_never_answers_is_reported_at_once_without_huggingface_hubs_retries(monkeypatch):
    """A firewall that drops packets (here: a socket that accepts and never answers) took huggingface_hub 7 minutes
    of retries to report; one probe with a short timeout now answers, and no download is attempted."""
    import socket

    import timm.models._hub

    from har_vib.features import backbones

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/timm/m/resolve/main/model.safetensors"
        monkeypatch.setattr(backbones, "HUB_PROBE_TIMEOUT", (2.0, 0.5))
        reason = backbones.hub_unreachable(url)
    assert reason is not None and "timed out" in reason.lower(), reason

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded from a Hub that does not answer")

    monkeypatch.setattr(timm.models._hub, "download_from_hf", no_download)
    monkeypatch.setattr(backbones, "hub_unreachable", lambda u: f"ReadTimeout: {u} read timed out")
    hub = backbones.HubWeights("timm/m", None, ("model.safetensors", "pytorch_model.bin"))
    spec = backbones.BackboneSpec(name="m", model_name="mobilenetv3_small_050.lamb_in1k")
    with pytest.raises(ConfigError, match=r"model\.safetensors: no answer \(ReadTimeout: .*HF_ENDPOINT"):
        backbones.download_weights(spec, hub)
