"""Download one large file over HTTP(S), resumably: ``<file>.part`` grows until it holds the size the server
announced, and only then is it renamed to ``<file>``.

- **Resume.** A rerun (or a retry) asks for the rest with ``Range: bytes=<size of .part>-``, with ``If-Range``
  set to the validator (strong ``ETag``, else ``Last-Modified``) recorded when the transfer began, so a file that
  changed on the server comes back whole (HTTP 200) rather than spliced. A server that ignores ``Range`` (200)
  restarts the file; 416 (nothing left to send) finishes a ``.part`` that already holds the whole file.
- **Completeness.** The total comes from ``Content-Length`` (200) or ``Content-Range`` (206) and is recorded in
  ``<file>.part.json`` next to the partial file; a later answer with another total is refused, as is a server that
  announces no size (nothing could prove the file complete).
- **Failures.** Connection errors, timeouts, HTTP 5xx and 429 are retried with exponential backoff; the count
  starts again whenever an attempt brought new bytes. A stalled server fails after ``read_timeout_s`` without a
  byte. A 4xx answer, a response that is not the expected kind of file (an HTML error page: its first bytes are
  checked before anything is written) and a failed write (disk full) are :class:`FetchError` at once. Whatever
  was downloaded stays in ``<file>.part`` for the next run.

- **A file already there.** A ``<file>`` this run did not download (placed by hand, or left by an earlier run) is
  compared with the size the server announces (:func:`remote_size`: ``HEAD``, else a one-byte ranged ``GET``) by
  :func:`check_existing`: another size makes it a ``.part`` to resume (shorter, and it starts as the archive does)
  or a file to fetch anew; a server out of reach leaves it as it is, with a note.

Requests (https://requests.readthedocs.io) does the HTTP; ``file://`` URLs (a mirror on a mounted disk) are copied
with the same resume and size checks.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import requests
import urllib3
from tqdm import tqdm

from har_vib.data.archives import FetchError
from har_vib.errors import os_error_message
from har_vib.utils.io import free_bytes, write_json

log = logging.getLogger(__name__)

USER_AGENT = "har-vib-get-data/1 (+python-requests)"
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class DownloadOptions:
    """How hard to try and how long to wait.

    Attributes:
        retries: failed attempts in a row (no new byte in between) before giving up.
        backoff_s: seconds before retry k is ``backoff_s * 2 ** (k - 1)``, capped at 60 s.
        connect_timeout_s: seconds to wait for the connection.
        read_timeout_s: seconds to wait for the next byte: a stalled server fails after this, it never hangs.
        chunk_bytes: bytes read and written at a time.
        verify_tls: check the server's TLS certificate (``--insecure`` turns it off).
        progress: show a tqdm progress bar (on stderr).
    """

    retries: int = 5
    backoff_s: float = 2.0
    connect_timeout_s: float = 30.0
    read_timeout_s: float = 60.0
    chunk_bytes: int = 1 << 20
    verify_tls: bool = True
    progress: bool = True


class _RetryableError(Exception):
    """An attempt failed in a way another attempt may not (connection, timeout, 5xx)."""


def part_path(dest: str | os.PathLike) -> Path:
    """``<dest>.part``: the partial download of ``dest``."""
    dest = Path(dest)
    return dest.with_name(dest.name + ".part")


def _meta_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.json")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_meta(path: Path) -> dict | None:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and isinstance(meta.get("total"), int) else None


def _write_meta(dest: Path, meta: dict) -> None:
    try:
        write_json(meta, _meta_path(dest))
    except OSError as err:
        raise FetchError(os_error_message(err, _meta_path(dest))) from err


def _kept(part: Path) -> str:
    n = _size(part)
    return f"the {n:,} bytes downloaded so far stay in {part}: rerun to resume" if n else "nothing was saved"


def _write_all(fh, data: bytes) -> None:
    """Write all of ``data`` to the unbuffered file ``fh`` (a raw write may take only part of it)."""
    view = memoryview(data)
    while view:
        n = fh.write(view)
        view = view[n:]


def _describe(head: bytes) -> str:
    text = head[:48].decode("latin-1")
    shown = "".join(c if c.isprintable() else "." for c in text)
    return f"it starts with {shown!r}" + (" (an HTML page?)" if b"<" in head[:64].lower() else "")


def _check_magic(head: bytes, magic: Sequence[bytes], url: str, content_type: str | None) -> None:
    if magic and not any(head.startswith(m) for m in magic):
        kind = f"; Content-Type {content_type}" if content_type else ""
        raise FetchError(
            f"{url} did not send the archive: {_describe(head)}{kind}; nothing was saved: check the URL "
            "(--base-url or $HAR_VIB_DATA_URL for a mirror)"
        )


def _finish(part: Path, dest: Path, total: int) -> None:
    size = _size(part)
    if size != total:
        raise FetchError(f"{part} holds {size:,} bytes, not the {total:,} announced: delete it and rerun")
    try:
        os.replace(part, dest)
    except OSError as err:
        raise FetchError(os_error_message(err, dest)) from err
    _meta_path(dest).unlink(missing_ok=True)


def _check_space(folder: Path, needed: int, dest: Path) -> None:
    free = free_bytes(folder)
    if free is not None and needed > free:
        raise FetchError(
            f"cannot write {dest}: it needs {needed / 1e9:.2f} GB more and {folder} has {free / 1e9:.2f} GB free; "
            "free space on that disk or pass --archive-dir on another disk"
        )


def _stream(chunks: Iterator[bytes], part: Path, dest: Path, offset: int, total: int, bar: tqdm) -> None:
    """Append ``chunks`` to ``part`` (truncated first when ``offset`` is 0). Raises :class:`FetchError` on a
    failed write or on more bytes than ``total``; errors of the source (a broken connection) pass through."""
    size = offset
    try:
        fh = open(part, "ab" if offset else "wb", buffering=0)
    except OSError as err:
        raise FetchError(f"{os_error_message(err, part)}; {_kept(part)}") from err
    with fh:
        for chunk in chunks:
            if not chunk:
                continue
            if size + len(chunk) > total:
                raise FetchError(
                    f"{dest.name}: the source sent more than the {total:,} bytes it announced: delete {part} and "
                    "rerun, or check the URL"
                )
            try:
                _write_all(fh, chunk)
            except OSError as err:
                raise FetchError(f"{os_error_message(err, part)}; {_kept(part)}") from err
            size += len(chunk)
            bar.update(len(chunk))


def _body(response: requests.Response, chunk_bytes: int) -> Iterator[bytes]:
    """The body as it arrives: every byte received before the connection breaks is yielded before the error.

    ``iter_content`` reads whole chunks and loses a partial one when the connection closes mid-chunk; urllib3's
    ``read1`` returns what has arrived. (urllib3 < 2 has no ``read1``: small ``iter_content`` chunks instead.)
    """
    read1 = getattr(response.raw, "read1", None)
    if read1 is None:
        yield from response.iter_content(min(chunk_bytes, 1 << 16))
        return
    while data := read1(chunk_bytes, decode_content=False):
        yield data


def _bar(dest: Path, total: int, offset: int, options: DownloadOptions) -> tqdm:
    return tqdm(
        total=total,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=dest.name,
        disable=not options.progress,
        dynamic_ncols=True,
    )


def _parse_content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    m = _CONTENT_RANGE.match(value or "")
    if not m:
        return None, None, None
    start = int(m.group(1)) if m.group(1) else None
    end = int(m.group(2)) if m.group(2) else None
    total = int(m.group(3)) if m.group(3) != "*" else None
    return start, end, total


def _short(err: BaseException) -> str:
    """The innermost reason of a requests error, without urllib3's object reprs."""
    text = str(err)
    for pattern in (r"Read timed out", r"timed out", r"Connection refused", r"IncompleteRead\([^)]*\)"):
        m = re.search(pattern, text)
        if m:
            return m.group(0)
    m = re.search(r"\((?:Caused by )?\w+\('([^']*)'", text) or re.search(r"'([^']{4,})'", text)
    return (m.group(1) if m else text)[:200]


def _attempt(
    session: requests.Session,
    url: str,
    dest: Path,
    magic: Sequence[bytes],
    options: DownloadOptions,
) -> None:
    part = part_path(dest)
    offset = _size(part)
    meta = _read_meta(_meta_path(dest)) if offset else None
    if meta is not None and offset >= meta["total"]:
        return _finish(part, dest, meta["total"])  # complete before (a crash before the rename) or too long
    headers = {"Accept-Encoding": "identity", "User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if meta is not None and meta.get("url") == url and meta.get("validator"):
            headers["If-Range"] = meta["validator"]
    timeout = (options.connect_timeout_s, options.read_timeout_s)
    try:
        response = session.get(url, headers=headers, stream=True, timeout=timeout, verify=options.verify_tls)
    except requests.exceptions.SSLError as err:
        raise FetchError(
            f"{url}: the TLS certificate check failed ({_short(err)}); rerun with --insecure (every archive member "
            "is still CRC-checked and the layout verified), or use a mirror (--base-url)"
        ) from err
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
        raise _RetryableError(f"cannot reach {url}: {_short(err)}") from err
    except requests.exceptions.RequestException as err:  # InvalidURL, MissingSchema, InvalidSchema, ...
        raise FetchError(f"{url} cannot be fetched ({err}): check --base-url or $HAR_VIB_DATA_URL") from err
    with response:
        try:
            _receive(response, url, dest, offset, meta, magic, options)
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as err:
            reason = _short(err)
            verb = "stopped sending" if "timed out" in reason else "broke off"
            raise _RetryableError(f"{url} {verb} at {_size(part):,} bytes ({reason})") from err


def _receive(
    response: requests.Response,
    url: str,
    dest: Path,
    offset: int,
    meta: dict | None,
    magic: Sequence[bytes],
    options: DownloadOptions,
) -> None:
    """Handle one answer: finish, refuse, or write its body after ``offset`` bytes of ``<dest>.part``."""
    part = part_path(dest)
    status = response.status_code
    if status == 416:
        _, _, total = _parse_content_range(response.headers.get("Content-Range"))
        total = total if total is not None else (meta or {}).get("total")
        if total is not None and offset == total:
            return _finish(part, dest, total)
        raise FetchError(
            f"{part} holds {offset:,} bytes, but {url} has {f'{total:,}' if total is not None else 'fewer'}: the "
            f"file changed or is another one; delete {part} and rerun"
        )
    if status == 429 or status >= 500:
        raise _RetryableError(f"{url}: HTTP {status} {response.reason}")
    if status not in (200, 206):
        hint = "the file is not at that address" if status in (404, 410) else "the server refused it"
        raise FetchError(
            f"{url}: HTTP {status} {response.reason}, {hint}: check the URL (--base-url or $HAR_VIB_DATA_URL for a "
            f"mirror, else the dataset's site for a new address); {_kept(part)}"
        )
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", ""):
        raise FetchError(
            f"{url} sent the file re-encoded (Content-Encoding: {encoding}) although asked not to, so its size "
            "cannot be checked: use another mirror"
        )
    chunks = _body(response, options.chunk_bytes)
    first = b""
    if status == 206:
        start, _, total = _parse_content_range(response.headers.get("Content-Range"))
        total = total if total is not None else (meta or {}).get("total")
        if start != offset or total is None:
            raise FetchError(
                f"{url} answered the request for bytes {offset:,}- with "
                f"{response.headers.get('Content-Range')!r}: delete {part} and rerun"
            )
        if meta is not None and meta["total"] != total:
            raise FetchError(
                f"{url} is now {total:,} bytes, but {part} was begun for {meta['total']:,}: the file changed on the "
                f"server; delete {part} and rerun"
            )
        _check_space(dest.parent, total - offset, dest)
        if meta is None:
            _write_meta(dest, {"url": url, "total": total, "validator": None})
    else:
        if offset:
            log.warning("%s: the server sent the whole file (HTTP 200), not the rest: starting over", url)
            offset = 0
        length = (response.headers.get("Content-Length") or "").strip()
        if not length.isdigit():
            raise FetchError(
                f"{url} announced no size (no Content-Length), so the download could not be proven complete: use a "
                "server that sends it"
            )
        total = int(length)
        for chunk in chunks:  # the first bytes decide whether this is the archive at all, before any write
            first += chunk
            if len(first) >= 16:
                break
        _check_magic(first, magic, url, response.headers.get("Content-Type"))
        _check_space(dest.parent, total, dest)
        etag = response.headers.get("ETag")
        validator = etag if etag and not etag.startswith("W/") else response.headers.get("Last-Modified")
        _write_meta(dest, {"url": url, "total": total, "validator": validator})

    def body() -> Iterator[bytes]:
        yield first
        yield from chunks

    with _bar(dest, total, offset, options) as bar:
        _stream(body(), part, dest, offset, total, bar)
    if _size(part) < total:
        raise _RetryableError(f"{url} ended at {_size(part):,} of {total:,} bytes")
    _finish(part, dest, total)


def _copy_local(url: str, dest: Path, magic: Sequence[bytes], options: DownloadOptions) -> None:
    """``file://`` URLs: copy with the same ``.part``, resume and size checks as HTTP."""
    src = Path(url2pathname(unquote(urlsplit(url).path)))
    part = part_path(dest)
    try:
        total = src.stat().st_size
        with open(src, "rb") as fh:
            head = fh.read(16)
    except OSError as err:
        raise FetchError(f"{url}: {err.strerror or err}: check --base-url or $HAR_VIB_DATA_URL") from err
    offset = _size(part)
    if offset > total:
        raise FetchError(f"{part} holds {offset:,} bytes, but {url} has {total:,}: delete {part} and rerun")
    if offset == 0:
        _check_magic(head, magic, url, None)
    _check_space(dest.parent, total - offset, dest)
    _write_meta(dest, {"url": url, "total": total, "validator": None})

    def chunks() -> Iterator[bytes]:
        with open(src, "rb") as fh:
            fh.seek(offset)
            while chunk := fh.read(options.chunk_bytes):
                yield chunk

    with _bar(dest, total, offset, options) as bar:
        _stream(chunks(), part, dest, offset, total, bar)
    _finish(part, dest, total)


def _announced(response: requests.Response) -> int | None:
    """The file's size from an answer to ``HEAD`` or a ranged ``GET``, or None when it gives none to trust (an
    HTML page, say a login or error page served with status 200, is not the archive)."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "") or "html" in response.headers.get("Content-Type", "").lower():
        return None
    if response.status_code == 206:
        return _parse_content_range(response.headers.get("Content-Range"))[2]
    length = (response.headers.get("Content-Length") or "").strip()
    # a HEAD answer of 0 bytes is what some servers send for every HEAD: not a size to act on
    if response.status_code == 200 and length.isdigit() and int(length) > 0:
        return int(length)
    return None


def remote_size(url: str, options: DownloadOptions | None = None) -> int:
    """The size of the file at ``url`` as its server announces it, without downloading it: ``Content-Length`` of a
    ``HEAD``, else the total of ``Content-Range`` (or ``Content-Length``) of a ``GET`` for its first byte, whose body
    is not read. ``file://`` URLs: the file's size. One try each, no retries.

    Raises:
        FetchError: the size could not be had (the server is out of reach, refused, or announced none); the
            message says why, for a note.
    """
    options = options or DownloadOptions()
    if urlsplit(url).scheme == "file":
        try:
            return Path(url2pathname(unquote(urlsplit(url).path))).stat().st_size
        except OSError as err:
            raise FetchError(f"{url}: {err.strerror or err}") from err
    headers = {"Accept-Encoding": "identity", "User-Agent": USER_AGENT}
    kwargs = {"timeout": (options.connect_timeout_s, options.read_timeout_s), "verify": options.verify_tls}
    with requests.Session() as session:
        try:
            with session.head(url, headers=headers, allow_redirects=True, **kwargs) as response:
                size = _announced(response)
            if size is None:
                ranged = {**headers, "Range": "bytes=0-0"}
                with session.get(url, headers=ranged, stream=True, **kwargs) as response:
                    size = _announced(response)  # the body (one byte, or the whole file) is never read
        except requests.exceptions.RequestException as err:
            raise FetchError(f"{url} did not answer: {_short(err)}") from err
    if size is None:
        kind = response.headers.get("Content-Type")
        shown = f", Content-Type {kind}" if kind else ""
        answer = f"HTTP {response.status_code} {response.reason}{shown}"
        raise FetchError(f"{url} announced no size for the archive ({answer})")
    return size


def check_existing(
    url: str, dest: str | os.PathLike, magic: Sequence[bytes] = (), options: DownloadOptions | None = None
) -> bool:
    """Compare ``dest``, already on disk but not downloaded by this run (placed by hand, say), with the size of the
    file at ``url`` (:func:`remote_size`).

    - The same size, or the size cannot be had (the server is out of reach): ``dest`` is kept (a note says when its
      size could not be checked; unpacking still checks every member's CRC).
    - Shorter, and it starts as the archive does (``magic``): it becomes ``<dest>.part``, which :func:`download`
      resumes with a ``Range`` request.
    - Longer, or not starting as the archive does: it cannot be the beginning of the file, so the file is to be
      downloaded anew, with ``download(..., replace=True)``: ``dest`` stays until the new file is complete and
      takes its place (a download that fails loses nothing).

    Returns:
        True when ``dest`` is to be used as it is; False when it is to be downloaded (resumed from the ``.part`` it
        became, or anew while it stays).

    Raises:
        FetchError: ``dest`` could not be read or renamed.
    """
    dest = Path(dest)
    try:
        local = dest.stat().st_size
        with open(dest, "rb") as fh:
            head = fh.read(16)
    except OSError as err:
        raise FetchError(os_error_message(err, dest, action="read")) from err
    try:
        total = remote_size(url, options)
    except FetchError as err:
        log.info(
            "%s: already in %s; its size could not be checked (%s); unpacking checks every member's CRC",
            dest.name,
            dest.parent,
            err,
        )
        return True
    if local == total:
        log.info("%s: already downloaded (%s, %s bytes, as %s announces)", dest.name, dest, f"{total:,}", url)
        return True
    part = part_path(dest)
    starts_right = not magic or any(head.startswith(m) for m in magic)
    try:
        if local < total and starts_right:
            log.warning(
                "%s holds %s bytes, but %s has %s: resuming the download from it", dest, f"{local:,}", url, f"{total:,}"
            )
            _meta_path(dest).unlink(missing_ok=True)  # a record of another transfer must not vouch for it
            os.replace(dest, part)
        else:
            why = "" if starts_right else f", and {_describe(head)}, not the archive's first bytes"
            log.warning(
                "%s holds %s bytes, but %s has %s%s: downloading the file again (it replaces %s once complete)",
                dest,
                f"{local:,}",
                url,
                f"{total:,}",
                why,
                dest.name,
            )
    except OSError as err:
        raise FetchError(os_error_message(err, dest)) from err
    return False


def download(
    url: str,
    dest: str | os.PathLike,
    magic: Sequence[bytes] = (),
    options: DownloadOptions | None = None,
    session: requests.Session | None = None,
    replace: bool = False,
) -> int:
    """Fetch ``url`` into ``dest`` (a file path), resuming ``<dest>.part`` when there is one.

    Args:
        url: an ``http(s)://`` or ``file://`` URL.
        dest: the finished file; it appears only once it holds every byte the server announced.
        magic: the allowed first bytes of the file (``har_vib.data.archives.MAGIC[kind]``); empty: no check.
        options: retries, timeouts, progress; the defaults of :class:`DownloadOptions` when None.
        session: a ``requests.Session`` to reuse; a new one (closed at the end) when None.
        replace: download even when ``dest`` exists; it is replaced once the new file is complete (False: an
            existing ``dest`` is taken as done).

    Returns:
        The number of bytes this call added to the file (0 when ``dest`` already existed and ``replace`` is False).

    Raises:
        FetchError: one line naming the URL or file and the fix: HTTP 4xx, retries used up (connection, timeout,
            5xx), a response that is not the archive, a size that disagrees, a failed write (disk full). The
            bytes downloaded so far stay in ``<dest>.part``.
    """
    dest = Path(dest)
    if dest.exists() and not replace:
        return 0
    options = options or DownloadOptions()
    part = part_path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FetchError(os_error_message(err, dest.parent)) from err
    start = _size(part)
    if urlsplit(url).scheme == "file":
        _copy_local(url, dest, magic, options)
        return _size(dest) - start
    own = session is None
    session = session or requests.Session()
    failures = 0
    try:
        while True:
            before = _size(part)
            try:
                _attempt(session, url, dest, magic, options)
                return _size(dest) - start
            except _RetryableError as err:
                failures = 1 if _size(part) > before else failures + 1
                if failures > options.retries:
                    tries = f"{failures} attempt{'s' if failures > 1 else ''} in a row"
                    raise FetchError(
                        f"{err} ({tries}); {_kept(part)}; if it keeps failing, check the network or use a mirror "
                        "(--base-url)"
                    ) from err
                wait = min(60.0, options.backoff_s * 2 ** (failures - 1))
                log.warning("%s; retry %d of %d in %.0f s", err, failures, options.retries, wait)
                time.sleep(wait)
    finally:
        if own:
            session.close()


__all__ = ["DownloadOptions", "FetchError", "check_existing", "download", "part_path", "remote_size"]
