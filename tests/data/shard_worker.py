"""One extraction process of the sharding tests: TV-L1 flow, then rgb and flow features, of one shard.

    python -m tests.data.shard_worker <job.json>

The job names the videos, the flow root, the feature cache, the shard and a barrier folder: every process of a
test waits there until all have started, so the shards really run at the same time. Threads are pinned to one
and the random-init encoder is seeded, so every process computes exactly the same numbers.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
import torch

from har_vib.data.flow import FlowConfig, TVL1Params, extract_dataset_flow
from har_vib.data.shards import Shard
from har_vib.features.backbones import BackboneSpec, FrameEncoder, create_backbone, preprocessing_for
from har_vib.features.extract import ClipSource, extract_features, store_key
from har_vib.features.store import FeatureStore
from har_vib.utils.io import file_identity

FAST = TVL1Params(nscales=2, warps=2, inner_iterations=5, outer_iterations=2)
FRAMES = 4


def stores(cache: Path, video_root: Path, encoder: FrameEncoder, config: FlowConfig) -> dict[str, FeatureStore]:
    """The rgb and flow stores of the test's tiny encoder under ``cache``."""
    return {
        stream: FeatureStore(
            cache,
            store_key(
                "tiny",
                video_root,
                stream,
                "r18",
                "resnet18",
                "seed0",
                encoder.prep.key(),
                FRAMES,
                "uniform",
                512,
                config.key(),
            ),
        )
        for stream in ("rgb", "flow")
    }


def tiny_encoder() -> FrameEncoder:
    """A random-init ResNet-18 at 32 px, the same weights in every process (seed 0)."""
    torch.manual_seed(0)
    model, _ = create_backbone(BackboneSpec(name="r18", model_name="resnet18", pretrained=False, img_size=32))
    return FrameEncoder(model, preprocessing_for(model, 32))


def _barrier(folder: Path, me: str, parties: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / me).touch()
    for _ in range(6000):  # every party starts within seconds; give up after ~10 min rather than hang
        if len(list(folder.iterdir())) >= parties:
            return
        time.sleep(0.1)
    raise SystemExit(f"barrier {folder}: only {len(list(folder.iterdir()))} of {parties} processes started")


def main(job_file: str) -> None:
    """Run the job: flow for the shard's videos, then their rgb and flow features."""
    job = json.loads(Path(job_file).read_text())
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    shard = Shard(job["shard"], job["num_shards"])
    video_root = Path(job["video_root"])
    videos = [(vid, rel) for vid, rel in job["videos"]]
    config = FlowConfig(tvl1=FAST)
    encoder = tiny_encoder()
    _barrier(Path(job["barrier"]), f"shard-{shard.index}", job["parties"])
    flow_root = Path(job["flow_root"])
    counts = extract_dataset_flow(
        [(vid, video_root / rel) for vid, rel in videos], flow_root, config, progress=False, shard=shard
    )
    reports = {}
    identities = {vid: file_identity(video_root / rel) for vid, rel in videos}  # as the datamodule passes them
    for stream, store in stores(Path(job["cache"]), video_root, encoder, config).items():
        folder = video_root if stream == "rgb" else flow_root
        source = ClipSource(stream, folder, FRAMES, prep=encoder.prep, flow_bound=config.bound)
        # one video per forward pass (batch_size = frames): no result depends on which videos share a batch
        report = extract_features(
            encoder, source, store, videos, batch_size=FRAMES, progress=False, identities=identities, shard=shard
        )
        reports[stream] = [report.extracted, report.skipped]
    print(json.dumps({"flow": counts, "features": reports}))


if __name__ == "__main__":
    main(sys.argv[1])
