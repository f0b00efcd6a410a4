"""Writes that fail on a full disk (or past the file size limit, or without permission): the error names the file,
a checkpoint write leaves the previous checkpoint and no temp file, and train.py ends with one line naming the
file, the cause and the fix. The faults are the kernel's own: ENOSPC from /dev/full, EFBIG past RLIMIT_FSIZE in a
child process (SIGXFSZ ignored, or the kernel kills it instead)."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from har_vib.errors import os_error_message, root_os_error, setting_for
from har_vib.utils.io import atomic_save, write_bytes
from tests.conftest import ROOT, TINY

needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")


def _enospc() -> OSError:
    """A real ENOSPC from the kernel: like every write() on a full disk, it names no file."""
    try:
        with open("/dev/full", "wb") as fh:
            fh.write(b"x")
    except OSError as err:
        return err
    raise AssertionError("/dev/full accepted a write")


@needs_dev_full
def test_atomic_save_names_its_target_when_the_write_fails(tmp_path: Path):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def write(tmp: str) -> None:
        Path(tmp).write_text("partial")
        raise _enospc()

    with pytest.raises(OSError) as info:
        atomic_save(write, target)
    assert (info.value.errno, info.value.filename) == (errno.ENOSPC, str(target))
    assert str(info.value) == f"[Errno 28] No space left on device: '{target}'"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"] and target.read_text() == "old"


def test_atomic_save_names_its_target_when_the_folder_refuses_the_temp_file(tmp_path: Path):
    """mkstemp's error names the temp file, which the user never asked for."""
    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError) as info:
            write_bytes(b"x", folder / "pruned.pt")
    finally:
        folder.chmod(0o700)
    assert info.value.filename == str(folder / "pruned.pt")


@needs_dev_full
def test_os_error_message_is_one_line_with_path_cause_and_fix(tmp_path: Path):
    err = _enospc()
    err.filename = str(tmp_path / "last.ckpt")
    assert os_error_message(err, setting="paths.log_dir") == (
        f"cannot write {tmp_path / 'last.ckpt'}: No space left on device (errno 28); free space on that disk or "
        "set paths.log_dir to another disk"
    )
    unnamed = os_error_message(_enospc(), folder=tmp_path)
    assert unnamed.startswith(f"cannot write a file in {tmp_path}: No space left on device (errno 28); free space")
    denied = os_error_message(
        PermissionError(errno.EACCES, "Permission denied", "/srv/x/y.pt"), setting="paths.log_dir"
    )
    assert denied == (
        "cannot access /srv/x/y.pt: Permission denied (errno 13); give this user access to /srv/x or set "
        "paths.log_dir to a folder you can write"
    )
    big = os_error_message(OSError(errno.EFBIG, "File too large", "/srv/x/y.pt"))
    assert big.startswith("cannot write /srv/x/y.pt: File too large (errno 27); ") and "\n" not in big


def test_setting_for_picks_the_folder_that_holds_the_path(tmp_path: Path):
    folders = {"paths.log_dir": tmp_path / "outputs", "paths.data_dir": tmp_path / "data"}
    assert setting_for(tmp_path / "outputs" / "runs" / "a.ckpt", folders) == "paths.log_dir"
    assert setting_for(tmp_path / "data" / "v.avi", folders) == "paths.data_dir"
    assert setting_for("/elsewhere/x", folders) is None and setting_for(None, folders) is None


def _raise_while_handling(first: BaseException, second: BaseException) -> BaseException:
    try:
        try:
            raise first
        except BaseException:
            raise second  # noqa: B904 - the implicit context is what is tested
    except BaseException as err:
        return err


def test_root_os_error_finds_the_first_write_that_failed():
    ckpt = OSError(errno.ENOSPC, "No space left on device", "run/checkpoints/last.ckpt")
    status = OSError(errno.ENOSPC, "No space left on device", "run/status.json")
    # the status file written while handling the checkpoint error fails on the same full disk
    assert root_os_error(_raise_while_handling(ckpt, status)) is ckpt
    # a wrapper that names its cause (Hydra's InstantiationException)
    wrapped = RuntimeError("Error in call to target")
    wrapped.__cause__ = ckpt
    assert root_os_error(wrapped) is ckpt
    # a bug raised while an OSError was handled is not an I/O fault
    assert root_os_error(_raise_while_handling(ckpt, ValueError("bug"))) is None
    # a cache miss (ENOENT) followed by a failed write: the write is the fault
    miss = FileNotFoundError(errno.ENOENT, "No such file or directory", "cache.npy")
    assert root_os_error(_raise_while_handling(miss, status)) is status
    assert root_os_error(ValueError("x")) is None


# A child process: saves a small checkpoint, then one over RLIMIT_FSIZE to the same path; prints what happened.
CHECKPOINT_CHILD = r"""
import json, resource, signal, sys, torch
from pathlib import Path

from lightning.pytorch.plugins.io import TorchCheckpointIO
from har_vib.callbacks.checkpoint_io import AtomicCheckpointIO

io = AtomicCheckpointIO() if sys.argv[1] == "atomic" else TorchCheckpointIO()
path = Path(sys.argv[2]) / "checkpoints" / "last.ckpt"
io.save_checkpoint({"epoch": 0, "w": torch.zeros(4)}, path)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
try:
    io.save_checkpoint({"epoch": 1, "w": torch.zeros(20000)}, path)
    result = {"raised": None}
except Exception as err:
    result = {"raised": type(err).__name__, "errno": getattr(err, "errno", None), "filename": err.filename}
result["epoch"] = torch.load(path, weights_only=True)["epoch"]
print(json.dumps(result))
"""


def test_checkpoint_write_fault_names_the_checkpoint_and_keeps_the_previous_one(tmp_path: Path):
    """Lightning's own TorchCheckpointIO stages in $TMPDIR: its error named the /tmp file, and where only the
    run's disk is full, the move left a truncated checkpoint in place of the previous one."""
    proc = subprocess.run(
        [sys.executable, "-c", CHECKPOINT_CHILD, "atomic", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    path = tmp_path / "checkpoints" / "last.ckpt"
    assert result == {"raised": "OSError", "errno": errno.EFBIG, "filename": str(path), "epoch": 0}
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


def test_trainer_config_writes_checkpoints_through_the_atomic_plugin(tiny_cfg):
    from har_vib.callbacks.checkpoint_io import AtomicCheckpointIO
    from har_vib.pipeline import instantiate

    trainer = instantiate(tiny_cfg().trainer, logger=False)
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)


def _limit_file_size(limit: int):
    def apply() -> None:  # in the child, before exec: both survive it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_train_on_a_full_disk_exits_with_one_line_naming_the_checkpoint(tmp_path: Path):
    """The first checkpoint (about 23 kB here) is over the 16 kB limit; every file before it is under. The path is
    shown relative to the working directory."""
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *TINY, f"paths.log_dir={tmp_path}", f"hydra.run.dir={run}"],
        cwd=tmp_path,
        env={**os.environ, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "0"},
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_limit_file_size(16384),
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (
        "error: cannot write run/checkpoints/epoch_000.ckpt: File too large (errno 27); the file is over "
        "this process's or file system's size limit: raise it (ulimit -f) or set paths.log_dir to another disk"
    )
    assert "Traceback" not in proc.stderr
    assert not list(run.rglob(".tmp-*")) and not list((run / "checkpoints").iterdir())


def _train_main():
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@needs_dev_full
def test_train_main_names_the_run_folder_when_the_error_names_no_file(tiny_cfg, tmp_path: Path, monkeypatch, capsys):
    """A write of Lightning's or a logger's raises ENOSPC without a file name: the line names the run folder."""
    import har_vib.pipeline

    def full_disk(cfg, **_):
        raise _enospc()

    monkeypatch.setattr(har_vib.pipeline, "train", full_disk)
    with pytest.raises(SystemExit) as info:
        _train_main()(tiny_cfg())
    assert info.value.code == 1
    assert capsys.readouterr().err == (
        f"error: cannot write a file in {tmp_path}: No space left on device (errno 28); free space on that disk or "
        "set paths.log_dir to another disk\n"
    )


def test_train_main_lets_other_errors_through(tiny_cfg, monkeypatch):
    import har_vib.pipeline

    def bug(cfg, **_):
        try:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", "cache.npy")
        except OSError:
            raise KeyError("bug")  # noqa: B904 - raised while an OSError is handled: still not an I/O fault

    monkeypatch.setattr(har_vib.pipeline, "train", bug)
    with pytest.raises(KeyError):
        _train_main()(tiny_cfg())
