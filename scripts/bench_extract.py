"""Throughput of the video path: decoding, CNN forward alone, the whole feature extraction, and TV-L1 flow.

    python scripts/bench_extract.py                        # 12 synthetic clips of mixed sizes, Inception-v3
    python scripts/bench_extract.py --videos /data/UCF101/UCF-101 --count 48 --workers 4 --json bench.json
    python scripts/bench_extract.py --backbone efficientnet_b1 --device cuda --workers 8 --work /scratch/bench

Rows (printed, and written by ``--json FILE`` as JSON rows):

- ``decode <decoder>``: frames/s of the project's own ``read_frames`` (probe, then ``--frames`` uniformly sampled
  frames per video at their native size) alone, and of ``read_frames`` + ``Preprocessing.apply`` (timm's eval
  resize and centre crop), i.e. what one decode worker of the extraction delivers. ``auto`` and ``pyav`` run on
  every video. ``decord`` runs only on the videos it reads safely: those ``auto`` itself sends to decord (H.264 /
  HEVC in mp4/mov with a sane sample table) and the AVIs this benchmark wrote itself. decord aborts the whole
  process (``std::bad_alloc``, not catchable) on some broken AVIs, so it is never forced onto other files. It
  returns wrong frames on AVIs with B-frames; here only its speed is measured.
- ``CNN forward alone``: the encoder on frames already at the crop size and on the device (normalisation on the
  device included), in batches of ``--batch-size``, repeated for at least a second after two warm-up batches.
- ``whole extraction``: ``extract_features`` with ``--workers`` DataLoader decode workers and ``--batch-size``
  frames per forward pass, into a fresh feature store; and its ratio to the forward-alone rate.
- ``TV-L1``: OpenCV TV-L1 pairs/s at the first video's native size, in one process, and with every core through
  ``extract_dataset_flow`` (whole videos, process start-up included).

Videos: by default synthetic clips (``har_vib.data.synthetic.render_clip``) of mixed frame sizes and aspects
(``--sizes``), written as MPEG-4 part 2 AVIs tagged XVID with B-frames, as UCF101 ships. ``--videos DIR`` uses
real videos instead: every video file under ``DIR`` (recursively; hidden files and folders ignored), sorted, the
first ``--count``. ``DIR`` is only read.

Where it writes: only in its own work folder (generated clips, feature store, flow), never under ``--videos`` and
never into a folder it did not create. ``--work DIR`` must be absent or empty (it is then created and marked with a
``.har-vib-bench`` file) or carry that marker from an earlier run (reused: generated clips are kept, the feature
store and flow are redone); anything else is refused (exit code 2). Without ``--work`` a fresh temporary folder is
used and removed at the end. ``--root`` is a deprecated alias of ``--work`` with the same rule (it used to
regenerate synthetic clips, ``classInd.txt`` and the split lists inside the dataset folder it was given).

Weights are random (speed does not depend on them). On a shared machine the figures are noisy: rerun to compare.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import _bootstrap  # noqa: F401
import cv2
import numpy as np

from har_vib.data.flow import FlowConfig, extract_dataset_flow, tvl1_flow
from har_vib.data.sampling import sample_indices
from har_vib.data.splits import VIDEO_EXTENSIONS, is_hidden
from har_vib.data.synthetic import class_motions, render_clip
from har_vib.data.video import VideoDecodeError, VideoInfo, probe, read_frames
from har_vib.utils.io import write_json

# torch, timm and the feature code are imported where they are used: the TV-L1 row's worker processes are spawned
# and re-import this module, and their start-up (counted in that row) should be what scripts/extract_flow.py costs
if TYPE_CHECKING:
    import torch

    from har_vib.features.backbones import FrameEncoder, Preprocessing

MODELS = {
    "inception_v3": "inception_v3.tv_in1k",
    "efficientnet_b1": "efficientnet_b1.ra4_e3600_r240_in1k",
    "resnet18": "resnet18.a1_in1k",
    "mobilenetv3_small": "mobilenetv3_small_100.lamb_in1k",
}
MARKER = ".har-vib-bench"
DEFAULT_SIZES = "320x240,293x240,240x320,400x226"  # UCF101's 4:3, its odd 293-wide clips, portrait, wide
SYNTHETIC_FRAMES = (48, 64)  # frames per generated clip (drawn per clip)
FPS = 25


class UsageError(Exception):
    """A refused argument: printed as one ``error:`` line, exit code 2."""


# ---------------------------------------------------------------------------------------------------------------
# where the benchmark reads and writes
# ---------------------------------------------------------------------------------------------------------------


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve() == folder.resolve() or path.resolve().is_relative_to(folder.resolve())


def prepare_work(work: Path | None, option: str = "--work") -> tuple[Path, bool]:
    """The benchmark's own folder and whether it is temporary.

    None: a fresh temp folder. Otherwise ``work`` must be absent or empty (created and marked with ``MARKER``),
    or already carry the marker (an earlier run made it); anything else raises :class:`UsageError`.
    """
    fix = f"pass a new or empty folder, or one an earlier run of this benchmark made, or leave out {option}"
    if work is None:
        path = Path(tempfile.mkdtemp(prefix="bench_extract_"))
        (path / MARKER).write_text("work folder of scripts/bench_extract.py; safe to delete\n")
        return path, True
    if work.exists() and not work.is_dir():
        raise UsageError(f"{option} {work}: this is a file, not a folder; {fix}")
    if work.is_dir() and not (work / MARKER).is_file() and any(work.iterdir()):
        raise UsageError(
            f"{option} {work}: this folder is not empty and has no {MARKER} marker, so this benchmark did not "
            f"create it and will not write into it; {fix}"
        )
    work.mkdir(parents=True, exist_ok=True)
    marker = work / MARKER
    if not marker.is_file():
        marker.write_text("work folder of scripts/bench_extract.py; safe to delete\n")
    return work, False


def find_videos(folder: Path, count: int) -> list[Path]:
    """The first ``count`` video files under ``folder`` (recursive, sorted, hidden files and folders ignored)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not is_hidden(d)]
        found += [
            Path(dirpath) / name
            for name in filenames
            if not is_hidden(name) and Path(name).suffix.lower() in VIDEO_EXTENSIONS
        ]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())[:count]


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"320x240,293x240"`` -> ``[(320, 240), (293, 240)]``."""
    try:
        sizes = [tuple(int(v) for v in item.lower().split("x")) for item in text.split(",") if item.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(len(s) != 2 or min(s) < 16 for s in sizes):
        raise UsageError(f"--sizes {text!r}: expected WxH[,WxH...] with sides of at least 16, e.g. {DEFAULT_SIZES}")
    return [(int(w), int(h)) for w, h in sizes]


# ---------------------------------------------------------------------------------------------------------------
# synthetic clips
# ---------------------------------------------------------------------------------------------------------------


def write_xvid(path: Path, frames_rgb: np.ndarray, fps: int = FPS) -> None:
    """MPEG-4 part 2 in AVI tagged XVID, 2 B-frames, GOP 12 (as UCF101/HMDB51), any size (odd widths too),
    written to a temp name and renamed."""
    import av

    height, width = frames_rgb.shape[1:3]
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    with av.open(str(tmp), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        ctx = stream.codec_context
        ctx.codec_tag, ctx.gop_size, ctx.max_b_frames = "XVID", 12, 2
        ctx.bit_rate = int(width * height * fps * 0.8)  # 1.5 Mbit/s at 320x240
        for frame in frames_rgb:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode(None))
    os.replace(tmp, path)


def make_synthetic(folder: Path, count: int, sizes: Sequence[tuple[int, int]], seed: int = 0) -> list[Path]:
    """``count`` synthetic clips under ``folder``, sizes cycling through ``sizes``; clips already there are kept."""
    folder.mkdir(parents=True, exist_ok=True)
    motions = class_motions(22)
    paths = []
    for i in range(count):
        width, height = sizes[i % len(sizes)]
        path = folder / f"clip{i:03d}_{width}x{height}.avi"
        paths.append(path)
        if path.is_file():
            continue
        rng = np.random.default_rng([seed, i])
        noise = rng.random(((height + 48) // 8 + 1, (width + 64) // 8 + 1, 3)).astype(np.float32)
        background = cv2.resize(noise, (width + 64, height + 48), interpolation=cv2.INTER_CUBIC)
        background = np.clip((0.4 * background + 0.3) * 255, 0, 255).astype(np.uint8)
        actor = (int(rng.integers(0, 3)), tuple(int(v) for v in rng.integers(30, 256, 3)))
        length = int(rng.integers(SYNTHETIC_FRAMES[0], SYNTHETIC_FRAMES[1] + 1))
        motion, direction = motions[i % len(motions)]
        bgr = render_clip(motion, direction, rng, width, height, length, background, actor)
        write_xvid(path, bgr[..., ::-1])
    return paths


# ---------------------------------------------------------------------------------------------------------------
# the measurements
# ---------------------------------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize()


def time_decode(
    videos: Sequence[Path], decoder: str, frames: int, prep: Preprocessing
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Decode ``frames`` uniformly sampled frames of every video with ``read_frames(decoder=...)``, then bring them
    to the crop with ``prep.apply``; the row of figures and the preprocessed clips."""
    try:  # warm-up, untimed: library and codec initialisation (the files are in the page cache after probing)
        prep.apply(read_frames(videos[0], [0], decoder=decoder))
    except VideoDecodeError:
        pass
    decode_s = prep_s = 0.0
    clips, failed = [], {}
    for path in videos:
        start = time.perf_counter()
        try:
            clip = read_frames(path, lambda n: sample_indices(n, frames), decoder=decoder)
        except VideoDecodeError as err:
            failed[path.name] = err.reason
            continue
        mid = time.perf_counter()
        clips.append(prep.apply(clip))
        decode_s += mid - start
        prep_s += time.perf_counter() - mid
    n = sum(len(c) for c in clips)
    row = {
        "row": "decode",
        "decoder": decoder,
        "videos": len(videos) - len(failed),
        "failed": failed,
        "frames": n,
        "decode_s": round(decode_s, 4),
        "preprocess_s": round(prep_s, 4),
        "decode_fps": round(n / decode_s, 2) if decode_s > 0 else None,
        "decode_preprocess_fps": round(n / (decode_s + prep_s), 2) if decode_s + prep_s > 0 else None,
    }
    return row, clips


def time_forward(
    encoder: FrameEncoder, frames: torch.Tensor, batch_size: int, device: torch.device, min_seconds: float = 1.0
) -> dict[str, Any]:
    """The encoder alone on uint8 frames (N, crop, crop, 3) already on ``device``: two warm-up batches, then whole
    passes over the frames until ``min_seconds`` have gone by (one pass at least)."""
    import torch

    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    if device.type == "cuda":
        encoder = encoder.to(memory_format=torch.channels_last)
    done, seconds = 0, 0.0
    with torch.inference_mode(), autocast:
        for _ in range(2):
            encoder(frames[:batch_size])
        _sync(device)
        start = time.perf_counter()
        while done == 0 or seconds < min_seconds:
            for chunk in frames.split(batch_size):
                encoder(chunk)
            _sync(device)
            done += len(frames)
            seconds = time.perf_counter() - start
    return {
        "row": "forward",
        "frames": done,
        "batch_size": batch_size,
        "seconds": round(seconds, 4),
        "fps": round(done / seconds, 2),
    }


def time_extraction(
    encoder: FrameEncoder,
    prep: Preprocessing,
    folder: Path,
    videos: Sequence[Path],
    store_dir: Path,
    args: argparse.Namespace,
    device: torch.device,
) -> dict[str, Any]:
    """``extract_features`` over every video into a fresh store under ``store_dir``."""
    from har_vib.features.extract import ClipSource, extract_features
    from har_vib.features.store import FeatureStore

    items = [(p.relative_to(folder).as_posix(), p.relative_to(folder).as_posix()) for p in videos]
    source = ClipSource("rgb", folder, args.frames, "uniform", prep)
    key = {"dataset": "bench", "stream": "rgb", "backbone": args.backbone, "frames": args.frames}
    store = FeatureStore(store_dir, {**key, "dim": encoder.num_features})
    report = extract_features(encoder, source, store, items, args.batch_size, args.workers, device, progress=False)
    return {
        "row": "extraction",
        "workers": args.workers,
        "batch_size": args.batch_size,
        "extracted": report.extracted,
        "skipped": report.skipped,
        "frames": report.frames,
        "seconds": round(report.seconds, 4),
        "forward_seconds": round(report.forward_seconds, 4),
        "fps": round(report.frames / report.seconds, 2) if report.seconds > 0 else None,
    }


def time_tvl1(video: Path, info: VideoInfo, pairs: int) -> dict[str, Any]:
    """OpenCV TV-L1 on the first ``pairs`` frame pairs of ``video`` at its native size, in this process."""
    pairs = max(1, min(pairs, info.num_frames - 1))
    frames = read_frames(video, np.arange(pairs + 1))
    start = time.perf_counter()
    tvl1_flow(frames)
    seconds = time.perf_counter() - start
    return {
        "row": "tvl1_one_process",
        "video": video.name,
        "size": [info.width, info.height],
        "pairs": pairs,
        "seconds": round(seconds, 4),
        "pairs_per_s": round(pairs / seconds, 3),
    }


def time_tvl1_all(videos: Sequence[Path], infos: dict[Path, VideoInfo], root: Path, cores: int) -> dict[str, Any]:
    """``extract_dataset_flow`` over the first ``cores`` whole videos in ``cores`` processes."""
    cut = [(f"v{i}", v) for i, v in enumerate(videos[:cores])]
    start = time.perf_counter()
    counts = extract_dataset_flow(cut, root, FlowConfig(min_frames=2), workers=cores, progress=False)
    seconds = time.perf_counter() - start
    pairs = sum(infos[v].num_frames - 1 for _, v in cut)
    return {
        "row": "tvl1_all_cores",
        "processes": cores,
        "videos": counts["extracted"],
        "skipped": counts["skipped"],
        "pairs": pairs,
        "seconds": round(seconds, 4),
        "pairs_per_s": round(pairs / seconds, 3),
    }


# ---------------------------------------------------------------------------------------------------------------
# the script
# ---------------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", choices=sorted(MODELS), default="inception_v3")
    p.add_argument("--videos", type=Path, default=None, help="folder of real videos, only read (default: synthetic)")
    p.add_argument("--count", type=int, default=12, help="number of videos (default 12)")
    p.add_argument("--sizes", default=DEFAULT_SIZES, help=f"WxH list of the synthetic clips (default {DEFAULT_SIZES})")
    p.add_argument("--frames", type=int, default=16, help="frames sampled per video (default 16)")
    p.add_argument("--batch-size", type=int, default=64, help="frames per forward pass (default 64)")
    p.add_argument("--workers", type=int, default=1, help="DataLoader decode workers of the extraction (default 1)")
    p.add_argument("--device", default="auto")
    p.add_argument("--flow-pairs", type=int, default=8, help="frame pairs of the 1-process TV-L1 row (default 8)")
    p.add_argument(
        "--work", type=Path, default=None, help=f"own folder: absent, empty or marked {MARKER} (default: a temp dir)"
    )
    p.add_argument("--root", type=Path, default=None, help="deprecated alias of --work (same rule)")
    p.add_argument("--json", type=Path, default=None, help="write every figure as JSON rows to this file")
    return p.parse_args(argv)


def check_args(a: argparse.Namespace) -> None:
    """Refuse what would write into the user's data or cannot run (:class:`UsageError`)."""
    if a.root is not None:
        if a.work is not None:
            raise UsageError("--root is a deprecated alias of --work; pass only --work")
        print("warning: --root is deprecated, use --work (same meaning)", file=sys.stderr)
        a.work, a.work_option = a.root, "--root"
    else:
        a.work_option = "--work"
    for name in ("count", "frames", "batch_size", "flow_pairs"):
        if getattr(a, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if a.workers < 0:
        raise UsageError("--workers must be 0 or more")
    a.size_list = parse_sizes(a.sizes)
    if a.videos is None:
        return
    if not a.videos.is_dir():
        hint = " (the number of videos is --count now)" if str(a.videos).isdigit() else ""
        what = "not a folder (give the folder holding the videos)" if a.videos.exists() else "no such folder"
        raise UsageError(f"--videos {a.videos}: {what}{hint}")
    if a.work is not None and _inside(a.work, a.videos):
        raise UsageError(f"{a.work_option} {a.work} lies inside --videos {a.videos}, which is only read; pick another")
    if a.json is not None and _inside(a.json, a.videos):
        raise UsageError(f"--json {a.json} lies inside --videos {a.videos}, which is only read; pick another")


def _rate(value: float | None, unit: str = "frames/s") -> str:
    return f"{value:9.1f} {unit}" if value is not None else f"{'-':>9} {unit}"


def run(a: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """Every measurement; prints a line per row and returns the rows (the first one: the setup)."""
    for own in ("features", "flow"):  # outputs of an earlier run in this (marked) folder: start afresh
        shutil.rmtree(work / own, ignore_errors=True)
    if a.videos is not None:
        folder = a.videos
        listed = find_videos(folder, a.count)
        if not listed:
            raise UsageError(f"--videos {folder}: no video files ({', '.join(VIDEO_EXTENSIONS)}) found in it")
        generated: set[Path] = set()
    else:
        folder = work / "clips"
        listed = make_synthetic(folder, a.count, a.size_list)
        generated = set(listed)
    infos: dict[Path, VideoInfo] = {}
    for path in listed:
        try:
            infos[path] = probe(path)
        except VideoDecodeError as err:
            print(f"unreadable, left out: {path.relative_to(folder)}: {err.reason}")
    videos = [p for p in listed if p in infos]
    if not videos:
        raise UsageError(f"none of the {len(listed)} videos under {folder} can be decoded")

    import torch

    from har_vib.features.backbones import BackboneSpec, FrameEncoder, create_backbone, preprocessing_for

    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device)
    model, _ = create_backbone(BackboneSpec(name=a.backbone, model_name=MODELS[a.backbone], pretrained=False))
    prep = preprocessing_for(model)
    encoder = FrameEncoder(model, prep).to(device).eval()
    prep.apply(np.zeros((1, 32, 32, 3), np.uint8))  # build timm's transform outside the timed loops
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    sizes: dict[str, int] = {}
    for info in infos.values():
        sizes[f"{info.width}x{info.height}"] = sizes.get(f"{info.width}x{info.height}", 0) + 1
    kinds = sorted({f"{i.codec}/{i.container}" for i in infos.values()})
    hardware = torch.cuda.get_device_name() if device.type == "cuda" else f"{cores} cores"
    setup = {
        "row": "setup",
        "device": f"{device} ({hardware})",
        "torch_threads": torch.get_num_threads(),
        "backbone": a.backbone,
        "model_name": MODELS[a.backbone],
        "crop": prep.crop,
        "resize": prep.resize,
        "source": str(a.videos) if a.videos is not None else "synthetic",
        "work": str(work),
        "videos": [
            {
                "path": p.relative_to(folder).as_posix(),
                "size": [infos[p].width, infos[p].height],
                "frames": infos[p].num_frames,
                "codec": infos[p].codec,
                "container": infos[p].container,
                "auto_decoder": infos[p].decoder,
            }
            for p in videos
        ],
        "frames_per_video": a.frames,
        "batch_size": a.batch_size,
        "workers": a.workers,
    }
    print(
        f"device: {setup['device']}, torch threads {setup['torch_threads']}, backbone {a.backbone} at "
        f"{prep.crop}px (short side {prep.resize}, centre crop), batch {a.batch_size}"
    )
    what = "synthetic clips written here" if a.videos is None else f"videos from {a.videos} (read only)"
    print(
        f"videos: {len(videos)} {what}, {a.frames} frames sampled per video; sizes "
        + ", ".join(f"{s} x{n}" for s, n in sizes.items())
        + f"; {', '.join(kinds)}"
    )
    rows: list[dict[str, Any]] = [setup]

    safe_for_decord = [p for p in videos if p in generated or infos[p].decoder == "decord"]
    try:
        import decord  # noqa: F401
    except ImportError:
        safe_for_decord, why = [], "decord is not installed"
    else:
        why = "no video decord reads safely here (auto picks it for none, and none was generated here)"
    crop_clips: list[np.ndarray] = []
    for decoder in ("auto", "pyav", "decord"):
        subset = safe_for_decord if decoder == "decord" else videos
        label = f"decode {decoder:<6} ({len(subset)} videos)"
        if not subset:
            rows.append({"row": "decode", "decoder": decoder, "videos": 0, "skipped_because": why})
            print(f"{label:<27}: skipped, {why}")
            continue
        # decord is forced here on purpose (its speed only): its "not frame-exact" warning would be noise
        quiet = logging.getLogger("har_vib.data.video")
        level = quiet.level
        quiet.setLevel(logging.ERROR if decoder == "decord" else level)
        try:
            row, clips = time_decode(subset, decoder, a.frames, prep)
        finally:
            quiet.setLevel(level)
        rows.append(row)
        if decoder == "auto":
            crop_clips = clips
        failed = f"; {len(row['failed'])} failed" if row["failed"] else ""
        print(
            f"{label:<27}: {_rate(row['decode_fps'])} decode alone, {_rate(row['decode_preprocess_fps'])} "
            f"decode + preprocessing{failed}"
        )
    if 0 < len(safe_for_decord) < len(videos):
        left_out = len(videos) - len(safe_for_decord)
        print(f"{'':29}(decord: {left_out} videos left out, auto does not send them to it; see --help)")

    if not crop_clips:
        raise UsageError(f"no video under {folder} decodes with decoder=auto")
    frames = torch.from_numpy(np.concatenate(crop_clips)).to(device)
    forward = time_forward(encoder, frames, a.batch_size, device)
    rows.append(forward)
    print(f"{'CNN forward alone':<27}: {_rate(forward['fps'])} ({prep.crop}x{prep.crop} frames already on {device})")

    whole = time_extraction(encoder, prep, folder, videos, work / "features", a, device)
    whole["ratio_to_forward"] = round(whole["fps"] / forward["fps"], 3) if whole["fps"] else None
    rows.append(whole)
    ratio = f"{100 * whole['ratio_to_forward']:.0f}%" if whole["ratio_to_forward"] is not None else "-"
    print(
        f"{'whole extraction':<27}: {_rate(whole['fps'])} = {ratio} of forward alone ({a.workers} decode workers, "
        f"batch {a.batch_size}; {whole['extracted']} extracted, {whole['skipped']} skipped)"
    )

    one = time_tvl1(videos[0], infos[videos[0]], a.flow_pairs)
    rows.append(one)
    w, h = one["size"]
    print(f"{'TV-L1, 1 process':<27}: {_rate(one['pairs_per_s'], 'pairs/s')} ({one['pairs']} pairs at {w}x{h})")
    every = time_tvl1_all(videos, infos, work / "flow", cores)
    rows.append(every)
    print(
        f"{f'TV-L1, {cores} processes':<27}: {_rate(every['pairs_per_s'], 'pairs/s')} ({every['videos']} whole "
        f"videos, {every['pairs']} pairs, process start-up included)"
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the figures; exit code 2 (one ``error:`` line) for refused arguments."""
    a = parse_args(argv)
    try:
        check_args(a)
        work, temporary = prepare_work(a.work, a.work_option)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"work folder: {work}" + (" (temporary, removed at the end)" if temporary else ""))
    try:
        rows = run(a, work)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    if a.json is not None:
        write_json({"rows": rows}, a.json)
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
