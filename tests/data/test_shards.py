"""Sharded extraction: a stable assignment of videos to shards, the shard from the keys or the environment, and two
shards running at once that leave exactly the caches one process leaves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from har_vib.data.flow import FlowConfig, extract_dataset_flow, flow_skipped
from har_vib.data.shards import (
    Shard,
    read_skipped,
    resolve_shard,
    shard_args_to_overrides,
    shard_of,
    shard_tag,
    temp_owner,
)
from har_vib.errors import ConfigError
from har_vib.features.extract import extraction_status
from har_vib.features.store import FeatureStore
from har_vib.utils.io import file_identity
from tests.conftest import ROOT
from tests.data.shard_worker import FAST, stores, tiny_encoder


def test_assignment_is_a_stable_partition():
    ids = [f"C{c}/v_C{c}_g{g:02d}_c{k:02d}" for c in range(5) for g in range(1, 8) for k in range(1, 4)]
    for n in (1, 2, 3, 16):
        owners = [[v for v in ids if Shard(k, n).owns(v)] for k in range(n)]
        assert sorted(v for part in owners for v in part) == sorted(ids)  # each video in exactly one shard
        assert Shard(1 % n, n).select([(v, 0) for v in reversed(ids)]) == [(v, 0) for v in reversed(owners[1 % n])]
    # pinned: a changed hash would move videos between the shards of an array that is already running
    assert shard_of("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01", 16) == 15
    assert shard_of("YoYo/v_YoYo_g25_c05", 16) == 1
    assert shard_of("brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0", 7) == 1


def test_shard_from_keys_slurm_array_or_torchrun():
    assert resolve_shard(environ={}) == Shard(0, 1)
    assert resolve_shard(2, 4, environ={"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_COUNT": "16"}) == Shard(2, 4)
    slurm = {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "16"}
    assert resolve_shard(environ=slurm) == Shard(7, 16)
    # --array=1-16: ids 1..16 are shards 0..15
    assert resolve_shard(environ={**slurm, "SLURM_ARRAY_TASK_ID": "16", "SLURM_ARRAY_TASK_MIN": "1"}) == Shard(15, 16)
    assert resolve_shard(environ={"RANK": "3", "WORLD_SIZE": "8"}) == Shard(3, 8)
    assert resolve_shard(environ={**slurm, "RANK": "3", "WORLD_SIZE": "8"}) == Shard(7, 16)  # the array wins
    with pytest.raises(ConfigError, match=r"0 <= shard < num_shards.*SLURM_ARRAY_TASK_ID"):
        resolve_shard(environ={"SLURM_ARRAY_TASK_ID": "30", "SLURM_ARRAY_TASK_COUNT": "16"})  # --array=0-30:2
    with pytest.raises(ConfigError, match=r"extract.num_shards \(--num-shards\) is not set"):
        resolve_shard(3, None, environ={})
    with pytest.raises(ConfigError, match="need two integers"):
        resolve_shard("a", 2, environ={})
    assert shard_tag(3, 16) == "shard-03-of-16" and shard_tag(None, None) in ("all", "shard-invalid")
    assert Shard(3, 16).skipped_file == "skipped.shard-03-of-16.json" and Shard().skipped_file == "skipped.json"


def test_script_flags_become_overrides():
    argv = ["dataset=ucf101", "--shard", "3", "--num-shards=16", "flow.workers=4"]
    assert shard_args_to_overrides(argv) == [
        "dataset=ucf101",
        "extract.shard=3",
        "extract.num_shards=16",
        "flow.workers=4",
    ]
    with pytest.raises(ConfigError, match="--shard needs a value"):
        shard_args_to_overrides(["--shard"])
    with pytest.raises(ConfigError, match="--shard x: must be a whole number"):  # was: 'num_shards is not set'
        shard_args_to_overrides(["--shard", "x", "--num-shards", "2"])


def _ids_owned(shard: Shard, n: int = 40) -> tuple[str, str]:
    """One video id this shard owns and one it does not."""
    ids = [f"C/v_{i}" for i in range(n)]
    return next(v for v in ids if shard.owns(v)), next(v for v in ids if not shard.owns(v))


def test_a_shard_removes_only_its_own_leftovers(tmp_path):
    """A temp of another shard may be a write in progress: only the owner's leftovers are cleared."""
    shard = Shard(0, 2)
    mine, theirs = _ids_owned(shard)
    store = FeatureStore(tmp_path / "f", {"dataset": "d", "stream": "rgb", "backbone": "b", "frames": 4, "dim": 3})
    store.open()
    (store.entries / "C").mkdir()
    leftovers = {
        f"entries/{mine}.npy": True,
        f"entries/{mine}{'.source.json'}": True,
        f"entries/{theirs}.npy": False,
        f"entries/{theirs}.source.json": False,
        "skipped.shard-0-of-2.json": True,
        "skipped.shard-1-of-2.json": False,
        "manifest.json": False,
    }
    temps = {}
    for target, removed in leftovers.items():
        path = store.root / target
        temp = path.with_name(f".tmp-{path.name}.k3j2x_9")
        temp.write_bytes(b"half")
        assert temp_owner(temp, store.root, (".npy", ".source.json")) == target.removesuffix(".npy").removesuffix(
            ".source.json"
        )
        temps[temp] = removed
    store.open(shard)
    assert {t: not t.exists() for t in temps} == temps
    store.open()  # unsharded: this process owns everything
    assert not list(store.root.rglob(".tmp-*"))

    root = tmp_path / "flow"
    (root / "C").mkdir(parents=True)
    own_dir = root / "C" / f".tmp-{mine.split('/')[1]}.abc"  # atomic_dir's temp folder, and its .old. twin
    old_dir = root / "C" / f".tmp-{mine.split('/')[1]}.old.abc"
    other_dir = root / "C" / f".tmp-{theirs.split('/')[1]}.abc"
    for d in (own_dir, old_dir, other_dir):
        d.mkdir()
        (d / "flow_x_00001.jpg").write_bytes(b"x")
    extract_dataset_flow([], root, FlowConfig(tvl1=FAST), progress=False, shard=shard)
    assert not own_dir.exists() and not old_dir.exists() and other_dir.exists()


def test_skipped_files_merge_and_a_later_success_wins(tmp_path):
    store = FeatureStore(tmp_path, {"dataset": "d", "stream": "rgb", "backbone": "b", "frames": 4, "dim": 3}).open()
    a, b = Shard(0, 2), Shard(1, 2)
    (va, _), (vb, _) = _ids_owned(a), _ids_owned(b)
    store.write_skipped({va: "too short: 1 frames, need at least 2"}, {va: {"size": 1, "mtime_ns": 1}}, a)
    store.write_skipped({vb: "cannot open"}, {}, b)
    assert store.skipped() == {va: "too short: 1 frames, need at least 2", vb: "cannot open"}
    assert store.skipped_sources()[va] == {"size": 1, "mtime_ns": 1}
    store.save(vb, np.zeros((4, 3)))  # another run (any shard count) extracted it since
    assert store.skipped() == {va: "too short: 1 frames, need at least 2"}
    assert sorted(p.name for p in store.root.glob("skipped*.json")) == [a.skipped_file, b.skipped_file]
    (store.root / "skipped.json").write_text("not json")  # never written half (atomic), but say it is broken
    assert read_skipped(store.root)[0] == {va: "too short: 1 frames, need at least 2", vb: "cannot open"}


def _tiny_videos(video_roots: dict[str, Path]) -> tuple[Path, list[tuple[str, str]]]:
    root = video_roots["ucf101"] / "UCF-101"
    videos = [(f"{p.parent.name}/{p.stem}", str(p.relative_to(root))) for p in sorted(root.rglob("*.avi"))]
    return root, [*videos, ("Broken/v_Broken_g01_c01", "Broken/v_Broken_g01_c01.avi")]  # a file that is not there


def _run_workers(tmp_path: Path, name: str, video_root: Path, videos, num_shards: int) -> list[dict]:
    jobs = []
    for k in range(num_shards):
        job = {
            "videos": videos,
            "video_root": str(video_root),
            "flow_root": str(tmp_path / name / "flow"),
            "cache": str(tmp_path / name / "features"),
            "shard": k,
            "num_shards": num_shards,
            "barrier": str(tmp_path / name / "barrier"),
            "parties": num_shards,
        }
        path = tmp_path / f"{name}-{k}.json"
        path.write_text(json.dumps(job))
        jobs.append(path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.data.shard_worker", str(job)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for job in jobs
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith("skipped")
    }


def test_two_concurrent_shards_equal_one_process(tmp_path, video_roots):
    """Two processes extracting shard 0 and 1 of 2 at the same time leave byte-for-byte the flow images, feature
    arrays and skipped list that one process leaves."""
    video_root, videos = _tiny_videos(video_roots)
    sharded = _run_workers(tmp_path, "sharded", video_root, videos, 2)
    single = _run_workers(tmp_path, "single", video_root, videos, 1)
    # both shards did work, and together what the single process did
    flow_counts = [r["flow"]["extracted"] for r in sharded]
    assert min(flow_counts) > 0 and sum(flow_counts) == single[0]["flow"]["extracted"] == len(videos) - 1
    for stream in ("rgb", "flow"):
        assert sum(r["features"][stream][0] for r in sharded) == single[0]["features"][stream][0] == len(videos) - 1
        assert sum(r["features"][stream][1] for r in sharded) == single[0]["features"][stream][1] == 1

    flow_a, flow_b = _files(tmp_path / "sharded" / "flow"), _files(tmp_path / "single" / "flow")
    assert len(flow_a) > 3 * (len(videos) - 1) and flow_a.keys() == flow_b.keys()
    assert [k for k in flow_a if flow_a[k] != flow_b[k]] == []
    expected = {"Broken/v_Broken_g01_c01": "file not found"}
    assert flow_skipped(tmp_path / "sharded" / "flow") == flow_skipped(tmp_path / "single" / "flow") == expected
    assert sorted(p.name for p in (tmp_path / "sharded" / "flow").glob("skipped*")) == [
        "skipped.shard-0-of-2.json",
        "skipped.shard-1-of-2.json",
    ]

    feats_a, feats_b = _files(tmp_path / "sharded" / "features"), _files(tmp_path / "single" / "features")
    assert sum(k.endswith(".npy") for k in feats_a) == 2 * (len(videos) - 1) and feats_a.keys() == feats_b.keys()
    assert [k for k in feats_a if feats_a[k] != feats_b[k]] == []
    encoder = tiny_encoder()
    config = FlowConfig(tvl1=FAST)
    for a, b in zip(
        stores(tmp_path / "sharded" / "features", video_root, encoder, config).values(),
        stores(tmp_path / "single" / "features", video_root, encoder, config).values(),
    ):
        assert a.skipped().keys() == b.skipped().keys() == expected.keys()
    assert not list(tmp_path.rglob(".tmp-*"))

    # which shards are finished (scripts/extract_status.py): all, until a video's flow goes missing
    sharded_stores = stores(tmp_path / "sharded" / "features", video_root, encoder, config)
    ids = [v for v, _ in videos]
    identities = {v: file_identity(video_root / rel) for v, rel in videos}
    rows = extraction_status(ids, 2, identities, tmp_path / "sharded" / "flow", sharded_stores)
    assert [row.finished for row in rows] == [True, True] and sum(row.videos for row in rows) == len(videos)
    assert sum(row.skipped["tvl1"] + row.skipped["rgb-features"] for row in rows) == 2  # the missing file
    victim = next(v for v in ids[:-1] if Shard(1, 2).owns(v))
    shutil.rmtree(tmp_path / "sharded" / "flow" / victim)
    rows = extraction_status(ids, 2, identities, tmp_path / "sharded" / "flow", sharded_stores)
    assert [row.finished for row in rows] == [True, False] and rows[1].left == {
        "tvl1": 1,
        "rgb-features": 0,
        "flow-features": 0,
    }
