"""Lightning callbacks."""

from har_vib.callbacks.prune_export import PruneExportCallback

__all__ = ["PruneExportCallback"]
