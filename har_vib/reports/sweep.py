"""Collect the jobs of a Hydra multirun folder into rows: beta, accuracies, sizes, compression."""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from omegaconf import OmegaConf

from har_vib.utils.run_status import is_finished, run_state

log = logging.getLogger(__name__)

COLUMNS = (
    "job",
    "model",
    "beta",
    "ib_lr",
    "val_acc_pruned",
    "test_acc",
    "test_acc_pruned",
    "test_acc_pruned_before_finetune",
    "input_dim_after",
    "hidden_after",
    "lstm_params_before",
    "lstm_params_after",
    "compression_ratio",
)


def sweep_objective(metrics: Mapping[str, Any], budget: Optional[float] = None) -> Optional[float]:
    """What a sweeper maximises: validation accuracy of the exported model (of the trained one when nothing
    is pruned). With an LSTM parameter ``budget``, a run over it scores ``-log10(params / budget) < 0``: below
    every run within budget, and higher the closer it comes."""
    acc = metrics.get("val_acc_pruned", metrics.get("val_acc"))
    if acc is None:
        return None
    params = metrics.get("lstm_params_after")
    if not budget or params is None or params <= budget:
        return float(acc)
    return -math.log10(params / budget)


def collect_sweep(folder: str | Path) -> list[dict[str, Any]]:
    """One row per job folder holding ``.hydra/config.yaml``, ``metrics.json`` and ``compression.json``.

    Jobs that have not finished (``status.json``; a killed job may hold a ``metrics.json``) are skipped; a folder
    with no finished job raises.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"multirun folder {root} does not exist")
    rows: list[dict[str, Any]] = []
    unfinished: list[str] = []
    for cfg_path in sorted(root.glob("*/.hydra/config.yaml")):
        job = cfg_path.parent.parent
        metrics_path, comp_path = job / "metrics.json", job / "compression.json"
        if not is_finished(job) or not metrics_path.exists() or not comp_path.exists():
            unfinished.append(f"{job.name} ({run_state(job)})")  # running, killed, or failed
            continue
        cfg = OmegaConf.load(cfg_path)
        row: dict[str, Any] = {
            "job": job.name,
            "model": cfg.model.net.name,
            "beta": float(cfg.beta),
            "ib_lr": float(cfg.model.get("ib_lr", float("nan"))),
        }
        row.update(json.loads(metrics_path.read_text()))
        comp = json.loads(comp_path.read_text())
        row.update({k: comp.get(k) for k in COLUMNS if k in comp})
        rows.append(row)
    if unfinished:
        log.warning("%s: %d unfinished job(s) left out: %s", root, len(unfinished), ", ".join(unfinished))
    if not rows:
        raise FileNotFoundError(f"no finished job (metrics.json + compression.json) under {root}")
    return sorted(rows, key=lambda r: (r["model"], r["beta"]))


def final_accuracy(row: Mapping[str, Any]) -> Optional[float]:
    """Test accuracy of the exported model: the pruned one when the run pruned, else the trained one."""
    acc = row.get("test_acc_pruned")
    return row.get("test_acc") if acc is None else acc


def pareto_front(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs no other run beats on both axes (fewer LSTM parameters and higher test accuracy), by size."""
    points = [r for r in rows if r.get("lstm_params_after") is not None and final_accuracy(r) is not None]
    points.sort(key=lambda r: (r["lstm_params_after"], -final_accuracy(r)))
    front, best = [], -1.0
    for r in points:
        if final_accuracy(r) > best:
            front.append(r)
            best = final_accuracy(r)
    return front


def write_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write the rows with the standard columns."""
    path = Path(path)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (accuracies in %, ratios to one decimal)."""

    def fmt(key: str, value: Any) -> str:
        if value is None:
            return "-"
        if key.startswith("test_acc"):
            return f"{100 * value:.1f}"
        if key == "compression_ratio":
            return f"{value:.1f}x"
        if key in ("beta", "ib_lr"):
            return f"{value:.3g}"
        if key.startswith("val_acc"):
            return f"{100 * value:.1f}"
        return str(value)

    cols = [c for c in COLUMNS if c != "job"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(c, r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)
