"""A DataLoader worker is no longer forked from the process that scanned the dataset, so it would start with no
probes and decode every clip twice in every epoch (once to count its frames, once to read it). The datasets carry
the probes of their own videos to the worker when it starts (pickled with the dataset)."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from har_vib.data import video
from har_vib.data.splits import VideoRecord
from har_vib.datamodules.video_datasets import RawFrameDataset
from har_vib.features.extract import ClipDataset, ClipSource
from tests.real_videos import require_samples


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    samples = require_samples()
    for name in ("carphone_pristine", "bikes"):
        (tmp_path / "a").mkdir(exist_ok=True)
        shutil.copy(samples / f"{name}.mp4", tmp_path / "a" / f"{name}.mp4")
    video.forget_probes()
    yield tmp_path
    video.forget_probes()


def _in_a_worker(dataset, monkeypatch):
    """``dataset`` as a worker receives it: pickled, into a process that has probed nothing (probing is then an
    error: the worker must not need it)."""
    blob = pickle.dumps(dataset)
    video.forget_probes()

    def no_probe(*args):
        raise AssertionError(f"the worker probed {args[0]} again")

    monkeypatch.setattr(video, "_probe_file", no_probe)
    return pickle.loads(blob)


def test_raw_frame_dataset_brings_the_setup_scan_to_its_workers(clips: Path, monkeypatch):
    records = [VideoRecord("a/carphone_pristine.mp4", 0, "a"), VideoRecord("a/bikes.mp4", 1, "a")]
    for r in records:
        video.frame_count(clips / r.path)  # the DataModule's setup scan, in the parent
    other = video.frame_count(require_samples() / "bigbuckbunny.mp4")  # not this dataset's: not sent
    assert other > 0
    dataset = RawFrameDataset(records, clips, frames=2, height=24, width=32)
    worker_copy = _in_a_worker(dataset, monkeypatch)
    assert {Path(k[0]).name for k in video.known_probes()} == {"carphone_pristine.mp4", "bikes.mp4"}
    x, y = worker_copy[1]
    assert tuple(x.shape) == (2, 3 * 24 * 32) and int(y) == 1


def test_extraction_dataset_brings_the_probes_of_its_videos(clips: Path, monkeypatch):
    items = [("a/carphone_pristine", "a/carphone_pristine.mp4"), ("a/bikes", "a/bikes.mp4")]
    for _, rel in items:
        video.frame_count(clips / rel)
    worker_copy = _in_a_worker(ClipDataset(ClipSource("rgb", clips, 2), items), monkeypatch)
    i, frames, reason = worker_copy[0]
    assert reason is None and frames.shape[0] == 2


def test_a_file_changed_after_the_scan_is_probed_again(clips: Path):
    path = clips / "a" / "bikes.mp4"
    video.frame_count(path)
    probes = video.known_probes([path])
    assert len(probes) == 1
    shutil.copy(clips / "a" / "carphone_pristine.mp4", path)  # another version of the file: 120 frames, not 250
    video.forget_probes()
    video.remember_probes(probes)
    assert (next(iter(probes.values())).num_frames, video.frame_count(path)) == (250, 120)  # probed anew
