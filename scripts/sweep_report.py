"""Summarise a sweep (basic beta multirun or Optuna): ``python scripts/sweep_report.py outputs/multiruns/<time>``.

Writes into the multirun folder ``sweep.csv``, ``sweep.png`` (test accuracy and LSTM parameters against beta)
and ``pareto.png`` (test accuracy against LSTM parameters, log scale, with the Pareto front), and prints the
table and the front as Markdown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout, installed or not

from har_vib.reports.plots import plot_beta_sweep, plot_pareto  # noqa: E402
from har_vib.reports.sweep import (  # noqa: E402
    collect_sweep,
    final_accuracy,
    markdown_table,
    pareto_front,
    write_csv,
)


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
    front = pareto_front(rows)
    pareto_path = plot_pareto(rows, front, out / "pareto.png", final_accuracy)
    print(markdown_table(rows))
    print("\nPareto front (fewest LSTM parameters for each accuracy):\n")
    print(markdown_table(front))
    print(f"\nwrote {csv_path}, {png_path} and {pareto_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
