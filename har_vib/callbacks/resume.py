"""What makes a resumed run the same run: random streams that depend on the epoch, not on the process's history,
and the stop decision carried in the checkpoint.

A run killed in epoch ``k`` restarts from ``checkpoints/last.ckpt`` (the end of epoch ``k - 1``); Lightning restores
weights, optimiser, loop counters and the callbacks' states. Two things it leaves to the process are handled here:

- the global random streams (dropout, the VIB noise, augmentation) are re-seeded at the start of every training epoch
  from ``(seed, epoch, rank)``, and before pruning/fine-tuning from ``seed``: a resumed run draws what an uninterrupted
  run draws (the DataModules' samplers are epoch-seeded the same way);
- ``trainer.should_stop`` (set by early stopping) is saved in the checkpoint and restored, so a run stopped early and
  killed while pruning does not train on after a resume.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch

_KEY = "har_vib_should_stop"
_FIT_END = 2**31 - 1  # the stream tag of pruning / fine-tuning (epochs are 0, 1, ...)


def seed_streams(*parts: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (CPU and CUDA) from the integers ``parts``."""
    seed = int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class ResumableTraining(L.Callback):
    """Args: seed: the run's seed (``cfg.seed``)."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._stop_on_start = False

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seed_streams(self.seed, trainer.current_epoch, trainer.global_rank)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[_KEY] = bool(trainer.should_stop)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        self._stop_on_start = bool(checkpoint.get(_KEY, False))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._stop_on_start:  # the checkpointed run had decided to stop (early stopping): fit ends here
            trainer.should_stop = True

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seed_streams(self.seed, _FIT_END)  # pruning and fine-tuning draw the same numbers, resumed or not
