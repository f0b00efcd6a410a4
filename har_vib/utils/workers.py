"""DataLoader workers that inherit no decoder or thread-pool state: started by a clean fork server, never forked
from the process that asks for them.

Why. ``fork`` copies a process's memory but only the thread that calls it. State that belongs to threads the
parent runs (their locks, condition variables, queues) arrives in the child without the threads. PyAV keeps one
``VideoReformatter`` per thread, and its libswscale context (FFmpeg 7 and newer) owns slice threads: a DataLoader
worker forked after the parent converted a frame inherits that context, and the first conversion at another frame
size frees it, waiting forever for threads that do not exist (``sws_frame_setup -> avpriv_slicethread_free ->
pthread_cond_destroy``: a futex wait at 0% CPU; the parent waits for the worker's batch, also forever). OpenCV's
and OpenMP's thread pools are the same hazard. Which code decoded in the parent first (a second stream, a benchmark,
probing) decides whether a run hangs, so it looked random.

What. :func:`loader_worker_options` gives every DataLoader with workers multiprocessing's ``forkserver`` context
(``spawn`` where a platform has none). The fork server is a fresh interpreter, started once per process by
``exec`` (not by ``fork``); it imports torch and the modules workers need (:data:`PRELOAD`) once, then forks each
worker from itself, so a worker starts in milliseconds and has never run a decoder. Scripts that start workers
need the usual ``if __name__ == "__main__":`` guard (``train.py`` and ``scripts/`` have it).

Two things a forked worker got for free are done in ``worker_init_fn`` (:func:`init_worker`): the multiprocessing
temp dir :func:`~har_vib.utils.ipc.fit_worker_ipc` may have shortened is adopted from the parent, so tensors are
handed over a socket path that fits; and the worker exits when the process that owns the loader exits, since
PyTorch's watchdog only watches a worker's direct parent, here the fork server (a killed run would otherwise
leave the server and its workers waiting for each other forever).

``HAR_VIB_WORKER_START=fork|forkserver|spawn`` overrides the start method (``fork`` brings the hazard back:
for comparison and debugging only).
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import select
import threading
import time
from collections.abc import Callable
from multiprocessing import process
from typing import Any

from har_vib.errors import ConfigError
from har_vib.utils.ipc import fit_worker_ipc

START_METHOD_ENV = "HAR_VIB_WORKER_START"
START_METHODS = ("forkserver", "spawn", "fork")
# imported once by the fork server, so that workers forked from it start with them loaded
PRELOAD = ("__main__", "torch", "numpy", "av", "cv2", "har_vib.data.video", "har_vib.features.extract")


def start_method() -> str:
    """The start method for DataLoader workers: ``$HAR_VIB_WORKER_START`` when set, else ``forkserver`` where the
    platform has it (Linux, macOS), else ``spawn``.

    Raises:
        ConfigError: ``HAR_VIB_WORKER_START`` names no start method this platform has.
    """
    available = mp.get_all_start_methods()
    chosen = os.environ.get(START_METHOD_ENV, "").strip()
    if chosen:
        if chosen not in START_METHODS or chosen not in available:
            raise ConfigError(
                f"{START_METHOD_ENV}={chosen!r}: not a start method of this platform; use one of "
                f"{', '.join(m for m in START_METHODS if m in available)} (or unset it: forkserver is the default)"
            )
        return chosen
    return "forkserver" if "forkserver" in available else "spawn"


def worker_context() -> mp.context.BaseContext:
    """The multiprocessing context DataLoader workers start in (:func:`start_method`); for ``forkserver`` the
    server's preload list is set to :data:`PRELOAD` (it takes effect when the server first starts)."""
    method = start_method()
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def _exit_when_gone(parent_pid: int) -> None:
    """End this worker as soon as process ``parent_pid`` ends, however it ends (SIGKILL included).

    A worker forked by the fork server is the server's child: PyTorch's own watchdog (the worker's parent pid
    changing) never fires when the process that owns the loader dies, and the server itself lives as long as any
    worker holds its liveness pipe, so without this both would outlive a killed run forever. Linux: a pidfd
    (woken by the kernel on exit, immune to pid reuse); elsewhere the pid is polled once a second.
    """

    def watch() -> None:
        try:
            fd = os.pidfd_open(parent_pid)
        except ProcessLookupError:
            os._exit(1)  # gone already
        except (AttributeError, OSError):  # no pidfd (not Linux, or kernel < 5.3): poll
            while True:
                time.sleep(1.0)
                try:
                    os.kill(parent_pid, 0)
                except ProcessLookupError:
                    os._exit(1)
                except PermissionError:
                    pass  # exists, owned by someone else
        select.select([fd], [], [])
        os._exit(1)  # no cleanup: the run that owned this worker is gone

    threading.Thread(target=watch, name="har-vib-parent-watch", daemon=True).start()


def init_worker(temp_dir: str | None, parent_pid: int, init: Callable[[int], Any] | None, worker_id: int) -> None:
    """``worker_init_fn`` of every worker: use the parent's multiprocessing temp dir ``temp_dir`` (a short one when
    ``TMPDIR`` is too long for a Unix socket path), exit when the process that owns the loader (``parent_pid``)
    exits, then run the caller's own ``init``."""
    if temp_dir is not None:
        process.current_process()._config["tempdir"] = temp_dir
    if os.getppid() != parent_pid:  # started by a fork server (or spawned through a launcher): watch the owner
        _exit_when_gone(parent_pid)
    if init is not None:
        init(worker_id)


def loader_worker_options(num_workers: int, worker_init_fn: Callable[[int], Any] | None = None) -> dict[str, Any]:
    """Keyword arguments for a ``torch.utils.data.DataLoader`` with ``num_workers`` workers: the clean start
    (``multiprocessing_context``) and a ``worker_init_fn`` that adopts the parent's IPC temp dir before calling
    ``worker_init_fn`` (a picklable, module-level function). Empty for ``num_workers=0`` (no processes).

    Call it right before building the loader: it also fits the IPC temp dir (:func:`fit_worker_ipc`).

    Raises:
        ConfigError: as :func:`fit_worker_ipc` and :func:`start_method` do.
    """
    if num_workers <= 0:
        return {"worker_init_fn": worker_init_fn} if worker_init_fn is not None else {}
    fit_worker_ipc(num_workers)
    temp_dir = process.current_process()._config.get("tempdir")
    return {
        "multiprocessing_context": worker_context(),
        "worker_init_fn": functools.partial(init_worker, temp_dir, os.getpid(), worker_init_fn),
    }
