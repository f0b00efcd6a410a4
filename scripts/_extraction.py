"""What the extraction scripts share: ``--shard K --num-shards N`` (rewritten into Hydra overrides), the shard of
this process, and one-line errors (a config error exits 2, a failed write or read of a file exits 1, Ctrl-C exits
130)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

import _bootstrap  # noqa: F401

from har_vib.data.shards import Shard, register_resolver, resolve_shard, shard_args_to_overrides
from har_vib.errors import ConfigError, os_error_message, root_os_error
from har_vib.errors import setting_for as key_holding
from har_vib.utils.run_status import remove_unstarted


def prepare_argv() -> None:
    """Before ``@hydra.main`` parses ``sys.argv``: turn ``--shard``/``--num-shards`` into ``extract.*`` overrides and
    register the resolver that names each shard's run folder."""
    try:
        sys.argv[1:] = shard_args_to_overrides(sys.argv[1:])
    except ConfigError as err:
        fail(err)
    register_resolver()


def shard_of(cfg: Any) -> Shard:
    """The shard this process extracts: ``extract.shard`` / ``extract.num_shards``, else the environment."""
    extract = cfg.get("extract") or {}
    return resolve_shard(extract.get("shard"), extract.get("num_shards"))


def setting_for(path: Any, cfg: Any) -> str | None:
    """The config key that moves ``path`` to another disk: the cache (or dataset root) it lies in, named through
    ``paths.data_dir`` when that is where the cache is (the default)."""
    data_dir = cfg.get("paths", {}).get("data_dir")
    folders = {
        "flow.cache_dir": cfg.get("flow", {}).get("cache_dir"),
        "features.cache_dir": cfg.get("features", {}).get("cache_dir"),
        "dataset.root": cfg.get("dataset", {}).get("root"),
        "paths.data_dir": data_dir,
    }
    key = key_holding(path, folders)
    if key is None or key == "paths.data_dir":
        return key
    inside = key_holding(str(Path(str(folders[key])) / "x"), {"paths.data_dir": data_dir})
    return f"paths.data_dir (or {key})" if inside else key


def interrupted() -> NoReturn:
    """Ctrl-C: one line instead of a traceback, exit 130 (the shell's code for SIGINT). Every finished video is
    already on disk (each entry is written atomically), so the same command resumes."""
    print("interrupted: every finished video is kept; run the same command again to resume", file=sys.stderr)
    sys.exit(130)


def fail(err: BaseException, cfg: Any = None) -> NoReturn:
    """Print ``error: <one line>`` to stderr and exit: 2 for a config error, 1 for an I/O error."""
    if isinstance(err, ConfigError):
        print(f"error: {err}", file=sys.stderr)
        out = ((cfg.get("paths") or {}).get("output_dir") if cfg is not None else None) or None
        if out:  # the refused task's Hydra folder (.hydra/ and its log only) goes
            logging.shutdown()
            remove_unstarted(out)
        sys.exit(2)
    os_err = root_os_error(err) if not isinstance(err, OSError) else err
    if os_err is None:
        raise err
    where = os_err.filename
    setting = setting_for(where, cfg) if cfg is not None else None
    print(f"error: {os_error_message(os_err, setting=setting)}", file=sys.stderr)
    sys.stderr.flush()
    sys.exit(1)
