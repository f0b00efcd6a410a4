"""The training task behind ``train.py``: compose -> seed -> data -> model -> fit -> prune/export -> test."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate as hydra_instantiate
from omegaconf import DictConfig, OmegaConf

from har_vib.config_checks import check_run_config
from har_vib.datamodules.sequence_datamodule import DATASET_INFO_FILE
from har_vib.deploy.clip import deploy_encoder
from har_vib.encoders.compress import encoder_cost
from har_vib.errors import ConfigError
from har_vib.reports.clip_model import clip_model_report
from har_vib.reports.sweep import sweep_objective
from har_vib.resume import refuse_finished, refuse_running
from har_vib.utils.checkpoints import lightning_safe_globals, load_resume_checkpoint
from har_vib.utils.io import write_json
from har_vib.utils.run_status import STATUS_FILE, mark, read_status

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


def instantiate_loggers(cfg: DictConfig | None, checkpoint: dict[str, Any] | None = None) -> list[Any]:
    """The logger group's loggers, less Weights & Biases when ``WANDB_MODE=disabled`` is set: the W&B logger's
    own ``offline: true`` would otherwise override the environment and still write an offline run.

    Resuming (``checkpoint`` given), W&B continues the run's own W&B run (same id) and the CSV logger appends to the
    run's ``metrics.csv``, dropping the rows logged after the checkpoint (they are logged again)."""
    import os

    if not cfg:
        return []
    disabled = os.environ.get("WANDB_MODE", "").strip().lower() == "disabled"
    loggers = []
    for entry in cfg.values():
        if not (isinstance(entry, DictConfig) and "_target_" in entry):
            continue
        target = str(entry.get("_target_")).lower()
        if disabled and "wandb" in target:
            log.info("WANDB_MODE=disabled: no Weights & Biases logger")
            continue
        extra: dict[str, Any] = {}
        if checkpoint is not None and "wandb" in target:
            run_id = wandb_run_id(Path(str(entry.get("save_dir", "."))))
            extra = {"id": run_id, "resume": "allow"} if run_id else {}
        if checkpoint is not None and "runcsvlogger" in target:
            extra = {"resume_from_step": int(checkpoint.get("global_step", 0))}
        loggers.append(instantiate(entry, **extra))
    return loggers


def wandb_run_id(save_dir: Path) -> str | None:
    """The id of the latest W&B run under ``save_dir/wandb`` (``run-*-<id>`` / ``offline-run-*-<id>``), or None."""
    runs = sorted((save_dir / "wandb").glob("*run-*-*"), key=lambda p: p.name.split("run-", 1)[1])
    return runs[-1].name.rsplit("-", 1)[1] if runs else None


def _finish_wandb() -> None:
    try:
        import wandb
    except ImportError:  # pragma: no cover - wandb is a dependency
        return
    if wandb.run is not None:
        wandb.finish()


def _clip_model(datamodule: Any, callbacks: list[Any], cfg: DictConfig) -> dict[str, Any]:
    """For CNN-LSTM runs: ``clip_model.json`` (encoder + LSTM parameters and MACs per clip, before and after
    compression) in the run folder, and its totals as metrics."""
    summary = getattr(datamodule, "encoder_summary", lambda: None)()
    report = next((cb.report for cb in callbacks if isinstance(getattr(cb, "report", None), dict) and cb.report), None)
    if summary is None or report is None or "total_params_before" not in report:
        return {}
    backbone_cfg = OmegaConf.to_container(cfg.backbone, resolve=True)  # rebuilds the encoder (bench_clip.py)
    spec_path = Path(cfg.paths.output_dir) / "pruned_spec.json"
    index = json.loads(spec_path.read_text()).get("input_index") if spec_path.is_file() else None
    summary["outputs_trimmed"] = False
    summary["compressed"] = summary["after"]  # the encoder as pruned; "after" is what is deployed
    if index is not None:
        # the deployed encoder computes only the features the compact LSTM reads (when its output allows it)
        base = {"backbone": backbone_cfg, "encoder": summary, "streams": len(datamodule.streams)}
        encoder, _, trimmed = deploy_encoder(base, index, random_weights=True)
        summary["outputs_trimmed"] = trimmed
        summary["after"] = encoder_cost(encoder, int(summary["crop"]))
    clip = clip_model_report(
        summary, report, int(cfg.dataset.frames), len(datamodule.streams), int(datamodule.num_classes)
    )
    clip["encoder"] = summary
    clip["backbone"] = backbone_cfg
    write_json(clip, Path(cfg.paths.output_dir) / "clip_model.json")
    log.info(
        "whole model per clip: %d -> %d params (%.1fx), %d -> %d MACs (%.1fx)",
        clip["before"]["total_params"],
        clip["after"]["total_params"],
        clip["param_ratio"],
        clip["before"]["total_macs_per_clip"],
        clip["after"]["total_macs_per_clip"],
        clip["mac_ratio"],
    )
    return {
        "clip_params_before": clip["before"]["total_params"],
        "clip_params_after": clip["after"]["total_params"],
        "clip_macs_before": clip["before"]["total_macs_per_clip"],
        "clip_macs_after": clip["after"]["total_macs_per_clip"],
    }


def _claim_run_folder(cfg: DictConfig) -> Path:
    """Refuse a folder that holds a finished run; mark this run as running (``status.json``)."""
    out = Path(cfg.paths.output_dir)
    refuse_finished(out, "hydra.run.dir")
    refuse_running(out, "hydra.run.dir")
    ckpt = cfg.get("ckpt_path")
    if _launching_rank_zero():  # DDP processes started by Lightning share the folder: one writes its status
        mark(out, "running", resumed_from=str(ckpt) if ckpt else None)
    return out


def _restore_status(out: Path, before: dict[str, Any]) -> None:
    """Put back the ``status.json`` a refused run found (none, for a new folder)."""
    path = out / STATUS_FILE
    if before["status"] == "new" and not before.get("attempts"):
        path.unlink(missing_ok=True)
    elif not before.get("legacy"):
        write_json(before, path)


def _launching_rank_zero() -> bool:
    """Whether this process is rank 0 as far as the environment says before the Trainer exists (Lightning's own
    guess, from RANK / LOCAL_RANK / SLURM_PROCID)."""
    from lightning.pytorch.utilities import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def train(cfg: DictConfig, checked: bool = False) -> dict[str, Any]:
    """Run one training job; return the run's metrics (trained model, compact model, compression).

    ``status.json`` in the run folder says ``running`` from the start and ``finished`` once every report is written
    (``failed`` when it stops on an error). With ``ckpt_path`` the fit continues from that checkpoint (weights,
    optimiser, epoch, callbacks' states).
    """
    if not checked:  # train.py has run them already, before importing this module
        check_run_config(cfg)  # before any work: types, ranges, files the run will need
    ckpt_path = cfg.get("ckpt_path") or None
    checkpoint = load_resume_checkpoint(ckpt_path) if ckpt_path else None
    out = Path(cfg.paths.output_dir)
    before = read_status(out)
    _claim_run_folder(cfg)
    try:
        metrics = _train(cfg, checkpoint, ckpt_path)
    except ConfigError:  # refused before any work: the folder's status stays what it was
        if _launching_rank_zero():
            _restore_status(out, before)
        raise
    except BaseException as err:
        if _launching_rank_zero():
            status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
            mark(out, status, error=f"{type(err).__name__}: {err}"[:500])
        raise
    if metrics.pop("_global_zero", True):
        mark(out, "finished")
    return metrics


def write_dataset_info(datamodule: Any, out: Path) -> None:
    """``classes.json`` in the run folder, for sequence datasets (their ``dataset_info()``): the class names in
    the order of the exported model's outputs, and the input's imputation and standardisation numbers."""
    info = getattr(datamodule, "dataset_info", None)
    if callable(info):
        write_json(info(), out / DATASET_INFO_FILE)


def _train(cfg: DictConfig, checkpoint: dict[str, Any] | None, ckpt_path: str | None) -> dict[str, Any]:
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.dataset)
    datamodule.prepare_data()
    datamodule.setup("fit")
    module = instantiate(cfg.model, input_size=datamodule.input_dim, num_classes=datamodule.num_classes)
    if checkpoint is not None:
        resuming = Path(str(ckpt_path)).resolve().parent.parent == Path(cfg.paths.output_dir).resolve()
        check_checkpoint_fits(module, checkpoint, str(ckpt_path), resuming)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_loggers(cfg.get("logger"), checkpoint)
    budget = _step_budget_epochs(cfg, datamodule)
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **budget)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    try:
        if trainer.is_global_zero:
            write_dataset_info(datamodule, Path(cfg.paths.output_dir))
        if cfg.get("train", True):
            with lightning_safe_globals():
                trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        metrics: dict[str, Any] = {}
        for cb in callbacks:
            metrics.update(getattr(cb, "metrics", {}))
            metrics.update({k: v for k, v in getattr(cb, "report", {}).items() if isinstance(v, (int, float))})
        metrics["objective"] = sweep_objective(metrics, cfg.get("param_budget"))
        clip = _clip_model(datamodule, callbacks, cfg) if trainer.is_global_zero else {}
        metrics.update(clip)
        for logger in loggers if clip else []:  # the whole model's size on the dashboards (W&B: run summary)
            logger.log_metrics({f"clip/{k}": float(v) for k, v in clip.items()})
        if cfg.get("test", True):
            results = trainer.test(module, datamodule=datamodule, ckpt_path=None, verbose=False)
            metrics.update({k: float(v) for k, v in (results[0] if results else {}).items()})
        log.info("run folder: %s", cfg.paths.output_dir)
        metrics["_global_zero"] = trainer.is_global_zero  # under DDP, rank 0 alone writes the reports and status
        return metrics
    finally:
        _finish_wandb()


def epochs_for_steps(train_steps: int, batches_per_epoch: int, max_epochs: int | None) -> int:
    """Whole epochs that give at least ``train_steps`` optimisation steps, ``max_epochs`` at most (None or -1: no
    cap). The budget is turned into epochs, not given to Lightning as ``max_steps``: a run resumed from a
    checkpoint written at an epoch's validation end then replays exactly the epochs an uninterrupted run has."""
    epochs = max(1, math.ceil(train_steps / max(batches_per_epoch, 1)))
    return epochs if max_epochs in (None, -1) else min(epochs, int(max_epochs))


def _step_budget_epochs(cfg: DictConfig, datamodule: Any) -> dict[str, int]:
    """``{"max_epochs": n}`` when the config sets ``train_steps`` (the sequence recipe), else nothing. Steps are
    counted over the whole training set at ``dataset.batch_size`` (under DDP each process takes its share of
    every epoch, so the same epochs make fewer steps per process)."""
    steps = cfg.get("train_steps")
    if not steps or not cfg.get("train", True):
        return {}
    batches = len(datamodule.train_dataloader(whole=True))
    epochs = epochs_for_steps(int(steps), batches, cfg.trainer.get("max_epochs"))
    log.info("train_steps=%d: %d epochs of %d batches (%d steps)", steps, epochs, batches, epochs * batches)
    return {"max_epochs": epochs}


def check_checkpoint_fits(
    module: L.LightningModule, checkpoint: dict[str, Any], path: str, resuming: bool = False
) -> None:
    """The checkpoint must hold this model's weights, tensor for tensor: a checkpoint of another architecture is
    one :class:`ConfigError` before training, not a size-mismatch traceback from inside Lightning. ``resuming``: the
    checkpoint is the run's own, so an override given with ``resume=`` made the difference."""
    saved = checkpoint.get("state_dict")
    if not isinstance(saved, dict):
        raise ConfigError(f"ckpt_path={path}: not a Lightning checkpoint (no state_dict)")
    fix = (
        "an override given with resume= changes the model; resume without it"
        if resuming
        else "it is of another model; use the model settings of the run that wrote it"
    )
    for name, tensor in module.state_dict().items():
        theirs = saved.get(name)
        if theirs is None:
            raise ConfigError(f"ckpt_path={path}: the checkpoint has no {name!r}: {fix}")
        if tuple(theirs.shape) != tuple(tensor.shape):
            raise ConfigError(
                f"ckpt_path={path}: {name} is {tuple(theirs.shape)} there and {tuple(tensor.shape)} in this model "
                f"(another hidden size, input or class count): {fix}"
            )
