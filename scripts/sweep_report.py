"""Summarise a beta sweep: ``python scripts/sweep_report.py outputs/multiruns/<time>``.

Writes ``sweep.csv`` and ``sweep.png`` (test accuracy and LSTM parameters against beta) into the multirun
folder and prints the table as Markdown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout, installed or not

from har_vib.reports.plots import plot_beta_sweep  # noqa: E402
from har_vib.reports.sweep import collect_sweep, markdown_table, write_csv  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a Hydra multirun folder (outputs/multiruns/<time>)")
    parser.add_argument("--out", type=Path, default=None, help="where to write sweep.csv / sweep.png")
    args = parser.parse_args(argv)
    try:
        rows = collect_sweep(args.folder)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or args.folder
    out.mkdir(parents=True, exist_ok=True)
    csv_path = write_csv(rows, out / "sweep.csv")
    png_path = plot_beta_sweep(rows, out / "sweep.png")
    print(markdown_table(rows))
    print(f"\nwrote {csv_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
