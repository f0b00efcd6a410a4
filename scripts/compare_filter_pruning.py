"""HRel vs VIBNet vs L1-norm filter pruning on LeNet-5 at matched conv filters (scikit-learn's digits by default).

  python scripts/compare_filter_pruning.py [--epochs 30] [--beta 1e-3] [--seed 0] [--out outputs/filter_pruning]

VIBNet trains first; the conv filters it keeps become the targets of HRel (iterative: relevance, prune,
fine-tune) and of the L1 baseline (Torch-Pruning, one shot, then the same fine-tuning epochs). Prints and
writes a table of filters kept, weights (rW), FLOPs and test accuracy, and information_plane.png: the
baseline's layers in the information plane, I(X; T) against I(T; Y), after every training epoch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout, installed or not

from har_vib.datamodules import ImageDataModule  # noqa: E402
from har_vib.hrel.compare import compare_filter_pruning  # noqa: E402
from har_vib.reports.paper_tables import markdown  # noqa: E402
from har_vib.utils.io import atomic_save, write_csv_rows  # noqa: E402

COLUMNS = ["method", "filters", "weights", "rW", "flops", "flops_pct", "test_acc"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits", choices=["digits", "mnist"])
    parser.add_argument("--root", default="data/raw/images")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--beta", type=float, default=1e-3)
    parser.add_argument("--finetune-epochs", type=int, default=5, help="per HRel round")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs/filter_pruning"))
    args = parser.parse_args(argv)
    dm = ImageDataModule(name=args.dataset, root=args.root, batch_size=100, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    plane = args.out / "information_plane.png"
    rows = compare_filter_pruning(dm, args.epochs, args.beta, args.finetune_epochs, seed=args.seed, plane_path=plane)
    table = markdown(rows, COLUMNS)
    write_csv_rows(rows, args.out / "filter_pruning.csv", COLUMNS)
    atomic_save(lambda tmp: Path(tmp).write_text(table + "\n"), args.out / "filter_pruning.md")
    print(table)
    print(f"\nwrote {args.out / 'filter_pruning.csv'} and {plane}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
