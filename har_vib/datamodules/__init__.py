"""Lightning DataModules."""

from har_vib.datamodules.ts_datamodule import TimeSeriesDataModule

__all__ = ["TimeSeriesDataModule"]
