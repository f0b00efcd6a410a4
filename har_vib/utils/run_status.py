"""A run folder's state: ``status.json`` says whether the run finished, so a run killed after it wrote
``metrics.json`` (in pruning, export or testing) is never taken for a finished one.

States: ``"finished"``; ``"running"`` (started and not finished: still running, or killed); ``"failed"`` (stopped on
an error); ``"interrupted"`` (stopped by Ctrl-C); ``"new"`` (no run has started in the folder). Folders from before
``status.json`` existed count as finished when they hold ``metrics.json``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from har_vib.utils.io import write_json

STATUS_FILE = "status.json"


def read_status(folder: str | Path) -> dict[str, Any]:
    """The folder's ``status.json`` as a dict (``{"status": "new"}`` when there is none or it cannot be read)."""
    path = Path(folder) / STATUS_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("status"), str):
        return data
    if (Path(folder) / "metrics.json").is_file() and not path.exists():
        return {"status": "finished", "legacy": True}  # written before status.json existed
    return {"status": "new"}


def run_state(folder: str | Path) -> str:
    """``"finished"``, ``"running"``, ``"failed"``, ``"interrupted"`` or ``"new"`` (see the module docstring)."""
    return str(read_status(folder)["status"])


def is_finished(folder: str | Path) -> bool:
    """True when the run in ``folder`` ran to its end (every report written)."""
    return run_state(folder) == "finished"


def mark(folder: str | Path, status: str, **info: Any) -> dict[str, Any]:
    """Write ``status.json`` (atomically) with ``status`` and ``info``; keeps the fields of the previous one that
    ``info`` does not replace (the start time, the number of attempts)."""
    previous = read_status(folder)
    previous.pop("legacy", None)
    data = {**previous, **info, "status": status, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if status == "running":
        data["attempts"] = int(previous.get("attempts", 0)) + 1
        data["host"], data["pid"] = socket.gethostname(), os.getpid()
        data.setdefault("started", data["updated"])
    write_json(data, Path(folder) / STATUS_FILE)
    return data


def remove_unstarted(folder: str | Path) -> bool:
    """Delete ``folder`` when a run was refused before it started there: it holds only what Hydra writes at launch
    (``.hydra/`` and the log file) and no ``status.json``. Returns whether it was removed."""
    import shutil

    folder = Path(folder)
    if not folder.is_dir() or (folder / STATUS_FILE).exists():
        return False
    entries = list(folder.iterdir())
    if any(not (p.name == ".hydra" and p.is_dir()) and not (p.is_file() and p.suffix == ".log") for p in entries):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True
