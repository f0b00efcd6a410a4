"""Extract per-frame CNN features of a video dataset into the feature store (resumable, batched).

Composed by Hydra from the same configs as train.py, so the store it fills is the one training reads:

    python scripts/extract_features.py dataset=ucf101 backbone=inception_v3 backbone.weights=/w/inception_v3.pth \\
        dataset.streams=[rgb,flow] features.batch_size=256 features.num_workers=8

Flow is extracted first when a stream needs it. Ends with ``N extracted, M skipped`` per stream; the skipped
videos and their reasons are in ``skipped.json`` inside each store folder.
"""

from __future__ import annotations

import sys

import _bootstrap  # noqa: F401
import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    """Instantiate the dataset's DataModule and run its extraction."""
    from har_vib.errors import ConfigError
    from har_vib.pipeline import instantiate

    try:
        datamodule = instantiate(cfg.dataset, report_dir=None)
        if not hasattr(datamodule, "extract_features"):
            raise ConfigError(
                f"dataset {cfg.dataset.get('name')!r} is not a video dataset; use dataset=ucf11|hmdb51|ucf101|synthetic"
            )
        reports = datamodule.extract_features()
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    if "optical_flow" in reports:
        flow = reports.pop("optical_flow")
        print(
            f"TV-L1 flow: {flow['extracted']} extracted, {flow['skipped']} skipped ({flow['done_before']} done before)"
        )
    for stream, report in reports.items():
        print(f"{stream}: {report.summary()}")


if __name__ == "__main__":
    main()
