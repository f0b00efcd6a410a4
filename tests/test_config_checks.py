"""Bad config values stop a run before any work, in one line naming the key and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from har_vib.errors import ConfigError
from har_vib.pipeline import train
from tests.conftest import ROOT, TINY, compose_train_cfg
from tests.test_train import _run_train


@pytest.mark.parametrize(
    "override, message",
    [
        ("beta=abc", r"beta='abc': must be a number >= 0"),
        ("beta=-1", r"beta=-1: must be a number >= 0"),
        ("seed=1.5", r"seed=1.5: must be a whole number >= 0"),
        ("model.net.hidden_size=abc", r"model.net.hidden_size='abc': must be a whole number >= 1"),
        ("trainer.max_epochs=0", r"trainer.max_epochs=0: .* 0 would export an untrained model"),
        ("model.lr=0", r"model.lr=0: must be a number > 0"),
        ("callbacks.prune_export.distill.alpha=2", r"distill.alpha=2: must be a number in \[0, 1\]"),
        ("model=tt_lstm model.net.refuse_size_ratio=0.5", r"model.net.refuse_size_ratio=0.5: must be null .* >= 1"),
        ("model=tt_lstm model.net.ranks=[1,0,1]", r"model.net.ranks=.*: must be null or a list of whole numbers >= 1"),
        ("trainer.max_epochs=-1 train_steps=null", r"trainer.max_epochs=-1 with train_steps=null: the run has no end"),
    ],
)
def test_bad_values_are_refused_before_any_work(tiny_cfg, tmp_path: Path, override: str, message: str):
    with pytest.raises(ConfigError, match=message):
        train(tiny_cfg(*override.split()))
    assert not any(tmp_path.glob("*.json")) and not (tmp_path / "checkpoints").exists()


def test_the_command_line_gets_one_line_and_no_traceback(tmp_path: Path):
    proc = _run_train(["beta=abc", *TINY], cwd=tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "beta='abc': must be a number >= 0 (the weight of the KL term); e.g. beta=1e-5" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_factorised_layer_far_larger_than_dense_is_refused_before_training(tiny_cfg, tmp_path: Path):
    """TT/TR ranks that make the "compressed" input map 2x (model.net.refuse_size_ratio) or more the dense matrix:
    refused by the config checks when model.net.in_modes fixes the input size (no data read), else when the model
    is built from the data's input size; either way before any training, naming both counts and smaller ranks."""
    from har_vib.config_checks import check_run_config

    fixed = ("model=tt_lstm", "model.net.in_modes=[3,2]", "model.net.ranks=[1,64,1]")
    with pytest.raises(ConfigError, match=r"3,328 parameters vs 192 .* e.g. model.net.ranks=\[1,"):
        check_run_config(tiny_cfg(*fixed))
    for model, ranks in (("tt_lstm", "[1,64,64,1]"), ("tr_lstm", "[8,8,8,8]")):
        with pytest.raises(ConfigError, match=r"rnn.weight_ih of the T[TR]-LSTM .*refuse_size_ratio=null"):
            train(tiny_cfg(f"model={model}", f"model.net.ranks={ranks}"))
    assert not any(tmp_path.glob("*.json")) and not (tmp_path / "checkpoints").exists()
    check_run_config(tiny_cfg(*fixed, "model.net.refuse_size_ratio=null"))  # warn only: accepted
    with pytest.raises(ConfigError, match=r"model.net.ranks=\[1, 4, 4, 4, 1\], in_modes=\[3, 2\].*d\+1 ranks"):
        check_run_config(tiny_cfg("model=tt_lstm", "model.net.in_modes=[3,2]"))  # 4 cores for 2 modes


def test_max_epochs_zero_is_fine_without_training(tiny_cfg):
    from har_vib.config_checks import check_run_config

    check_run_config(tiny_cfg("trainer.max_epochs=0", "train=false"))


def test_distillation_teacher_is_checked_before_the_fit(tiny_cfg, tmp_path: Path):
    """A missing teacher, or a file that is not TorchScript (here a state dict), is refused before training."""
    key = "callbacks.prune_export.distill.teacher"
    with pytest.raises(ConfigError, match=f"{key}=.*nowhere: no TorchScript model there"):
        train(tiny_cfg(f"{key}={tmp_path / 'nowhere'}"))
    state = tmp_path / "state.pt"
    torch.save({"w": torch.zeros(2)}, state)
    with pytest.raises(ConfigError, match=f"{key}=.*state.pt: .* is not a TorchScript model"):
        train(tiny_cfg(f"{key}={state}"))
    assert not (tmp_path / "checkpoints").exists()


def _downloads_allowed(monkeypatch) -> None:
    """Downloading on in this process (the test suite runs with HF_HUB_OFFLINE=1, tests/conftest.py); any attempt
    to download fails the test (the checks never download)."""
    import huggingface_hub.constants

    import har_vib.features.backbones as backbones

    def no_download(*args, **kwargs):
        raise AssertionError("the config checks downloaded weights")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(backbones, "download_weights", no_download)


def test_every_shipped_experiment_passes_the_checks(tmp_path: Path, monkeypatch):
    """The checks refuse nothing the project itself ships (every experiment config composes and passes). Offline
    (HF_HUB_OFFLINE=1, an empty Hugging Face cache) only the paper's experiments are refused, for their Inception-v3
    / EfficientNet-b1 weights, which are not shipped; with downloading on they pass too, without a download."""
    import huggingface_hub.constants

    from har_vib.config_checks import check_run_config

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_hf_cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    names = sorted(
        p.relative_to(ROOT / "conf" / "experiment").with_suffix("").as_posix()
        for p in (ROOT / "conf" / "experiment").rglob("*.yaml")
    )
    assert len(names) > 5
    needs_weights = []
    for name in names:
        try:
            check_run_config(compose_train_cfg(tmp_path, [f"experiment={name}"]))
        except ConfigError as err:
            assert "are not on disk" in str(err) and "downloading is off (HF_HUB_OFFLINE=1 is set)" in str(err), err
            needs_weights.append(name)
    assert needs_weights and all(name.startswith("paper/") for name in needs_weights)
    _downloads_allowed(monkeypatch)
    for name in needs_weights:
        check_run_config(compose_train_cfg(tmp_path, [f"experiment={name}"]))


@pytest.mark.parametrize("setting", ["downloads on", "HF_HUB_OFFLINE=1", "backbone.download=false"])
def test_weights_to_download_pass_the_checks_unless_downloading_is_off(tmp_path: Path, monkeypatch, setting):
    """Weights not on disk: the checks pass when they may be downloaded (nothing is downloaded by the checks: that
    happens when the encoder is built) and refuse, before any work, when downloading is off."""
    import huggingface_hub.constants

    from har_vib.config_checks import check_run_config

    _downloads_allowed(monkeypatch)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_hf_cache"))
    overrides = ["dataset=synthetic", "backbone=resnet18", f"paths.data_dir={tmp_path / 'data'}"]
    if setting == "HF_HUB_OFFLINE=1":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    elif setting == "backbone.download=false":
        overrides.append("backbone.download=false")
    cfg = compose_train_cfg(tmp_path / "run", overrides)
    if setting == "downloads on":
        check_run_config(cfg)
    else:
        reason = "HF_HUB_OFFLINE=1 is set" if setting == "HF_HUB_OFFLINE=1" else "backbone.download=false"
        with pytest.raises(
            ConfigError, match=rf"'resnet18.a1_in1k' are not on disk .* downloading is off \({reason}\)"
        ):
            check_run_config(cfg)
    assert not (tmp_path / "data").exists()


def test_backbone_weights_are_checked_before_any_work(tmp_path: Path):
    """A truncated weights file and one of another architecture each stop the run in its checks, naming the file,
    before videos are generated or decoded."""
    from har_vib.config_checks import check_run_config
    from har_vib.features.packaged_weights import packaged_weights

    video = ["dataset=synthetic", "backbone=resnet18", f"paths.data_dir={tmp_path / 'data'}"]
    truncated = tmp_path / "truncated.pth"
    lite0 = packaged_weights("tf_efficientnet_lite0")
    assert lite0 is not None
    truncated.write_bytes(lite0.read_bytes()[:4096])
    for weights, message in [(truncated, "not readable|truncated"), (lite0, "backbone.weights")]:
        cfg = compose_train_cfg(tmp_path / "run", [*video, f"backbone.weights={weights}"])
        with pytest.raises(ConfigError, match=message) as err:
            check_run_config(cfg)
        assert str(weights) in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "data").exists()
