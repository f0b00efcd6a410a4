"""A UCF101-size rehearsal: every stage of the video pipeline on generated clips of UCF101's official shape, each
stage in its own subprocess with a timeout, timed and measured, in one table.

    python scripts/rehearse_scale.py --scale 0.1                 # 1,332 clips: make rehearse SCALE=0.1
    python scripts/rehearse_scale.py --scale 0.01 0.1            # two scales, and how each stage grows between them
    python scripts/rehearse_scale.py --scale 0.1 --fixed-costs 0.1 1 --stages none   # per-video costs only

Stages (scripts/make_synthetic_videos.py --scale, extract_flow.py, extract_features.py per stream, train.py, and
extract_features.py again with everything cached): videos, wall seconds, videos/s, the peak memory of the stage's
whole process tree (pool and DataLoader workers included) and the disk its outputs take. The clips are small
(80x60, 12-16 frames by default), the frame encoder a random-init MobileNet-v3 at a 64-pixel crop, so the figures
measure the per-video machinery more than real decode and CNN work (real UCF101 clips: 7.2 s, ~180 frames, 320x240).

Memory: the process tree (the stage's process and every descendant, found through each process's parent id) is
sampled every --sample-interval seconds with psutil when it is installed, else from /proc (VmRSS in
/proc/<pid>/status, Pss in /proc/<pid>/smaps_rollup). "tree RSS" sums RSS over the tree, counting shared pages
(torch's libraries, copy-on-write memory of forked workers) once per process; "tree PSS" splits shared pages among
the processes that map them, so it is what the tree really holds; both are sampled peaks (a spike shorter than the
interval can be missed). "max process RSS" is the kernel's own peak (ru_maxrss from wait4) of the largest single
process the stage waited for: exact, not sampled.

Disk: allocated blocks (du) of the stage's outputs: the clips, the flow folder, each feature store, the run folder.

Everything goes under --out (outputs/rehearse): scale-<F>/ holds the clips (data/raw/ucf101, kept and reused by a
later rehearsal of the same scale and clip settings), the caches and the run folder (both emptied before each
rehearsal), each stage's log (logs/<stage>.log) and stages.json. rehearsal.md / .csv / .json hold every scale
found under --out, the growth from each scale to the next (ratio of time, memory and disk against the ratio of
videos; an exponent log(time ratio) / log(videos ratio) above --superlinear is flagged as faster than linear) and
the per-video fixed costs measured in this process (--fixed-costs).

Per-video fixed costs (--fixed-costs SCALE ...): what grows with the dataset without decoding a video, timed in
this process on the layout alone: the split files and an empty placeholder file per clip
(har_vib.data.synthetic.write_layout), feature-store entries of small random features written for every clip, and
flow folders holding only meta.json. Split parsing, the validation carve, file identities, shard selection, the
feature store's index (open, missing, skipped, write_skipped), a flow rerun that finds every folder current,
extraction_status, the DataModule's prepare_data() and setup(), and a pass over the training set's items.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _bootstrap  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("generate", "flow", "features-rgb", "features-flow", "train", "features-rerun")
MB = 1024 * 1024
FULL_SIZE = 13_320  # UCF101's videos

# ---------------------------------------------------------------------------------------------- process trees


def _proc_stats() -> Iterator[tuple[int, list[bytes]]]:
    """``(pid, fields of /proc/<pid>/stat after the name)`` of every process /proc shows: state, parent pid,
    process group, ... (the name may hold spaces and parentheses, so the fields start after its last ')')."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue  # exited meanwhile
        yield int(entry.name), data[data.rfind(b")") + 2 :].split()


def _proc_children() -> dict[int, list[int]]:
    """``{parent pid: [child pids]}`` of every process /proc shows."""
    kids: dict[int, list[int]] = {}
    for pid, fields in _proc_stats():
        kids.setdefault(int(fields[1]), []).append(pid)
    return kids


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants (through /proc's parent ids; a process that re-parented itself away, a
    daemon, is not seen)."""
    kids = _proc_children()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def _proc_kb(path: str, key: str) -> int | None:
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def tree_memory(root: int) -> tuple[int, int | None, int]:
    """(RSS summed over the tree, PSS summed over the tree or None where it cannot be read, processes), bytes."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            top = psutil.Process(root)
            procs = [top, *top.children(recursive=True)]
        except psutil.Error:
            return 0, None, 0
        rss, pss = 0, 0
        for p in procs:
            try:
                full = p.memory_full_info()
            except psutil.Error:
                continue
            rss += full.rss
            pss = None if pss is None or not hasattr(full, "pss") else pss + full.pss
        return rss, pss, len(procs)
    pids = tree_pids(root)
    rss, pss = 0, 0
    for pid in pids:
        r = _proc_kb(f"/proc/{pid}/status", b"VmRSS:")
        if r is None:  # exited since the listing, or a zombie: holds no memory
            continue
        p = _proc_kb(f"/proc/{pid}/smaps_rollup", b"Pss:")
        if p is None and _proc_kb(f"/proc/{pid}/status", b"VmRSS:") is None:
            continue  # exited between the two reads
        rss += r * 1024
        pss = None if pss is None or p is None else pss + p * 1024
    return rss, pss, len(pids)


class TreeSampler:
    """Samples :func:`tree_memory` of a process tree in a thread; keeps the peaks."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        self.root, self.interval = root, interval
        self.peak_rss, self.peak_pss, self.peak_procs, self.samples = 0, 0, 0, 0
        self.pss_known = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        """Take one sample now."""
        rss, pss, procs = tree_memory(self.root)
        if procs == 0:
            return
        self.samples += 1
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_procs = max(self.peak_procs, procs)
        if pss is None:
            self.pss_known = False
        else:
            self.peak_pss = max(self.peak_pss, pss)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid`` (a stage's leftovers once its leader has exited)."""
    # a zombie has exited (its parent has not reaped it yet)
    return [pid for pid, fields in _proc_stats() if int(fields[2]) == pgid and fields[0] != b"Z"]


def _kill_group(pgid: int, grace: float = 10.0) -> None:
    """SIGTERM to the stage's process group (only processes this script started), SIGKILL after ``grace`` s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _group_members(pgid):
            time.sleep(0.2)


# ---------------------------------------------------------------------------------------------- stage records


@dataclass
class StageRecord:
    """One stage at one scale: what the table shows."""

    scale: float
    stage: str
    videos: int
    wall_s: float
    peak_tree_rss_mb: float | None = None
    peak_tree_pss_mb: float | None = None
    max_process_rss_mb: float | None = None
    disk_mb: float | None = None
    status: str = "ok"
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def videos_per_s(self) -> float | None:
        """Videos per wall second (None for a stage that took no measurable time)."""
        return self.videos / self.wall_s if self.wall_s > 0 else None


COLUMNS = (
    "scale",
    "stage",
    "videos",
    "wall_s",
    "videos_per_s",
    "peak_tree_rss_mb",
    "peak_tree_pss_mb",
    "max_process_rss_mb",
    "disk_mb",
    "status",
    "note",
)
HEADERS = (
    "scale",
    "stage",
    "videos",
    "wall s",
    "videos/s",
    "peak tree RSS MB",
    "peak tree PSS MB",
    "max process RSS MB",
    "disk MB",
    "status",
    "note",
)


def _row(record: StageRecord) -> dict[str, Any]:
    row = {k: getattr(record, k) for k in COLUMNS}
    return row


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and abs(value) < 0.1:
            return f"{value:.3g}"
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (numbers formatted, None as '-')."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(v).replace("|", "/") for v in row) + " |" for row in rows]
    return "\n".join(lines)


def stage_table(records: Sequence[StageRecord]) -> str:
    """The stages of every scale, smallest scale first, in pipeline order."""
    order = {s: i for i, s in enumerate(STAGES)}
    ordered = sorted(records, key=lambda r: (r.scale, order.get(r.stage.split(" ")[0], 99), r.stage))
    return markdown_table(HEADERS, [[_row(r)[k] for k in COLUMNS] for r in ordered])


@dataclass
class Growth:
    """How one stage (or fixed cost) grows from a smaller scale to a larger one."""

    name: str
    small: float
    large: float
    videos_ratio: float
    time_ratio: float | None
    time_exponent: float | None
    memory_ratio: float | None = None
    memory_exponent: float | None = None
    disk_ratio: float | None = None
    disk_exponent: float | None = None
    flags: list[str] = field(default_factory=list)
    # the line through both points: seconds per further video, the fixed seconds, and where it reaches 13,320 videos
    marginal_s_per_video: float | None = None
    fixed_s: float | None = None
    full_size_s: float | None = None
    full_size_disk_mb: float | None = None


def _exponent(ratio: float | None, videos_ratio: float) -> float | None:
    """``log(ratio) / log(videos ratio)``: 1 = linear, 0 = constant, 2 = quadratic."""
    if ratio is None or ratio <= 0 or videos_ratio <= 1:
        return None
    return math.log(ratio) / math.log(videos_ratio)


def _ratio(a: float | None, b: float | None) -> float | None:
    return b / a if a and b is not None and a > 0 else None


def growth(
    small: Sequence[StageRecord], large: Sequence[StageRecord], superlinear: float = 1.15, min_seconds: float = 0.05
) -> list[Growth]:
    """Per stage present (and ``ok``) at both scales: the ratios of time, memory (peak tree PSS, else RSS) and disk
    from ``small`` to ``large``, against the ratio of videos; a flag where one grows faster than linearly (its
    exponent above ``superlinear``). Times under ``min_seconds`` at the small scale are too noisy to flag."""
    by_stage = {r.stage: r for r in small if r.status == "ok"}
    out = []
    for big in large:
        little = by_stage.get(big.stage)
        if little is None or big.status != "ok" or not little.videos or big.videos <= little.videos:
            continue
        vr = big.videos / little.videos
        tr = _ratio(little.wall_s, big.wall_s)
        mem_small = little.peak_tree_pss_mb if little.peak_tree_pss_mb else little.peak_tree_rss_mb
        mem_large = big.peak_tree_pss_mb if big.peak_tree_pss_mb else big.peak_tree_rss_mb
        mr, dr = _ratio(mem_small, mem_large), _ratio(little.disk_mb, big.disk_mb)
        g = Growth(big.stage, little.scale, big.scale, vr, tr, _exponent(tr, vr), mr, _exponent(mr, vr), dr)
        g.disk_exponent = _exponent(dr, vr)
        g.marginal_s_per_video = (big.wall_s - little.wall_s) / (big.videos - little.videos)
        g.fixed_s = little.wall_s - g.marginal_s_per_video * little.videos
        g.full_size_s = g.fixed_s + g.marginal_s_per_video * FULL_SIZE
        if little.disk_mb is not None and big.disk_mb is not None:
            per_video = (big.disk_mb - little.disk_mb) / (big.videos - little.videos)
            g.full_size_disk_mb = little.disk_mb + per_video * (FULL_SIZE - little.videos)
        if g.time_exponent is not None and g.time_exponent > superlinear and little.wall_s >= min_seconds:
            g.flags.append(f"time grows faster than linearly (x{tr:.1f} for x{vr:.1f} videos)")
        if g.memory_exponent is not None and g.memory_exponent > superlinear:
            g.flags.append(f"memory grows faster than linearly (x{mr:.1f})")
        if g.disk_exponent is not None and g.disk_exponent > superlinear:
            g.flags.append(f"disk grows faster than linearly (x{dr:.1f})")
        out.append(g)
    return out


def growth_table(rows: Sequence[Growth]) -> str:
    """Markdown: one line per stage and pair of scales."""
    headers = (
        "stage",
        "scales",
        "videos x",
        "time x",
        "time exponent",
        "memory x",
        "memory exponent",
        "disk x",
        "disk exponent",
        "s per further video",
        "fixed s",
        "13,320 videos: s",
        "13,320 videos: disk MB",
        "flag",
    )
    body = [
        [
            g.name,
            f"{g.small:g} -> {g.large:g}",
            g.videos_ratio,
            g.time_ratio,
            g.time_exponent,
            g.memory_ratio,
            g.memory_exponent,
            g.disk_ratio,
            g.disk_exponent,
            g.marginal_s_per_video,
            g.fixed_s,
            g.full_size_s,
            g.full_size_disk_mb,
            "; ".join(g.flags) or "",
        ]
        for g in rows
    ]
    return markdown_table(headers, [[_round(v) for v in row] for row in body])


def _round(value: Any) -> Any:
    return round(value, 2) if isinstance(value, float) else value


def growth_between_scales(records: Sequence[StageRecord], superlinear: float = 1.15) -> list[Growth]:
    """:func:`growth` from each measured scale to the next larger one."""
    scales = sorted({r.scale for r in records})
    out = []
    for a, b in zip(scales, scales[1:]):
        out += growth([r for r in records if r.scale == a], [r for r in records if r.scale == b], superlinear)
    return out


# ---------------------------------------------------------------------------------------------- running stages


def disk_usage(paths: Sequence[Path]) -> int:
    """Bytes allocated (st_blocks) under ``paths`` (files and folders; links not followed)."""
    total = 0
    for top in paths:
        if not os.path.lexists(top):
            continue
        total += os.lstat(top).st_blocks * 512
        for folder, dirs, files in os.walk(top):
            for name in dirs + files:
                try:
                    total += os.lstat(os.path.join(folder, name)).st_blocks * 512
                except OSError:
                    continue
    return total


def run_stage(
    name: str,
    cmd: Sequence[str],
    *,
    scale: float,
    videos: int,
    timeout: float,
    log_path: Path,
    outputs: Callable[[], Sequence[Path]] = lambda: (),
    interval: float = 0.25,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
) -> StageRecord:
    """Run ``cmd`` as its own process group with a timeout, sampling its process tree's memory; the record holds
    the wall time, the peaks, the disk of ``outputs()`` afterwards and the status (``ok``, ``exit N``,
    ``timeout``). On timeout the whole group is stopped (SIGTERM, then SIGKILL); leftovers of a finished stage are
    stopped too, and said so."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1", **(env or {})}
    with open(log_path, "wb") as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        started = time.time()
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=full_env, start_new_session=True
        )
        status, usage = "ok", None
        with TreeSampler(proc.pid, interval) as sampler:
            while True:
                pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - start > timeout:
                    status = "timeout"
                    _kill_group(proc.pid)
                    _, wait_status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.05)
        wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(wait_status)
    proc.returncode = code  # reaped here: Popen must not wait for it again
    if status == "ok" and code != 0:
        status = f"exit {code}"
    leftovers = _group_members(proc.pid)
    note = ""
    if leftovers:
        _kill_group(proc.pid)
        note = f"{len(leftovers)} leftover processes stopped"
    pss = sampler.peak_pss / MB if sampler.pss_known and sampler.samples else None
    return StageRecord(
        scale=scale,
        stage=name,
        videos=videos,
        wall_s=round(wall, 2),
        peak_tree_rss_mb=round(sampler.peak_rss / MB, 1) if sampler.samples else None,
        peak_tree_pss_mb=round(pss, 1) if pss is not None else None,
        max_process_rss_mb=round(usage.ru_maxrss / 1024, 1) if usage is not None else None,
        disk_mb=round(disk_usage(outputs()) / MB, 2),
        status=status,
        note=note,
        extra={
            "max_processes": sampler.peak_procs,
            "samples": sampler.samples,
            "log": str(log_path),
            "started": started,
        },
    )


def _tail(path: Path, lines: int = 400) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


_SUMMARY = re.compile(r"^(?:(?:TV-L1 flow|rgb|flow): )?\d+ extracted, \d+ skipped")


def _summary_lines(path: Path) -> str:
    """The extraction scripts' own summary lines (``[rgb: ]N extracted, M skipped ...``) from a stage log."""
    return "; ".join(line.strip() for line in _tail(path) if _SUMMARY.match(line.strip()))


def _log_times(path: Path, markers: dict[str, str], origin: float) -> dict[str, float]:
    """Seconds after ``origin`` (a ``time.time()``) at which each marker's text first appears in a Hydra log
    (lines ``[YYYY-mm-dd HH:MM:SS,mmm][...]``, local time)."""
    from datetime import datetime

    found: dict[str, float] = {}
    for line in _tail(path, 100_000):
        if not line.startswith("[") or "]" not in line:
            continue
        try:
            stamp = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            continue
        for name, text in markers.items():
            if name not in found and text in line:
                found[name] = stamp - origin
    return found


@dataclass
class Settings:
    """The clips and pipeline settings of a rehearsal (all scales alike)."""

    width: int = 80
    height: int = 60
    min_frames: int = 12
    max_frames: int = 16
    img_size: int = 64
    feature_frames: int = 8
    clip_frames: int = 8
    epochs: int = 3
    flow_workers: int = 2
    feature_workers: int = 1
    train_workers: int = 2
    beta: float = 1e-5
    seed: int = 0
    extra: tuple[str, ...] = ()


def scale_dir(out: Path, scale: float) -> Path:
    """The work folder of one scale."""
    return out / f"scale-{scale:g}"


def _overrides(s: Settings, work: Path, root: Path, streams: str) -> list[str]:
    return [
        "dataset=ucf101",
        f"dataset.root={root}",
        f"paths.data_dir={work / 'data'}",
        f"paths.log_dir={work / 'logs'}",
        "backbone=mobilenetv3_small",
        "backbone.pretrained=false",
        f"backbone.img_size={s.img_size}",
        f"features.frames={s.feature_frames}",
        f"features.num_workers={s.feature_workers}",
        "features.device=cpu",
        f"flow.workers={s.flow_workers}",
        f"dataset.frames={s.clip_frames}",
        f"dataset.streams=[{streams}]",
        "dataset.standardize=true",
        *s.extra,
    ]


def rehearse(
    scale: float, out: Path, s: Settings, stages: Sequence[str], timeout: float, interval: float = 0.25
) -> list[StageRecord]:
    """Every stage of ``stages`` at ``scale``, in order; a stage that fails or times out ends this scale's run."""
    from har_vib.data.synthetic import SyntheticSpec, marker_text, plan_clips

    work = scale_dir(out, scale)
    root = work / "data" / "raw" / "ucf101"
    spec = SyntheticSpec.official(
        scale=scale, width=s.width, height=s.height, min_frames=s.min_frames, max_frames=s.max_frames, seed=s.seed
    )
    plan = plan_clips(spec)
    n = len(plan)
    frames = sum(c.num_frames for c in plan)
    features = work / "data" / "features" / "ucf101"
    run_dir = work / "run"
    # this script's own outputs of the stages about to run: each is measured from empty (a stage left out keeps
    # what an earlier rehearsal made, so the later stages can be rerun alone)
    fresh = {"flow": [work / "data" / "flow"], "train": [run_dir]}
    fresh.update({f"features-{x}": sorted(features.glob(f"{x}-*")) for x in ("rgb", "flow")})
    for name in stages:
        for folder in fresh.get(name, []):
            shutil.rmtree(folder, ignore_errors=True)
    py = sys.executable
    scripts = ROOT / "scripts"
    records: list[StageRecord] = []

    def run(name: str, cmd: list[str], outputs: Callable[[], Sequence[Path]] = lambda: ()) -> StageRecord:
        rec = run_stage(
            name,
            cmd,
            scale=scale,
            videos=n,
            timeout=timeout,
            log_path=work / "logs" / f"{name}.log",
            outputs=outputs,
            interval=interval,
        )
        records.append(rec)
        print(f"scale {scale:g} {name}: {rec.status}, {rec.wall_s:.1f} s, {rec.peak_tree_rss_mb} MB", flush=True)
        return rec

    for name in stages:
        if name == "generate":
            marker = root / ".complete"
            if marker.is_file() and marker.read_text().strip() == marker_text(spec) and (root / ".verified").is_file():
                records.append(
                    StageRecord(scale, name, n, 0.0, disk_mb=round(disk_usage([root]) / MB, 2), status="reused")
                )
                records[-1].note = "clips of an earlier rehearsal with these settings"
                continue
            cmd = [py, str(scripts / "make_synthetic_videos.py"), "--scale", f"{scale:g}", "--out", str(root)]
            cmd += ["--width", str(s.width), "--height", str(s.height), "--seed", str(s.seed)]
            cmd += ["--min-frames", str(s.min_frames), "--max-frames", str(s.max_frames)]
            rec = run(name, cmd, lambda: [root])
            rec.note = f"{frames:,} frames written at {s.width}x{s.height}"
        elif name == "flow":
            cmd = [py, str(scripts / "extract_flow.py"), *_overrides(s, work, root, "rgb")]
            rec = run(name, cmd, lambda: [work / "data" / "flow"])
            pairs = frames - n
            rec.note = f"{pairs:,} frame pairs ({pairs / rec.wall_s:.1f}/s); " + _summary_lines(Path(rec.extra["log"]))
        elif name in ("features-rgb", "features-flow"):
            stream = name.split("-")[1]
            cmd = [py, str(scripts / "extract_features.py"), *_overrides(s, work, root, stream)]
            rec = run(name, cmd, lambda stream=stream: sorted(features.glob(f"{stream}-*")))
            rec.note = _summary_lines(Path(rec.extra["log"]))
        elif name == "train":
            cmd = [py, str(ROOT / "train.py"), *_overrides(s, work, root, "rgb,flow")]
            cmd += [
                f"hydra.run.dir={run_dir}",
                f"trainer.max_epochs={s.epochs}",
                "callbacks.prune_export.finetune_epochs=1",
                "~callbacks.rich_progress_bar",
                "+trainer.enable_progress_bar=false",
                "trainer.enable_model_summary=false",
                "logger=csv",
                f"dataset.num_workers={s.train_workers}",
                # random-init features carry little of the class: at the default beta the bottlenecks can close
                # completely, and a collapsed model skips the export; a weak KL keeps units, so every step runs
                f"beta={s.beta:g}",
            ]
            rec = run(name, cmd, lambda: [run_dir])
            _train_details(rec, run_dir)
        elif name == "features-rerun":
            cmd = [py, str(scripts / "extract_features.py"), *_overrides(s, work, root, "rgb,flow")]
            rec = run(name, cmd)
            rec.note = "everything cached: " + _summary_lines(Path(rec.extra["log"]))
        else:
            raise ValueError(f"unknown stage {name!r}; stages are {STAGES}")
        if records[-1].status not in ("ok", "reused"):
            break  # the later stages need this one's outputs
    done = {r.stage for r in records}  # records of the stages not rerun now are kept
    kept = [r for r in _read_stages(work / "stages.json") if r.stage not in done]
    (work / "stages.json").write_text(json.dumps([asdict(r) for r in [*kept, *records]], indent=1))
    return records


def _read_stages(path: Path) -> list[StageRecord]:
    try:
        return [StageRecord(**row) for row in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []


def _train_details(rec: StageRecord, run_dir: Path) -> None:
    """Accuracy and compression from the run folder, and the split of the stage's time from train.log."""
    notes = []
    for name in ("metrics.json", "compression.json"):
        if not (run_dir / name).is_file():
            notes.append(f"no {name}")
            if rec.status == "ok":
                rec.status = f"no {name}"
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        report = json.loads((run_dir / "compression.json").read_text())
        keep = ("test_acc", "test_acc_pruned", "val_acc_pruned")
        rec.extra.update({k: metrics.get(k) for k in keep})
        rec.extra.update({k: report.get(k) for k in ("lstm_params_before", "lstm_params_after", "input_dim_before")})
        notes.append(
            f"test acc {metrics.get('test_acc')} -> pruned {metrics.get('test_acc_pruned')}, LSTM params "
            f"{report.get('lstm_params_before')} -> {report.get('lstm_params_after')}"
        )
    except (OSError, ValueError):
        pass
    markers = {
        "setup": "videos, ",
        "fitted": "`Trainer.fit` stopped",
        "pruned": "compression: ",
        "tested": "run folder: ",
    }
    started = rec.extra.get("started")
    times = _log_times(run_dir / "train.log", markers, started) if started else {}
    if set(markers) <= set(times):
        split = {
            "start+prepare_data+setup": times["setup"],
            "fit": times["fitted"] - times["setup"],
            "prune+fine-tune+export": times["pruned"] - times["fitted"],
            "clip model+test": times["tested"] - times["pruned"],
            "exit": rec.wall_s - times["tested"],
        }
        rec.extra["phases_s"] = {k: round(v, 1) for k, v in split.items()}
        notes.append(", ".join(f"{k} {v:.0f} s" for k, v in split.items()) + " (from train.log)")
    rec.note = "; ".join(notes)


# ---------------------------------------------------------------------------------------------- fixed costs


@dataclass
class FixedCost:
    """One per-video operation timed in-process on the layout of one scale."""

    scale: float
    operation: str
    videos: int
    seconds: float

    @property
    def us_per_video(self) -> float:
        """Microseconds per video."""
        return 1e6 * self.seconds / self.videos if self.videos else 0.0


def _best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, result = math.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def fixed_costs(scale: float, out: Path, s: Settings, repeats: int = 3, keep: bool = False) -> list[FixedCost]:
    """The per-video costs that grow with the dataset without decoding, on the layout of ``scale`` (placeholder
    clips, random feature entries, flow folders of meta.json only), timed in this process."""
    import numpy as np
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from har_vib.data.flow import META_FILE, extract_dataset_flow, flow_config_from, flow_skipped
    from har_vib.data.shards import Shard
    from har_vib.data.splits import carve_validation, parse_ucf101
    from har_vib.data.synthetic import SyntheticSpec, write_layout
    from har_vib.features.extract import extraction_status
    from har_vib.pipeline import instantiate
    from har_vib.utils.io import file_identity, write_json

    work = out / f"layout-{scale:g}"
    shutil.rmtree(work, ignore_errors=True)
    root = work / "raw" / "ucf101"
    spec = SyntheticSpec.official(
        scale=scale, width=s.width, height=s.height, min_frames=s.min_frames, max_frames=s.max_frames
    )
    write_layout(spec, root)
    costs: list[FixedCost] = []

    def record(operation: str, n: int, seconds: float) -> None:
        costs.append(FixedCost(scale, operation, n, round(seconds, 6)))

    t, split = _best_of(lambda: parse_ucf101(root / "UCF-101", root / "ucfTrainTestlist", 1), repeats)
    videos = [(r.video_id, r.path) for r in split.all_records()]
    n = len(videos)
    record("parse_ucf101 (split 1: classInd, trainlist, testlist)", n, t)
    t, _ = _best_of(lambda: carve_validation(split.train, 0.1, 0), repeats)
    record("carve_validation (whole groups, 10%)", len(split.train), t)
    t, identities = _best_of(lambda: {v: file_identity(root / "UCF-101" / rel) for v, rel in videos}, repeats)
    record("file identities (a stat per video)", n, t)
    t, _ = _best_of(lambda: Shard(0, 16).select(videos), repeats)
    record("Shard(0, 16).select (sha256 per id)", n, t)

    overrides = _overrides(s, work, root, "rgb")
    overrides = [o for o in overrides if not o.startswith(("features.frames", "dataset.frames"))]
    overrides += ["features.frames=2", "dataset.frames=2", "dataset.num_workers=0", f"hydra.run.dir={work / 'run'}"]
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):  # as train.py's Hydra run would set them
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = str(work / "run")
        cfg.hydra.runtime.output_dir = str(work / "run")
        cfg.hydra.job.num = 0
    HydraConfig().set_config(cfg)
    dm = instantiate(cfg.dataset, report_dir=None)
    _, stores, extra = dm._encoder_and_stores(build_encoder=False)  # the keys the DataModule itself reads
    store = stores["rgb"].open()
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((n, store.frames, store.dim)).astype(np.float32)

    def save_all() -> None:
        for i, (v, _) in enumerate(videos):
            store.save(v, feats[i], identities[v])

    t, _ = _best_of(save_all, 1)
    record("FeatureStore.save (an entry and its source record per video)", n, t)
    ids = [v for v, _ in videos]
    t, _ = _best_of(store.open, repeats)
    record("FeatureStore.open (manifest, sweep of leftover temps)", n, t)
    t, missing = _best_of(lambda: store.missing(ids, identities), repeats)
    assert not missing, f"{len(missing)} entries missing"
    record("FeatureStore.missing (every entry: source record, load, checks)", n, t)
    skipped = {v: "rehearsal: not a video" for v in ids[::100]}  # 1% skipped
    for v in skipped:
        store.drop(v)
    t, _ = _best_of(lambda: store.write_skipped(skipped, {v: identities[v] for v in skipped}), repeats)
    record("FeatureStore.write_skipped (1% of the videos skipped)", n, t)
    t, _ = _best_of(store.skipped, repeats)
    record("FeatureStore.skipped (1% skipped)", n, t)
    t, _ = _best_of(lambda: store.missing(ids, identities), repeats)
    record("FeatureStore.missing with 1% skipped", n, t)
    for v in skipped:  # back to complete, for the DataModule
        store.save(v, feats[0], identities[v])
    store.write_skipped({})

    flow_root = extra["flow_root"]
    config = flow_config_from({k: v for k, v in cfg.flow.items() if k not in ("cache_dir", "workers")})
    flow_root.mkdir(parents=True, exist_ok=True)
    for v, _ in videos:
        folder = flow_root / v
        folder.mkdir(parents=True, exist_ok=True)
        write_json({"source": identities[v], "num_flow_frames": 1}, folder / META_FILE)
    paths = [(v, root / "UCF-101" / rel) for v, rel in videos]
    t, counts = _best_of(lambda: extract_dataset_flow(paths, flow_root, config, progress=False), repeats)
    assert counts["done_before"] == n, counts
    record("extract_dataset_flow, every folder current (a rerun)", n, t)
    flow_skips = {v: "rehearsal" for v in list(skipped)}
    write_json({"skipped": flow_skips}, flow_root / "skipped.json")
    for v in flow_skips:
        shutil.rmtree(flow_root / v)
    t, _ = _best_of(lambda: flow_skipped(flow_root), repeats)
    record("flow_skipped (1% skipped)", n, t)
    t, _ = _best_of(lambda: extraction_status(ids, 16, identities, flow_root, {"rgb": store}), 1)
    record("extraction_status (16 shards, flow + rgb)", n, t)

    # a new DataModule each time (setup() runs once per instance), with the stores' keys already known, as a
    # DataModule has them after its first call: the encoder build is not a per-video cost
    def fresh_dm() -> Any:
        new = instantiate(cfg.dataset, report_dir=None)
        new._stores = dm._stores
        return new

    t, _ = _best_of(lambda: fresh_dm().prepare_data(), repeats)
    record("VideoDataModule.prepare_data (nothing to extract)", n, t)
    modules = [fresh_dm() for _ in range(repeats)]
    t, _ = _best_of(lambda: modules.pop().setup(), repeats)
    record("VideoDataModule.setup (parse, check stores, carve, standardise)", n, t)
    dm.setup()
    train_set = dm.train_set
    t, _ = _best_of(lambda: [train_set[i] for i in range(len(train_set))], repeats)
    record("CachedFeatureDataset items, one pass over the training set", len(train_set), t)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return costs


def fixed_cost_table(costs: Sequence[FixedCost], superlinear: float = 1.15) -> str:
    """Markdown: each operation's seconds and microseconds per video at every scale, and its growth exponent from
    the smallest to the largest scale (flagged above ``superlinear``)."""
    scales = sorted({c.scale for c in costs})
    ops = list(dict.fromkeys(c.operation for c in costs))
    at = {(c.scale, c.operation): c for c in costs}
    headers = ["operation", *[f"s at {x:g}" for x in scales], *[f"us/video at {x:g}" for x in scales]]
    if len(scales) > 1:
        headers += ["videos x", "time x", "exponent", "flag"]
    rows = []
    for op in ops:
        cells = [at.get((x, op)) for x in scales]
        row: list[Any] = [
            op,
            *[c.seconds if c else None for c in cells],
            *[c.us_per_video if c else None for c in cells],
        ]
        if len(scales) > 1:
            first, last = cells[0], cells[-1]
            if first and last and first.videos and last.videos > first.videos:
                vr, tr = last.videos / first.videos, _ratio(first.seconds, last.seconds)
                ex = _exponent(tr, vr)
                flag = "faster than linear" if ex is not None and ex > superlinear and first.seconds >= 0.005 else ""
                row += [vr, tr, ex, flag]
            else:
                row += [None, None, None, ""]
        rows.append(row[: 1 + 2 * len(scales)] + [_round(v) for v in row[1 + 2 * len(scales) :]])
    return markdown_table(headers, rows)


# ---------------------------------------------------------------------------------------------- reports


def load_records(out: Path) -> list[StageRecord]:
    """Every scale's stages.json under ``out``."""
    records = []
    for path in sorted(out.glob("scale-*/stages.json")):
        records += _read_stages(path)
    return records


def write_reports(
    out: Path, records: Sequence[StageRecord], costs: Sequence[FixedCost], settings: Settings, superlinear: float
) -> Path:
    """rehearsal.md, rehearsal.csv (one row per stage and scale) and rehearsal.json under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rows = growth_between_scales(records, superlinear)
    md = [
        "# UCF101-size rehearsal",
        "",
        f"Clips {settings.width}x{settings.height}, {settings.min_frames}-{settings.max_frames} frames; "
        f"mobilenetv3_small (random init) at a {settings.img_size}-pixel crop, {settings.feature_frames} frames cached "
        f"per video, {settings.clip_frames} per clip; flow.workers={settings.flow_workers}, "
        f"features.num_workers={settings.feature_workers}, dataset.num_workers={settings.train_workers}, "
        f"{settings.epochs} epochs at beta {settings.beta:g}. {os.cpu_count()} CPUs; load average at the end "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}.",
        "",
        "## Stages",
        "",
        stage_table(records),
        "",
    ]
    if rows:
        md += [
            "## Growth between scales",
            "",
            "Ratio of each stage's time, memory (peak tree PSS) and disk from one scale to the next, against the "
            f"ratio of videos; exponent = log(ratio) / log(videos ratio): 1 = linear, flagged above {superlinear}. "
            "The line through the two points splits a stage's time into seconds per further video and fixed "
            "seconds (process start, model build, worker start) and extends it to the full 13,320 videos (at these "
            "clip sizes: a stage growing faster than linearly would take longer).",
            "",
            growth_table(rows),
            "",
        ]
    if costs:
        md += ["## Per-video fixed costs (in-process, on the layout)", "", fixed_cost_table(costs, superlinear), ""]
    (out / "rehearsal.md").write_text("\n".join(md))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    for r in records:
        writer.writerow(_row(r))
    (out / "rehearsal.csv").write_text(buf.getvalue())
    data = {
        "settings": asdict(settings),
        "stages": [{**asdict(r), "videos_per_s": r.videos_per_s} for r in records],
        "growth": [asdict(g) for g in rows],
        "fixed_costs": [{**asdict(c), "us_per_video": c.us_per_video} for c in costs],
    }
    (out / "rehearsal.json").write_text(json.dumps(data, indent=1))
    return out / "rehearsal.md"


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the stages of each scale, then the fixed costs, and write the reports."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, nargs="+", default=[0.1], help="fractions of UCF101's 13,320 clips")
    p.add_argument("--out", type=Path, default=ROOT / "outputs" / "rehearse")
    p.add_argument(
        "--stages", nargs="+", default=list(STAGES), help=f"subset of {' '.join(STAGES)} (in that order), or none"
    )
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds each stage may take before it is stopped")
    p.add_argument(
        "--fixed-costs",
        type=float,
        nargs="*",
        default=None,
        help="scales of the in-process per-video cost measurement (default: the --scale values and 1)",
    )
    p.add_argument("--keep-layout", action="store_true", help="keep the placeholder layouts of --fixed-costs")
    p.add_argument("--superlinear", type=float, default=1.15, help="growth exponent flagged as faster than linear")
    p.add_argument("--sample-interval", type=float, default=0.25, help="seconds between memory samples")
    for name, default in asdict(Settings()).items():
        if name != "extra":
            p.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for every extraction and training stage")
    a = p.parse_args(argv)
    a.out = a.out.resolve()  # the stages' Hydra configs get absolute paths
    stages = [] if a.stages == ["none"] else a.stages
    unknown = [x for x in stages if x not in STAGES]
    if unknown:
        p.error(f"unknown stages {unknown}; choose from {' '.join(STAGES)}")
    stages = [x for x in STAGES if x in stages]
    settings = Settings(**{k: getattr(a, k) for k in asdict(Settings()) if k != "extra"}, extra=tuple(a.overrides))
    from har_vib.data.synthetic import SyntheticSpec

    for scale in a.scale:
        try:
            SyntheticSpec.official(scale=scale)
        except ValueError as err:
            p.error(str(err))
    for scale in sorted(a.scale):
        if stages:
            rehearse(scale, a.out, settings, stages, a.timeout, a.sample_interval)
    fixed = sorted({*a.scale, 1.0}) if a.fixed_costs is None else sorted(set(a.fixed_costs))
    costs = []
    for scale in fixed:
        t = time.perf_counter()
        costs += fixed_costs(scale, a.out, settings, keep=a.keep_layout)
        print(f"fixed costs at scale {scale:g}: {time.perf_counter() - t:.0f} s", flush=True)
    report = write_reports(a.out, load_records(a.out), costs, settings, a.superlinear)
    print(report.read_text())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (fixed costs in-process): {peak:.0f} MB")


if __name__ == "__main__":
    main()
