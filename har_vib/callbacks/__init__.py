"""Lightning callbacks."""

from har_vib.callbacks.prune_export import PruneExportCallback
from har_vib.callbacks.resume import ResumableTraining
from har_vib.callbacks.vibnet_prune import VIBNetPruneCallback

__all__ = ["PruneExportCallback", "ResumableTraining", "VIBNetPruneCallback"]
