"""Every compression method on the same shipped data and seeds (``make compare``).

  python scripts/compare_methods.py                                  # BasicMotions + synthetic videos, 3 seeds
  python scripts/compare_methods.py --datasets arrowhead osuleaf --methods naive_lstm vib_lstm minirocket
  python scripts/compare_methods.py --datasets japanesevowels --seeds 5
  python scripts/compare_methods.py --methods naive_lstm vib_lstm -- trainer.max_epochs=10

Runs ``train.py`` per (dataset, method, seed) into ``outputs/compare/<dataset>/<method>/seed<k>`` (a finished
run is reused, so an interrupted comparison resumes; ``minirocket`` is aeon's MiniRocket on the same sequences,
the reference of how good any model gets there), then writes ``compare.csv`` and ``compare.md``: LSTM
parameters of the exported model, compression ratio, test accuracy mean +- std over seeds, and wall time per
run (process start to exit). ``small_lstm`` and ``magnitude_lstm`` are sized from the same seed's vib_lstm run.
Anything after ``--`` is passed to every run as Hydra overrides.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout, installed or not

from tqdm import tqdm  # noqa: E402

from har_vib.reports.compare import (  # noqa: E402
    COLUMNS,
    DATASETS,
    METHODS,
    REFERENCES,
    is_sequence_dataset,
    markdown,
    run_one,
    summarise,
)  # noqa: E402
from har_vib.utils.io import atomic_save, write_csv_rows  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["basicmotions", "synthetic_video"], choices=list(DATASETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    parser.add_argument("--out", type=Path, default=Path("outputs/compare"))
    args = parser.parse_args(argv)
    methods = [m for m in METHODS if m in args.methods]  # run order: vib_lstm before the controls matched to it
    if {"small_lstm", "magnitude_lstm"} & set(methods) and "vib_lstm" not in methods:
        methods.insert(0, "vib_lstm")
    out = args.out.resolve()
    jobs = [
        (d, s, m)
        for d in args.datasets
        for s in range(args.seeds)
        for m in methods
        if m not in REFERENCES or is_sequence_dataset(d)  # MiniRocket: sequence datasets only
    ]
    results, vib = [], {}
    for dataset, seed, method in tqdm(jobs, desc="compare", unit="run"):
        try:
            result = run_one(dataset, method, seed, out, extra, vib.get((dataset, seed)))
        except RuntimeError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        if method == "vib_lstm":
            vib[(dataset, seed)] = result
        results.append(result)
    rows = summarise(results)
    write_csv_rows(rows, out / "compare.csv", COLUMNS)
    table = markdown(rows)
    atomic_save(lambda tmp: Path(tmp).write_text(table + "\n"), out / "compare.md")
    print(table)
    print(f"\nwrote {out / 'compare.csv'} and {out / 'compare.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
