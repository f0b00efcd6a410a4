"""Hydra callbacks the project's configs register (conf/hydra/default.yaml, ``hydra.callbacks``)."""

from __future__ import annotations

from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class SweepControllerHydraConfig(Callback):
    """Make ``${hydra:...}`` resolvable in the process that starts a multirun, before its sweeper and launcher exist.

    Hydra 1.3 sets ``HydraConfig`` only when a job starts, yet the sweeper resolves ``hydra.sweep.dir`` and the
    submitit launcher ``hydra.launcher.submitit_folder`` before that. Here both lead to ``paths.root_dir:
    ${hydra:runtime.cwd}``, so ``train.py -m beta=1e-4,1e-3`` without ``hydra.sweep.dir`` stopped on "HydraConfig was
    not set". This installs the composed multirun config (whose ``hydra.runtime.cwd`` Hydra has already filled in)
    for the controller and restores the previous one at the end; each job still installs its own (Hydra's
    ``run_job``). Later Hydra releases do the same themselves (Hydra issue #3427).
    """

    def __init__(self) -> None:
        self._previous: DictConfig | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Install ``config`` (the multirun's composed config, ``hydra`` node included) as ``HydraConfig``."""
        self._previous = HydraConfig.instance().cfg
        HydraConfig.instance().set_config(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Put back what ``HydraConfig`` held before the multirun (nothing, when run from ``train.py``)."""
        HydraConfig.instance().cfg = self._previous
