"""Unpack the datasets' ZIP and RAR archives safely: every member CRC-checked, no path outside the target, and the
target folder appearing only once the whole archive is unpacked.

ZIP goes through the standard library's :mod:`zipfile` (the CRC of a member is checked when it has been read to
its end). RAR goes through **unrar2-cffi** (PyPI ``unrar2-cffi``, import ``unrar.cffi``): it bundles RARLAB's own
UnRAR library (7.x), compiled into the wheel (Linux x86-64 glibc and musl, macOS x86-64 and arm64, Windows;
Python 3.10-3.14; elsewhere, e.g. Linux aarch64, pip builds it from the sdist with a C++ compiler), so a fresh
machine gets RAR extraction from ``pip`` alone, for RAR 1.5-4.x (the datasets' archives) and RAR 5.
``rarfile`` was not chosen because it hands compressed members to an external ``unrar``/``unar``/``bsdtar``
program, and ``libarchive-c`` because it needs the system's ``libarchive.so``: neither comes with ``pip install``.

The archive is read in one pass with UnRAR's test mode: UnRAR decompresses each member, checks its CRC, and hands
the bytes to a callback that writes them (nothing is held in memory). A CRC mismatch, a member cut short or a file
that is not a RAR archive is a :class:`~har_vib.data.archives.CorruptArchiveError`. unrar2-cffi's high-level
``RarFile`` reopens the archive for every member it reads, so its lower-level ``unrarlib`` (the same objects
``RarFile`` uses) is called instead.

Member names are checked before anything is written: absolute paths, drive letters and ``..`` are refused
(path traversal), ``\\`` separators (archives made on Windows) become ``/``.

Before anything is unpacked, the free space of the dataset root's file system is compared with the members' total
size from the archive's listing (its central directory for ZIP, its file headers for RAR), plus a margin for the
file system's own use (:func:`check_space`): a disk too small is refused in one line before a byte is written,
rather than filling up halfway. A disk that fills anyway (something else writing to it) is still one line naming
the file, and nothing unpacked is left behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from har_vib.data.archives import MAGIC, Archive, CorruptArchiveError, FetchError
from har_vib.errors import os_error_message
from har_vib.utils.io import TMP_PREFIX, free_bytes, nearest_existing

log = logging.getLogger(__name__)

# room kept beyond the members' total size when unpacking: file-system blocks and metadata (13,320 files of UCF101
# waste about 30 MB in 4 KiB blocks), a little slack for whatever else writes to the disk
UNPACK_MARGIN_BYTES = 64 * 1000 * 1000
UNPACK_MARGIN_FRACTION = 0.02

# UnRAR's return codes (unrar/dll.hpp) that the archive itself causes; any other one is an I/O or library problem
_ERAR_END_ARCHIVE = 10
_ERAR_CORRUPT = {
    12: "a member fails its CRC check or is cut short (ERAR_BAD_DATA)",
    13: "not a valid RAR archive (ERAR_BAD_ARCHIVE)",
    14: "an unknown archive format (ERAR_UNKNOWN_FORMAT)",
    22: "it is password-protected (ERAR_MISSING_PASSWORD)",
    24: "it is password-protected (ERAR_BAD_PASSWORD)",
}


def member_path(name: str, archive: str | os.PathLike) -> PurePosixPath:
    """The relative path a member named ``name`` may be written to.

    Raises:
        CorruptArchiveError: the name is absolute, has a drive letter, or climbs out with ``..`` (path traversal),
            or is empty.
    """
    clean = name.replace("\\", "/")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":") or ".." in parts or not parts:
        raise CorruptArchiveError(
            f"{archive} holds a member named {name!r}, which points outside the folder it unpacks to: refusing the "
            "archive (it is not the official one; delete it and rerun, or check --base-url)",
            archive,
        )
    return PurePosixPath(*parts)


def _strip(path: PurePosixPath, prefix: str | None) -> PurePosixPath | None:
    """``path`` without a leading ``prefix`` folder; None for the ``prefix`` folder itself."""
    if prefix and path.parts[0] == prefix:
        return PurePosixPath(*path.parts[1:]) if len(path.parts) > 1 else None
    return path


def _target(dest: Path, rel: PurePosixPath) -> Path:
    target = dest.joinpath(*rel.parts)
    if not target.resolve().is_relative_to(dest.resolve()):  # a symlink inside dest pointing elsewhere
        raise FetchError(f"{target} would be written outside {dest}: remove the link and rerun")
    return target


def _starts_with_magic(path: Path, kind: str) -> None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as err:
        raise FetchError(os_error_message(err, path, action="read")) from err
    if not any(head.startswith(m) for m in MAGIC[kind]):
        shown = "".join(c if c.isprintable() else "." for c in head.decode("latin-1"))
        html = " (an HTML page?)" if b"<" in head else ""
        raise CorruptArchiveError(f"{path} is not a {kind.upper()} archive: it starts with {shown!r}{html}", path)


def extract_zip(path: str | os.PathLike, dest: str | os.PathLike, strip: str | None = None) -> int:
    """Unpack the ZIP archive ``path`` into the existing folder ``dest``, checking every member's CRC.

    Args:
        path: the archive.
        dest: the folder to unpack into.
        strip: a leading folder name to drop from member paths (the archive's own top folder).

    Returns:
        The number of files written.

    Raises:
        CorruptArchiveError: not a ZIP archive, a CRC error, a member cut short, an unsafe member name.
        FetchError: a failed write (disk full), naming the file and the fix.
    """
    path, dest = Path(path), Path(dest)
    _starts_with_magic(path, "zip")
    written = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                rel = _strip(member_path(info.filename, path), strip)
                if rel is None:
                    continue
                target = _target(dest, rel)
                if info.is_dir():
                    _mkdir(target)
                    continue
                _mkdir(target.parent)
                with zf.open(info) as src, _create(target) as out:
                    while chunk := src.read(1 << 20):
                        _write(out, chunk, target)
                written += 1
    # RuntimeError: a password-protected member; NotImplementedError: a compression zipfile lacks
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError) as err:
        raise CorruptArchiveError(f"{path} is corrupt: {err}", path) from err
    return written


def human_size(n: int) -> str:
    """``n`` bytes for people, in decimal units as disks are sold: 812 B, 23.4 MB, 6.93 GB."""
    if n < 1000:
        return f"{n} B"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if n < scale * 999.5:  # 999,999 B is "1 MB", not "1e+03 kB"
            return f"{n / scale:.3g} {unit}"
    return f"{n / 1e12:.3g} TB"


def member_sizes(path: str | os.PathLike, kind: str) -> list[int] | None:
    """The uncompressed size of every file member of the archive ``path`` (``kind`` ``"rar"`` or ``"zip"``), read
    from its listing without decompressing anything; None when it cannot be listed (not an archive of that kind,
    damaged headers): unpacking it then reports what is wrong."""
    if kind == "zip":
        try:
            with zipfile.ZipFile(path) as zf:
                return [info.file_size for info in zf.infolist() if not info.is_dir()]
        except (OSError, zipfile.BadZipFile, EOFError, ValueError):
            return None
    if kind != "rar":
        raise ValueError(f"kind must be 'rar' or 'zip', got {kind!r}")
    from unrar.cffi import unrarlib

    try:
        archive = unrarlib.RarArchive.open_for_metadata(str(path))  # list mode: skipping a member never decodes it
    except unrarlib.BadRarFile:
        return None
    sizes = []
    with archive:
        try:
            for header in _rar_headers(archive):
                if not header.Flags & unrarlib.FLAGS_RHDF_DIRECTORY:
                    sizes.append(header.UnpSize + (header.UnpSizeHigh << 32))
                header.skip()
        except _RarHeaderError:
            return None
    return sizes


class _RarHeaderError(Exception):
    """UnRAR could not read the next member's header: ``code`` is its error code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _rar_headers(archive) -> Iterator:
    """Each member header of an open UnRAR archive, in order; the caller skips or tests each before the next.

    Raises:
        _RarHeaderError: a header could not be read (damaged or cut short).
    """
    from unrar.cffi import unrarlib

    while True:
        data = unrarlib.RARHeaderDataEx()
        code = unrarlib.RARReadHeaderEx(archive.handle, data)
        if code == _ERAR_END_ARCHIVE:
            return
        if code != 0:
            raise _RarHeaderError(code)
        yield unrarlib.RarHeader(archive, data)


def check_space(archive: Archive, path: str | os.PathLike, root: str | os.PathLike) -> None:
    """Refuse to unpack ``archive`` (its file at ``path``) into ``root`` when ``root``'s file system has less free
    space than the members' total size plus a margin (:data:`UNPACK_MARGIN_BYTES` and
    :data:`UNPACK_MARGIN_FRACTION` of the total).

    A nested archive (HMDB51) needs, at its peak, all its inner archives unpacked plus the videos of the largest
    one (each inner archive is deleted once unpacked), so the largest member counts twice. When the archive cannot
    be listed or the free space cannot be read, nothing is refused: unpacking says what is wrong.

    Raises:
        FetchError: one line with the sizes, where, and the fix (free space, or another ``--root``).
    """
    path, root = Path(path), Path(root)
    sizes = member_sizes(path, archive.kind)
    if not sizes:
        return
    total = sum(sizes) + (max(sizes) if archive.nested else 0)
    needed = total + int(total * UNPACK_MARGIN_FRACTION) + UNPACK_MARGIN_BYTES
    where = nearest_existing(root)
    free = free_bytes(where)
    if free is not None and needed > free:
        raise FetchError(
            f"cannot unpack {path} into {root}: its {len(sizes):,} files take {human_size(total)}, "
            f"{human_size(needed)} with a margin for the file system, and {where} has {human_size(free)} free; free "
            f"{human_size(needed - free)} more on that disk or choose another --root on a larger one"
        )


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FetchError(os_error_message(err, folder)) from err


@contextmanager
def _create(target: Path) -> Iterator:
    try:
        fh = open(target, "wb")
    except OSError as err:
        raise FetchError(os_error_message(err, target)) from err
    try:
        yield fh
    finally:
        try:
            fh.close()
        except OSError as err:  # the last buffered bytes: a full disk shows here
            raise FetchError(os_error_message(err, target)) from err


def _write(fh, chunk: bytes, target: Path) -> None:
    try:
        fh.write(chunk)
    except OSError as err:
        raise FetchError(os_error_message(err, target)) from err


def extract_rar(
    path: str | os.PathLike, dest: str | os.PathLike, strip: str | None = None, progress: bool = False
) -> int:
    """Unpack the RAR archive ``path`` into the existing folder ``dest`` with UnRAR, checking every member's CRC.

    Args:
        path: the archive (RAR 1.5-4.x or 5; not multi-volume).
        dest: the folder to unpack into.
        strip: a leading folder name to drop from member paths (the archive's own top folder).
        progress: show a tqdm bar of the archive's bytes (on stderr).

    Returns:
        The number of files written.

    Raises:
        CorruptArchiveError: not a RAR archive, a CRC error, a member cut short, an unsafe member name, a
            password-protected archive.
        FetchError: a failed write (disk full) naming the file, or an UnRAR read error.
    """
    from unrar.cffi import unrarlib

    path, dest = Path(path), Path(dest)
    _starts_with_magic(path, "rar")
    written = 0
    try:
        archive = unrarlib.RarArchive.open_for_processing(str(path))
    except unrarlib.BadRarFile as err:
        raise _rar_error(path, err.code, None) from err
    bar = tqdm(
        total=path.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024, desc=f"unpacking {path.name}",
        disable=not progress, dynamic_ncols=True,
    )  # fmt: skip
    with archive, bar:
        headers = _rar_headers(archive)
        while True:
            try:
                header = next(headers, None)
            except _RarHeaderError as err:
                raise _rar_error(path, err.code, None) from None
            if header is None:
                return written
            bar.update(header.PackSize + (header.PackSizeHigh << 32))
            name = header.FileNameW
            rel = _strip(member_path(name, path), strip)
            is_dir = bool(header.Flags & unrarlib.FLAGS_RHDF_DIRECTORY)
            if rel is None or is_dir:
                if rel is not None:
                    _mkdir(_target(dest, rel))
                header.skip()
                continue
            target = _target(dest, rel)
            _mkdir(target.parent)
            with _create(target) as out:
                sink = _Sink(out, target)
                try:
                    header.test(sink)
                except unrarlib.BadRarFile as err:
                    sink.raise_error()
                    raise _rar_error(path, err.code, name) from err
                sink.raise_error()
            written += 1


class _Sink:
    """UnRAR's data callback: writes each chunk, and keeps the first write error to raise after UnRAR returns
    (an exception must not cross the C callback)."""

    def __init__(self, fh, target: Path) -> None:
        self.fh, self.target, self.error = fh, target, None

    def __call__(self, chunk: bytes) -> None:
        if self.error is None:
            try:
                self.fh.write(chunk)
            except OSError as err:
                self.error = err

    def raise_error(self) -> None:
        if self.error is not None:
            raise FetchError(os_error_message(self.error, self.target)) from self.error


def _rar_error(path: Path, code: int, member: str | None) -> FetchError:
    where = f" (member {member})" if member else ""
    if code in _ERAR_CORRUPT:
        return CorruptArchiveError(f"{path} is corrupt{where}: {_ERAR_CORRUPT[code]}", path)
    return FetchError(f"UnRAR failed on {path}{where} with error code {code}: check the disk it is on and rerun")


def extract(
    path: str | os.PathLike, dest: str | os.PathLike, kind: str, strip: str | None = None, progress: bool = False
) -> int:
    """Unpack a ``kind`` (``"rar"`` or ``"zip"``) archive; see :func:`extract_rar` and :func:`extract_zip`.

    Args:
        path: the archive.
        dest: the existing folder to unpack into.
        kind: ``"rar"`` or ``"zip"``.
        strip: a leading folder name to drop from member paths.
        progress: a progress bar (RAR archives; the ZIP of split files is small).

    Returns:
        The number of files written.

    Raises:
        CorruptArchiveError: the archive is proven bad.
        FetchError: a failed write or read.
    """
    if kind == "rar":
        return extract_rar(path, dest, strip, progress)
    if kind == "zip":
        return extract_zip(path, dest, strip)
    raise ValueError(f"kind must be 'rar' or 'zip', got {kind!r}")


@contextmanager
def _scratch(root: Path, name: str) -> Iterator[Path]:
    """A hidden temp folder in ``root`` (skipped by the split parsers), removed afterwards whatever happens."""
    try:
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f"{TMP_PREFIX}{name}."))
    except OSError as err:
        raise FetchError(os_error_message(err, root)) from err
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def unpack(archive: Archive, path: str | os.PathLike, root: str | os.PathLike, progress: bool = False) -> int:
    """Unpack ``archive`` (its file at ``path``) into ``<root>/<archive.folder>``, replacing what is there.

    Everything goes into a hidden temp folder in ``root`` first and is renamed into place at the end, so a
    half-unpacked folder never carries the final name. For a nested archive (HMDB51) the inner ``<class>.rar``
    members are unpacked in turn into ``<folder>/<class>/`` (a leading ``<class>/`` in their member paths is not
    repeated), each deleted once unpacked.

    Args:
        archive: the registry entry (folder, kind, nesting).
        path: the downloaded archive file.
        root: the dataset root.
        progress: a progress bar while the (outer) archive is unpacked.

    Returns:
        The number of files now in ``<root>/<archive.folder>``.

    Raises:
        CorruptArchiveError: the archive (or an inner one) is proven bad; nothing is left behind.
        FetchError: too little free space for the members (:func:`check_space`; nothing is written), or a failed
            write (disk full) naming the file; nothing is left behind.
    """
    path, root = Path(path), Path(root)
    check_space(archive, path, root)
    _mkdir(root)
    with _scratch(root, archive.folder) as tmp:
        target = tmp / archive.folder
        _mkdir(target)
        if not archive.nested:
            count = extract(path, target, archive.kind, strip=archive.folder, progress=progress)
        else:
            count = _unpack_nested(archive, path, tmp, target, progress)
        _install(target, root / archive.folder)
    return count


def _unpack_nested(archive: Archive, path: Path, tmp: Path, target: Path, progress: bool) -> int:
    outer = tmp / "outer"
    _mkdir(outer)
    extract(path, outer, archive.kind, progress=progress)
    inner = sorted(p for p in outer.rglob("*") if p.is_file() and p.suffix.lower() == ".rar")
    if not inner:
        raise CorruptArchiveError(f"{path} holds no <class>.rar archives: it is not the official file", path)
    count = 0
    for i, member in enumerate(inner, 1):
        cls = member.stem
        log.info("unpacking %s (%d of %d) from %s", member.name, i, len(inner), path.name)
        folder = target / cls
        _mkdir(folder)
        try:
            count += extract(member, folder, "rar", strip=cls)
        except CorruptArchiveError as err:
            inner_error = str(err).replace(str(member), f"its member {member.relative_to(outer)}")
            raise CorruptArchiveError(f"{path}: {inner_error}", path) from err
        member.unlink()
    return count


def _install(src: Path, dest: Path) -> None:
    """Rename the finished folder ``src`` to ``dest``; an older ``dest`` is swapped out first, then deleted."""
    try:
        old = None
        if dest.exists():
            old = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f"{TMP_PREFIX}{dest.name}.old.")) / dest.name
            os.replace(dest, old)
        os.replace(src, dest)
    except OSError as err:
        raise FetchError(os_error_message(err, dest)) from err
    if old is not None:
        shutil.rmtree(old.parent, ignore_errors=True)
