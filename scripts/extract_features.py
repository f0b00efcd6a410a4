"""Extract per-frame CNN features of a video dataset into the feature store (resumable, batched, shardable).

Composed by Hydra from conf/extract.yaml (train.py's config plus the shard keys), so the store it fills is the one
training reads:

    python scripts/extract_features.py dataset=ucf101 backbone=inception_v3 backbone.weights=/w/inception_v3.pth \\
        dataset.streams=[rgb,flow] features.batch_size=256 features.num_workers=8
    python scripts/extract_features.py dataset=ucf101 ... --shard 3 --num-shards 16    # one shard

Flow is extracted first when a stream needs it (the same shard's videos). In a SLURM array or under torchrun the
shard comes from the environment. Ends with ``N extracted, M skipped`` per stream; the skipped videos and their
reasons are in ``skipped.json`` (``skipped.shard-<k>-of-<n>.json`` per shard) inside each store folder. A failed
write (disk full...) prints one line naming the file and exits 1.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401
import _extraction
import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="../conf", config_name="extract")
def main(cfg: DictConfig) -> None:
    """Instantiate the dataset's DataModule and run its extraction (of this process's shard)."""
    from har_vib.errors import ConfigError
    from har_vib.pipeline import instantiate

    try:
        shard = _extraction.shard_of(cfg)
        datamodule = instantiate(cfg.dataset, report_dir=None)
        if not hasattr(datamodule, "extract_features"):
            raise ConfigError(
                f"dataset {cfg.dataset.get('name')!r} is not a video dataset; use dataset=ucf11|hmdb51|ucf101|synthetic"
            )
        reports = datamodule.extract_features(shard=shard)
    except (ConfigError, OSError) as err:
        _extraction.fail(err, cfg)
    except KeyboardInterrupt:
        _extraction.interrupted()
    prefix = f"{shard}: " if shard.sharded else ""
    if "optical_flow" in reports:
        flow = reports.pop("optical_flow")
        print(
            f"{prefix}TV-L1 flow: {flow['extracted']} extracted, {flow['skipped']} skipped "
            f"({flow['done_before']} done before)"
        )
    for stream, report in reports.items():
        print(f"{prefix}{stream}: {report.summary()}")


if __name__ == "__main__":
    _extraction.prepare_argv()
    main()
