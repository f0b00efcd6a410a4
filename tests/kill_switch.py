"""A callback that kills its own process (SIGKILL: no cleanup, no exception handlers) at a chosen point of a run,
for the kill-and-resume tests: ``+callbacks.kill._target_=tests.kill_switch.KillAt +callbacks.kill.epoch=2``."""

from __future__ import annotations

import os
import signal
from typing import Any, Optional

import lightning as L


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillAt(L.Callback):
    """Kill the process in training epoch ``epoch`` after ``batch`` batches, at the end of validation of ``epoch``
    (``batch=None, where="validation"``), or in the export stage after the compact model is written
    (``where="export"``)."""

    def __init__(self, epoch: int = 0, batch: Optional[int] = None, where: str = "train") -> None:
        self.epoch, self.batch, self.where = epoch, batch, where
        if where == "export":
            import har_vib.callbacks.prune_export as pe

            original = pe.export_compact

            def export_then_die(*args: Any, **kwargs: Any) -> Any:
                original(*args, **kwargs)
                _die()

            pe.export_compact = export_then_die

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, idx: int) -> None:
        if self.where == "train" and trainer.current_epoch == self.epoch and idx + 1 == self.batch:
            _die()

    def on_validation_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        if self.where == "validation" and not trainer.sanity_checking and trainer.current_epoch == self.epoch:
            _die()
