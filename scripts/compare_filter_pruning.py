"""HRel vs VIBNet vs L1-norm filter pruning on LeNet-5 at matched conv filters (scikit-learn's digits by default).

  python scripts/compare_filter_pruning.py [--epochs 30] [--beta 1e-3] [--seeds 0 1 2] [--out outputs/filter_pruning]

VIBNet trains first; the conv filters it keeps become the targets of HRel (iterative: relevance, prune,
fine-tune) and of the L1 baseline (Torch-Pruning, one shot, then the same fine-tuning epochs). Prints and
writes a table of filters kept, weights (rW), FLOPs and test accuracy, and information_plane.png: the
baseline's layers in the information plane, I(X; T) against I(T; Y), after every training epoch.

With several ``--seeds`` every seed gets its own folder (``seed<N>/``, reused when its CSV is already there) and
``summary.md`` / ``summary.csv`` give each method's mean and std of test accuracy over the seeds, next to its
filters and FLOPs (which follow VIBNet's choice in each seed, so they vary too).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout, installed or not

from har_vib.datamodules import ImageDataModule  # noqa: E402
from har_vib.hrel.compare import compare_filter_pruning  # noqa: E402
from har_vib.reports.paper_tables import markdown  # noqa: E402
from har_vib.utils.io import atomic_save, write_csv_rows  # noqa: E402

COLUMNS = ["method", "filters", "weights", "rW", "flops", "flops_pct", "test_acc"]
SUMMARY_COLUMNS = ["method", "seeds", "filters", "flops_pct", "test_acc"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits", choices=["digits", "mnist"])
    parser.add_argument("--root", default="data/raw/images")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--beta", type=float, default=1e-3)
    parser.add_argument("--finetune-epochs", type=int, default=5, help="per HRel round")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/filter_pruning"))
    args = parser.parse_args(argv)
    per_seed: list[list[dict]] = []
    for seed in args.seeds:
        out = args.out if len(args.seeds) == 1 else args.out / f"seed{seed}"
        csv_path = out / "filter_pruning.csv"
        if len(args.seeds) > 1 and csv_path.is_file():
            with open(csv_path) as fh:
                per_seed.append(list(csv.DictReader(fh)))
            print(f"seed {seed}: reusing {csv_path}")
            continue
        dm = ImageDataModule(name=args.dataset, root=args.root, batch_size=100, seed=seed)
        out.mkdir(parents=True, exist_ok=True)
        plane = out / "information_plane.png"
        rows = compare_filter_pruning(dm, args.epochs, args.beta, args.finetune_epochs, seed=seed, plane_path=plane)
        table = markdown(rows, COLUMNS)
        write_csv_rows(rows, csv_path, COLUMNS)
        atomic_save(lambda tmp, t=table: Path(tmp).write_text(t + "\n"), out / "filter_pruning.md")
        print(f"seed {seed}\n{table}\nwrote {csv_path} and {plane}")
        per_seed.append(rows)
    if len(args.seeds) > 1:
        summary = summarize(per_seed)
        table = markdown(summary, SUMMARY_COLUMNS)
        write_csv_rows(summary, args.out / "summary.csv", SUMMARY_COLUMNS)
        atomic_save(lambda tmp: Path(tmp).write_text(table + "\n"), args.out / "summary.md")
        print(f"\n{len(args.seeds)} seeds\n{table}\nwrote {args.out / 'summary.csv'}")
    return 0


def summarize(per_seed: list[list[dict]]) -> list[dict]:
    """Mean and std over seeds per method: test accuracy (%), filters kept, FLOPs share."""
    methods = list(dict.fromkeys(str(r["method"]) for rows in per_seed for r in rows))
    out = []
    for method in methods:
        rows = [r for rows in per_seed for r in rows if str(r["method"]) == method]
        acc = [float(r["test_acc"]) for r in rows]  # already in %
        flops = [float(r["flops_pct"]) for r in rows]
        out.append(
            {
                "method": method,
                "seeds": len(rows),
                "filters": " / ".join(sorted({str(r["filters"]) for r in rows})),
                "flops_pct": f"{statistics.mean(flops):.1f}",
                "test_acc": f"{statistics.mean(acc):.2f} +- {statistics.pstdev(acc):.2f}",
            }
        )
    return out


if __name__ == "__main__":
    sys.exit(main())
