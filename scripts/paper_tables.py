"""The VIB-LSTM paper's Tables 1-4, rebuilt.

python scripts/paper_tables.py --architectures
    instantiates every row's model from conf/experiment/paper/ (on the meta device: no data, no weights,
    no memory) and writes outputs/tables/architectures.csv: our parameter counts beside the paper's, with a
    match column and a note where they cannot agree.
python scripts/paper_tables.py --runs outputs/runs outputs/multiruns/...
    finds the finished runs (metrics.json) under the folders, groups them by their experiment=paper/...
    override, and writes one CSV per table plus tables.md: the paper's accuracy, LSTM parameters,
    compression ratio and total parameters beside ours (mean +- std over runs); rows with no run say so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout, installed or not

from har_vib.reports.paper_tables import (  # noqa: E402
    ARCHITECTURE_COLUMNS,
    architecture_table,
    markdown,
    result_tables,
    write_result_tables,
)
from har_vib.utils.io import write_csv_rows  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--architectures", action="store_true", help="write architectures.csv (needs no data)")
    parser.add_argument("--runs", nargs="+", type=Path, default=None, help="run or multirun folders to tabulate")
    parser.add_argument("--out", type=Path, default=Path("outputs/tables"), help="output folder")
    args = parser.parse_args(argv)
    if not args.architectures and not args.runs:
        parser.error("give --architectures, --runs FOLDER..., or both")
    if args.architectures:
        rows = architecture_table()
        path = write_csv_rows(rows, args.out / "architectures.csv", ARCHITECTURE_COLUMNS)
        print(markdown(rows, [c for c in ARCHITECTURE_COLUMNS if c != "note"]))
        print(f"\nwrote {path}")
    if args.runs:
        try:
            tables = result_tables(args.runs)
        except FileNotFoundError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        paths = write_result_tables(tables, args.out)
        print(paths[-1].read_text())
        print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
