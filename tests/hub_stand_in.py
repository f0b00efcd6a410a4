"""A local stand-in for the Hugging Face Hub, enough for ``huggingface_hub.hf_hub_download`` (and so for timm's
pretrained weights): point ``HF_ENDPOINT`` at :attr:`HubStandIn.endpoint`.

``hf_hub_download`` asks for a file in two requests, both on ``/{repo_id}/resolve/{revision}/{filename}``:

- ``HEAD``: the metadata, from the headers ``X-Repo-Commit`` (the commit the revision points to, 40 hex digits),
  ``ETag`` (the blob's name in the cache; the Hub gives an LFS file's sha256) and ``Content-Length``;
- ``GET``: the bytes, when the cache has no blob of that ETag.

A file the stand-in does not hold is answered 404 with ``X-Error-Code`` as the Hub sends it: ``EntryNotFound`` in a
repository it holds (huggingface_hub raises ``RemoteEntryNotFoundError``, and timm tries its next file),
``RepoNotFound`` otherwise. Every request is recorded in :attr:`HubStandIn.requests` as ``(method, path)``.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubStandIn:
    """Serves ``files`` (``{"<repo_id>/<filename>": bytes}``) at revision ``main`` on 127.0.0.1, on a free port,
    from a background thread; a context manager (started on enter, stopped on exit)."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files = dict(files or {})
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """The value for ``HF_ENDPOINT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def gets(self, filename: str) -> list[str]:
        """The paths of the GET requests for ``filename``."""
        return [path for method, path in self.requests if method == "GET" and path.endswith(f"/{filename}")]

    def __enter__(self) -> HubStandIn:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _answer(self, body: bool) -> None:
                with hub._lock:
                    hub.requests.append((self.command, self.path))
                repo, sep, rest = self.path.lstrip("/").partition("/resolve/")
                revision, _, filename = rest.partition("/")
                data = hub.files.get(f"{repo}/{filename}") if sep and revision in ("main", COMMIT) else None
                if data is None:
                    known = any(key.startswith(f"{repo}/") for key in hub.files)
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound" if known else "RepoNotFound")
                    if known:
                        self.send_header("X-Repo-Commit", COMMIT)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_HEAD(self) -> None:  # noqa: N802 (BaseHTTPRequestHandler's naming)
                self._answer(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(body=True)

        return Handler
