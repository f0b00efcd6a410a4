"""TV-L1 optical flow for every video of a dataset, in parallel processes, resumable, shardable.

    python scripts/extract_flow.py dataset=ucf101 flow.workers=16
    python scripts/extract_flow.py dataset=ucf101 --shard 3 --num-shards 16     # one shard (extract.shard=3 ...)

Composed by Hydra from conf/extract.yaml (train.py's config plus the shard keys; conf/flow/tvl1.yaml holds
OpenCV's parameters and the +-20 bound). In a SLURM array or under torchrun the shard comes from the environment.
Finished videos are skipped on a rerun; an interrupted run leaves no half-written video. Ends with
``N extracted, M skipped``; the skipped videos and reasons are in ``skipped.json`` (``skipped.shard-<k>-of-<n>.json``
per shard) under the flow folder. A failed write (disk full...) prints one line naming the file and exits 1.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401
import _extraction
import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="../conf", config_name="extract")
def main(cfg: DictConfig) -> None:
    """Instantiate the dataset's DataModule and run its flow extraction (of this process's shard)."""
    from har_vib.errors import ConfigError
    from har_vib.pipeline import instantiate

    try:
        shard = _extraction.shard_of(cfg)
        datamodule = instantiate(cfg.dataset, report_dir=None)
        if not hasattr(datamodule, "extract_flow"):
            raise ConfigError(f"dataset {cfg.dataset.get('name')!r} is not a video dataset")
        counts = datamodule.extract_flow(shard=shard)
    except (ConfigError, OSError) as err:
        _extraction.fail(err, cfg)
    except KeyboardInterrupt:
        _extraction.interrupted()
    prefix = f"{shard}: " if shard.sharded else ""
    print(f"{prefix}{counts['extracted']} extracted, {counts['skipped']} skipped ({counts['done_before']} done before)")


if __name__ == "__main__":
    _extraction.prepare_argv()
    main()
