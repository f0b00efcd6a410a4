"""Collect the jobs of a Hydra multirun folder into rows: beta, accuracies, sizes, compression."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

COLUMNS = (
    "job",
    "model",
    "beta",
    "test_acc",
    "test_acc_pruned",
    "test_acc_pruned_before_finetune",
    "input_dim_after",
    "hidden_after",
    "lstm_params_before",
    "lstm_params_after",
    "compression_ratio",
)


def collect_sweep(folder: str | Path) -> list[dict[str, Any]]:
    """One row per job folder holding ``.hydra/config.yaml``, ``metrics.json`` and ``compression.json``.

    Jobs that have not finished (no ``metrics.json``) are skipped; a folder with no finished job raises.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"multirun folder {root} does not exist")
    rows = []
    for cfg_path in sorted(root.glob("*/.hydra/config.yaml")):
        job = cfg_path.parent.parent
        metrics_path, comp_path = job / "metrics.json", job / "compression.json"
        if not metrics_path.exists() or not comp_path.exists():
            continue
        cfg = OmegaConf.load(cfg_path)
        row: dict[str, Any] = {"job": job.name, "model": cfg.model.net.name, "beta": float(cfg.beta)}
        row.update(json.loads(metrics_path.read_text()))
        comp = json.loads(comp_path.read_text())
        row.update({k: comp.get(k) for k in COLUMNS if k in comp})
        rows.append(row)
    if not rows:
        raise FileNotFoundError(f"no finished job (metrics.json + compression.json) under {root}")
    return sorted(rows, key=lambda r: (r["model"], r["beta"]))


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
        if key == "beta":
            return f"{value:g}"
        return str(value)

    cols = [c for c in COLUMNS if c != "job"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(c, r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)
