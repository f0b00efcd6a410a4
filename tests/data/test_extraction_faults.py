"""Write errors in the extraction stage are errors, with real kernel errors (a child process past its file size
limit gets EFBIG, as a full disk gives ENOSPC): never a skipped video, never finished work, no temp file left, and
the scripts say so in one line naming the file."""

from __future__ import annotations

import errno
import json
import shutil
import sys
from pathlib import Path

import pytest

from har_vib.data.flow import FlowConfig, extract_dataset_flow, flow_skipped
from har_vib.data.synthetic import VERIFIED_FILE, SyntheticSpec, clip_problem, generate
from tests.conftest import ROOT
from tests.data.faults import python_limited, run_limited
from tests.data.shard_worker import FAST
from tests.videos import SYNTHETIC_TINY, TINY_VIDEOS


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".tmp-*")]


def test_flow_write_error_stops_extraction_and_records_nothing(tmp_path, video_roots):
    """Flow on a disk that refuses writes: an OSError naming the image (in the worker pool and in-process), no
    folder, no temp, nothing recorded as skipped; the next run with room extracts the videos."""
    videos = [(f"{p.parent.name}/{p.stem}", str(p)) for p in sorted((video_roots["ucf101"] / "UCF-101").rglob("*.avi"))]
    videos = videos[:2]
    root = tmp_path / "flow"
    extract_dataset_flow([], root, FlowConfig(tvl1=FAST), progress=False)  # params.json, written while there is room
    result = python_limited(
        f"""
        import json
        from pathlib import Path
        from har_vib.data.flow import FlowConfig, TVL1Params, extract_dataset_flow

        config = FlowConfig(tvl1=TVL1Params(nscales=2, warps=2, inner_iterations=5, outer_iterations=2))
        out = {{}}
        for workers in (2, 1):
            try:
                extract_dataset_flow({videos!r}, Path({str(root)!r}), config, workers=workers, progress=False)
                out[workers] = None
            except OSError as err:
                out[workers] = [err.errno, err.filename]
        print(json.dumps(out))
        """,
        limit=100,  # flow images are ~400 bytes; the worker pool's semaphores (32 bytes in /dev/shm) fit
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for workers in ("2", "1"):
        assert out[workers] is not None, f"workers={workers}: a failed write passed as success"
        code, filename = out[workers]
        assert code == errno.EFBIG
        assert Path(filename).name == "flow_x_00001.jpg" and Path(filename).parent in {root / v for v, _ in videos}
    assert not _leftovers(root)
    assert not [p for p in root.rglob("meta.json")]  # nothing committed as finished
    assert flow_skipped(root) == {}  # not the videos' fault
    counts = extract_dataset_flow(videos, root, FlowConfig(tvl1=FAST), progress=False)
    assert counts["extracted"] == 2 and counts["skipped"] == 0


def test_torch_backend_write_error_is_an_error(tmp_path, video_roots):
    """The batched torch TV-L1 writes a video as soon as its pairs are done: a failed write raises the same way."""
    videos = [(f"{p.parent.name}/{p.stem}", str(p)) for p in sorted((video_roots["ucf101"] / "UCF-101").rglob("*.avi"))]
    root = tmp_path / "flow"
    extract_dataset_flow([], root, FlowConfig(tvl1=FAST, backend="torch"), progress=False)
    result = python_limited(
        f"""
        import json
        from pathlib import Path
        from har_vib.data.flow import FlowConfig, TVL1Params, extract_dataset_flow

        fast = TVL1Params(nscales=2, warps=2, inner_iterations=5, outer_iterations=2)
        config = FlowConfig(tvl1=fast, backend="torch")
        try:
            extract_dataset_flow({videos[:2]!r}, Path({str(root)!r}), config, device="cpu", progress=False)
            print(json.dumps(None))
        except OSError as err:
            print(json.dumps([err.errno, err.filename]))
        """,
        limit=100,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out is not None and out[0] == errno.EFBIG and Path(out[1]).name == "flow_x_00001.jpg"
    assert not _leftovers(root) and not list(root.rglob("meta.json")) and flow_skipped(root) == {}


def test_synthetic_clips_on_a_full_disk_are_an_error(tmp_path):
    """cv2.VideoWriter writes a truncated clip without a word: generation now fails naming it, marks nothing
    complete, leaves no temp, and a rerun with room finishes."""
    root = tmp_path / "synthetic"
    result = python_limited(
        f"""
        import json
        from har_vib.data.synthetic import SyntheticSpec, generate

        try:
            generate(SyntheticSpec(**{TINY_VIDEOS!r}), {str(root)!r}, progress=False)
            print(json.dumps(None))
        except OSError as err:
            print(json.dumps([err.errno, err.filename, err.strerror]))
        """,
        limit=4096,  # the tiny clips are 7-9 KB
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out is not None, "a clip cut short by the file size limit was kept"
    code, filename, strerror = out
    assert code == errno.EFBIG and filename.endswith(".avi") and "too large" in strerror.lower()
    assert not Path(filename).exists() and not _leftovers(root)
    assert not (root / ".complete").exists()
    generate(SyntheticSpec(**TINY_VIDEOS), root, progress=False)
    clips = sorted(root.rglob("*.avi"))
    assert len(clips) == 3 * 4 * 2 and (root / ".complete").is_file() and (root / VERIFIED_FILE).is_file()


def _spec_lengths(root: Path) -> dict[Path, int]:
    from har_vib.data.video import frame_count

    return {p: frame_count(p, "pyav") for p in sorted(root.rglob("*.avi"))}


def test_broken_clips_of_an_older_run_are_rewritten(tmp_path, caplog):
    """A 0-byte or truncated clip left by an earlier run (interrupted, or completed by a generator that did not
    check its clips) is rendered again, identical to a clean one."""
    from har_vib.datamodules.video_datamodule import VideoDataModule

    spec = SyntheticSpec(**TINY_VIDEOS)
    clean = generate(spec, tmp_path / "clean", progress=False)
    root = tmp_path / "old"
    shutil.copytree(clean, root)
    clips = sorted(root.rglob("*.avi"))
    original = {p: p.read_bytes() for p in clips}
    clips[0].write_bytes(b"")
    clips[1].write_bytes(original[clips[1]][: len(original[clips[1]]) // 2])
    assert clip_problem(clips[0], 9) == "0 bytes" and clip_problem(clips[1], 1) is not None
    (root / ".complete").unlink()  # interrupted before it finished
    generate(spec, root, progress=False)
    assert {p: p.read_bytes() for p in clips} == original
    assert "rewriting" in caplog.text and "0 bytes" in caplog.text

    # completed by the older generator (a .complete, no .verified): the datamodule has its clips checked once
    clips[2].write_bytes(b"")
    (root / VERIFIED_FILE).unlink()
    dm = VideoDataModule(name="synthetic", root=str(root), synthetic=dict(TINY_VIDEOS))
    dm._ensure_synthetic()
    assert clips[2].read_bytes() == original[clips[2]] and (root / VERIFIED_FILE).is_file()


VIDEO_TINY = [
    *SYNTHETIC_TINY,
    "flow.workers=1",
    "flow.tvl1.nscales=2",
    "flow.tvl1.warps=2",
    "flow.tvl1.inner_iterations=5",
    "flow.tvl1.outer_iterations=2",
    "features.frames=4",
    "features.num_workers=0",
    "backbone=resnet18",
    "backbone.pretrained=false",
    "backbone.img_size=32",
    # nothing in the run folder: the file size limit is for the caches
    "hydra.output_subdir=null",
    "hydra/job_logging=none",
    "hydra/hydra_logging=none",
]


def _script(name: str, tmp_path: Path, *extra: str, limit: int | None = None):
    argv = [sys.executable, str(ROOT / "scripts" / name), *VIDEO_TINY, f"paths.data_dir={tmp_path / 'data'}"]
    return run_limited([*argv, f"paths.log_dir={tmp_path / 'out'}", *extra], limit, env={"WANDB_MODE": "disabled"})


def test_scripts_exit_1_with_one_line_naming_the_file(tmp_path):
    """extract_flow.py and extract_features.py on a disk that refuses writes: exit 1 and one line (path, cause,
    fix), no traceback, no temp, nothing recorded as skipped."""
    first = _script("extract_flow.py", tmp_path, "--shard", "0", "--num-shards", "2")  # clips, params.json, shard 0
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.strip().startswith("shard 0 of 2: ")
    (flow_root,) = (tmp_path / "data" / "flow").glob("synthetic-ucf101-*/tvl1-*")

    flow = _script("extract_flow.py", tmp_path, "--shard", "1", "--num-shards", "2", limit=100)
    assert flow.returncode == 1, flow.stderr[-3000:]
    line = flow.stderr.strip().splitlines()[-1]
    assert line.startswith("error: cannot write ") and "Traceback" not in flow.stderr
    assert "flow_x_00001.jpg: File too large (errno 27)" in line
    assert "ulimit -f" in line and "paths.data_dir (or flow.cache_dir)" in line
    assert not _leftovers(flow_root) and flow_skipped(flow_root) == {}
    assert not (flow_root / "skipped.shard-1-of-2.json").exists()

    feats = _script("extract_features.py", tmp_path, "--shard", "0", "--num-shards", "2", limit=4096)
    assert feats.returncode == 1, feats.stderr[-3000:]
    line = feats.stderr.strip().splitlines()[-1]
    assert line.startswith("error: cannot write ") and "Traceback" not in feats.stderr
    assert ".npy: File too large (errno 27)" in line and "paths.data_dir (or features.cache_dir)" in line
    (store,) = (tmp_path / "data" / "features").glob("synthetic-ucf101-*/rgb-*")
    assert not _leftovers(store) and not list(store.rglob("*.npy")) and not list(store.rglob("*.source.json"))
    assert not list(store.glob("skipped*.json"))


@pytest.mark.parametrize("argv", [["--shard", "2", "--num-shards", "2"], ["--shard"], ["--shard", "x"]])
def test_scripts_refuse_a_bad_shard_in_one_line(tmp_path, argv):
    result = _script("extract_flow.py", tmp_path, *argv)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]  # no task folder (.hydra/, log) left


def test_the_encoders_weights_are_fetched_before_the_flow(tmp_path: Path, video_roots, monkeypatch):
    """TV-L1 of a whole dataset takes hours on a CPU node: a download that fails must say so before it starts."""
    from har_vib.datamodules.video_datamodule import VideoDataModule
    from har_vib.errors import ConfigError
    from har_vib.features import backbones

    def unreachable(spec, hub):
        raise ConfigError(f"backbone {spec.model_name!r}: downloading its pretrained weights failed: no answer")

    flow_started = []
    monkeypatch.setattr(backbones, "_hf_cached_file", lambda hub: None)  # nothing cached
    monkeypatch.setattr(backbones, "downloads_off", lambda spec: [])  # downloading on (the suite runs offline)
    monkeypatch.setattr(backbones, "download_weights", unreachable)
    monkeypatch.setattr(VideoDataModule, "extract_flow", lambda self, *a, **k: flow_started.append(1) or {})
    dm = VideoDataModule(
        name="ucf101",
        root=str(video_roots["ucf101"]),
        streams=("rgb", "flow"),
        frames=4,
        backbone={"name": "mobilenetv3_small", "model_name": "mobilenetv3_small_050.lamb_in1k", "pretrained": True},
        features={"cache_dir": str(tmp_path / "features"), "frames": 4},
        flow={"cache_dir": str(tmp_path / "flow")},
    )
    with pytest.raises(ConfigError, match="downloading its pretrained weights failed"):
        dm.extract_features(progress=False)
    assert not flow_started


def test_no_validation_video_left_is_one_clear_error(tmp_path: Path):
    """Validation takes whole groups: when the skipped videos leave every class one usable training group, the run
    used to crash inside Lightning ("Early stopping conditioned on metric val/acc which is not available")."""
    from har_vib.data.splits import parse_ucf101
    from har_vib.datamodules.video_datamodule import VideoDataModule
    from har_vib.errors import ConfigError

    root = generate(SyntheticSpec(layout="ucf101", **TINY_VIDEOS), tmp_path / "ucf101", progress=False)
    split = parse_ucf101(root / "UCF-101", root / "ucfTrainTestlist", 1)
    first_group = {r.label: r.group for r in sorted(split.train, key=lambda r: r.group)}
    for r in split.train:
        if r.group != first_group[r.label]:
            (root / "UCF-101" / r.path).write_bytes(b"")  # unreadable: skipped
    dm = VideoDataModule(name="ucf101", root=str(root), frames=4, frame_size=(24, 32))
    with pytest.raises(ConfigError, match=r"dataset.val_fraction=0.1 holds out no validation video"):
        dm.setup("fit")


def test_ctrl_c_is_one_line_and_the_rerun_resumes(tmp_path: Path):
    """SIGINT mid-extraction (Ctrl-C) printed a 40-line KeyboardInterrupt traceback; it is one line and exit 130."""
    import os
    import signal
    import subprocess
    import time

    # full-quality TV-L1 (not VIDEO_TINY's fast settings): long enough to be interrupted in the middle
    argv = [*SYNTHETIC_TINY, "flow.workers=1", f"paths.data_dir={tmp_path / 'data'}", "hydra/job_logging=none"]
    argv += [f"paths.log_dir={tmp_path / 'out'}", "hydra/hydra_logging=none", "hydra.output_subdir=null"]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "extract_flow.py"), *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "WANDB_MODE": "disabled"},
    )
    err = bytearray()
    try:
        deadline = time.monotonic() + 240
        while b"TV-L1 flow" not in err and time.monotonic() < deadline and proc.poll() is None:
            chunk = proc.stderr.read1(4096)
            if not chunk:
                break
            err.extend(chunk)
        assert b"TV-L1 flow" in err, err.decode(errors="replace")[-3000:]
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    text = (err + rest).decode(errors="replace")
    assert proc.returncode == 130, text[-3000:]
    assert "Traceback" not in text
    assert text.strip().splitlines()[-1].startswith("interrupted: every finished video is kept")
