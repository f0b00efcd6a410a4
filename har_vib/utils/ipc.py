"""Tensors from DataLoader worker processes, whatever the length of the temp-dir path.

PyTorch's default sharing strategy on Linux, ``file_descriptor``, hands each tensor a worker produces to the main
process as a shared-memory file descriptor, sent over a Unix socket that :mod:`multiprocessing` creates in its temp
dir (``$TMPDIR/pymp-XXXXXXXX/listener-XXXXXXXX``). Linux caps a socket path at 107 bytes. With a longer ``TMPDIR``
(a deep job-scratch folder on a cluster, a test runner's per-test folder) the worker's ``bind`` fails in a
background thread (``OSError: AF_UNIX path too long``) and the loader waits forever: no error, no progress.
(The ``file_system`` strategy is no way out: ``torch_shm_manager`` puts its own socket under ``TMPDIR``.)

:func:`fit_worker_ipc` gives multiprocessing a short temp dir of its own in that case (under ``/tmp``,
``/var/tmp`` or ``/dev/shm``), before the workers start; forked workers inherit it, every other temp file stays
under ``TMPDIR``. Python 3.13's multiprocessing makes the same choice by itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from multiprocessing import process, util

from har_vib.errors import ConfigError

log = logging.getLogger(__name__)

# longest Unix socket path Linux accepts (sun_path is 108 bytes with its trailing NUL)
SOCKET_PATH_MAX = 107
# what multiprocessing appends to its temp dir for that socket: "/listener-" + 8 random characters
_LISTENER = len("/listener-XXXXXXXX")
# what it appends to TMPDIR for its temp dir: "/pymp-" + 8 random characters
_PYMP = len("/pymp-XXXXXXXX")
SHORT_TEMP_BASES = ("/tmp", "/var/tmp", "/dev/shm")


def socket_path_length(temp_dir: str | None = None) -> int:
    """Length in bytes of the socket path multiprocessing would create for a worker with ``temp_dir`` as
    ``TMPDIR`` (default: multiprocessing's temp dir if it has one already, else :mod:`tempfile`'s)."""
    if temp_dir is None:
        current = process.current_process()._config.get("tempdir")
        if current:
            return len(os.fsencode(current)) + _LISTENER
        temp_dir = tempfile.gettempdir()
    return len(os.fsencode(temp_dir)) + _PYMP + _LISTENER


def fit_worker_ipc(num_workers: int) -> str | None:
    """Make sure tensors from ``num_workers`` DataLoader workers can reach this process; call it before the
    loader's workers start.

    Returns:
        The short multiprocessing temp dir it created when the default one would make a socket path over
        :data:`SOCKET_PATH_MAX` bytes (logged once), else None.

    Raises:
        ConfigError: the socket path is too long and none of :data:`SHORT_TEMP_BASES` is writable; the message
            names ``TMPDIR`` and ``num_workers=0`` as the fixes.
    """
    if num_workers <= 0:
        return None
    length = socket_path_length()
    if length <= SOCKET_PATH_MAX:
        return None
    for base in SHORT_TEMP_BASES:
        if socket_path_length(base) <= SOCKET_PATH_MAX and os.access(base, os.W_OK | os.X_OK):
            break
    else:
        raise ConfigError(
            f"DataLoader workers cannot hand tensors over: the temp dir {tempfile.gettempdir()} gives a "
            f"{length}-byte Unix socket path (Linux allows {SOCKET_PATH_MAX}) and none of "
            f"{', '.join(SHORT_TEMP_BASES)} is writable; set TMPDIR to a shorter folder, or use num_workers=0"
        )
    short = tempfile.mkdtemp(prefix="pymp-", dir=base)
    util.Finalize(None, shutil.rmtree, args=(short,), kwargs={"ignore_errors": True}, exitpriority=-100)
    process.current_process()._config["tempdir"] = short
    log.warning(
        "the temp dir %s is too long for the Unix socket DataLoader workers hand tensors over with (%d bytes, "
        "Linux allows %d): multiprocessing uses %s instead",
        tempfile.gettempdir(),
        length,
        SOCKET_PATH_MAX,
        short,
    )
    return short
