"""Feature store: atomic entries, verification on load, an interrupted extraction that resumes, skipped videos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from har_vib.data.splits import parse_ucf101
from har_vib.features.backbones import BackboneSpec, FrameEncoder, create_backbone, preprocessing_for
from har_vib.features.extract import ClipSource, extract_features, store_key
from har_vib.features.store import CorruptEntryError, FeatureStore
from tests.videos import make_bad_videos


def _store(tmp_path: Path, frames: int = 4, dim: int = 3) -> FeatureStore:
    return FeatureStore(tmp_path, {"dataset": "d", "stream": "rgb", "backbone": "b", "frames": frames, "dim": dim})


def test_save_load_and_verification(tmp_path):
    store = _store(tmp_path).open()
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    store.save("Class/v_1", x)
    assert store.path("Class/v_1").parent.name == "Class"
    loaded = store.load("Class/v_1")
    assert loaded.dtype == np.float32 and np.array_equal(loaded, x)
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        store.save("Class/v_2", x[:3])
    np.save(store.path("Class/v_3"), x[:2])  # wrong count of frames
    np.save(store.path("Class/v_5"), x.astype(np.float16))  # wrong dtype
    store.path("Class/v_4").write_bytes(b"\x93NUMPY garbage")  # cut short
    for vid in ("Class/v_3", "Class/v_4", "Class/v_5"):
        assert store.has(vid) and not store.is_valid(vid)
        with pytest.raises(CorruptEntryError, match="delete it and rerun"):
            store.load(vid)


def test_key_decides_the_folder_and_manifest_guards_it(tmp_path):
    a, b = _store(tmp_path), _store(tmp_path, frames=8)
    assert a.root != b.root and a.root.parent == b.root.parent
    a.open()
    assert json.loads((a.root / "manifest.json").read_text())["key"]["frames"] == 4
    (a.entries / "Class").mkdir()
    (a.entries / "Class" / ".tmp-v_9.npy.abc").write_bytes(b"half")
    a.open()
    assert not list(a.entries.rglob(".tmp-*"))  # a crashed write's leftovers are removed


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    store = _store(tmp_path).open()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        store.save("Class/v_1", np.zeros((4, 3)))
    assert not store.has("Class/v_1") and not [p for p in store.entries.rglob("*") if p.is_file()]


def _tiny_encoder() -> FrameEncoder:
    model, _ = create_backbone(BackboneSpec(name="r18", model_name="resnet18", pretrained=False, img_size=32))
    return FrameEncoder(model, preprocessing_for(model, 32))


def test_interrupted_extraction_resumes(tmp_path, video_roots, monkeypatch):
    root = video_roots["ucf101"]
    split = parse_ucf101(root / "UCF-101", root / "ucfTrainTestlist", 1)
    videos = [(r.video_id, r.path) for r in split.all_records()][:6]
    encoder = _tiny_encoder()
    source = ClipSource("rgb", root / "UCF-101", frames=4, prep=encoder.prep)
    key = store_key("ucf101", root, "rgb", "r18", "resnet18", "random", encoder.prep.key(), 4, "uniform", 512)
    store = FeatureStore(tmp_path, key)

    real_save, calls = FeatureStore.save, []

    def dying_save(self, vid, feats, identity=None):
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user hits Ctrl-C while the 4th video is written
        calls.append(vid)
        real_save(self, vid, feats, identity)

    monkeypatch.setattr(FeatureStore, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        extract_features(encoder, source, store, videos, batch_size=4, progress=False)
    monkeypatch.setattr(FeatureStore, "save", real_save)
    done = [v for v, _ in videos if store.has(v)]
    assert done == calls and len(done) == 3
    assert all(store.is_valid(v) for v in done)  # no broken entry
    first = store.path(done[0]).stat().st_mtime_ns

    report = extract_features(encoder, source, store, videos, batch_size=4, progress=False)
    assert (report.extracted, report.done_before, report.skipped) == (3, 3, 0)
    assert all(store.is_valid(v) for v, _ in videos)
    assert store.path(done[0]).stat().st_mtime_ns == first  # finished entries are not redone
    assert store.load(videos[0][0]).shape == (4, 512)
    # same inputs, same features: a resumed entry equals a fresh extraction of it
    fresh = FeatureStore(tmp_path / "again", key)
    extract_features(encoder, source, fresh, videos[:1], batch_size=4, progress=False)
    np.testing.assert_array_equal(fresh.load(videos[0][0]), store.load(videos[0][0]))


def test_bad_videos_are_skipped_with_reasons(tmp_path, video_roots):
    root = video_roots["ucf101"]
    good = next((root / "UCF-101").rglob("*.avi"))
    bad_dir = tmp_path / "bad"
    expected = make_bad_videos(bad_dir, good)
    videos = [("good", str(good))] + [(name, str(bad_dir / name)) for name in expected]
    encoder = _tiny_encoder()
    source = ClipSource("rgb", Path("/"), frames=4, prep=encoder.prep, min_frames=2)
    store = FeatureStore(
        tmp_path / "store", {"dataset": "x", "stream": "rgb", "backbone": "r18", "frames": 4, "dim": 512}
    )
    report = extract_features(encoder, source, store, videos, batch_size=8, progress=False)
    assert report.extracted == 1 and report.skipped == len(expected)
    skipped = json.loads((store.root / "skipped.json").read_text())["skipped"]
    assert set(skipped) == set(expected)
    for name, fragment in expected.items():
        assert fragment in skipped[name]
    assert report.summary().startswith(f"1 extracted, {len(expected)} skipped")


def test_encoder_preprocessing_and_shapes():
    encoder = _tiny_encoder()
    frames = torch.from_numpy(encoder.prep.apply(np.random.default_rng(0).integers(0, 256, (5, 40, 60, 3), np.uint8)))
    x = encoder.preprocess(frames)
    assert x.shape == (5, 3, 32, 32)
    with torch.inference_mode():
        assert encoder(frames).shape == (5, 512)
    with pytest.raises(ValueError, match="Preprocessing.apply"):  # frames not at the input size: one clear error
        encoder.preprocess(torch.zeros(5, 40, 60, 3, dtype=torch.uint8))


def test_entries_know_their_video_file(tmp_path):
    """An entry counts only for the version of the video file it was computed from; a skipped video whose file
    changed is tried again; a video that is gone leaves its entry usable."""
    store = _store(tmp_path).open()
    v1, v2 = {"size": 10, "mtime_ns": 1}, {"size": 12, "mtime_ns": 2}
    store.save("Class/v_1", np.zeros((4, 3)), v1)
    assert store.is_valid("Class/v_1", v1) and not store.is_valid("Class/v_1", v2)
    assert store.is_valid("Class/v_1", None)  # the video is gone: its features are all that is left
    assert store.stale(["Class/v_1"], {"Class/v_1": v2}) == ["Class/v_1"]
    assert store.missing(["Class/v_1"], {"Class/v_1": v1}) == []
    assert store.missing(["Class/v_1"], {"Class/v_1": v2}) == ["Class/v_1"]
    store.write_skipped({"Class/v_2": "too short: 1 frames, need at least 2"}, {"Class/v_2": v1})
    assert store.missing(["Class/v_2"], {"Class/v_2": v1}) == []  # still the file that failed
    assert store.missing(["Class/v_2"], {"Class/v_2": v2}) == ["Class/v_2"]  # fixed since: retried
    # a new version replaces the old entry and its record together
    store.save("Class/v_1", np.ones((4, 3)), v2)
    assert store.is_valid("Class/v_1", v2) and store.load("Class/v_1").sum() == 12


def test_atomic_dir_replaces_only_when_asked(tmp_path):
    from har_vib.utils.io import atomic_dir

    target = tmp_path / "video"
    for content, replace in (("first", False), ("second", False), ("third", True)):
        with atomic_dir(target, replace=replace) as tmp:
            (tmp / "meta.json").write_text(content)
    assert (target / "meta.json").read_text() == "third"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video"]  # no temp folder left behind
