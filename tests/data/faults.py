"""Real kernel write errors for tests, without root: a child process whose file size limit (``RLIMIT_FSIZE``) makes
every write past ``limit`` bytes of a file fail with EFBIG, as a full disk fails with ENOSPC (SIGXFSZ ignored, so
the write returns the error instead of killing the process)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from tests.conftest import ROOT


def _limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited across exec: writes fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return apply


def run_limited(
    argv: Sequence[str], limit: int | None, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``argv`` with files limited to ``limit`` bytes (None: no limit); output captured as text."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=900,
        preexec_fn=None if limit is None else _limit(limit),
    )


def python_limited(code: str, limit: int | None) -> subprocess.CompletedProcess:
    """Run Python ``code`` (dedented) in a child with files limited to ``limit`` bytes."""
    return run_limited([sys.executable, "-c", textwrap.dedent(code)], limit)
