"""Continue a killed run in its own folder, with its own config: the command line before Hydra sees it.

``python train.py resume=<run folder>`` and ``python train.py ckpt_path=<run folder>/checkpoints/<file>.ckpt`` both
become the run's original overrides (``<run>/.hydra/overrides.yaml``, and its Hydra overrides), then any overrides
given now (they win, key by key: e.g. ``trainer.max_epochs=100`` to let a killed run train longer), then
``ckpt_path=<the checkpoint>`` and ``hydra.run.dir=<run folder>``.
Lightning restores the weights, optimiser, loop counters and callback states from the checkpoint; the run writes
its reports into the same folder.

A run folder that holds a finished run (``status.json``) is never resumed or rerun into: that would overwrite its
results. A folder named with ``hydra.run.dir=`` that holds an unfinished run with a checkpoint is refused too, with
the ``resume=`` command that continues it. A ``ckpt_path`` outside any run folder is left to Lightning (the run
starts in a new folder from that checkpoint's state).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from har_vib.errors import ConfigError
from har_vib.utils.run_status import read_status

LAST = "last.ckpt"
_PLAIN = re.compile(r"^[\w/.\-+@%:]+$")


def _parse(overrides: Sequence[str]) -> list:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(list(overrides))


def _key(override) -> str:
    key = override.key_or_group
    return f"{key}@{override.package}" if override.package else key


def _value_of(argv: Sequence[str], key: str) -> str | None:
    """The value of ``key=...`` (or ``+key=`` / ``++key=``) in ``argv``; the last one wins."""
    value = None
    for arg in argv:
        name, sep, rest = arg.lstrip("+").partition("=")
        if sep and name == key:
            value = rest.strip().strip("'\"")
    return value


def _quote(path: Path) -> str:
    text = str(path)
    if _PLAIN.match(text):
        return text
    if "'" in text:
        raise ConfigError(f"{text}: a run folder path with a single quote cannot be passed to Hydra; rename it")
    return f"'{text}'"


def merge_overrides(original: Sequence[str], extra: Sequence[str]) -> list[str]:
    """``original`` then ``extra``, one override per config key: an ``extra`` override replaces the original one of
    the same key (Hydra refuses two overrides of one key)."""
    extra_keys = {_key(o) for o in _parse(extra)}
    kept = [text for text, o in zip(original, _parse(original)) if _key(o) not in extra_keys]
    return [*kept, *extra]


def run_folder_of(ckpt: Path) -> Path | None:
    """The run folder a checkpoint belongs to (``<run>/checkpoints/<file>`` with ``<run>/.hydra``), or None."""
    run = ckpt.parent.parent
    if ckpt.parent.name == "checkpoints" and (run / ".hydra" / "overrides.yaml").is_file():
        return run
    return None


def _read_overrides(run: Path) -> tuple[list[str], list[str]]:
    """The task and Hydra overrides the run was started with."""
    import yaml

    task = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text()) or []
    hydra_yaml = run / ".hydra" / "hydra.yaml"
    hydra_overrides: list[str] = []
    if hydra_yaml.is_file():
        hydra_cfg = yaml.safe_load(hydra_yaml.read_text()) or {}
        hydra_overrides = list(((hydra_cfg.get("hydra") or {}).get("overrides") or {}).get("hydra") or [])
    skip = ("hydra.run.dir", "hydra.sweep.dir", "hydra.sweep.subdir", "hydra.mode")
    hydra_overrides = [o for o in hydra_overrides if o.partition("=")[0].lstrip("+") not in skip]
    task = [o for o in task if o.partition("=")[0].lstrip("+") not in ("ckpt_path",)]
    return [str(o) for o in task], [str(o) for o in hydra_overrides]


def refuse_finished(run: Path, what: str) -> None:
    """:class:`ConfigError` when ``run`` holds a finished run (``what``: the option that named the folder)."""
    if read_status(run)["status"] == "finished":
        raise ConfigError(
            f"{what}={run}: that folder holds a finished run (status.json: finished); nothing to resume and a rerun "
            "would overwrite its results. Start a new run in a new folder, or delete that one"
        )


def _launched_by_rank_zero() -> bool:
    """False in the extra processes of a multi-process run (DDP ranks > 0), which share rank 0's folder."""
    return all(int(os.environ.get(k, "0") or 0) == 0 for k in ("LOCAL_RANK", "RANK"))


def running_elsewhere(run: Path) -> str | None:
    """``"pid N on HOST"`` when ``status.json`` says a run is going on in ``run`` and that process is alive on this
    machine (another host's process cannot be checked: a run there that was killed can still be resumed)."""
    status = read_status(run)
    pid, host = status.get("pid"), status.get("host")
    if status["status"] != "running" or not isinstance(pid, int) or host != socket.gethostname():
        return None
    if pid == os.getpid() or not _launched_by_rank_zero():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return f"pid {pid} on {host}"


def refuse_running(run: Path, what: str) -> None:
    """:class:`ConfigError` when a live process on this host runs in ``run`` (see :func:`running_elsewhere`)."""
    alive = running_elsewhere(run)
    if alive:
        raise ConfigError(
            f"{what}={run}: a run is going on in that folder now ({alive}); wait for it to end, or stop it and "
            f"resume it with resume={run}"
        )


_SAVED_HYDRA_FILES: dict[Path, bytes] = {}


def keep_hydra_files(run: Path) -> None:
    """Remember ``run/.hydra/*.yaml`` as they are: Hydra rewrites them when the resumed run starts, before its
    checks; :func:`restore_hydra_files` puts them back when those checks refuse it."""
    _SAVED_HYDRA_FILES.clear()
    for path in (run / ".hydra").glob("*.yaml"):
        _SAVED_HYDRA_FILES[path] = path.read_bytes()


def restore_hydra_files() -> None:
    """Undo Hydra's rewrite of a run's ``.hydra/`` after a refused resume (the run keeps its own config)."""
    from har_vib.utils.io import write_bytes

    for path, data in _SAVED_HYDRA_FILES.items():
        write_bytes(data, path)
    _SAVED_HYDRA_FILES.clear()


def resolve_resume(argv: Sequence[str]) -> list[str]:
    """``argv`` (without the program name) rewritten for ``resume=`` / an in-run ``ckpt_path=``; unchanged otherwise.

    Raises:
        ConfigError: ``resume`` with ``-m``; a folder that is not a run folder or holds a finished run; an explicit
            ``hydra.run.dir`` holding an unfinished run that has a checkpoint.
    """
    argv = list(argv)
    options = [a for a in argv if a.startswith("-")]
    overrides = [a for a in argv if not a.startswith("-")]
    multirun = any(a in ("-m", "--multirun") for a in options)
    resume = _value_of(overrides, "resume")
    ckpt_text = _value_of(overrides, "ckpt_path")
    if resume is None and not (ckpt_text and ckpt_text not in ("null", "None")):
        _check_run_dir(overrides, multirun)
        return argv
    if multirun:
        raise ConfigError("resume= / ckpt_path= continue one run; they cannot be combined with -m (a sweep)")
    extra = [a for a in overrides if a.lstrip("+").partition("=")[0] not in ("resume", "ckpt_path")]
    if resume is not None:
        run = Path(resume).expanduser().resolve()
        if not (run / ".hydra" / "overrides.yaml").is_file():
            raise ConfigError(
                f"resume={resume}: not a run folder (no .hydra/overrides.yaml there); pass the folder train.py "
                "printed as 'run folder: ...', e.g. resume=outputs/runs/2026-01-01_12-00-00"
            )
        ckpt: Path | None = run / "checkpoints" / LAST
        what = "resume"
    else:
        ckpt = Path(str(ckpt_text)).expanduser().resolve()
        found = run_folder_of(ckpt)
        if found is None or read_status(found)["status"] == "finished":
            # a checkpoint from elsewhere, or of a finished run: a new run (in a new folder) from its state
            _check_run_dir(overrides, multirun)
            return argv
        run, what = found, "ckpt_path"
    refuse_finished(run, what)
    refuse_running(run, what)
    original, hydra_overrides = _read_overrides(run)
    keep_hydra_files(run)
    if ckpt is not None and not ckpt.is_file():
        ckpt = None  # killed before its first checkpoint: start the run again in its folder, nothing is lost
    new = merge_overrides(original, extra)
    if ckpt is not None:
        new.append(f"ckpt_path={_quote(ckpt)}")
    new = merge_overrides(hydra_overrides, new)
    new.append(f"hydra.run.dir={_quote(run)}")
    return [*options, *new]


def _check_run_dir(overrides: Sequence[str], multirun: bool) -> None:
    """An explicit ``hydra.run.dir`` must not hold a finished run, nor an unfinished one that can be resumed."""
    text = None if multirun else _value_of(overrides, "hydra.run.dir")
    if not text:
        return
    run = Path(text).expanduser()
    refuse_finished(run, "hydra.run.dir")
    refuse_running(run, "hydra.run.dir")
    if read_status(run)["status"] != "finished" and (run / "checkpoints" / LAST).is_file():
        raise ConfigError(
            f"hydra.run.dir={text}: that folder holds an unfinished run with a checkpoint; continue it with "
            f"resume={text}, or delete the folder to start again"
        )


def _in_multirun() -> bool:
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        return HydraConfig.get().mode == RunMode.MULTIRUN
    except (ImportError, ValueError):  # no Hydra run (tests composing configs)
        return False


def rerun_sweep_job(cfg: Any) -> dict[str, Any] | None:
    """A sweep run again into its folder (``hydra.sweep.dir``) completes it: a job whose folder holds a finished
    run is kept, not retrained (its metrics are returned, with the sweep objective); a killed job with a checkpoint
    continues from it (``cfg.ckpt_path`` is set). None: run the job (a new or continued one). Outside a multirun,
    always None."""
    if not _in_multirun():
        return None
    import json
    import logging

    from omegaconf import open_dict

    from har_vib.reports.sweep import sweep_objective

    out = Path(cfg.paths.output_dir)
    if read_status(out)["status"] == "finished":
        metrics = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").is_file() else {}
        report = json.loads((out / "compression.json").read_text()) if (out / "compression.json").is_file() else {}
        numbers = {k: v for k, v in report.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        metrics = {**metrics, **numbers}
        metrics["objective"] = sweep_objective(metrics, cfg.get("param_budget"))
        logging.getLogger(__name__).info("%s: finished in an earlier run of this sweep; kept", out)
        return metrics
    last = out / "checkpoints" / LAST
    if last.is_file() and not cfg.get("ckpt_path") and not running_elsewhere(out):
        logging.getLogger(__name__).info("%s: killed in an earlier run of this sweep; continuing from %s", out, last)
        with open_dict(cfg):
            cfg.ckpt_path = str(last)
    return None
