"""Train a (VIB-)recurrent classifier, prune it to a standard compact model, export it and report.

python train.py                                   # VIB-LSTM on BasicMotions
python train.py dataset.name=GunPoint model=naive_lstm
python train.py -m beta=1e-5,1e-4,1e-3,1e-2       # a beta sweep; then scripts/sweep_report.py
python train.py resume=outputs/runs/<time>         # continue a killed run in its folder, with its config
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from har_vib.errors import ConfigError, os_error_message, root_os_error, setting_for

log = logging.getLogger("train")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point: returns ``cfg.optimized_metric`` for sweepers."""
    from har_vib.config_checks import check_run_config

    try:
        check_run_config(cfg)  # first, before the heavy imports: a wrong value is refused in a second, not ten
        from har_vib.resume import rerun_sweep_job

        metrics = rerun_sweep_job(cfg)  # a sweep run again keeps its finished jobs and continues killed ones
        if metrics is None:
            from har_vib.pipeline import train

            metrics = train(cfg, checked=True)
    except ConfigError as err:
        from har_vib.resume import restore_hydra_files

        print(f"error: {err}", file=sys.stderr)
        restore_hydra_files()  # a refused resume leaves the run's own .hydra/ config as it was
        _forget_refused_run(cfg)
        sys.exit(2)
    except Exception as err:  # disk full, permission denied, read-only disk: one line naming the file
        fault = root_os_error(err)
        if fault is None:
            raise
        paths = cfg.get("paths") or {}
        folders = {"paths.log_dir": paths.get("log_dir"), "paths.data_dir": paths.get("data_dir")}
        out = paths.get("output_dir")
        setting = setting_for(fault.filename or out, folders)
        print(f"error: {os_error_message(fault, setting=setting, folder=out)}", file=sys.stderr)
        sys.exit(1)
    value = metrics.get(cfg.get("optimized_metric") or "")
    return None if value is None else float(value)


def _forget_refused_run(cfg: DictConfig) -> None:
    """A run refused by its config checks leaves no run folder behind (Hydra made it, with .hydra/ and the log)."""
    from har_vib.utils.run_status import remove_unstarted

    out = (cfg.get("paths") or {}).get("output_dir")
    if out:
        logging.shutdown()  # close the log file Hydra opened in it
        remove_unstarted(out)


if __name__ == "__main__":
    from har_vib.resume import resolve_resume

    try:  # resume=<run> / ckpt_path=<run>/checkpoints/x.ckpt: the run's own overrides and folder
        sys.argv[1:] = resolve_resume(sys.argv[1:])
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    main()
