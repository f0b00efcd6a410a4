"""TV-L1 optical flow for every video of a dataset, in parallel processes, resumable.

    python scripts/extract_flow.py dataset=ucf101 flow.workers=16

Composed by Hydra like train.py (conf/flow/tvl1.yaml holds OpenCV's parameters and the +-20 bound). Finished
videos are skipped on a rerun; an interrupted run leaves no half-written video. Ends with
``N extracted, M skipped``; the skipped videos and reasons are in ``skipped.json`` under the flow folder.
"""

from __future__ import annotations

import sys

import _bootstrap  # noqa: F401
import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    """Instantiate the dataset's DataModule and run its flow extraction."""
    from har_vib.errors import ConfigError
    from har_vib.pipeline import instantiate

    try:
        datamodule = instantiate(cfg.dataset, report_dir=None)
        if not hasattr(datamodule, "extract_flow"):
            raise ConfigError(f"dataset {cfg.dataset.get('name')!r} is not a video dataset")
        counts = datamodule.extract_flow()
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"{counts['extracted']} extracted, {counts['skipped']} skipped ({counts['done_before']} done before)")


if __name__ == "__main__":
    main()
