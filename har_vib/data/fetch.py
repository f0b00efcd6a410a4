"""Get UCF101, HMDB51 or UCF11 into the layout :mod:`har_vib.data.splits` parses: download the official archives
(:mod:`har_vib.data.download`), unpack them (:mod:`har_vib.data.unpack`), verify the result with the project's own
parsers and the datasets' published counts, and only then mark the root complete.

Files under the dataset root ``<root>``:

- ``archives/<name>`` (``--archive-dir``): the downloaded archives, kept after unpacking unless asked otherwise;
  ``<name>.part`` and ``<name>.part.json`` while a download is unfinished.
- ``.har_vib_unpacked.json``: which archive was unpacked into which folder (its size and time), so a rerun after a
  failure later on does not unpack, or download, it again.
- ``.har_vib_complete.json`` (:data:`MARKER`): written last, once the layout is verified; with it, a rerun does
  nothing.
- ``.tmp-*``: unpacking in progress (hidden, so the parsers skip it); left by a killed run, removed by the next.
- ``.har_vib_fetch.lock`` (:data:`LOCK`): held while a run works on the root, so a second run at the same time is
  refused; removed when the run ends, however it ends (a ``kill -9`` leaves it, and the next run takes it over).

With ``--archive-dir`` elsewhere, nothing but the dataset's folders and these files is written under ``<root>``.

Every failure is a :class:`~har_vib.data.archives.FetchError` with one line for the user.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from har_vib.data.archives import (
    MAGIC,
    Archive,
    CorruptArchiveError,
    DatasetArchives,
    FetchError,
    archive_url,
)
from har_vib.data.download import DownloadOptions, check_existing, download, part_path
from har_vib.data.splits import (
    VIDEO_EXTENSIONS,
    DatasetLayoutError,
    is_hidden,
    parse_hmdb51,
    parse_ucf101,
    resolve_ucf11_video_dir,
    scan_ucf11,
)
from har_vib.data.unpack import unpack
from har_vib.errors import os_error_message
from har_vib.utils.io import TMP_PREFIX, file_identity, write_json

try:
    import fcntl
except ImportError:  # Windows: no lock between concurrent runs
    fcntl = None

log = logging.getLogger(__name__)

MARKER = ".har_vib_complete.json"
UNPACKED = ".har_vib_unpacked.json"
LOCK = ".har_vib_fetch.lock"


@dataclass
class FetchReport:
    """What :func:`fetch_dataset` did.

    Attributes:
        root: the dataset root.
        already_complete: the root carried the marker: nothing was downloaded, unpacked or checked.
        downloaded: bytes downloaded in this run, per archive file name.
        unpacked: the archives unpacked in this run.
        marker: the content of the marker file (what was verified).
    """

    root: Path
    already_complete: bool = False
    downloaded: dict[str, int] = field(default_factory=dict)
    unpacked: list[str] = field(default_factory=list)
    marker: dict = field(default_factory=dict)


def read_marker(root: str | os.PathLike) -> dict | None:
    """The marker of a verified root (what was verified, when), or None when there is none or it is unreadable."""
    try:
        data = json.loads((Path(root) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("complete") is True else None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _root_error(err: OSError, path: Path) -> FetchError:
    """A failed write of a file of the root itself (its lock, its records, the root folder): one line whose fix
    also offers another ``--root`` (a read-only or full file system may be fixed by going elsewhere)."""
    return FetchError(f"{os_error_message(err, path)} or choose another --root")


def _save_json(data: dict, path: Path) -> None:
    try:
        write_json(data, path)
    except OSError as err:
        raise _root_error(err, path) from err


def _is_file_of(fh, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fh`` (not removed, nor replaced by another)."""
    try:
        here, there = os.fstat(fh.fileno()), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    """One run per root at a time: POSIX ``flock`` on :data:`LOCK` (released when the process ends, however it
    ends), and the file removed when the run ends.

    The file is removed while the lock is still held, and a run that gets the lock checks that the path still
    names the file it locked; if not (the run before removed it between this run's open and its lock), it locks
    the new file instead. So two runs never hold locks on different files at once, and a file another live run
    holds is never removed (a run only removes the file it holds the lock on)."""
    if fcntl is None:
        yield
        return
    path = root / LOCK
    for _ in range(100):  # each turn means another run ended in between: a few at most
        try:
            fh = open(path, "a")
        except OSError as err:
            raise _root_error(err, path) from err
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            fh.close()
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FetchError(
                    f"another get_data run is working on {root} ({path} is locked): let it finish"
                ) from None
            raise FetchError(
                f"cannot lock {path}: {err.strerror or err} (errno {err.errno}): that file system does not support "
                "flock; choose another --root"
            ) from err
        if _is_file_of(fh, path):
            break
        fh.close()  # locked a file the run before has just removed: lock the one now at that path
    else:
        raise FetchError(f"cannot lock {path}: it is replaced again and again; check what else writes to {root}")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # a lock file that cannot be removed just stays: harmless
            if _is_file_of(fh, path):
                path.unlink()  # before the unlock: no other run can hold this file's lock now
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def _remove_stale_temps(folder: Path) -> None:
    """Top-level ``.tmp-*`` entries of ``folder``: what a killed run was unpacking or writing."""
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        if p.name.startswith(TMP_PREFIX):
            log.info("removing %s, left by an interrupted run", p)
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _first_line(err: DatasetLayoutError) -> str:
    return str(err).splitlines()[0]


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not is_hidden(p.name))


def _find_below(root: Path, name: str, skip: tuple[str, ...], depth: int = 2) -> Path | None:
    """A folder ``name`` one or two (``depth``) levels below ``root`` (``root/*/name``, then ``root/*/*/name``), not
    looking inside hidden folders or those named in ``skip`` (the dataset's own folders); None if there is none."""
    level = [root]
    for _ in range(depth):
        below = []
        for folder in level:
            with contextlib.suppress(OSError):
                below += [p for p in _visible_dirs(folder) if p.name not in skip]
        for folder in below:
            if (folder / name).is_dir():
                return folder / name
        level = below
    return None


def _misplaced(root: Path, names: tuple[str, ...]) -> str | None:
    """When a folder of ``names`` (what the archives unpack to) is missing from ``root`` but is one or two levels
    down (the archives unpacked into a folder of their own), what to do about it; else None."""
    found = {}
    for name in names:
        if not (root / name).is_dir() and (p := _find_below(root, name, names)) is not None:
            found[name] = p
    if not found:
        return None
    one = len(found) == 1
    where = f"{' and '.join(str(p) for p in found.values())} {'is' if one else 'are'} below {root}, not in it"
    parents = {p.parent for p in found.values()}
    parent = next(iter(parents))
    if len(parents) == 1 and all((parent / n).is_dir() for n in names):
        return f"{where}: pass --root {parent} (or move {'it' if one else 'them'} into {root})"
    return f"{where}: move {'it' if one else 'them'} into {root}"


def _videos_on_disk(video_dir: Path) -> set[str]:
    """``<class>/<file>`` of every video file in the class folders of ``video_dir`` (hidden entries skipped)."""
    return {
        f"{c.name}/{v.name}"
        for c in _visible_dirs(video_dir)
        for v in c.iterdir()
        if not is_hidden(v.name) and v.suffix.lower() in VIDEO_EXTENSIONS and v.is_file()
    }


def verify_layout(spec: DatasetArchives, root: str | os.PathLike, fix: str = "") -> dict:
    """Check ``root`` holds ``spec``'s dataset in the layout the parsers read, with its published counts.

    UCF101 and HMDB51: every official split (``spec.splits``) parses with :func:`~har_vib.data.splits.parse_ucf101`
    / :func:`~har_vib.data.splits.parse_hmdb51`, names ``spec.num_classes`` classes, and every video it names is a
    file on disk; the video folder holds ``spec.num_classes`` class folders and ``spec.num_videos`` video files.
    UCF11: :func:`~har_vib.data.splits.scan_ucf11` finds ``spec.num_classes`` classes, ``spec.num_videos`` clips
    and ``spec.groups_per_class`` groups in every class.

    Args:
        spec: the dataset's registry entry (tests pass one with small counts).
        root: the dataset root.
        fix: what the user should do when a check fails, appended to the message.

    Returns:
        What was verified: ``{"classes", "videos", "splits": {k: {"train", "test"}}}`` (``"groups"`` for UCF11).

    Raises:
        FetchError: the first check that fails, in one line, with ``fix``.
    """
    root = Path(root)
    tail = f"; {fix}" if fix else ""

    def fail(what: str) -> FetchError:
        return FetchError(f"{root} is not a complete {spec.name}: {what}{tail}")

    try:
        if spec.name == "ucf11":
            video_dir = resolve_ucf11_video_dir(root)
            classes, records = scan_ucf11(video_dir)
            groups = {c: len({r.group for r in records if r.class_name == c}) for c in classes}
            summary: dict = {"classes": len(classes), "videos": len(records), "groups": groups}
            splits: dict = {}
        else:
            video_dir = root / spec.video_folder
            split_dir = root / (spec.split_folder or "")
            parse = {"ucf101": parse_ucf101, "hmdb51": parse_hmdb51}[spec.name]
            on_disk = _videos_on_disk(video_dir) if video_dir.is_dir() else set()
            splits = {}
            for k in spec.splits:
                split = parse(video_dir, split_dir, k)
                if split.num_classes != spec.num_classes:
                    raise fail(f"split {k} names {split.num_classes} classes, not {spec.num_classes} ({spec.source})")
                missing = sorted({r.path for r in split.all_records()} - on_disk)
                if missing:
                    raise fail(f"split {k} names {len(missing):,} videos missing from {video_dir}, e.g. {missing[0]}")
                splits[str(k)] = {"train": len(split.train), "test": len(split.test)}
            classes = [p.name for p in _visible_dirs(video_dir)]
            summary = {"classes": len(classes), "videos": len(on_disk)}
    except DatasetLayoutError as err:
        names = (spec.video_folder, spec.split_folder) if spec.split_folder else (spec.video_folder,)
        raise fail(_misplaced(root, names) or _first_line(err)) from err
    if summary["classes"] != spec.num_classes:
        raise fail(f"{summary['classes']} class folders, not {spec.num_classes} ({spec.source})")
    if summary["videos"] != spec.num_videos:
        raise fail(f"{summary['videos']:,} videos, not {spec.num_videos:,} ({spec.source})")
    if spec.groups_per_class is not None:
        odd = {c: n for c, n in summary["groups"].items() if n != spec.groups_per_class}
        if odd:
            c, n = next(iter(odd.items()))
            raise fail(f"class {c} has {n} groups, not {spec.groups_per_class} ({spec.source})")
    summary["splits"] = splits
    return summary


def _unpacked_before(archive: Archive, path: Path, root: Path, stamps: dict) -> bool:
    """Whether ``archive`` was unpacked into ``root`` by an earlier run, from the archive now on disk (or, when
    that was deleted, whatever it was)."""
    stamp = stamps.get(archive.name)
    if not isinstance(stamp, dict) or not (root / archive.folder).is_dir():
        return False
    now = file_identity(path)
    return now is None or now == stamp.get("archive")


def fetch_dataset(
    spec: DatasetArchives,
    root: str | os.PathLike,
    archive_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    options: DownloadOptions | None = None,
    delete_archives: bool = False,
    verify_only: bool = False,
) -> FetchReport:
    """Download, unpack and verify ``spec``'s dataset under ``root``; a root already marked complete is left alone.

    Per archive: skipped when an earlier run unpacked it (and the archive is unchanged); else downloaded unless
    already in ``archive_dir`` with the size the server announces (a partial download is resumed; an archive
    there of another size is resumed or fetched anew, one whose size cannot be checked is used as it is: see
    :func:`~har_vib.data.download.check_existing`), then unpacked once the root's disk has room for it. Then
    :func:`verify_layout`, then the marker :data:`MARKER`.

    Args:
        spec: the registry entry (``har_vib.data.archives.DATASETS[name]``).
        root: the dataset root (``dataset.root`` of the config).
        archive_dir: where the archives are downloaded; ``<root>/archives`` when None.
        base_url: a mirror holding every archive under its file name; the official URLs when None.
        options: retries, timeouts and progress of the downloads.
        delete_archives: delete the archives once the root is verified (they are kept by default).
        verify_only: download and unpack nothing: verify what is there (unpacked by hand) and mark it; a root that
            does not exist is an error, and nothing is created.

    Returns:
        A :class:`FetchReport`.

    Raises:
        FetchError: one line naming the file or URL and the fix. A partial download stays for resume; an archive
            that fails to unpack stays, unless it is proven corrupt (then it is deleted and the message says so).
    """
    root = Path(root)
    report = FetchReport(root=root)
    marker = read_marker(root)
    if marker is not None:
        report.already_complete, report.marker = True, marker
        return report
    archive_dir = Path(archive_dir) if archive_dir is not None else root / "archives"
    if verify_only and not root.is_dir():  # nothing to verify: create nothing
        what = "is not a folder" if root.exists() else "does not exist"
        raise FetchError(
            f"{root} {what}: --verify-only checks a dataset already unpacked there; pass the folder that holds it as "
            "--root, or drop --verify-only to download it"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _root_error(err, root) from err
    with _lock(root):
        _remove_stale_temps(root)
        stamps = _read_json(root / UNPACKED)
        if not verify_only:
            for archive in spec.archives:
                _get_archive(archive, archive_dir, root, base_url, options, stamps, report)
        fix = (
            "fix the folders by hand and rerun with --verify-only"
            if verify_only
            else f"the archives stay in {archive_dir} and the next run unpacks them again; if it fails the same way "
            "they are not the official files: delete them and rerun (check --base-url if a mirror served them)"
        )
        try:
            verified = verify_layout(spec, root, fix)
        except FetchError:
            (root / UNPACKED).unlink(missing_ok=True)
            raise
        files = {}
        for archive in spec.archives:
            identity = file_identity(archive_dir / archive.name) or (stamps.get(archive.name) or {}).get("archive")
            files[archive.name] = {
                "url": archive_url(archive, base_url),
                "bytes": (identity or {}).get("size"),
                "folder": archive.folder,
            }
        report.marker = {
            "complete": True,
            "dataset": spec.name,
            "verified": verified,
            "expected": {
                "classes": spec.num_classes,
                "videos": spec.num_videos,
                "groups_per_class": spec.groups_per_class,
                "source": spec.source,
            },
            "archives": {} if verify_only else files,
            "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "by": "scripts/get_data.py (har_vib.data.fetch)",
        }
        _save_json(report.marker, root / MARKER)
        if delete_archives and not verify_only:
            for archive in spec.archives:
                (archive_dir / archive.name).unlink(missing_ok=True)
                log.info("deleted %s", archive_dir / archive.name)
            with contextlib.suppress(OSError):
                archive_dir.rmdir()  # only when empty
    return report


def _get_archive(
    archive: Archive,
    archive_dir: Path,
    root: Path,
    base_url: str | None,
    options: DownloadOptions | None,
    stamps: dict,
    report: FetchReport,
) -> None:
    path = archive_dir / archive.name
    if _unpacked_before(archive, path, root, stamps):
        log.info("%s: unpacked into %s by an earlier run", archive.name, root / archive.folder)
        return
    url = archive_url(archive, base_url)
    if not (path.exists() and check_existing(url, path, MAGIC[archive.kind], options)):
        resumed = part_path(path).exists()
        log.info("%s: %s %s", archive.name, "resuming the download from" if resumed else "downloading", url)
        _remove_stale_temps(archive_dir)
        report.downloaded[archive.name] = download(url, path, MAGIC[archive.kind], options, replace=path.exists())
    log.info("%s: unpacking into %s", archive.name, root / archive.folder)
    try:
        count = unpack(archive, path, root, progress=options.progress if options else True)
    except CorruptArchiveError as err:
        path.unlink(missing_ok=True)
        raise CorruptArchiveError(
            f"{err}; deleted it: rerun to download it again (if this repeats, the copy at {url} is bad: check "
            "--base-url)",
            path,
        ) from err
    except FetchError as err:
        raise FetchError(f"{err}; {path} is kept: rerun to unpack it") from err
    report.unpacked.append(archive.name)
    stamps[archive.name] = {"archive": file_identity(path), "folder": archive.folder, "files": count}
    _save_json(stamps, root / UNPACKED)
    log.info("%s: %d files in %s", archive.name, count, root / archive.folder)
