"""Print the state of a run folder: finished, running (or killed), failed, interrupted, or new; for shell loops
that skip finished runs and resume killed ones (the Makefile's comparisons).

python scripts/run_state.py outputs/runs/2026-01-01_12-00-00
"""

from __future__ import annotations

import sys
from pathlib import Path

import _bootstrap  # noqa: F401  (makes `har_vib` importable from a checkout)

from har_vib.utils.run_status import run_state


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: run_state.py RUN_FOLDER", file=sys.stderr)
        return 2
    print(run_state(Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
