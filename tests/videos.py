"""Test helpers: tiny synthetic datasets and a collection of broken video files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from har_vib.data.synthetic import write_video

TINY_VIDEOS = dict(num_classes=3, groups=4, clips_per_group=2, width=64, height=48, min_frames=8, max_frames=12)


def make_bad_videos(folder: Path, good: Path) -> dict[str, str]:
    """``{file name: expected reason fragment}`` for every kind of unusable video."""
    folder.mkdir(parents=True, exist_ok=True)
    data = good.read_bytes()
    (folder / "zero.avi").write_bytes(b"")
    (folder / "garbage.avi").write_bytes(np.random.default_rng(0).bytes(20_000))
    (folder / "truncated_header.avi").write_bytes(data[:600])
    (folder / "corrupt_stream.avi").write_bytes(data[:600] + np.random.default_rng(1).bytes(len(data)))
    (folder / "a_folder.avi").mkdir(exist_ok=True)
    write_video(folder / "one_frame.avi", np.zeros((1, 48, 64, 3), np.uint8), 25.0)
    return {
        "zero.avi": "zero-length",
        "garbage.avi": "cannot open",
        "truncated_header.avi": "cannot open",
        "corrupt_stream.avi": "no decodable frames",
        "a_folder.avi": "not a regular file",
        "missing.avi": "file not found",
        "one_frame.avi": "too short",
    }


# Hydra overrides of a tiny synthetic video dataset (3 classes, 24 clips of 6-8 frames at 32x24)
SYNTHETIC_TINY = [
    "dataset=synthetic",
    "dataset.synthetic.num_classes=3",
    "dataset.synthetic.groups=4",
    "dataset.synthetic.clips_per_group=2",
    "dataset.synthetic.width=32",
    "dataset.synthetic.height=24",
    "dataset.synthetic.min_frames=6",
    "dataset.synthetic.max_frames=8",
    "dataset.frames=4",
    "dataset.num_workers=0",
]
