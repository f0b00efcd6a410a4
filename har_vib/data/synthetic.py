"""Procedurally rendered action-like clips, written as real video files in the UCF101, HMDB51 and UCF11 layouts.

A class is a motion pattern (slide, bounce, orbit, swing, ...) of a shape over a textured background that
pans. As in the real datasets, clips of one group share "actor" (shape and colour) and background, while
every clip draws its own speed, scale, position, phase and length. The class cannot be read from one frame's
appearance: shapes and colours are drawn independently of the class, so a model has to use the motion.
``scene_bias`` > 0 adds the scene context that real datasets have (a class's backgrounds share a tint and
stripe pattern), which a frame encoder without pretrained weights can pick up.

``cv2.VideoWriter`` reports no write error: on a full disk it leaves an empty or truncated file. Every clip is
therefore decoded back before it is renamed into place (and every clip found on disk when generation resumes), and
a clip that does not hold its frames is an ``OSError`` naming it, with the errno the disk gives a plain write.

Besides a grid of ``num_classes`` x ``groups`` x ``clips_per_group`` clips, a spec can take the official shape of
UCF101 (``shape="ucf101"``, :meth:`SyntheticSpec.official`): 101 classes, 25 groups per class, 4 to 7 clips per group,
13,320 clips in all, with the official splits' test groups. ``scale`` < 1 keeps every class and group structure and
thins the clips (:func:`plan_clips`); what a spec writes is known without rendering anything.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from har_vib.data.video import VideoDecodeError, frame_count
from har_vib.utils.io import TMP_PREFIX, atomic_save

log = logging.getLogger(__name__)

LAYOUTS = ("ucf101", "hmdb51", "ucf11")
RENDER_VERSION = 3  # bump when the rendering changes, so stale generated folders are recognised
VERIFIED_FILE = ".verified"  # written with .complete once every clip decoded back to its frames

# (name, direction sign) pairs; a class is one motion with one direction
MOTIONS = (
    "slide",
    "bounce",
    "orbit",
    "pulse",
    "spin",
    "zigzag",
    "converge",
    "swing",
    "shake",
    "jump",
    "walk",
)

# UCF11 class folders and the short names of their clips (the archive's own naming)
UCF11_CLASSES = (
    ("basketball", "shooting"),
    ("biking", "biking"),
    ("diving", "diving"),
    ("golf_swing", "golf"),
    ("horse_riding", "riding"),
    ("soccer_juggling", "juggle"),
    ("swing", "swing"),
    ("tennis_swing", "tennis"),
    ("trampoline_jumping", "jumping"),
    ("volleyball_spiking", "spiking"),
    ("walking", "walk_dog"),
)


# a class is a (motion, direction) at one tempo: the first 22 classes move at tempo 1, the next 22 at 1.6, ... (the
# speeds of neighbouring tempos overlap a little); the tempo's word ends the class name
TEMPOS = ((1.0, ""), (1.6, "fast"), (0.6, "slow"), (2.4, "faster"), (0.4, "slower"))

# UCF101's official shape (Soomro, Zamir, Shah, UCF101: A Dataset of 101 Human Actions Classes From Videos in The
# Wild, arXiv:1212.0402): 101 classes x 25 groups, 4 to 7 clips per group, 13,320 clips; split k tests groups
# 7(k-1)+1 .. 7k (:func:`ucf101_test_groups`)
SHAPES = ("ucf101",)
UCF101_CLASSES, UCF101_GROUPS, UCF101_VIDEOS = 101, 25, 13_320
UCF101_MIN_CLIPS, UCF101_MAX_CLIPS = 4, 7
_SHAPE_SEED = (13_320, 101, 25)  # the per-group clip counts are one fixed draw, whatever the spec's seed


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate: ``num_classes`` classes x ``groups`` groups x ``clips_per_group`` clips, or with
    ``shape="ucf101"`` UCF101's official shape at ``scale`` of its 13,320 clips (:meth:`official`)."""

    layout: str = "ucf101"
    num_classes: int = 6
    groups: int = 7
    clips_per_group: int = 3
    width: int = 160
    height: int = 120
    min_frames: int = 24
    max_frames: int = 40
    fps: float = 25.0
    seed: int = 0
    scene_bias: float = 0.0  # 0: the class is only in the motion; up to 1: backgrounds also hint at the class
    shape: str | None = None  # None: the grid above; "ucf101": UCF101's classes, groups and 4-7 clips per group
    scale: float = 1.0  # with a shape: the fraction of its clips written (every class kept, clips thinned)

    def __post_init__(self) -> None:
        if self.shape is None:
            if self.scale != 1.0:
                raise ValueError(f"scale={self.scale} needs shape='ucf101' (a grid spec is sized by its counts)")
            return
        if self.shape not in SHAPES:
            raise ValueError(f"shape={self.shape!r}: the shapes are {SHAPES} (or None for a grid)")
        wanted = (UCF101_CLASSES, UCF101_GROUPS, UCF101_MAX_CLIPS)
        if self.layout != "ucf101" or (self.num_classes, self.groups, self.clips_per_group) != wanted:
            raise ValueError(
                f"shape='ucf101' is the UCF101 layout with num_classes={wanted[0]}, groups={wanted[1]} and at most "
                f"clips_per_group={wanted[2]}; got layout={self.layout!r}, {self.num_classes}, {self.groups}, "
                f"{self.clips_per_group} (SyntheticSpec.official() fills them in)"
            )
        if not (0.0 < self.scale <= 1.0 and round(self.scale * UCF101_VIDEOS) >= UCF101_CLASSES):
            raise ValueError(
                f"scale={self.scale}: must lie in [{UCF101_CLASSES / UCF101_VIDEOS:.4f}, 1] (at least one clip per "
                f"class, at most the {UCF101_VIDEOS:,} clips of the full dataset)"
            )

    @classmethod
    def official(cls, shape: str = "ucf101", scale: float = 1.0, **settings: object) -> SyntheticSpec:
        """The spec of a dataset with ``shape``'s official classes, groups and clips per group, ``scale`` of its
        clips, and ``settings`` (size, frames, fps, seed, scene bias) for the rendering."""
        if shape not in SHAPES:
            raise ValueError(f"shape={shape!r}: the shapes are {SHAPES}")
        grid = dict(layout="ucf101", num_classes=UCF101_CLASSES, groups=UCF101_GROUPS, clips_per_group=UCF101_MAX_CLIPS)
        return cls(**grid, **settings, shape=shape, scale=float(scale))


def class_motions(num_classes: int) -> list[tuple[str, int]]:
    """The (motion, direction) of each class: every motion forwards first, then every motion reversed."""
    pairs = [(m, 1) for m in MOTIONS] + [(m, -1) for m in MOTIONS]
    if not 1 <= num_classes <= len(pairs):
        raise ValueError(f"num_classes must be in 1..{len(pairs)}, got {num_classes}")
    return pairs[:num_classes]


def class_patterns(num_classes: int) -> list[tuple[str, int, float]]:
    """The (motion, direction, tempo) of each class: the :func:`class_motions` at tempo 1 first, then the same
    motions at each further tempo of :data:`TEMPOS` (up to 110 classes; the first 22 are :func:`class_motions`)."""
    pairs = class_motions(2 * len(MOTIONS))
    limit = len(pairs) * len(TEMPOS)
    if not 1 <= num_classes <= limit:
        raise ValueError(f"num_classes must be in 1..{limit}, got {num_classes}")
    return [(*pairs[i % len(pairs)], TEMPOS[i // len(pairs)][0]) for i in range(num_classes)]


def _texture(
    rng: np.random.Generator,
    width: int,
    height: int,
    scene: tuple[np.ndarray, float, float] | None = None,
    scene_bias: float = 0.0,
) -> np.ndarray:
    """A muted textured background: smooth colour noise plus tinted stripes.

    ``scene`` is a class's own (tint, stripe frequency, stripe angle); ``scene_bias`` in [0, 1] pulls the
    group's randomly drawn stripes towards it, as a class's typical scene (a pool, a pitch) does in real data.
    """
    noise = rng.random((height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    base = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    freq, angle = rng.uniform(0.03, 0.12), rng.uniform(0, np.pi)
    tint = rng.uniform(0.2, 0.8, 3).astype(np.float32)
    if scene is not None and scene_bias > 0:
        tint = (1 - scene_bias) * tint + scene_bias * scene[0]
        freq = (1 - scene_bias) * freq + scene_bias * scene[1]
        angle = (1 - scene_bias) * angle + scene_bias * scene[2]
    stripes = 0.5 + 0.5 * np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy))
    img = 0.25 * base + 0.15 * stripes[..., None] * tint + 0.3  # muted: the moving shape stands out
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def class_scene(seed: int, class_idx: int) -> tuple[np.ndarray, float, float]:
    """The (tint, stripe frequency, stripe angle) typical of a class's scenes (used when ``scene_bias`` > 0)."""
    rng = np.random.default_rng([seed, class_idx, 7919])
    return rng.uniform(0.2, 0.8, 3).astype(np.float32), float(rng.uniform(0.03, 0.12)), float(rng.uniform(0, np.pi))


def _draw_shape(frame: np.ndarray, kind: int, center: tuple[float, float], size: float, color, angle: float) -> None:
    cx, cy = int(round(center[0])), int(round(center[1]))
    s = max(2, int(round(size)))
    if kind == 0:
        cv2.circle(frame, (cx, cy), s, color, -1, cv2.LINE_AA)
    elif kind == 1:
        box = cv2.boxPoints(((cx, cy), (2 * s, 1.4 * s), np.degrees(angle)))
        cv2.fillConvexPoly(frame, np.round(box).astype(np.int32), color, cv2.LINE_AA)
    else:
        corners = [angle + k * 2 * np.pi / 3 for k in range(3)]
        pts = [(cx + s * np.cos(a), cy + s * np.sin(a)) for a in corners]
        cv2.fillConvexPoly(frame, np.round(pts).astype(np.int32), color, cv2.LINE_AA)


def _pan_crop(background: np.ndarray, x: float, y: float, width: int, height: int) -> np.ndarray:
    """A ``width`` x ``height`` window of ``background`` at the sub-pixel offset (x, y): a smooth camera pan."""
    shift = np.float32([[1, 0, -x], [0, 1, -y]])
    return cv2.warpAffine(background, shift, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _trajectory(
    motion: str,
    d: int,
    t: int,
    w: float,
    speed: float,
    width: int,
    height: int,
    cx: float,
    cy: float,
    size: float,
    angle0: float,
    rng: np.random.Generator,
    tempo: float = 1.0,
) -> tuple[list[tuple[float, float]], float, float]:
    """Centres, size and angle of the shape(s) at frame ``t`` (``w``: the clip's angular progress; ``tempo``: the
    class's tempo, already in ``speed``, and the jitter of ``shake``, which has no speed)."""
    short = min(width, height)
    centers, s, ang = [(cx, cy)], size, angle0
    # translations start on the side they move away from, so the shape stays in view for ~40 frames
    x0 = width * (0.2 if d > 0 else 0.8)
    if motion == "slide":
        centers = [(x0 + d * 2.4 * speed * t, cy)]
    elif motion == "bounce":
        centers = [(cx, cy + d * 0.35 * height * (abs(np.sin(w)) - 0.5))]
    elif motion == "orbit":
        r = 0.25 * short
        centers = [(width / 2 + r * np.cos(d * w), height / 2 + r * np.sin(d * w))]
    elif motion == "pulse":
        s = size * (1.0 + 0.6 * np.sin(d * w))
    elif motion == "spin":
        ang, s = angle0 + d * 1.5 * w, size * 1.4
    elif motion == "zigzag":
        tri = 2 * abs((w / np.pi) % 2 - 1) - 1
        centers = [(x0 + d * 1.8 * speed * t, cy + 0.25 * height * tri)]
    elif motion == "converge":
        gap = 0.4 * width * (0.5 + 0.5 * np.cos(d * w))
        centers, s = [(width / 2 - gap / 2, cy), (width / 2 + gap / 2, cy)], size * 0.8
    elif motion == "swing":
        a, r = 0.9 * np.sin(w) * d, 0.55 * height
        centers = [(width / 2 + r * np.sin(a), 0.1 * height + r * np.cos(a))]
    elif motion == "shake":
        jitter = rng.normal(0, 0.03 * short * tempo, 2)
        centers = [(cx + jitter[0] * (1 + (d < 0)), cy + jitter[1] * (1 + (d > 0)))]
    elif motion == "jump":
        hop = (w % np.pi) / np.pi
        centers = [(x0 + d * 1.2 * speed * t, 0.8 * height - 0.5 * height * 4 * hop * (1 - hop))]
    elif motion == "walk":
        centers = [(x0 + d * 1.0 * speed * t, cy + 0.05 * height * np.sin(3 * w))]
    return centers, s, ang


def render_clip(
    motion: str,
    direction: int,
    rng: np.random.Generator,
    width: int,
    height: int,
    num_frames: int,
    background: np.ndarray,
    actor: tuple[int, tuple[int, int, int]],
    tempo: float = 1.0,
) -> np.ndarray:
    """One clip as BGR uint8 (T, H, W, 3).

    The camera pans smoothly (sub-pixel) over ``background`` at a per-clip velocity of up to half a pixel per
    frame; only the ``spin`` classes rotate the shape, so rotation is a class cue and not a nuisance. ``tempo``
    multiplies the clip's speed (classes past the 22nd differ from earlier ones by it).
    """
    kind, color = actor
    speed = rng.uniform(0.7, 1.4) * tempo
    size = rng.uniform(0.18, 0.28) * min(width, height)
    cx, cy = rng.uniform(0.35, 0.65) * width, rng.uniform(0.35, 0.65) * height
    phase = rng.uniform(0, 2 * np.pi)
    angle0 = rng.uniform(0, np.pi)
    pan = rng.uniform(-0.5, 0.5, 2)
    big_h, big_w = background.shape[:2]
    start = rng.uniform(0, 1, 2) * (big_w - width, big_h - height)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        w = 0.2 * speed * t + phase  # angular progress of periodic motions
        ox = np.clip(start[0] + pan[0] * t, 0, big_w - width)
        oy = np.clip(start[1] + pan[1] * t, 0, big_h - height)
        frame = _pan_crop(background, ox, oy, width, height)
        centers, s, ang = _trajectory(motion, direction, t, w, speed, width, height, cx, cy, size, angle0, rng, tempo)
        for c in centers:
            _draw_shape(frame, kind, c, s, color, ang)
        frames[t] = frame
    return frames


def write_video(path: Path, frames_bgr: np.ndarray, fps: float) -> None:
    """Write an XVID ``.avi`` (MPEG-4 part 2, as UCF101/HMDB51 ship) atomically: a temp file, decoded back, then
    renamed to ``path``.

    Raises ``OSError`` naming ``path`` when the file cannot be written: ``cv2.VideoWriter`` swallows write errors
    (a full disk gives an empty or truncated file), so a temp file that does not decode to ``len(frames_bgr)``
    frames is an error, with the errno a plain write to that disk gives (ENOSPC, EFBIG, EDQUOT...). No temp file
    is left behind."""
    path = Path(path)
    height, width = frames_bgr.shape[1:3]
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a random temp name (not the pid: array jobs on two nodes can share one); ends in .avi for VideoWriter
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TMP_PREFIX}{path.stem}.", suffix=path.suffix)
        os.close(fd)
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"XVID"), fps, (width, height))
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write XVID video {path}; is opencv-contrib-python-headless installed?")
        for frame in frames_bgr:
            writer.write(frame)
        writer.release()
        problem = clip_problem(Path(tmp), len(frames_bgr))
        if problem is not None:
            cause = _disk_error(tmp)
            if cause is None:
                raise OSError(errno.EIO, f"OpenCV wrote a broken video ({problem})", str(path))
            raise OSError(cause.errno, cause.strerror, str(path))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        if err.filename is None or Path(err.filename).name.startswith(TMP_PREFIX):
            err.filename, err.filename2 = str(path), None
        raise
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def clip_problem(path: Path, num_frames: int) -> str | None:
    """Why the clip at ``path`` is not a finished clip of ``num_frames`` frames (empty, does not decode, fewer
    frames), or None when it is one."""
    try:
        size = path.stat().st_size
        if size == 0:
            return "0 bytes"
        decoded = frame_count(path, "pyav")
    except VideoDecodeError as err:
        return f"{size} bytes that do not decode: {err.reason}"
    except OSError as err:
        return f"unreadable: {err.strerror or err}"
    if decoded != num_frames:
        return f"{size} bytes, {decoded} of {num_frames} frames decode"
    return None


def _disk_error(path: str, limit: int = 1 << 20) -> OSError | None:
    """The error a plain write to ``path``'s disk gives now (appending up to ``limit`` bytes, then fsync), or None
    when it takes them: what made OpenCV's silent write fail (ENOSPC, EFBIG past ``ulimit -f``, EDQUOT...)."""
    chunk = b"\0" * (64 << 10)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError as err:
        return err
    try:
        for _ in range(max(1, limit // len(chunk))):
            os.write(fd, chunk)
        os.fsync(fd)
    except OSError as err:
        return err
    finally:
        os.close(fd)
    return None


def _class_names(layout: str, num_classes: int) -> list[str]:
    patterns = class_patterns(num_classes)
    if layout == "ucf11":
        if num_classes > len(UCF11_CLASSES):
            raise ValueError(f"the UCF11 layout has at most {len(UCF11_CLASSES)} classes")
        return [UCF11_CLASSES[i][0] for i in range(num_classes)]
    tempo_word = dict(TEMPOS)
    words = [f"{m}_{'fwd' if d > 0 else 'rev'}" + (f"_{tempo_word[t]}" if t != 1.0 else "") for m, d, t in patterns]
    if layout == "hmdb51":
        return words
    return ["".join(part.capitalize() for part in w.split("_")) for w in words]


def _clip_relpath(layout: str, class_idx: int, class_name: str, group: int, clip: int) -> str:
    if layout == "ucf101":
        return f"{class_name}/v_{class_name}_g{group:02d}_c{clip:02d}.avi"
    if layout == "ucf11":
        short = UCF11_CLASSES[class_idx][1]
        return f"{class_name}/v_{short}_{group:02d}/v_{short}_{group:02d}_{clip:02d}.avi"
    return f"{class_name}/Actor{group:02d}_{class_name}_f_cm_np1_fr_med_{clip - 1}.avi"


def video_dir_for(layout: str, root: Path) -> Path:
    """Where a layout keeps its videos under the dataset root (the official archive folder names)."""
    return root / {"ucf101": "UCF-101", "hmdb51": "videos", "ucf11": "action_youtube_naudio"}[layout]


def ucf101_test_groups(groups: int, split: int) -> set[int]:
    """UCF101-style: split k tests the k-th block of ~7/25 of the groups (official: g01-07, g08-14, g15-21)."""
    block = max(1, round(groups * 7 / 25))
    start = (split - 1) * block
    return {1 + (start + i) % groups for i in range(block)}


@functools.lru_cache(maxsize=1)
def ucf101_group_clips() -> np.ndarray:
    """Clips per (class, group) of the full UCF101 shape, (101, 25) ints in 4..7 summing to exactly 13,320.

    One fixed seeded draw (the same for every spec): counts drawn uniformly in 4..7, then single clips taken from
    (or given to) groups in a seeded order until the total is 13,320. Read-only."""
    rng = np.random.default_rng(_SHAPE_SEED)
    counts = rng.integers(UCF101_MIN_CLIPS, UCF101_MAX_CLIPS + 1, size=UCF101_CLASSES * UCF101_GROUPS)
    order = rng.permutation(counts.size)
    excess, i = int(counts.sum()) - UCF101_VIDEOS, 0
    while excess:
        j = order[i % counts.size]
        if excess > 0 and counts[j] > UCF101_MIN_CLIPS:
            counts[j], excess = counts[j] - 1, excess - 1
        elif excess < 0 and counts[j] < UCF101_MAX_CLIPS:
            counts[j], excess = counts[j] + 1, excess + 1
        i += 1
    counts = counts.reshape(UCF101_CLASSES, UCF101_GROUPS)
    counts.flags.writeable = False
    return counts


def _apportion(weights: np.ndarray, total: int) -> np.ndarray:
    """``total`` split in proportion to ``weights`` (largest remainder, ties to the lower index), at least 1 each."""
    quota = weights * (total / weights.sum())
    out = np.maximum(np.floor(quota).astype(np.int64), 1)
    rest = quota - np.floor(quota)
    while out.sum() != total:
        if out.sum() < total:
            order = np.argsort(-rest, kind="stable")
            step = 1
        else:
            order = [i for i in np.argsort(rest, kind="stable") if out[i] > 1]
            step = -1
        for i in order[: abs(total - int(out.sum()))]:
            out[i] += step
    return out


def _spread_groups(groups: int, offset: float) -> list[int]:
    """The groups 1..``groups`` in an order whose every prefix is spread evenly over them (the golden-ratio
    sequence ``offset + j * 0.618...`` mod 1, binned): thinned classes keep clips in every split's test block."""
    order: list[int] = []
    j = 0
    while len(order) < groups:
        g = 1 + int(((offset + j * 0.6180339887498949) % 1.0) * groups)
        if g not in order:
            order.append(g)
        j += 1
    return order


def ucf101_shape_clips(scale: float = 1.0) -> list[tuple[int, int, int]]:
    """``(class index, group, clip)`` of the UCF101 shape at ``scale``, sorted: all 13,320 at scale 1; below it,
    ``round(scale * 13,320)`` of them apportioned to the classes in proportion to their full size (every class keeps
    at least one), each class taking clip 1 of its groups in an evenly spread order, then clip 2, and so on. The
    clips of a smaller scale are clips of the full size (same names, same frames), clip numbers in a group run 1..n,
    and each split's test groups keep about 7/25 of the clips."""
    counts = ucf101_group_clips()
    total = round(scale * UCF101_VIDEOS)
    per_class = counts.sum(1) if total == UCF101_VIDEOS else _apportion(counts.sum(1).astype(float), total)
    chosen: list[tuple[int, int, int]] = []
    for c in range(UCF101_CLASSES):
        order = _spread_groups(UCF101_GROUPS, (c * 0.4142135623730951) % 1.0)
        picks = [(c, g, k) for k in range(1, UCF101_MAX_CLIPS + 1) for g in order if counts[c, g - 1] >= k]
        chosen.extend(picks[: int(per_class[c])])
    return sorted(chosen)


@dataclass(frozen=True)
class PlannedClip:
    """One clip a spec writes: its class, group and clip number, path under the video folder and frame count."""

    class_idx: int
    group: int
    clip: int
    relpath: str
    num_frames: int


def plan_clips(spec: SyntheticSpec) -> list[PlannedClip]:
    """Every clip ``spec`` writes, in writing order, without rendering anything (what :func:`generate` writes and
    what its split files list)."""
    if spec.layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {spec.layout!r}")
    classes = _class_names(spec.layout, spec.num_classes)
    if spec.shape == "ucf101":
        triples = ucf101_shape_clips(spec.scale)
    else:
        triples = [
            (c, g, k)
            for c in range(spec.num_classes)
            for g in range(1, spec.groups + 1)
            for k in range(1, spec.clips_per_group + 1)
        ]
    plan = []
    for c, g, k in triples:
        length = int(np.random.default_rng([spec.seed, c, g, k]).integers(spec.min_frames, spec.max_frames + 1))
        plan.append(PlannedClip(c, g, k, _clip_relpath(spec.layout, c, classes[c], g, k), length))
    return plan


def _write_split_files(spec: SyntheticSpec, root: Path, classes: list[str], clips: list[tuple[int, int, str]]) -> None:
    if spec.layout == "ucf101":
        split_dir = root / "ucfTrainTestlist"
        split_dir.mkdir(parents=True, exist_ok=True)
        _write_text(split_dir / "classInd.txt", "".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
        for k in (1, 2, 3):
            test_groups = ucf101_test_groups(spec.groups, k)
            train = [f"{rel} {c + 1}\n" for c, g, rel in clips if g not in test_groups]
            test = [f"{rel}\n" for c, g, rel in clips if g in test_groups]
            _write_text(split_dir / f"trainlist0{k}.txt", "".join(train))
            _write_text(split_dir / f"testlist0{k}.txt", "".join(test))
    elif spec.layout == "hmdb51":
        split_dir = root / "testTrainMulti_7030_splits"
        split_dir.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(spec.seed + 7)
        for c, name in enumerate(classes):
            own = [Path(rel).name for cc, _, rel in clips if cc == c]
            for k in (1, 2, 3):
                # ~30% test (2); of the rest every fifth unused (0), as the official files have some, the others
                # train (1)
                order = rng.permutation(len(own))
                n_test = max(1, round(0.3 * len(own)))
                tags = {}
                for rank, i in enumerate(order):
                    tags[own[i]] = 2 if rank < n_test else (0 if (rank - n_test) % 5 == 4 else 1)
                lines = [f"{name} {tags[name]} \n" for name in own]
                _write_text(split_dir / f"{name}_test_split{k}.txt", "".join(lines))
    else:
        for c, name in enumerate(classes):
            ann = video_dir_for("ucf11", root) / name / "Annotation"
            ann.mkdir(parents=True, exist_ok=True)
            _write_text(ann / f"v_{UCF11_CLASSES[c][1]}_01_01.xgtf", "<viper/>\n")


def marker_text(spec: SyntheticSpec) -> str:
    """What ``.complete`` holds: the spec and the renderer version that produced the folder. ``shape`` and
    ``scale`` appear only when set, so a grid spec's text (and the cache names hashed from it) is what it was
    before they existed."""
    shown = [f for f in fields(spec) if f.name not in ("shape", "scale") or getattr(spec, f.name) != f.default]
    body = ", ".join(f"{f.name}={getattr(spec, f.name)!r}" for f in shown)
    return f"{type(spec).__name__}({body}) render={RENDER_VERSION}"


def clips_verified(root: str | Path) -> bool:
    """True when ``root`` was completed by a generator that decoded every clip back (``.verified``); a folder
    completed before that check may hold empty or truncated clips of a full disk: :func:`generate` replaces them."""
    return (Path(root) / VERIFIED_FILE).is_file()


def generate(
    spec: SyntheticSpec, root: str | Path, progress: bool = True, on_clip: Callable[[Path], None] | None = None
) -> Path:
    """Render and write every clip of ``spec`` under ``root`` with the layout's split files; return ``root``.

    Clips already on disk are kept when they decode to their frames (an interrupted run resumes) and rewritten when
    they do not (empty or truncated by a full disk); ``.complete`` and ``.verified`` are written last. Raises
    ``OSError`` naming the file for a failed write (nothing is marked complete then).
    """
    root = Path(root)
    jobs = plan_clips(spec)
    classes = _class_names(spec.layout, spec.num_classes)
    patterns = class_patterns(spec.num_classes)
    video_dir = video_dir_for(spec.layout, root)
    pad_w, pad_h = spec.width + 64, spec.height + 48
    for job in tqdm(jobs, desc=f"synthetic {spec.layout}", disable=not progress, unit="clip"):
        c, g, k = job.class_idx, job.group, job.clip
        path = video_dir / job.relpath
        if path.exists():
            problem = clip_problem(path, job.num_frames)
            if problem is None:
                continue
            log.warning("rewriting %s: %s (left by an earlier run)", path, problem)
        clip_rng = np.random.default_rng([spec.seed, c, g, k])
        clip_rng.integers(spec.min_frames, spec.max_frames + 1)  # the length (job.num_frames), drawn first
        group_rng = np.random.default_rng([spec.seed, c, g])
        background = _texture(group_rng, pad_w, pad_h, class_scene(spec.seed, c), spec.scene_bias)
        actor = (int(group_rng.integers(0, 3)), tuple(int(v) for v in group_rng.integers(30, 256, 3)))
        motion, direction, tempo = patterns[c]
        frames = render_clip(
            motion, direction, clip_rng, spec.width, spec.height, job.num_frames, background, actor, tempo
        )
        write_video(path, frames, spec.fps)
        if on_clip is not None:
            on_clip(path)
    _write_split_files(spec, root, classes, [(j.class_idx, j.group, j.relpath) for j in jobs])
    _write_text(root / ".complete", marker_text(spec) + "\n")
    _write_text(root / VERIFIED_FILE, f"every clip decoded to its frames ({len(jobs)} clips)\n")
    return root


def write_layout(spec: SyntheticSpec, root: str | Path) -> Path:
    """The layout of ``spec`` without its videos: the split files, and an empty placeholder file at every clip's
    path (for measuring what reads only the layout: split parsing, file identities, cache indexes). Nothing is
    rendered and no ``.complete`` marker is written: a placeholder is not a clip (it reads as a zero-length file,
    which the decoders skip). Returns ``root``."""
    root = Path(root)
    jobs = plan_clips(spec)
    video_dir = video_dir_for(spec.layout, root)
    for job in jobs:
        path = video_dir / job.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    classes = _class_names(spec.layout, spec.num_classes)
    _write_split_files(spec, root, classes, [(j.class_idx, j.group, j.relpath) for j in jobs])
    return root


def _write_text(path: Path, text: str) -> None:
    """Write a small text file atomically; a failed write raises an ``OSError`` naming it."""

    def write(tmp: str) -> None:
        with open(tmp, "w") as fh:
            fh.write(text)

    atomic_save(write, path)
