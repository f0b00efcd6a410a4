"""scripts/rehearse_scale.py: the growth flags on made-up stage records, the tables, and a smoke test of running a
stage (memory of the whole process tree, the timeout that stops the tree)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "rehearse_scale.py"


@pytest.fixture(scope="module")
def rehearse() -> ModuleType:
    return load_script(SCRIPT.name)


def _records(m: ModuleType) -> list:
    rec = m.StageRecord
    return [
        rec(0.01, "flow", 133, 10.0, 300.0, 250.0, 120.0, 5.0),
        rec(0.1, "flow", 1332, 100.0, 310.0, 255.0, 121.0, 50.0),  # linear time and disk, flat memory
        rec(0.01, "train", 133, 2.0, 800.0, 700.0, 700.0, 1.0),
        rec(0.1, "train", 1332, 200.0, 8000.0, 7000.0, 7000.0, 1.0),  # time x100, memory x10 for x10 videos
        rec(0.01, "features-rgb", 133, 1.0, 500.0, 400.0, 400.0, 1.0),
        rec(0.1, "features-rgb", 1332, 9.0, 500.0, 400.0, 400.0, 1.0, status="timeout"),
    ]


def test_growth_flags_only_what_grows_faster_than_the_videos(rehearse):
    rows = {g.name: g for g in rehearse.growth_between_scales(_records(rehearse))}
    assert set(rows) == {"flow", "train"}  # a stage that timed out at one scale is not compared
    flow, train = rows["flow"], rows["train"]
    assert flow.videos_ratio == pytest.approx(1332 / 133)
    assert flow.time_exponent == pytest.approx(1.0, abs=0.01) and not flow.flags
    assert train.time_exponent == pytest.approx(2.0, abs=0.01)
    assert any("time grows faster" in f for f in train.flags)
    assert train.memory_exponent == pytest.approx(1.0, abs=0.01)  # 10x memory for 10x videos: linear, not flagged
    assert not any("memory" in f for f in train.flags)
    # the line through both points, extended to UCF101's 13,320 videos
    assert flow.marginal_s_per_video == pytest.approx(90 / 1199)
    assert flow.full_size_s == pytest.approx(1000.0, rel=1e-3) and flow.full_size_disk_mb == pytest.approx(
        500, rel=1e-3
    )


def test_a_rerun_of_some_stages_keeps_the_records_of_the_others(rehearse, tmp_path, monkeypatch):
    work = rehearse.scale_dir(tmp_path, 0.01)
    work.mkdir(parents=True)
    old = [rehearse.StageRecord(0.01, name, 133, 1.0) for name in ("generate", "flow", "train")]
    (work / "stages.json").write_text(json.dumps([rehearse.asdict(r) for r in old]))
    (work / "data" / "flow").mkdir(parents=True)
    (work / "run").mkdir()

    def fake_stage(name, cmd, **kwargs):
        return rehearse.StageRecord(kwargs["scale"], name, kwargs["videos"], 2.0, status="exit 1")

    monkeypatch.setattr(rehearse, "run_stage", fake_stage)
    rehearse.rehearse(0.01, tmp_path, rehearse.Settings(), ["train"], timeout=5)
    stages = {r.stage: r for r in rehearse.load_records(tmp_path)}
    assert set(stages) == {"generate", "flow", "train"} and stages["train"].wall_s == 2.0
    assert (work / "data" / "flow").is_dir() and not (work / "run").exists()  # only the rerun stage's outputs go


def test_noise_in_tiny_times_is_not_flagged(rehearse):
    rec = rehearse.StageRecord
    rows = rehearse.growth([rec(0.01, "x", 10, 0.01)], [rec(0.1, "x", 100, 0.5)])
    assert rows[0].time_exponent > 1.5 and not rows[0].flags


def test_tables_and_reports(rehearse, tmp_path):
    records = _records(rehearse)
    for scale in (0.01, 0.1):
        folder = tmp_path / f"scale-{scale:g}"
        folder.mkdir()
        rows = [rehearse.asdict(r) for r in records if r.scale == scale]
        (folder / "stages.json").write_text(json.dumps(rows))
    loaded = rehearse.load_records(tmp_path)
    assert len(loaded) == len(records)
    costs = [
        rehearse.FixedCost(0.1, "parse", 1332, 0.01),
        rehearse.FixedCost(1.0, "parse", 13320, 0.1),
        rehearse.FixedCost(0.1, "quadratic", 1332, 0.01),
        rehearse.FixedCost(1.0, "quadratic", 13320, 1.0),
    ]
    table = rehearse.fixed_cost_table(costs)
    lines = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()}
    assert "faster than linear" in lines["quadratic"] and "faster than linear" not in lines["parse"]
    report = rehearse.write_reports(tmp_path, loaded, costs, rehearse.Settings(), 1.15)
    text = report.read_text()
    assert "| 0.01 | flow | 133 | 10.0 | 13.3 |" in text
    assert "time grows faster than linearly" in text and "## Per-video fixed costs" in text
    csv_lines = (tmp_path / "rehearsal.csv").read_text().splitlines()
    assert csv_lines[0].startswith("scale,stage,videos,wall_s,videos_per_s") and len(csv_lines) == 1 + len(records)
    data = json.loads((tmp_path / "rehearsal.json").read_text())
    assert {g["name"] for g in data["growth"]} == {"flow", "train"}


CHILD_ALLOCATES = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "b = bytearray(150 * 2**20); import time; time.sleep(2)"])
time.sleep(0.5)
child.wait()
"""


def test_a_stage_is_measured_with_its_children(rehearse, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "file").write_bytes(b"x" * 100_000)
    rec = rehearse.run_stage(
        "smoke",
        [sys.executable, "-c", CHILD_ALLOCATES],
        scale=0.01,
        videos=10,
        timeout=60,
        log_path=tmp_path / "smoke.log",
        outputs=lambda: [out],
        interval=0.1,
    )
    assert rec.status == "ok" and rec.wall_s >= 2
    assert rec.peak_tree_rss_mb >= 150  # the child's bytearray, counted in the tree
    assert rec.max_process_rss_mb >= 150  # the kernel's peak of the largest process waited for
    assert rec.extra["max_processes"] >= 2
    assert rec.disk_mb >= 0.09
    assert rec.videos_per_s == pytest.approx(10 / rec.wall_s)


def test_a_stage_past_its_timeout_is_stopped_with_its_children(rehearse, tmp_path):
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(c.pid))\n"
        "time.sleep(60)\n"
    )
    start = time.monotonic()
    rec = rehearse.run_stage(
        "hang", [sys.executable, "-c", code], scale=0.01, videos=1, timeout=2, log_path=tmp_path / "hang.log"
    )
    assert rec.status == "timeout" and time.monotonic() - start < 30
    child = int(pid_file.read_text())
    for _ in range(50):  # the grandchild went with its process group
        if not os.path.exists(f"/proc/{child}") or "Z" in Path(f"/proc/{child}/stat").read_text().split(")")[1][:3]:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"child {child} still runs after the stage's timeout")


def test_a_failing_stage_says_how(rehearse, tmp_path):
    rec = rehearse.run_stage(
        "fail",
        [sys.executable, "-c", "raise SystemExit(3)"],
        scale=0.01,
        videos=1,
        timeout=30,
        log_path=tmp_path / "f.log",
    )
    assert rec.status == "exit 3"
