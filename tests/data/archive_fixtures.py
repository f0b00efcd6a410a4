"""Small archives in the official layouts of UCF101, HMDB51 and UCF11, and a local HTTP server to fetch them from,
for the tests of scripts/get_data.py.

No ``rar`` program is needed: :func:`rar_archive` writes RAR 1.5-4.x archives itself, members stored (method
0x30), with the header and file CRCs the format requires (RARLAB's technote.txt: marker block
``Rar!\\x1a\\x07\\x00``, archive header 0x73, a file header 0x74 before each member's bytes, end block 0x7b; a
header's CRC is the low 16 bits of the CRC-32 of the header from its type byte on). The UnRAR library under test
reads them as it reads any RAR archive.

The server (:class:`ArchiveServer`) answers ``GET`` with ``Range: bytes=N-`` as a real one does (206 and
``Content-Range``, 416 past the end, ``If-Range`` against its ETag), and ``HEAD`` with the file's size, and can
misbehave on demand: close the connection after some bytes, stall, answer with a status code, ignore ``Range``, send
no validator, refuse ``HEAD``. ``GET`` requests are recorded in ``requests``, ``HEAD`` requests apart in ``heads``
(a size check is not a download).
"""

from __future__ import annotations

import io
import struct
import threading
import zipfile
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_DOS_TIME = (2012 - 1980) << 25 | 1 << 21 | 1 << 16  # 2012-01-01 00:00:00


def _block(kind: int, flags: int, body: bytes, data: bytes = b"") -> bytes:
    head = struct.pack("<BHH", kind, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(head) & 0xFFFF) + head + data


def rar_archive(members: dict[str, bytes | None], windows: bool = False) -> bytes:
    """A RAR 4 archive of ``members`` (path -> bytes, or None for a folder), stored uncompressed.

    ``windows``: record the host as Win32 with ``\\`` separators (as archives made on Windows are), else Unix.
    """
    host, sep = (2, "\\") if windows else (3, "/")
    out = [b"Rar!\x1a\x07\x00", _block(0x73, 0, bytes(6))]
    for name, data in members.items():
        encoded = name.replace("/", sep).encode()
        if data is None:
            attr = 0x10 if windows else 0o40755
            body = struct.pack("<IIBIIBBHI", 0, 0, host, 0, _DOS_TIME, 20, 0x30, len(encoded), attr) + encoded
            out.append(_block(0x74, 0x8000 | 0x00E0, body))  # 0x00e0: the dictionary bits that mean a folder
        else:
            attr = 0x20 if windows else 0o100644
            crc = zlib.crc32(data)
            body = struct.pack("<IIBIIBBHI", len(data), len(data), host, crc, _DOS_TIME, 29, 0x30, len(encoded), attr)
            out.append(_block(0x74, 0x8000, body + encoded, data))
    out.append(_block(0x7B, 0x4000, b""))
    return b"".join(out)


def zip_archive(members: dict[str, bytes | None]) -> bytes:
    """A ZIP archive of ``members`` (path -> bytes, or None for a folder), deflated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            if data is None:
                zf.writestr(name.rstrip("/") + "/", b"")
            else:
                zf.writestr(name, data)
    return buf.getvalue()


def video_bytes(name: str) -> bytes:
    """Distinct stand-in bytes for a video file (the layout check never decodes them)."""
    return b"RIFF\x00\x00\x00\x00AVI LIST" + name.encode() * 40


def corrupt_member(archive: bytes, member_bytes: bytes) -> bytes:
    """``archive`` with one byte flipped inside the stored ``member_bytes`` (its CRC no longer matches)."""
    i = archive.index(member_bytes) + len(member_bytes) // 2
    return archive[:i] + bytes([archive[i] ^ 0xFF]) + archive[i + 1 :]


@dataclass
class TinyDataset:
    """Archives of one dataset (file name -> bytes) and what they hold."""

    files: dict[str, bytes]
    classes: list[str]
    videos: dict[str, bytes]  # path under the video folder -> bytes
    groups: int = 0


UCF101_CLASSES = ["ApplyEyeMakeup", "Basketball"]


def ucf101_dataset(missing_in_split: str | None = None) -> TinyDataset:
    """2 classes x 3 groups x 2 clips; split k tests group k. ``missing_in_split``: a video path added to
    ``trainlist01.txt`` that the archive does not hold."""
    videos = {f"{c}/v_{c}_g{g:02d}_c{k:02d}.avi": b"" for c in UCF101_CLASSES for g in (1, 2, 3) for k in (1, 2)}
    videos = {p: video_bytes(p) for p in videos}
    members: dict[str, bytes | None] = {"UCF-101": None}
    for c in UCF101_CLASSES:
        members[f"UCF-101/{c}"] = None
    members.update({f"UCF-101/{p}": b for p, b in videos.items()})
    lists: dict[str, bytes | None] = {"ucfTrainTestlist": None}
    lists["ucfTrainTestlist/classInd.txt"] = "".join(f"{i} {c}\r\n" for i, c in enumerate(UCF101_CLASSES, 1)).encode()
    for split in (1, 2, 3):
        train = [p for p in videos if f"_g{split:02d}_" not in p]
        test = [p for p in videos if f"_g{split:02d}_" in p]
        if split == 1 and missing_in_split:
            train.append(missing_in_split)
        label = {c: i for i, c in enumerate(UCF101_CLASSES, 1)}
        lists[f"ucfTrainTestlist/trainlist0{split}.txt"] = "".join(
            f"{p} {label[p.split('/')[0]]}\r\n" for p in train
        ).encode()
        lists[f"ucfTrainTestlist/testlist0{split}.txt"] = "".join(f"{p}\r\n" for p in test).encode()
    files = {
        "UCF101.rar": rar_archive(members, windows=True),
        "UCF101TrainTestSplits-RecognitionTask.zip": zip_archive(lists),
    }
    return TinyDataset(files, list(UCF101_CLASSES), videos)


HMDB51_CLASSES = ["brush_hair", "cartwheel"]


def hmdb51_dataset() -> TinyDataset:
    """2 classes x 4 clips, each class a ``<class>.rar`` inside ``hmdb51_org.rar``; tags 1, 1, 2, 0 per split."""
    videos: dict[str, bytes] = {}
    inner: dict[str, bytes | None] = {}
    splits: dict[str, bytes | None] = {"testTrainMulti_7030_splits": None}
    for c in HMDB51_CLASSES:
        names = [f"{c}_clip_{i}_u_nm_np1_fr_goo_{i}.avi" for i in range(4)]
        own = {f"{c}/{n}": video_bytes(f"{c}/{n}") for n in names}
        videos.update(own)
        inner[f"{c}.rar"] = rar_archive({c: None, **own})
        for k in (1, 2, 3):
            tags = [1, 1, 2, 0] if k != 2 else [2, 1, 1, 0]
            splits[f"testTrainMulti_7030_splits/{c}_test_split{k}.txt"] = "".join(
                f"{n} {t} \n" for n, t in zip(names, tags)
            ).encode()
    files = {"hmdb51_org.rar": rar_archive(inner), "test_train_splits.rar": rar_archive(splits)}
    return TinyDataset(files, list(HMDB51_CLASSES), videos)


UCF11_CLASSES = [("basketball", "shooting"), ("biking", "biking")]


def ucf11_dataset() -> TinyDataset:
    """2 classes x 2 groups x 2 clips of ``.mpg`` under ``UCF11_updated_mpg/``, with an ``Annotation`` folder."""
    videos = {
        f"{c}/v_{s}_{g:02d}/v_{s}_{g:02d}_{k:02d}.mpg": b"" for c, s in UCF11_CLASSES for g in (1, 2) for k in (1, 2)
    }
    videos = {p: video_bytes(p) for p in videos}
    members: dict[str, bytes | None] = {"UCF11_updated_mpg": None}
    members.update({f"UCF11_updated_mpg/{p}": b for p, b in videos.items()})
    members["UCF11_updated_mpg/basketball/Annotation/v_shooting_01_01.xgtf"] = b"<viper/>"
    return TinyDataset({"UCF11_updated_mpg.rar": rar_archive(members)}, [c for c, _ in UCF11_CLASSES], videos, 2)


@dataclass
class Request:
    """One request the server saw."""

    path: str
    range: str | None
    if_range: str | None


@dataclass
class ServerState:
    """What the server serves and how it misbehaves; changed by the tests between runs."""

    files: dict[str, bytes]
    requests: list[Request] = field(default_factory=list)
    cut_after: dict[str, int] = field(default_factory=dict)  # name -> body bytes, then close (once)
    stall_after: dict[str, int] = field(default_factory=dict)  # name -> the file up to this offset, then a stall
    status: dict[str, int] = field(default_factory=dict)  # name -> an error status to answer with
    ignore_range: bool = False
    validators: bool = True  # send an ETag
    head_status: int | None = None  # answer every HEAD with this error status (a server without HEAD: 405)
    heads: list[str] = field(default_factory=list)  # the paths of the HEAD requests
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def etag(self, name: str) -> str:
        return f'"{zlib.crc32(self.files[name]):08x}-{len(self.files[name])}"'

    def seen(self, name: str) -> list[Request]:
        """The requests for ``name``."""
        return [r for r in self.requests if r.path == "/" + name]


class _Handler(BaseHTTPRequestHandler):
    state: ServerState  # set on the subclass made per server

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet
        pass

    def do_HEAD(self) -> None:  # noqa: N802 - the name http.server calls
        st = self.state
        name = self.path.lstrip("/")
        with st.lock:
            st.heads.append(self.path)
        status = st.head_status or st.status.get(name) or (404 if name not in st.files else None)
        if status is not None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        page = st.files[name].lstrip().startswith(b"<")
        self.send_header("Content-Type", "text/html" if page else "application/x-rar")
        self.send_header("Content-Length", str(len(st.files[name])))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        st = self.state
        name = self.path.lstrip("/")
        with st.lock:
            st.requests.append(Request(self.path, self.headers.get("Range"), self.headers.get("If-Range")))
            cut = st.cut_after.pop(name, None)
        if name in st.status:
            self.send_error(st.status[name])
            return
        if name not in st.files:
            self.send_error(404)
            return
        data = st.files[name]
        start = 0
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and not st.ignore_range and (if_range is None or if_range == st.etag(name)):
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", "text/html" if body.lstrip().startswith(b"<") else "application/x-rar")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if st.validators:
            self.send_header("ETag", st.etag(name))
        self.end_headers()
        stall = st.stall_after.get(name)
        if stall is not None:
            self.wfile.write(body[: max(0, stall - start)])
            self.wfile.flush()
            st.release.wait(10)
            return
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()


class ArchiveServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) serving ``files``; use as a context manager."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.state = ServerState(dict(files))
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        """The base URL (ends with ``/``)."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __enter__(self) -> ArchiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.state.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
