"""Write procedurally rendered action-like clips as real videos in the UCF101, HMDB51 or UCF11 layout.

    python scripts/make_synthetic_videos.py --layout ucf11 --out data/raw/ucf11_synthetic --classes 11 --groups 25

Each class is a motion pattern; clips of a group share shape, colour and background, clips differ in speed,
scale, position, phase and length. Split files are written in the official formats, so the real parsers read
them. Existing clips are kept when they decode to their frames (an interrupted run resumes); empty or truncated
ones are written again. A failed write (disk full...) prints one line naming the file and exits 1.
"""

from __future__ import annotations

import argparse
import sys

import _bootstrap  # noqa: F401

from har_vib.data.synthetic import LAYOUTS, SyntheticSpec, generate
from har_vib.errors import os_error_message


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and generate."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layout", choices=LAYOUTS, default="ucf101")
    p.add_argument("--out", required=True, help="dataset root to create")
    p.add_argument("--classes", type=int, default=6)
    p.add_argument("--groups", type=int, default=7)
    p.add_argument("--clips", type=int, default=3, help="clips per group")
    p.add_argument("--width", type=int, default=160)
    p.add_argument("--height", type=int, default=120)
    p.add_argument("--min-frames", type=int, default=24)
    p.add_argument("--max-frames", type=int, default=40)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--scene-bias",
        type=float,
        default=0.0,
        help="0: the class is only in the motion; up to 1: backgrounds also hint at the class",
    )
    a = p.parse_args(argv)
    spec = SyntheticSpec(
        layout=a.layout,
        num_classes=a.classes,
        groups=a.groups,
        clips_per_group=a.clips,
        width=a.width,
        height=a.height,
        min_frames=a.min_frames,
        max_frames=a.max_frames,
        fps=a.fps,
        seed=a.seed,
        scene_bias=a.scene_bias,
    )
    try:
        root = generate(spec, a.out)
    except OSError as err:
        print(f"error: {os_error_message(err, setting='--out')}", file=sys.stderr)
        sys.exit(1)
    print(f"{spec.num_classes * spec.groups * spec.clips_per_group} clips in the {a.layout} layout under {root}")


if __name__ == "__main__":
    main()
