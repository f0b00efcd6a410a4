"""Per-video costs of feature extraction that grew faster than the dataset (found by the UCF101-size rehearsal):
each test counts the work, it never times it."""

from __future__ import annotations

import json
from pathlib import Path

from har_vib.features import extract
from har_vib.features.extract import ClipDataset, ClipSource


def test_the_flow_skip_records_are_read_once_not_once_per_video(tmp_path: Path, monkeypatch):
    """A video without flow looked its reason up by re-reading every skipped*.json: n videos, n reads of a file
    that lists up to n videos (30 s for 1,332 videos, 0.23 s for 133)."""
    root = tmp_path / "flow"
    root.mkdir()
    (root / "skipped.json").write_text(json.dumps({"skipped": {"c/v0": "cannot open: Invalid data"}}))
    reads = []
    real = extract.flow_skipped
    monkeypatch.setattr(extract, "flow_skipped", lambda folder: reads.append(folder) or real(folder))
    items = [(f"c/v{i}", f"c/v{i}.avi") for i in range(50)]
    dataset = ClipDataset(ClipSource("flow", root, 4), items)
    results = [dataset[i] for i in range(len(items))]
    assert len(reads) == 1
    assert results[0][2] == "no optical flow: cannot open: Invalid data"
    assert all(r[1] is None and "not extracted (run scripts/extract_flow.py" in r[2] for r in results[1:])


def test_nothing_to_extract_starts_no_worker(tmp_path: Path, monkeypatch):
    """A rerun with every video in the store started the decode workers anyway (13 s of a 35 s no-op rerun)."""
    from har_vib.features.store import FeatureStore
    from tests.data.shard_worker import tiny_encoder

    asked = []
    real = extract.loader_worker_options
    monkeypatch.setattr(extract, "loader_worker_options", lambda n, *a: asked.append(n) or real(n, *a))
    encoder = tiny_encoder()
    key = extract.store_key("t", tmp_path, "rgb", "r18", "resnet18", "seed0", encoder.prep.key(), 4, "uniform", 512)
    store = FeatureStore(tmp_path / "features", key)
    report = extract.extract_features(encoder, ClipSource("rgb", tmp_path, 4), store, [], num_workers=2, progress=False)
    assert asked == [0] and report.extracted == 0
