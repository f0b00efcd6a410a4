"""Lightning checkpoint writes that are atomic on the checkpoint's own disk and name the file when they fail.

Lightning's ``TorchCheckpointIO`` writes a local checkpoint through fsspec's transaction, which stages it in the
system temp folder (``$TMPDIR``, usually ``/tmp``) and then moves it over: across disks that move is a copy, so a
full disk leaves a truncated ``last.ckpt`` in place of the previous good one, and the ``OSError`` names the
``/tmp`` file, or nothing. :class:`AtomicCheckpointIO` serialises in memory and writes a temp file next to the
checkpoint, renamed over it only once complete (Lightning issue 21253). Set as a trainer plugin
(``conf/trainer/default.yaml``: ``plugins``)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Optional

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from har_vib.utils.io import write_bytes


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local saves go through :func:`har_vib.utils.io.write_bytes`; remote URLs
    (``s3://``...) are left to Lightning."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Optional[Any] = None) -> None:
        """Write ``checkpoint`` to ``path`` atomically.

        Raises: ``OSError`` with ``filename`` = ``path`` (disk full, permission denied, read-only file system);
        the file already at ``path`` is left as it was and no temp file stays behind. ``TypeError`` for
        ``storage_options`` (as Lightning's)."""
        text = str(path)
        if "://" in text and not text.startswith("file://"):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options for a local checkpoint ({text})")
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_bytes(buffer.getvalue(), Path(text.removeprefix("file://")))
