"""Lightning DataModules."""

from har_vib.datamodules.array_datamodule import ArrayDataModule
from har_vib.datamodules.image_datamodule import ImageDataModule
from har_vib.datamodules.sequence_datamodule import SequenceDataModule
from har_vib.datamodules.ts_datamodule import TimeSeriesDataModule
from har_vib.datamodules.video_datamodule import VideoDataModule

__all__ = ["ArrayDataModule", "ImageDataModule", "SequenceDataModule", "TimeSeriesDataModule", "VideoDataModule"]
