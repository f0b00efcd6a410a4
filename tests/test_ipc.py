"""DataLoader workers hand tensors over whatever the length of TMPDIR (it used to hang, silently, when the temp
dir made multiprocessing's Unix socket path longer than Linux's 107 bytes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from har_vib.utils.ipc import SOCKET_PATH_MAX, fit_worker_ipc, socket_path_length

ROOT = Path(__file__).resolve().parents[1]

# a ClassificationDataModule (the base of every DataModule here) with one worker, iterated once
SCRIPT = """
import tempfile, torch
from multiprocessing import process
from torch.utils.data import TensorDataset
from har_vib.datamodules.base import ClassificationDataModule

class Tiny(ClassificationDataModule):
    collate_fn = staticmethod(torch.utils.data.default_collate)
    def __init__(self):
        super().__init__()
        self.save_hyperparameters({"num_workers": 1, "seed": 0, "batch_size": 4, "eval_batch_size": 4})
        self.test_set = TensorDataset(torch.arange(24.0).reshape(12, 2), torch.arange(12))

batches = list(Tiny().test_dataloader())
print("batches", len(batches), "sum", float(sum(x.sum() for x, _ in batches)))
print("mp tempdir", process.current_process()._config.get("tempdir"))
print("tempfile", tempfile.gettempdir())
"""


def _long_tmpdir(tmp_path: Path) -> Path:
    """A temp dir whose multiprocessing socket path is over the limit, wherever pytest's tmp_path is."""
    pad = max(1, SOCKET_PATH_MAX + 10 - socket_path_length(str(tmp_path)))
    folder = tmp_path / ("t" * pad)
    folder.mkdir()
    assert socket_path_length(str(folder)) > SOCKET_PATH_MAX
    return folder


@pytest.mark.slow
def test_a_worker_loader_under_a_long_tmpdir_delivers_every_batch(tmp_path: Path):
    long_tmp = _long_tmpdir(tmp_path)
    env = {**os.environ, "TMPDIR": str(long_tmp)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "batches 3 sum 276.0" in proc.stdout  # 0 + 1 + ... + 23, in 3 batches of 4 samples
    assert f"tempfile {long_tmp}" in proc.stdout  # every other temp file stays where TMPDIR says
    mp_dir = proc.stdout.split("mp tempdir ")[1].split()[0]
    assert socket_path_length(mp_dir) - len("/pymp-XXXXXXXX") <= SOCKET_PATH_MAX and not Path(mp_dir).exists()
    assert "too long for the Unix socket" in proc.stderr


def test_nothing_changes_without_workers_or_with_a_short_tmpdir(tmp_path: Path, monkeypatch):
    from multiprocessing import process

    monkeypatch.setattr(process.current_process(), "_config", {**process.current_process()._config})
    process.current_process()._config.pop("tempdir", None)
    monkeypatch.setenv("TMPDIR", str(_long_tmpdir(tmp_path)))
    monkeypatch.setattr("tempfile.tempdir", None)
    assert fit_worker_ipc(0) is None  # no workers: no socket
    monkeypatch.setenv("TMPDIR", "/tmp")
    assert fit_worker_ipc(2) is None and "tempdir" not in process.current_process()._config
