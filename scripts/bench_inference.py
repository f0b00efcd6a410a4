"""Single-core CPU latency of the naive and the compact model (``make bench``): the paper's Raspberry Pi test.

  python scripts/bench_inference.py --paper-scale            # no data: naive 2048->2048 vs the paper's 2,052
  python scripts/bench_inference.py outputs/runs/<time>      # a finished run: its export vs its original size
  python scripts/bench_inference.py RUN --json bench.json --pin-cpu 0 --batches 1 10 --steps 25

One torch thread, one onnxruntime intra- and inter-op thread (``--pin-cpu N`` also pins the process to core
N). Each model runs under PyTorch eager, TorchScript and onnxruntime on the same random clips; the table gives
the median microseconds per clip (batch time / batch size) with the 10-90th percentile spread, and the
speedup. This times the recurrent part on features, as the paper did; add the frame encoder's time per
clip (``scripts/bench_extract.py``) for a whole CNN + LSTM figure.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout, installed or not

from har_vib.deploy.latency import RUNTIMES, compare_latency, markdown, single_thread  # noqa: E402
from har_vib.deploy.models import paper_scale_pair, run_pair  # noqa: E402
from har_vib.errors import ConfigError  # noqa: E402
from har_vib.utils.io import write_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?", type=Path, help="a finished run folder (pruned_spec.json, ...)")
    parser.add_argument("--paper-scale", action="store_true", help="naive 2048->2048 vs compact 46->9, no data")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 10])
    parser.add_argument("--steps", type=int, default=25, help="time steps per clip")
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=list(RUNTIMES))
    parser.add_argument("--min-seconds", type=float, default=1.0, help="timed seconds per (model, case)")
    parser.add_argument("--pin-cpu", type=int, default=None, help="run on this CPU core only")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    if args.paper_scale == (args.run is not None):
        parser.error("give a run folder or --paper-scale (one of them)")
    try:
        single_thread(args.pin_cpu)
        naive, compact, features = paper_scale_pair() if args.paper_scale else run_pair(args.run)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows = compare_latency(naive, compact, features, args.batches, args.steps, args.runtimes, args.min_seconds)
    case = "paper scale (2048->2048 vs 46->9)" if args.paper_scale else str(args.run)
    naive_params = sum(p.numel() for p in naive.rnn.parameters())
    compact_params = sum(p.numel() for p in compact.rnn.parameters())
    print(f"{case}: recurrent layer {naive_params:,} -> {compact_params:,} parameters, T={args.steps}, 1 thread")
    print(markdown(rows))
    if args.json:
        meta = {"case": case, "naive_rnn_params": naive_params, "compact_rnn_params": compact_params}
        meta.update({"steps": args.steps, "threads": 1, "pin_cpu": args.pin_cpu, "cpu": platform.processor()})
        write_json({**meta, "rows": rows}, args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
