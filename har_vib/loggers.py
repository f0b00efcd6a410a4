"""Loggers with one home per run folder: a resumed run continues its own logs instead of starting a version_1."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any, Optional

from lightning.pytorch.loggers import CSVLogger


def _number(text: str) -> float | int | str:
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


class RunCSVLogger(CSVLogger):
    """Lightning's :class:`CSVLogger` writing ``<save_dir>/<name>/version_<version>/metrics.csv`` (one fixed version
    per run folder, default 0).

    Args:
        resume_from_step: set when the run continues from a checkpoint taken at this ``global_step``: the rows logged
            before it are kept (Lightning's writer would delete the file), the later ones dropped (the resumed run
            logs them again). None: a new run, a new file.
    """

    def __init__(
        self,
        save_dir: str,
        name: str = "csv",
        version: int | str = 0,
        prefix: str = "",
        flush_logs_every_n_steps: int = 100,
        resume_from_step: Optional[int] = None,
    ) -> None:
        super().__init__(
            save_dir, name=name, version=version, prefix=prefix, flush_logs_every_n_steps=flush_logs_every_n_steps
        )
        self.resume_from_step = resume_from_step

    def _rows_before_resume(self) -> list[dict[str, Any]]:
        path = Path(self.log_dir) / "metrics.csv"
        if self.resume_from_step is None or not path.is_file():
            return []
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        kept = []
        for row in rows:
            values = {k: _number(v) for k, v in row.items() if k and v not in ("", None)}
            if isinstance(values.get("step"), int) and values["step"] < self.resume_from_step:
                kept.append(values)
        return kept

    @property
    def experiment(self) -> Any:
        if self._experiment is not None:
            return self._experiment
        kept = self._rows_before_resume()
        with warnings.catch_warnings():  # resuming, the old rows are kept (below): not the deletion it announces
            if self.resume_from_step is not None:
                warnings.filterwarnings("ignore", message=".*Previous log files in this directory will be deleted")
            writer = CSVLogger.experiment.fget(self)  # type: ignore[attr-defined]
        if kept and isinstance(getattr(writer, "metrics", None), list):  # DDP ranks > 0 get a dummy writer
            writer.metrics[:0] = kept  # written first at the next save
        return writer


__all__ = ["RunCSVLogger"]
