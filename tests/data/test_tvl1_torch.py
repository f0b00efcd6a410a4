"""The PyTorch TV-L1: known sub-pixel translation and rotation, agreement with OpenCV, caches in the same
format as the OpenCV backend's, and the CUDA path (skipped without CUDA)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from har_vib.data.flow import (
    TVL1Params,
    create_tvl1,
    extract_dataset_flow,
    flow_config_from,
    read_flow,
)
from har_vib.data.tvl1_torch import end_point_error, rotation_flow, tvl1_torch

FAST_TORCH = TVL1Params(nscales=3, warps=3, inner_iterations=10, outer_iterations=3)


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 2.0)
    return (tex - tex.min()) / (tex.max() - tex.min()) * 255.0


def _moved(img: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    h, w = img.shape
    return cv2.warpAffine(img, matrix.astype(np.float32), (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def _pair(prev: np.ndarray, nxt: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(prev).float()[None], torch.from_numpy(nxt).float()[None]


def test_recovers_a_subpixel_translation():
    img = _texture(64, 80)
    nxt = _moved(img, np.array([[1, 0, 1.3], [0, 1, -0.4]]))  # content moves (+1.3, -0.4) px
    flow = tvl1_torch(*_pair(img, nxt))[0]
    truth = torch.tensor([1.3, -0.4]).expand_as(flow)
    assert end_point_error(flow, truth, border=8) < 0.05


def test_recovers_a_rotation_as_well_as_opencv():
    img = _texture(96, 96, seed=1)
    matrix = cv2.getRotationMatrix2D((47.5, 47.5), -3.0, 1.0)  # OpenCV's angle is counter-clockwise
    nxt = _moved(img, matrix)
    truth = rotation_flow(96, 96, 3.0)
    ours = end_point_error(tvl1_torch(*_pair(img, nxt))[0], truth, border=10)
    theirs = end_point_error(
        torch.from_numpy(create_tvl1(TVL1Params()).calc(img.astype(np.uint8), nxt.astype(np.uint8), None)),
        truth,
        border=10,
    )
    assert ours < 0.2
    assert ours <= theirs * 1.05 + 0.01


def test_agrees_with_opencv_on_the_same_pair():
    img = _texture(72, 88, seed=2).astype(np.uint8)
    nxt = _moved(img.astype(np.float32), np.array([[1, 0, 2.2], [0, 1, 0.7]])).astype(np.uint8)
    ours = tvl1_torch(*_pair(img, nxt))[0]
    theirs = torch.from_numpy(create_tvl1(TVL1Params()).calc(img, nxt, None))
    assert end_point_error(ours, theirs) < 0.1


def test_batched_pairs_match_one_by_one():
    a, b = _texture(40, 48, 3), _texture(40, 48, 4)
    a2 = _moved(a, np.array([[1, 0, 0.5], [0, 1, 0.5]]))
    b2 = _moved(b, np.array([[1, 0, -1.0], [0, 1, 0.2]]))
    batch = tvl1_torch(torch.tensor(np.stack([a, b])), torch.tensor(np.stack([a2, b2])), FAST_TORCH)
    single = tvl1_torch(*_pair(b, b2), FAST_TORCH)[0]
    assert torch.allclose(batch[1], single, atol=1e-4)


def test_torch_backend_writes_the_same_cache_format(tmp_path, video_roots):
    videos = sorted((video_roots["ucf101"] / "UCF-101").rglob("*.avi"))[:2]
    items = [(p.stem, p) for p in videos] + [("broken", tmp_path / "missing.avi")]
    tvl1 = {"nscales": 3, "warps": 3, "inner_iterations": 10, "outer_iterations": 3}
    ocv = flow_config_from({"backend": "opencv", "tvl1": tvl1})
    tch = flow_config_from({"backend": "torch", "tvl1": tvl1, "device": "cpu", "batch_pairs": 5})
    assert ocv.key()["algorithm"] == "tvl1-opencv" and tch.key()["algorithm"] == "tvl1-torch"
    counts = extract_dataset_flow(items, tmp_path / "torch", tch, progress=False, device="cpu", batch_pairs=5)
    assert counts == {"extracted": 2, "done_before": 0, "skipped": 1, "recomputed": 0}
    extract_dataset_flow(items[:2], tmp_path / "opencv", ocv, progress=False)
    for vid, _ in items[:2]:
        a_meta = json.loads((tmp_path / "torch" / vid / "meta.json").read_text())
        b_meta = json.loads((tmp_path / "opencv" / vid / "meta.json").read_text())
        assert {k: v for k, v in a_meta.items() if k != "algorithm"} == {
            k: v for k, v in b_meta.items() if k != "algorithm"
        }
        n = a_meta["num_frames"] - 1
        a, b = read_flow(tmp_path / "torch" / vid, range(n)), read_flow(tmp_path / "opencv" / vid, range(n))
        assert a.shape == b.shape and a.dtype == b.dtype == np.uint8
        # 8-bit levels are 40/255 = 0.16 px apart: the two backends agree to about a level
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 1.5
    assert sorted(p.name for p in (tmp_path / "torch").iterdir()) == sorted(
        p.name for p in (tmp_path / "opencv").iterdir()
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    a = _texture(64, 64, 5)
    b = _moved(a, np.array([[1, 0, 0.8], [0, 1, -0.3]]))
    cpu = tvl1_torch(*_pair(a, b), FAST_TORCH)
    gpu = tvl1_torch(*(t.cuda() for t in _pair(a, b)), FAST_TORCH).cpu()
    assert end_point_error(gpu, cpu) < 1e-3
