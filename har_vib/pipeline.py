"""The training task behind ``train.py``: compose -> seed -> data -> model -> fit -> prune/export -> test."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate as hydra_instantiate
from omegaconf import DictConfig, OmegaConf

from har_vib.errors import ConfigError
from har_vib.reports.sweep import sweep_objective

log = logging.getLogger(__name__)


def instantiate(cfg: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` that lets our own :class:`ConfigError` through unwrapped, so the user
    sees its message (which names the key and the fix) rather than Hydra's wrapper."""
    try:
        return hydra_instantiate(cfg, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while cause is not None and not isinstance(cause, ConfigError):
            cause = cause.__cause__
        if isinstance(cause, ConfigError):
            raise cause from None
        raise


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a callbacks/logger group that has a ``_target_``."""
    if not cfg:
        return []
    if not isinstance(cfg, DictConfig):
        raise TypeError(f"expected a config group (mapping), got {type(cfg).__name__}")
    return [instantiate(entry) for entry in cfg.values() if isinstance(entry, DictConfig) and "_target_" in entry]


def _finish_wandb() -> None:
    try:
        import wandb
    except ImportError:  # pragma: no cover - wandb is a dependency
        return
    if wandb.run is not None:
        wandb.finish()


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one training job; return the run's metrics (trained model, compact model, compression)."""
    L.seed_everything(cfg.seed, workers=True)
    backbone = (cfg.get("backbone") or {}).get("name", "none")
    if backbone != "none" and "TimeSeriesDataModule" in str(cfg.dataset.get("_target_", "")):
        raise ConfigError(
            f"backbone={backbone} encodes video frames; dataset {cfg.dataset.get('name')!r} is a "
            "sequence dataset. Use a video dataset (dataset=ucf11|hmdb51|ucf101|synthetic) or backbone=none"
        )
    datamodule = instantiate(cfg.dataset)
    datamodule.prepare_data()
    datamodule.setup("fit")
    module = instantiate(cfg.model, input_size=datamodule.input_dim, num_classes=datamodule.num_classes)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    try:
        if cfg.get("train", True):
            trainer.fit(module, datamodule=datamodule)
        metrics: dict[str, Any] = {}
        for cb in callbacks:
            metrics.update(getattr(cb, "metrics", {}))
            metrics.update({k: v for k, v in getattr(cb, "report", {}).items() if isinstance(v, (int, float))})
        metrics["objective"] = sweep_objective(metrics, cfg.get("param_budget"))
        if cfg.get("test", True):
            results = trainer.test(module, datamodule=datamodule, ckpt_path=None, verbose=False)
            metrics.update({k: float(v) for k, v in (results[0] if results else {}).items()})
        log.info("run folder: %s", cfg.paths.output_dir)
        return metrics
    finally:
        _finish_wandb()
