"""Throughput of the video path: decode alone, CNN forward alone, the whole feature extraction, and TV-L1.

    python scripts/bench_extract.py                       # synthetic 320x240 clips, Inception-v3, auto device
    python scripts/bench_extract.py --backbone efficientnet_b1 --videos 32 --device cuda --batch-size 256

Prints frames/s for each stage and pairs/s of OpenCV TV-L1 with one process and with all cores, and the
ratio of the whole extraction to the forward-alone rate. Weights are random (speed does not depend on them).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401
import numpy as np
import torch

from har_vib.data.flow import FlowConfig, extract_dataset_flow, tvl1_flow
from har_vib.data.sampling import sample_indices
from har_vib.data.synthetic import SyntheticSpec, generate
from har_vib.data.video import probe, read_frames, short_side_size
from har_vib.datamodules.video_datamodule import resolve_device
from har_vib.features.backbones import BackboneSpec, FrameEncoder, create_backbone, preprocessing_for
from har_vib.features.extract import ClipSource, extract_features
from har_vib.features.store import FeatureStore

MODELS = {
    "inception_v3": "inception_v3.tv_in1k",
    "efficientnet_b1": "efficientnet_b1.ra4_e3600_r240_in1k",
    "resnet18": "resnet18.a1_in1k",
    "mobilenetv3_small": "mobilenetv3_small_100.lamb_in1k",
}


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", choices=sorted(MODELS), default="inception_v3")
    p.add_argument("--videos", type=int, default=12)
    p.add_argument("--frames", type=int, default=16, help="frames cached per video")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=1, help="DataLoader decode workers")
    p.add_argument("--device", default="auto")
    p.add_argument("--flow-pairs", type=int, default=8)
    p.add_argument("--root", default=None, help="synthetic UCF101-layout root to reuse (default: a temp dir)")
    a = p.parse_args(argv)
    device = resolve_device(a.device)
    tmp = Path(a.root or tempfile.mkdtemp(prefix="bench_extract_"))
    classes = max(1, min(6, a.videos))
    spec = SyntheticSpec(
        "ucf101",
        classes,
        groups=max(1, -(-a.videos // classes)),
        clips_per_group=1,
        width=320,
        height=240,
        min_frames=48,
        max_frames=64,
    )
    generate(spec, tmp, progress=False)
    videos = sorted((tmp / "UCF-101").rglob("*.avi"))[: a.videos]
    items = [(str(v.relative_to(tmp / "UCF-101").with_suffix("")), str(v.relative_to(tmp / "UCF-101"))) for v in videos]
    model, _ = create_backbone(BackboneSpec(name=a.backbone, model_name=MODELS[a.backbone], pretrained=False))
    prep = preprocessing_for(model)
    encoder = FrameEncoder(model, prep).to(device).eval()
    print(
        f"device: {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else f'{os.cpu_count()} cores'}), "
        f"torch threads {torch.get_num_threads()}, backbone {a.backbone} at {prep.crop}px, {len(videos)} videos "
        f"x {a.frames} frames, batch {a.batch_size}"
    )

    start = time.perf_counter()
    clips = []
    for v in videos:
        info = probe(v)
        clips.append(
            read_frames(v, lambda n: sample_indices(n, a.frames), short_side_size(info.width, info.height, prep.resize))
        )
    decode_s = time.perf_counter() - start
    n_frames = sum(len(c) for c in clips)
    print(f"decode alone      : {n_frames / decode_s:9.1f} frames/s (decord, resize to short side {prep.resize})")

    frames = torch.from_numpy(np.concatenate(clips)).to(device)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    )
    if device.type == "cuda":
        encoder = encoder.to(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast:
        encoder(frames[: a.batch_size])  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for chunk in frames.split(a.batch_size):
            encoder(chunk)
        if device.type == "cuda":
            torch.cuda.synchronize()
        forward_s = time.perf_counter() - start
    forward_rate = n_frames / forward_s
    print(f"CNN forward alone : {forward_rate:9.1f} frames/s (preprocessing on the device included)")

    source = ClipSource("rgb", tmp / "UCF-101", a.frames, "uniform", prep.resize)
    store = FeatureStore(
        tmp / "features",
        {
            "dataset": "bench",
            "stream": "rgb",
            "backbone": a.backbone,
            "frames": a.frames,
            "dim": encoder.num_features,
            "t": time.time(),
        },
    )
    report = extract_features(encoder, source, store, items, a.batch_size, a.workers, device, progress=False)
    whole_rate = report.frames / report.seconds
    print(
        f"whole extraction  : {whole_rate:9.1f} frames/s = {100 * whole_rate / forward_rate:.0f}% of forward alone "
        f"({a.workers} decode workers; {report.summary()})"
    )

    pair_frames = read_frames(videos[0], np.arange(a.flow_pairs + 1))
    start = time.perf_counter()
    tvl1_flow(pair_frames)
    one = a.flow_pairs / (time.perf_counter() - start)
    print(f"TV-L1, 1 process  : {one:9.2f} pairs/s at {pair_frames.shape[2]}x{pair_frames.shape[1]} (OpenCV defaults)")
    cores = os.cpu_count() or 1
    cut = [(f"v{i}", v) for i, v in enumerate(videos[:cores])]
    start = time.perf_counter()
    config = FlowConfig(min_frames=2)
    counts = extract_dataset_flow(cut, tmp / f"flow-{time.time()}", config, workers=cores, progress=False)
    pairs = sum(probe(v).num_frames - 1 for _, v in cut)
    print(
        f"TV-L1, {cores} processes: {pairs / (time.perf_counter() - start):9.2f} pairs/s ({counts['extracted']} "
        "whole videos, process start-up included)"
    )


if __name__ == "__main__":
    main()
