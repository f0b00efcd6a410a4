"""Per-video paths that must stay linear in the number of videos (found by the UCF101-size rehearsal,
scripts/rehearse_scale.py): each test counts the work done, so it fails on quadratic code without timing it."""

from __future__ import annotations

import contextlib
import pathlib
from types import SimpleNamespace

import pytest

from har_vib.data import video
from har_vib.data.shards import remove_own_temps


def test_the_temp_sweep_is_linear_in_leftover_temps(tmp_path, monkeypatch):
    """Every leftover temp's parents were looked up in a list of the temps removed so far: n^2 path comparisons."""
    folder = tmp_path / "entries" / "Class"
    folder.mkdir(parents=True)
    n = 600
    for i in range(n):
        (folder / f".tmp-v_{i}.npy.k{i}").write_bytes(b"")
    compared = 0
    original = pathlib.PurePath.__eq__

    def counting_eq(self, other):
        nonlocal compared
        compared += 1
        return original(self, other)

    monkeypatch.setattr(pathlib.PurePath, "__eq__", counting_eq)
    assert remove_own_temps(tmp_path) == n
    monkeypatch.undo()
    assert not list(folder.iterdir())
    assert compared < 10 * n  # the list made ~n^2/2 per parent level: 1.26 million here


@contextlib.contextmanager
def _fake_stream(path):
    """Stands in for PyAV: an AVI of 3 frames of 4x2."""
    frame = SimpleNamespace(rotation=0, width=4, height=2)
    stream = SimpleNamespace(
        codec_context=SimpleNamespace(name="mpeg4"), average_rate=25, guessed_rate=25, frames=3, duration=None
    )
    container = SimpleNamespace(format=SimpleNamespace(name="avi"), decode=lambda s: iter([frame, frame, frame]))
    _fake_stream.opened += 1
    yield container, stream


def _forget_probes() -> None:
    """Empty the process's probe memory (``forget_probes`` where the module has it, else the memoised function's)."""
    forget = getattr(video, "forget_probes", None)
    (forget or video._probe_file.cache_clear)()


@pytest.fixture
def fake_decoder(monkeypatch):
    _fake_stream.opened = 0
    monkeypatch.setattr(video, "_pyav_stream", _fake_stream)
    _forget_probes()
    yield _fake_stream
    _forget_probes()


def test_probes_of_a_whole_ucf101_are_remembered_across_epochs(tmp_path, fake_decoder):
    """Reading a clip probes it (a full decode to count its frames). With 4,096 probes remembered, a dataset of
    13,320 videos evicted each entry before its next use: every clip was decoded twice in every epoch."""
    paths = [tmp_path / f"v_{i}.avi" for i in range(13_320)]
    for path in paths:
        path.write_bytes(b"x")
    for _ in range(2):  # two epochs over every video
        for path in paths:
            assert video.probe(path, "pyav").num_frames == 3
    assert fake_decoder.opened == 13_320


def test_a_changed_file_is_probed_again(tmp_path, fake_decoder):
    """The memory is per version of a file (size, modification time), as before."""
    path = tmp_path / "v.avi"
    path.write_bytes(b"x")
    video.probe(path, "pyav")
    video.probe(path, "pyav")
    path.write_bytes(b"xy")
    video.probe(path, "pyav")
    assert fake_decoder.opened == 2
