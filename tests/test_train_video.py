"""End-to-end runs of the training task on generated videos: raw frames, and cached rgb + flow features."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import hydra
import pytest
import torch

from har_vib.errors import ConfigError
from har_vib.pipeline import instantiate, train
from tests.conftest import ROOT, TINY_RUN, compose_train_cfg
from tests.videos import SYNTHETIC_TINY

VIDEO_TINY = [*SYNTHETIC_TINY, "dataset.batch_size=8", *TINY_RUN]


def _cfg(tmp_path: Path, *extra: str):
    return compose_train_cfg(tmp_path / "run", [*VIDEO_TINY, f"paths.data_dir={tmp_path / 'data'}", *extra])


def test_end_to_end_raw_frames(tmp_path: Path):
    metrics = train(_cfg(tmp_path, "dataset.frame_size=[12,16]", "model=vib_lstm"))
    assert 0.0 <= metrics["test_acc_pruned"] <= 1.0
    report = json.loads((tmp_path / "run" / "compression.json").read_text())
    assert report["input_dim_before"] == 3 * 12 * 16
    assert json.loads((tmp_path / "run" / "skipped_videos.json").read_text()) == {"skipped": {}}
    assert (tmp_path / "data" / "synthetic" / "ucf101" / "ucfTrainTestlist" / "classInd.txt").is_file()


def test_cached_rgb_and_flow_features(tmp_path: Path):
    extra = [
        "backbone=resnet18",
        "backbone.pretrained=false",
        "backbone.img_size=32",
        "dataset.streams=[rgb,flow]",
        "dataset.standardize=true",
        "features.frames=6",
        "features.num_workers=0",
        "flow.workers=1",
        "flow.tvl1.nscales=2",
        "flow.tvl1.warps=2",
        "flow.tvl1.inner_iterations=5",
        "flow.tvl1.outer_iterations=2",
        "model=naive_lstm",
    ]
    # extraction (flow, then features) leaves torch's RNG as it found it: training does not depend on the cache
    dm = hydra.utils.instantiate(_cfg(tmp_path, *extra).dataset)
    state = torch.random.get_rng_state()
    reports = dm.extract_features(progress=False)
    assert reports["rgb"].extracted == reports["flow"].extracted == 24
    assert torch.equal(torch.random.get_rng_state(), state)
    train(_cfg(tmp_path, *extra))
    report = json.loads((tmp_path / "run" / "compression.json").read_text())
    assert report["input_dim_before"] == 2 * 512  # rgb and flow features concatenated per frame
    # caches live under a tag that carries a hash of the synthetic spec, so a re-rendering never reuses them
    (feature_dir,) = (tmp_path / "data" / "features").glob("synthetic-ucf101-*")
    stores = sorted(p.name.split("-")[0] for p in feature_dir.iterdir())
    assert stores == ["flow", "rgb"]
    (flow_dir,) = (tmp_path / "data" / "flow").glob("synthetic-ucf101-*")
    assert flow_dir.name == feature_dir.name
    flow_dirs = list(flow_dir.glob("tvl1-*/*/*/meta.json"))
    assert len(flow_dirs) == 3 * 4 * 2
    # a second run finds everything cached and extracts nothing
    proc = _script("extract_features.py", tmp_path, [*VIDEO_TINY, f"paths.data_dir={tmp_path / 'data'}", *extra])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "rgb: 0 extracted, 0 skipped (24 already in the store" in proc.stdout
    assert "flow: 0 extracted, 0 skipped (24 already in the store" in proc.stdout
    _check_standardization(tmp_path, extra)
    _check_mean_fusion(tmp_path, extra)


def _check_mean_fusion(tmp_path: Path, extra: list[str]) -> None:
    """``dataset.fusion=mean`` averages the rgb and flow features per frame instead of concatenating them."""

    def first_video(*over: str) -> torch.Tensor:
        dm = hydra.utils.instantiate(_cfg(tmp_path, *extra, "dataset.standardize=false", *over).dataset)
        dm.setup()
        dm.test_set.sampling = "uniform"
        return dm.test_set[0][0]

    concat, mean = first_video(), first_video("dataset.fusion=mean")
    assert mean.shape[1] == concat.shape[1] // 2 == 512
    assert torch.allclose(mean, (concat[:, :512] + concat[:, 512:]) / 2, atol=1e-6)
    with pytest.raises(ConfigError, match="dataset.fusion"):
        instantiate(_cfg(tmp_path, *extra, "dataset.fusion=max").dataset)


def _check_standardization(tmp_path: Path, extra: list[str]) -> None:
    """``dataset.standardize`` maps the train videos' features to zero mean and unit std per dimension,
    with statistics of the train videos only; off, the cached features come back unchanged."""

    def train_features(standardize: bool) -> torch.Tensor:
        cfg = _cfg(tmp_path, *extra, f"dataset.standardize={standardize}")
        dm = hydra.utils.instantiate(cfg.dataset)
        dm.setup()
        dm.train_set.sampling = "uniform"  # every cached frame, in order
        dm.train_set.frames = dm.train_set.stores[0].frames
        return torch.cat([dm.train_set[i][0] for i in range(len(dm.train_set))])

    raw, scaled = train_features(False), train_features(True)
    live = raw.std(0) > 1e-3 * raw.std(0).max()  # dimensions that are not constant
    assert torch.allclose(scaled.mean(0), torch.zeros(raw.shape[1]), atol=1e-3)
    assert torch.allclose(scaled.std(0, unbiased=False)[live], torch.ones(int(live.sum())), atol=1e-3)
    mean, std = raw.mean(0), raw.std(0, unbiased=False)
    assert torch.allclose(scaled[:, live], ((raw - mean) / std)[:, live], atol=1e-3)


def _script(name: str, cwd: Path, args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    script = ROOT / ("train.py" if name == "train.py" else f"scripts/{name}")
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "0", **(env or {})},
    )


def test_a_corrupt_feature_entry_is_re_extracted_at_train_time(tmp_path: Path):
    """A feature entry truncated after extraction (a full disk, a killed copy) is found when the run starts and
    recomputed, instead of failing in the middle of an epoch; an entry whose bytes are garbage likewise."""
    import numpy as np

    extra = [
        "backbone=resnet18",
        "backbone.pretrained=false",
        "backbone.img_size=32",
        "features.frames=6",
        "features.num_workers=0",
        "model=naive_lstm",
        "trainer.max_epochs=1",
        "callbacks.prune_export.finetune_epochs=0",
    ]
    train(_cfg(tmp_path, *extra))
    (store,) = (tmp_path / "data" / "features").glob("synthetic-ucf101-*/rgb-*")
    entries = sorted(store.rglob("*.npy"))
    assert len(entries) == 24
    good = np.load(entries[0])
    entries[0].write_bytes(entries[0].read_bytes()[:100])  # truncated
    entries[1].write_bytes(b"\x00" * entries[1].stat().st_size)  # garbage of the right length
    train(_cfg(tmp_path, *extra))
    np.testing.assert_array_equal(np.load(entries[0]), good)  # extraction is deterministic
    assert np.load(entries[1]).shape == good.shape


def test_missing_dataset_is_one_clear_error(tmp_path: Path):
    proc = _script("train.py", tmp_path, ["dataset=ucf101", f"paths.data_dir={tmp_path}", "logger=csv"])
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "error: UCF101 video folder not found" in proc.stderr
    assert "Expected layout" in proc.stderr and "make_synthetic_videos.py" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_weights_is_one_clear_error(tmp_path: Path):
    args = [*VIDEO_TINY, f"paths.data_dir={tmp_path}", "backbone=inception_v3"]
    env = {"HF_HUB_CACHE": str(tmp_path / "empty_hf_cache"), "HF_HUB_OFFLINE": "1"}  # downloading off
    proc = _script("train.py", tmp_path, args, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "pretrained weights for backbone 'inception_v3.tv_in1k' are not on disk" in proc.stderr
    assert "downloading is off (HF_HUB_OFFLINE=1 is set)" in proc.stderr
    assert "backbone.weights=" in proc.stderr and "Traceback" not in proc.stderr


def test_backbone_needs_a_video_dataset(tmp_path: Path):
    proc = _script("train.py", tmp_path, ["backbone=resnet18", "logger=csv"])
    assert proc.returncode == 2 and "video dataset" in proc.stderr
