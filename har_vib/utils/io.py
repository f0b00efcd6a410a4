"""Atomic file and folder writes: a crash or Ctrl-C never leaves a half-written result behind."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TMP_PREFIX = ".tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _name_target(err: OSError, path: Path) -> None:
    """Point ``err`` at ``path`` when it names no file or only the temp file (``write()``/``flush()`` on a full
    disk raise ENOSPC/EFBIG without a file name), so the user's message says which result could not be written."""
    name = err.filename
    if name is None or (isinstance(name, (str, os.PathLike)) and Path(name).name.startswith(TMP_PREFIX)):
        err.filename = str(path)  # filename2 left alone: set to None, str(err) would end in "-> None"


def atomic_save(write: Callable[[str], None], path: str | Path) -> None:
    """Call ``write(tmp_path)`` on a temp file next to ``path``, then rename it over ``path``. The file gets the
    permissions a plain ``open`` would give it (the umask's), not the temp file's owner-only ones.

    Raises: ``OSError`` from any step (disk full, permission denied, read-only file system) with ``filename``
    set to ``path`` when it named no file or only the temp file; the temp file is removed and a file already at
    ``path`` is left as it was."""
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TMP_PREFIX}{path.name}.")
        os.close(fd)
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as err:
        _name_target(err, path)
        raise
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def write_bytes(data: bytes, path: str | Path) -> None:
    """Write ``data`` to ``path`` atomically with Python file I/O, so a full disk raises ``OSError`` naming
    ``path`` (serialise into an ``io.BytesIO`` first: torch's native writers abort or raise RuntimeError)."""

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    atomic_save(_write, path)


def write_csv_rows(rows: Sequence[Mapping[str, Any]], path: str | Path, columns: Sequence[str]) -> Path:
    """Write ``rows`` as CSV with ``columns`` as the header (other keys ignored), atomically."""

    def _write(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    atomic_save(_write, path)
    return Path(path)


def write_json(data: Any, path: str | Path) -> None:
    """Write ``data`` as indented JSON, atomically."""

    def _write(tmp: str) -> None:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")

    atomic_save(_write, path)


@contextmanager
def atomic_dir(path: str | Path, replace: bool = False) -> Iterator[Path]:
    """Fill a temp folder next to ``path``; on success it is renamed to ``path``, on error it is removed. Readers
    never see a partly written folder.

    ``replace=False``: a folder already at ``path`` (another process finished the same entry first) is kept.
    ``replace=True``: it is swapped out (moved to a temp name, then deleted), so an outdated entry is replaced;
    a crash in between leaves no folder at ``path`` (recomputed on the next run) and a temp folder that
    :func:`remove_stale_temps` clears.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f"{TMP_PREFIX}{path.name}."))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it owner-only; a plain mkdir would not
        if path.exists() and not replace:
            shutil.rmtree(tmp)
            return
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f"{TMP_PREFIX}{path.name}.old.")) / "x"
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old.parent, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temps(folder: str | Path) -> int:
    """Delete leftovers of interrupted atomic writes (``.tmp-*``) anywhere under ``folder``; return how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    stale = [p for p in folder.rglob(f"{TMP_PREFIX}*")]
    for p in sorted(stale, key=lambda q: len(q.parts), reverse=True):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()
    return len(stale)


def nearest_existing(path: str | Path) -> Path:
    """``path``, or its nearest ancestor that exists (whose file system ``path`` will be on once made)."""
    path = Path(path)
    return next((p for p in (path, *path.parents) if p.exists()), path)


def free_bytes(folder: str | Path) -> int | None:
    """Bytes free on the file system ``folder`` is (or will be, once made) on; None when that cannot be read."""
    try:
        return shutil.disk_usage(nearest_existing(folder)).free
    except OSError:
        return None


def stable_hash(data: Any, length: int = 12) -> str:
    """Short sha256 of ``data`` serialised as canonical JSON (sorted keys)."""
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def file_identity(path: str | Path) -> dict[str, int] | None:
    """``{"size", "mtime_ns"}`` of a file (what caches compare to notice a changed or re-encoded video), or None
    when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def file_digest(path: str | Path, length: int = 16) -> str:
    """sha256 of a file's bytes (for weights files: identifies exactly which weights made a feature)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """``fig.savefig`` (matplotlib) to ``path`` atomically, in the format its suffix names (png, pdf, svg): a full
    disk leaves no half-written figure and raises an ``OSError`` naming ``path``."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    atomic_save(lambda tmp: fig.savefig(tmp, dpi=dpi, format=fmt), path)
    return path
