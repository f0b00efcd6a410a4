"""A feature write that fails (a real kernel error: a child process past its file size limit gets EFBIG, as a full
disk gives ENOSPC) is an OSError naming the entry, with its errno: no half entry, no orphan source record, no temp,
nothing recorded as a skipped video; a rerun with room resumes."""

from __future__ import annotations

import errno
import json
from pathlib import Path

from har_vib.features.extract import ClipSource, extract_features, store_key
from har_vib.features.store import FeatureStore
from tests.data.faults import python_limited
from tests.data.shard_worker import tiny_encoder


def test_feature_write_error_names_the_entry(tmp_path, video_roots):
    video_root = video_roots["ucf101"] / "UCF-101"
    videos = [(f"{p.parent.name}/{p.stem}", str(p.relative_to(video_root))) for p in sorted(video_root.rglob("*.avi"))]
    videos = videos[:3]
    encoder = tiny_encoder()
    key = store_key("tiny", video_root, "rgb", "r18", "resnet18", "seed0", encoder.prep.key(), 4, "uniform", 512)
    store = FeatureStore(tmp_path / "features", key).open()  # manifest written while there is room
    result = python_limited(
        f"""
        import json
        from pathlib import Path
        from har_vib.features.extract import ClipSource, extract_features
        from har_vib.features.store import FeatureStore
        from tests.data.shard_worker import tiny_encoder

        encoder = tiny_encoder()
        store = FeatureStore({str(tmp_path / "features")!r}, json.loads({json.dumps(key)!r}))
        source = ClipSource("rgb", Path({str(video_root)!r}), 4, prep=encoder.prep)
        try:
            extract_features(encoder, source, store, {videos!r}, batch_size=4, progress=False)
            print(json.dumps(None))
        except OSError as err:
            print(json.dumps([err.errno, err.filename]))
        """,
        limit=1024,  # the source record (~60 bytes) fits, the (4, 512) float32 entry (8 KB) does not
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out is not None, "a failed feature write passed as success"
    code, filename = out
    assert code == errno.EFBIG and filename == str(store.path(videos[0][0]))
    assert not [p for p in store.root.rglob("*") if p.is_file() and p.name != "manifest.json"]  # no entry, no temp
    assert store.skipped() == {}

    source = ClipSource("rgb", Path(video_root), 4, prep=encoder.prep)
    report = extract_features(encoder, source, store, videos, batch_size=4, progress=False)
    assert (report.extracted, report.skipped) == (3, 0) and all(store.is_valid(v) for v, _ in videos)
