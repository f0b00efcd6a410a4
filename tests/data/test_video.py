"""Decoding, and every kind of bad video surfacing as a VideoDecodeError with a short reason."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from har_vib.data.video import VideoDecodeError, probe, read_frames, short_side_size
from tests.videos import make_bad_videos


def _one_video(video_roots) -> Path:
    return next((video_roots["ucf101"] / "UCF-101").rglob("*.avi"))


def test_read_frames_resizes_after_decoding(video_roots):
    path = _one_video(video_roots)
    info = probe(path)
    assert (info.width, info.height) == (64, 48) and 8 <= info.num_frames <= 12 and info.fps == pytest.approx(25)
    frames = read_frames(path, [0, 3, 3, 99], size=(32, 24))
    assert frames.shape == (4, 24, 32, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[1], frames[2])
    last = read_frames(path, [info.num_frames - 1], size=(32, 24))
    np.testing.assert_array_equal(frames[3], last[0])  # past-the-end indices clamp to the last frame
    # any output size, including those decord's decode-time scaler rejected (16x12)
    assert read_frames(path, [0, 1], size=(16, 12)).shape == (2, 12, 16, 3)


def test_sampler_callable_sees_the_frame_count(video_roots):
    path = _one_video(video_roots)
    seen = []
    frames = read_frames(path, lambda n: seen.append(n) or np.arange(n))
    assert seen == [probe(path).num_frames] and len(frames) == seen[0]


def test_short_side_size_keeps_aspect():
    assert short_side_size(320, 240, 341) == (455, 341)
    assert short_side_size(240, 320, 120) == (120, 160)


def test_every_bad_video_raises_with_reason(tmp_path, video_roots):
    expected = make_bad_videos(tmp_path, _one_video(video_roots))
    for name, fragment in expected.items():
        with pytest.raises(VideoDecodeError) as err:
            read_frames(tmp_path / name, [0, 1], min_frames=2)
        assert fragment in err.value.reason, (name, err.value.reason)
        assert err.value.path.endswith(name)
        # one short line: no library build paths, timestamps or file names
        assert "\n" not in err.value.reason and "/" not in err.value.reason and len(err.value.reason) <= 120


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without read permission")
def test_unreadable_file(tmp_path, video_roots):
    path = tmp_path / "locked.avi"
    path.write_bytes(_one_video(video_roots).read_bytes())
    path.chmod(0)
    with pytest.raises(VideoDecodeError, match="permission denied"):
        read_frames(path, [0])


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (
            "[21:12:01] /github/workspace/src/video/video_reader.cc:83: ERROR opening: /data/ucf11/v_x.mpg, "
            "Invalid data found when processing input",
            "ERROR opening: Invalid data found when processing input",
        ),
        (
            "[Errno 1094995529] Invalid data found when processing input: '/tmp/a b/c.avi'",
            "Invalid data found when processing input",
        ),
        ("std::bad_alloc", "std::bad_alloc"),
    ],
)
def test_library_errors_become_short_clean_reasons(raw, clean):
    from har_vib.data.video import clean_reason

    assert clean_reason(raw) == clean
