"""Summary of CNN-LSTM runs with compressed frame encoders (backbone.compress): one row per encoder method with
the encoder's MACs per frame as pruned, the whole model's parameters and MACs per clip before -> after, the
single-thread latency per clip (when bench_clip.py wrote clip_bench.json into the run) and the compact model's test
accuracy; summary.png plots accuracy against MACs and latency per clip, run by run.

  python scripts/encoder_report.py outputs/encoder_compare      # expects <method>/<seed>/ run folders
  python scripts/encoder_report.py --macs-of outputs/encoder_compare/vib/seed0   # that run's pruned encoder's
                                                                 # MACs per frame (backbone.compression.target_macs)

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
from har_vib.reports.plots import plot_encoder_methods  # noqa: E402
from har_vib.utils.io import atomic_save  # noqa: E402

COLUMNS = [
    "encoder",
    "runs",
    "encoder_pruned",
    "encoder_mmacs_per_frame",
    "encoder_params",
    "total_params",
    "macs_per_clip",
    "param_ratio",
    "mac_ratio",
    "ms_per_clip",
    "test_acc",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, nargs="?", help="folder of <method>/<run> folders")
    parser.add_argument("--macs-of", type=Path, metavar="RUN", help="print RUN's pruned encoder MACs per frame")
    args = parser.parse_args(argv)
    if args.macs_of is not None:
        path = args.macs_of / "clip_model.json"
        if not path.is_file():
            print(f"error: {path} is missing: is {args.macs_of} a finished CNN-LSTM run?", file=sys.stderr)
            return 2
        encoder = json.loads(path.read_text())["encoder"]
        print(int(encoder.get("compressed", encoder["after"])["macs_per_frame"]))
        return 0
    if args.root is None:
        parser.error("give the folder of <method>/<run> folders (or --macs-of RUN)")
    if not args.root.is_dir():
        print(f"error: {args.root} is not a folder of <method>/<run> run folders", file=sys.stderr)
        return 2
    runs: dict[str, list] = {}
    for method_dir in sorted(p for p in args.root.iterdir() if p.is_dir()):
        for run in sorted(p for p in method_dir.iterdir() if p.is_dir()):
            clip, metrics = run / "clip_model.json", run / "metrics.json"
            if clip.is_file() and metrics.is_file():
                report = json.loads(clip.read_text())
                bench = run / "clip_bench.json"
                if bench.is_file():
                    report["bench"] = json.loads(bench.read_text())
                runs.setdefault(method_dir.name, []).append((report, json.loads(metrics.read_text())))
    if not runs:
        print(f"error: no finished runs (clip_model.json + metrics.json) under {args.root}", file=sys.stderr)
        return 2
    table = markdown(summarize_clip_runs(runs), COLUMNS)
    atomic_save(lambda tmp: Path(tmp).write_text(table + "\n"), args.root / "summary.md")
    figure = plot_encoder_methods(runs, args.root / "summary.png")
    print(table)
    print(f"\nwrote {args.root / 'summary.md'} and {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
