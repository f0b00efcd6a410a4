"""Single-core CPU latency of a whole CNN-LSTM per clip, before and after compression (issue: backbone
compression). Before: the run's dense frame encoder and a dense LSTM of its original size. After: the compressed
encoder (backbone.compress) and the exported compact LSTM.

  python scripts/bench_clip.py outputs/runs/<time> --pin-cpu 1 --json clip_bench.json

One torch thread. A clip is ``dataset.frames`` frames of every stream at the encoder's crop, already decoded and
normalised (decoding and TV-L1 are not timed); PyTorch eager. Prints parameters, MACs (from clip_model.json) and
the median milliseconds per clip with the 10-90th percentile spread.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout, installed or not

import torch  # noqa: E402

from har_vib.deploy.clip import clip_pair  # noqa: E402
from har_vib.deploy.latency import single_thread, time_call  # noqa: E402
from har_vib.errors import ConfigError  # noqa: E402
from har_vib.utils.io import write_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a finished run folder with clip_model.json")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="timed seconds per model")
    parser.add_argument("--pin-cpu", type=int, default=None, help="run on this CPU core only")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        single_thread(args.pin_cpu)
        before, after, info = clip_pair(args.run)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    clip = json.loads((args.run / "clip_model.json").read_text())
    torch.manual_seed(0)
    frames = torch.randn(info["streams"] * info["steps"], 3, info["crop"], info["crop"])
    rows = []
    for stage, model in (("before", before), ("after", after)):
        with torch.inference_mode():
            t = time_call(lambda m=model: m(frames), warmup=3, min_reps=10, min_seconds=args.min_seconds)
        rows.append(
            {
                "stage": stage,
                "params": info[f"params_{stage}"],
                "macs_per_clip": clip[stage]["total_macs_per_clip"],
                "median_ms": t.median_us / 1e3,
                "p10_ms": t.p10_us / 1e3,
                "p90_ms": t.p90_us / 1e3,
                "reps": t.reps,
            }
        )
    speedup = rows[0]["median_ms"] / rows[1]["median_ms"]
    print(
        f"{args.run}: encoder {info['encoder_method']}, {info['streams']} stream(s) x {info['steps']} frames at "
        f"{info['crop']}x{info['crop']}, 1 thread, eager"
    )
    print("| stage | params | MACs per clip | ms per clip (p10-p90) |")
    print("|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['stage']} | {r['params']:,} | {r['macs_per_clip']:,} | "
            f"{r['median_ms']:.2f} ({r['p10_ms']:.2f}-{r['p90_ms']:.2f}) |"
        )
    print(f"speedup {speedup:.2f}x, params {rows[0]['params'] / rows[1]['params']:.2f}x")
    if args.json:
        meta = {"run": str(args.run), **info, "threads": 1, "pin_cpu": args.pin_cpu, "cpu": platform.processor()}
        write_json({**meta, "rows": rows, "speedup": speedup}, args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
