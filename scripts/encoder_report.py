"""Summary of CNN-LSTM runs with compressed frame encoders (backbone.compress): one row per encoder method with
the whole model's parameters and MACs per clip before -> after, and the compact model's test accuracy.

  python scripts/encoder_report.py outputs/encoder_compare      # expects <method>/<seed>/ run folders

Run folders need clip_model.json and metrics.json (written by every train.py run with a CNN backbone).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout, installed or not

from har_vib.reports.clip_model import summarize_clip_runs  # noqa: E402
from har_vib.reports.paper_tables import markdown  # noqa: E402
from har_vib.utils.io import atomic_save  # noqa: E402

COLUMNS = [
    "encoder",
    "runs",
    "encoder_pruned",
    "encoder_params",
    "total_params",
    "macs_per_clip",
    "param_ratio",
    "mac_ratio",
    "test_acc",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="folder of <method>/<run> folders")
    args = parser.parse_args(argv)
    runs: dict[str, list] = {}
    for method_dir in sorted(p for p in args.root.iterdir() if p.is_dir()):
        for run in sorted(p for p in method_dir.iterdir() if p.is_dir()):
            clip, metrics = run / "clip_model.json", run / "metrics.json"
            if clip.is_file() and metrics.is_file():
                runs.setdefault(method_dir.name, []).append(
                    (json.loads(clip.read_text()), json.loads(metrics.read_text()))
                )
    if not runs:
        print(f"error: no finished runs (clip_model.json + metrics.json) under {args.root}", file=sys.stderr)
        return 2
    table = markdown(summarize_clip_runs(runs), COLUMNS)
    atomic_save(lambda tmp: Path(tmp).write_text(table + "\n"), args.root / "summary.md")
    print(table)
    print(f"\nwrote {args.root / 'summary.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
