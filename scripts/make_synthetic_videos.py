"""Write procedurally rendered action-like clips as real videos in the UCF101, HMDB51 or UCF11 layout.

    python scripts/make_synthetic_videos.py --layout ucf11 --out data/raw/ucf11_synthetic --classes 11 --groups 25
    python scripts/make_synthetic_videos.py --scale 1 --out data/raw/ucf101_full --width 80 --height 60  # 13,320
    python scripts/make_synthetic_videos.py --scale 0.1 --out data/raw/ucf101_tenth --dry-run              # counts only

Each class is a motion pattern; clips of a group share shape, colour and background, clips differ in speed,
scale, position, phase and length. Split files are written in the official formats, so the real parsers read
them. Existing clips are kept when they decode to their frames (an interrupted run resumes); empty or truncated
ones are written again. A failed write (disk full...) prints one line naming the file and exits 1.

``--scale F`` gives UCF101's official shape instead of a grid: 101 classes, 25 groups per class, 4 to 7 clips per
group (a fixed draw), 13,320 clips at F = 1, and the official splits' test groups (g01-07, g08-14, g15-21). Below 1
every class and the 101-way label set are kept and the clips are thinned: round(F * 13,320) clips, shared among the
classes in proportion to their full size, spread evenly over each class's groups (F >= 0.0076: a clip per class).
The clips of a smaller F are the same files as at full size.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

import _bootstrap  # noqa: F401

from har_vib.data.synthetic import LAYOUTS, SyntheticSpec, generate, plan_clips, ucf101_test_groups
from har_vib.errors import os_error_message

GRID_DEFAULTS = {"classes": 6, "groups": 7, "clips": 3}


def describe(spec: SyntheticSpec) -> str:
    """One line of what ``spec`` writes: clips, classes, groups, clips per group and the split sizes (UCF101)."""
    plan = plan_clips(spec)
    per_group = Counter((c.class_idx, c.group) for c in plan).values()
    text = (
        f"{len(plan)} clips, {len({c.class_idx for c in plan})} classes, {len({c.group for c in plan})} groups, "
        f"{min(per_group)}-{max(per_group)} clips per group, {min(c.num_frames for c in plan)}-"
        f"{max(c.num_frames for c in plan)} frames at {spec.width}x{spec.height}"
    )
    if spec.layout == "ucf101":
        tests = [sum(c.group in ucf101_test_groups(spec.groups, k) for c in plan) for k in (1, 2, 3)]
        text += "; test clips of splits 1/2/3: " + "/".join(map(str, tests))
    return text


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and generate."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layout", choices=LAYOUTS, default="ucf101")
    p.add_argument("--out", required=True, help="dataset root to create")
    p.add_argument("--classes", type=int, default=None, help=f"grid: classes (default {GRID_DEFAULTS['classes']})")
    p.add_argument(
        "--groups", type=int, default=None, help=f"grid: groups per class (default {GRID_DEFAULTS['groups']})"
    )
    p.add_argument("--clips", type=int, default=None, help=f"grid: clips per group (default {GRID_DEFAULTS['clips']})")
    p.add_argument(
        "--scale",
        type=float,
        default=None,
        help="UCF101's official shape at this fraction of its 13,320 clips (1: full size; 0.1: 1,332 clips, all 101 "
        "classes); replaces --classes/--groups/--clips",
    )
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
    p.add_argument("--dry-run", action="store_true", help="print what would be written, write nothing")
    a = p.parse_args(argv)
    render = dict(
        width=a.width,
        height=a.height,
        min_frames=a.min_frames,
        max_frames=a.max_frames,
        fps=a.fps,
        seed=a.seed,
        scene_bias=a.scene_bias,
    )
    try:
        if a.scale is not None:
            given = [f"--{name}" for name in GRID_DEFAULTS if getattr(a, name) is not None]
            if given or a.layout != "ucf101":
                p.error(f"--scale sets the UCF101 shape: drop {' '.join(given) or '--layout ' + a.layout}")
            spec = SyntheticSpec.official(scale=a.scale, **render)
        else:
            grid = {
                name: default if getattr(a, name) is None else getattr(a, name)
                for name, default in GRID_DEFAULTS.items()
            }
            spec = SyntheticSpec(
                layout=a.layout,
                num_classes=grid["classes"],
                groups=grid["groups"],
                clips_per_group=grid["clips"],
                **render,
            )
        summary = describe(spec)
    except ValueError as err:
        p.error(str(err))
    if a.dry_run:
        print(f"would write {summary} in the {a.layout} layout under {a.out}")
        return
    try:
        root = generate(spec, a.out)
    except OSError as err:
        print(f"error: {os_error_message(err, setting='--out')}", file=sys.stderr)
        sys.exit(1)
    print(f"{summary} in the {a.layout} layout under {root}")


if __name__ == "__main__":
    main()
