"""Errors that carry a message meant for the user: what is wrong, where, and how to fix it."""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from pathlib import Path


class ConfigError(ValueError):
    """A configuration value is wrong (unknown dataset name, impossible split...)."""


# errors that only a write gives: the message says "cannot write"; any other says "cannot access"
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def root_os_error(err: BaseException) -> OSError | None:
    """The ``OSError`` behind ``err``, or None. That is ``err`` itself or what it wraps (``raise ... from``, as
    Hydra's InstantiationException does); when that one was raised while handling an earlier ``OSError`` with
    the same errno (a status file or a logger's last flush written to the same full disk), the earliest such
    one, which names the file the run first could not write. Any other error that merely happened while an
    ``OSError`` was handled is not one (None)."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and not isinstance(current, OSError) and id(current) not in seen:
        seen.add(id(current))
        current = current.__cause__
    if not isinstance(current, OSError):
        return None
    found: OSError = current
    while isinstance(current, OSError) and current.errno == found.errno and id(current) not in seen:
        seen.add(id(current))
        found = current
        current = current.__cause__ or current.__context__
    return found


def _shown(path: str | os.PathLike) -> str:
    """``path`` relative to the working directory when it lies under it (shorter), else as given."""
    try:
        rel = os.path.relpath(os.path.abspath(path))
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if rel.startswith("..") else rel


def setting_for(path: str | os.PathLike | None, folders: Mapping[str, str | os.PathLike | None]) -> str | None:
    """The first config key of ``folders`` (``{"paths.log_dir": "outputs", ...}``) whose folder holds ``path``
    (the key that moves that file to another disk), or None."""
    if path is None:
        return None
    target = Path(os.path.abspath(path))
    for key, folder in folders.items():
        if folder is not None and target.is_relative_to(os.path.abspath(folder)):
            return key
    return None


def os_error_message(
    err: OSError,
    path: str | os.PathLike | None = None,
    setting: str | None = None,
    action: str | None = None,
    folder: str | os.PathLike | None = None,
) -> str:
    """One line for the user: ``cannot write PATH: CAUSE (errno N); FIX``.

    ``path``: the file (or folder) the failed operation was on; defaults to ``err.filename``. ``folder``: where
    the write went when neither names a file (``write()`` on a full disk raises without one): the message says
    "a file in FOLDER". ``setting``: the config key that moves the files elsewhere (``paths.log_dir``); the fix
    suggests it. ``action``: the verb; default ``write`` for errors only writes give (ENOSPC, EDQUOT, EFBIG,
    EROFS), ``access`` for the others."""
    code = err.errno
    where = path if path is not None else err.filename
    if where is not None:
        shown = _shown(where)
    elif folder is not None:
        shown, where = f"a file in {_shown(folder)}", Path(folder) / "x"
    else:
        shown = "a file (the error names none)"
    cause = err.strerror or str(err) or type(err).__name__
    verb = action or ("write" if code in _WRITE_ERRNOS else "access")
    elsewhere = f" or set {setting} to another disk" if setting else ""
    if code in (errno.ENOSPC, errno.EDQUOT):
        fix = f"free space on that disk{elsewhere}"
    elif code == errno.EFBIG:
        fix = f"the file is over this process's or file system's size limit: raise it (ulimit -f){elsewhere}"
    elif code == errno.EROFS:
        fix = f"that file system is mounted read-only: remount it read-write{elsewhere}"
    elif code in (errno.EACCES, errno.EPERM):
        folder = _shown(Path(where).parent) if where is not None else "its folder"
        writable = f" or set {setting} to a folder you can write" if setting else ""
        fix = f"give this user access to {folder}{writable}"
    elif code == errno.ENOENT:
        fix = "check that the path exists" + (f" (or set {setting})" if setting else "")
    else:
        fix = "check that path and the disk it is on" + (f" (or set {setting} to another disk)" if setting else "")
    number = f" (errno {code})" if code is not None else ""
    return f"cannot {verb} {shown}: {cause}{number}; {fix}"
