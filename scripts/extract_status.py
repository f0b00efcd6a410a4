"""Which shards of a sharded extraction are finished: per shard, its videos done, skipped and left, for the flow
and for each feature stream (the same overrides as the extraction, plus the shard count).

    python scripts/extract_status.py dataset=ucf101 backbone=efficientnet_b1 backbone.weights=/w/effb1.pth \\
        dataset.streams=[rgb,flow] --num-shards 16

Exits 0 when every shard is finished, 3 when some videos are left (rerun those shards: ``sbatch --array=3,9 ...``).
A video counts as done when its flow folder / feature entry matches its file as it is now. ``backbone=none``
reports the flow only.
"""

from __future__ import annotations

import sys

import _bootstrap  # noqa: F401
import _extraction
import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="../conf", config_name="extract")
def main(cfg: DictConfig) -> None:
    """Print one line per shard and a summary."""
    from har_vib.errors import ConfigError
    from har_vib.features.extract import extraction_status
    from har_vib.pipeline import instantiate

    try:
        num_shards = cfg.extract.get("num_shards") or _extraction.shard_of(cfg).count
        datamodule = instantiate(cfg.dataset, report_dir=None)
        if not hasattr(datamodule, "extract_flow"):
            raise ConfigError(f"dataset {cfg.dataset.get('name')!r} is not a video dataset")
        videos = [(r.video_id, r.path) for r in datamodule.parse_splits().all_records()]
        identities = datamodule._identities(videos)
        stores = {}
        if not datamodule.end_to_end:
            _, stores, _ = datamodule._encoder_and_stores(build_encoder=False)
        flow_root = datamodule._flow_root() if "flow" in datamodule.streams or datamodule.end_to_end else None
        rows = extraction_status([v for v, _ in videos], int(num_shards), identities, flow_root, stores)
    except (ConfigError, OSError) as err:
        _extraction.fail(err, cfg)
    parts = list(rows[0].done) if rows else []
    print("shard  videos  " + "  ".join(f"{p} done/skipped/left" for p in parts))
    for row in rows:
        cells = "  ".join(f"{row.done[p]}/{row.skipped[p]}/{row.left[p]}".rjust(len(p) + 18) for p in parts)
        print(f"{row.shard.index:>5}  {row.videos:>6}  {cells}  {'finished' if row.finished else 'LEFT'}")
    unfinished = [row.shard.index for row in rows if not row.finished]
    left = sum(sum(row.left.values()) for row in rows)
    if unfinished:
        print(
            f"{len(rows) - len(unfinished)} of {len(rows)} shards finished; {left} (video, stream) pairs"
            f" left in shards "
            f"{','.join(map(str, unfinished))}"
        )
        sys.exit(3)
    print(f"all {len(rows)} shards finished")


if __name__ == "__main__":
    _extraction.prepare_argv()
    main()
