"""Lightning DataModules."""

from har_vib.datamodules.ts_datamodule import TimeSeriesDataModule
from har_vib.datamodules.video_datamodule import VideoDataModule

__all__ = ["TimeSeriesDataModule", "VideoDataModule"]
