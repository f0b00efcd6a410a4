"""scripts/bench_extract.py: it never writes into a folder it did not create, and it benchmarks a folder of real
videos without changing anything in it."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import load_script
from tests.real_videos import encode_variant
from tests.test_train_video import _script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "bench_extract.py"
FAST = ["--backbone", "mobilenetv3_small", "--frames", "4", "--flow-pairs", "1"]
ROWS = ("decode auto", "decode pyav", "decode decord", "CNN forward alone", "whole extraction", "TV-L1, 1 process")


def _bench(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return _script(SCRIPT.name, cwd, args, env)


def _snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder`` (hidden ones too): kind, size, modification time and content digest."""
    state: dict[str, tuple] = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        state[path.relative_to(folder).as_posix()] = (path.is_dir(), st.st_size, st.st_mtime_ns, digest)
    return state


def _load_script() -> ModuleType:
    return load_script(SCRIPT.name)


def _dataset_folder(root: Path) -> Path:
    """A small UCF101-like folder: a video, the class index and a split list (what the old script rewrote)."""
    (root / "UCF-101" / "ApplyEyeMakeup").mkdir(parents=True)
    (root / "UCF-101" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.avi").write_bytes(b"RIFF not really a video")
    (root / "ucfTrainTestlist").mkdir()
    (root / "ucfTrainTestlist" / "classInd.txt").write_bytes(b"1 ApplyEyeMakeup\r\n")
    (root / "ucfTrainTestlist" / "trainlist01.txt").write_bytes(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\r\n")
    return root


@pytest.mark.parametrize("option", ["--work", "--root"])
def test_a_folder_it_did_not_create_is_refused_and_left_alone(tmp_path: Path, option: str):
    # the script before this change regenerated synthetic clips under --root: it rewrote classInd.txt, emptied
    # trainlist01.txt, added testlist0k.txt, .complete and synthetic class folders, then went on benchmarking
    data = _dataset_folder(tmp_path / "UCF101")
    before = _snapshot(data)
    proc = _bench([option, str(data), *FAST], tmp_path)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr
    assert f"{option} {data}:" in errors[0] and ".har-vib-bench" in errors[0] and "new or empty folder" in errors[0]
    assert _snapshot(data) == before


def test_work_folder_rules(tmp_path: Path):
    bench = _load_script()
    fresh, temporary = bench.prepare_work(tmp_path / "new" / "work")
    assert not temporary and (fresh / bench.MARKER).is_file()
    (fresh / "clips").mkdir()
    assert bench.prepare_work(fresh) == (fresh, False)  # marked by an earlier run: reused
    empty = tmp_path / "empty"
    empty.mkdir()
    assert bench.prepare_work(empty)[0] == empty and (empty / bench.MARKER).is_file()
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(bench.UsageError, match="not a folder"):
        bench.prepare_work(tmp_path / "a_file")
    hidden_only = tmp_path / "hidden_only"
    hidden_only.mkdir()
    (hidden_only / ".DS_Store").write_bytes(b"\0")
    with pytest.raises(bench.UsageError, match="no .har-vib-bench marker"):
        bench.prepare_work(hidden_only)
    temp, temporary = bench.prepare_work(None)
    assert temporary and (temp / bench.MARKER).is_file()
    (temp / bench.MARKER).unlink()
    temp.rmdir()


def test_video_listing_skips_hidden_entries_and_other_files(tmp_path: Path):
    bench = _load_script()
    for rel in ("b/x.MP4", "a/y.avi", "a/z.mpg", "a/notes.txt", "._y.avi", ".ipynb_checkpoints/c.mp4", ".h/v.avi"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in bench.find_videos(tmp_path, 10)]
    assert found == ["a/y.avi", "a/z.mpg", "b/x.MP4"]
    assert [p.name for p in bench.find_videos(tmp_path, 2)] == ["y.avi", "z.mpg"]


def test_videos_and_json_inside_the_videos_folder_are_refused(tmp_path: Path):
    bench = _load_script()
    videos = tmp_path / "videos"
    videos.mkdir()
    for extra in (["--work", str(videos / "bench")], ["--json", str(videos / "bench.json")]):
        args = bench.parse_args(["--videos", str(videos), *extra])
        with pytest.raises(bench.UsageError, match="only read"):
            bench.check_args(args)
    with pytest.raises(bench.UsageError, match="--count now"):
        bench.check_args(bench.parse_args(["--videos", "32"]))


@pytest.mark.slow
def test_real_videos_are_benchmarked_read_only(tmp_path: Path):
    videos = tmp_path / "videos"
    encode_variant(videos / "a" / "v_xvid.avi", "xvid_avi", num_frames=8, size=(176, 144))
    encode_variant(videos / "b" / "v_h264.mp4", "h264_mp4", num_frames=8, size=(128, 96))
    encode_variant(videos / "c" / "v_odd.avi", "odd_avi", num_frames=8, size=(149, 112))
    (videos / "a" / "._v_xvid.avi").write_bytes(b"\0\5\26\7 AppleDouble")
    (videos / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (videos / "readme.txt").write_text("not a video\n")
    before = _snapshot(videos)
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    out = tmp_path / "out" / "bench.json"
    args = ["--videos", str(videos), "--count", "3", "--json", str(out), *FAST]
    proc = _bench(args, tmp_path, env={"TMPDIR": str(temp_root)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for label in ROWS:
        assert label in proc.stdout, (label, proc.stdout)
    assert re.search(r"^TV-L1, \d+ processes +: +\d", proc.stdout, re.M)  # TV-L1 with every core
    assert _snapshot(videos) == before  # byte for byte, same times, no new files
    work = Path(re.search(r"^work folder: (.+) \(temporary, removed at the end\)$", proc.stdout, re.M).group(1))
    assert work.parent == temp_root and not work.exists()

    rows = json.loads(out.read_text())["rows"]
    by_name: dict[str, list[dict]] = {}
    for row in rows:
        by_name.setdefault(row["row"], []).append(row)
    assert set(by_name) == {"setup", "decode", "forward", "extraction", "tvl1_one_process", "tvl1_all_cores"}
    listed = [(v["path"], tuple(v["size"]), v["auto_decoder"]) for v in by_name["setup"][0]["videos"]]
    assert listed == [("a/v_xvid.avi", (176, 144), "pyav"), ("b/v_h264.mp4", (128, 96), "decord"),
                      ("c/v_odd.avi", (149, 112), "pyav")]  # fmt: skip
    decode = {row["decoder"]: row for row in by_name["decode"]}
    assert [decode[d]["videos"] for d in ("auto", "pyav", "decord")] == [3, 3, 1]  # decord: only where auto uses it
    for row in decode.values():
        assert row["frames"] == 4 * row["videos"] and not row["failed"]
        assert row["decode_fps"] > row["decode_preprocess_fps"] > 0
    extraction = by_name["extraction"][0]
    assert (extraction["extracted"], extraction["skipped"], extraction["frames"]) == (3, 0, 12)
    assert extraction["fps"] > 0 and extraction["ratio_to_forward"] > 0 and by_name["forward"][0]["fps"] > 0
    assert by_name["tvl1_one_process"][0]["pairs"] == 1 and by_name["tvl1_all_cores"][0]["pairs_per_s"] > 0
