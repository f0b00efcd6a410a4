"""Rebuild the paper's Tables 1-4: architecture counts from the experiment configs (no data needed) and
result tables from run folders, with the paper's figures beside ours."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Optional

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from har_vib.compression.params import deployable_param_count, recurrent_weight_count
from har_vib.features.fusion import fused_dim
from har_vib.reports.paper import DATASET_CLASSES, PAPER_ROWS, TABLE_TITLES, PaperRow, matches_printed, parse_count
from har_vib.utils.io import atomic_save, write_csv_rows
from har_vib.utils.run_status import is_finished

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"

ARCHITECTURE_COLUMNS = (
    "table",
    "row",
    "experiment",
    "total_params",
    "lstm_params",
    "paper_total_params",
    "paper_lstm_params",
    "compact_shape",
    "compact_lstm_params",
    "match",
    "note",
)


def compose_experiment(experiment: str, overrides: Sequence[str] = ()) -> DictConfig:
    """``conf/config.yaml`` with ``experiment=<experiment>``, as ``train.py`` would compose it."""
    return compose_config([f"experiment={experiment}", *overrides])


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """``conf/config.yaml`` with Hydra ``overrides``, as ``train.py`` would compose it (without running it)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose(config_name="config", overrides=list(overrides))


@cache
def backbone_size(model_name: str) -> tuple[int, int]:
    """Parameters and feature width of the headless timm encoder ``model_name`` (built on the meta device:
    no memory, no weights)."""
    import timm

    with torch.device("meta"):
        model = timm.create_model(model_name, pretrained=False, num_classes=0)
    return sum(p.numel() for p in model.parameters()), int(model.num_features)


def lstm_input_width(cfg: DictConfig) -> tuple[int, int]:
    """The LSTM's input width for a composed config, and the frame encoder's parameter count (0 without)."""
    if cfg.backbone.name == "none":
        height, width = cfg.dataset.frame_size
        return 3 * int(height) * int(width), 0
    params, features = backbone_size(cfg.backbone.model_name)
    streams = list(cfg.dataset.get("streams", ["rgb"]))
    return fused_dim([features] * len(streams), cfg.dataset.get("fusion", "concat")), params


def build_net(cfg: DictConfig, device: str = "meta") -> tuple[nn.Module, int]:
    """The config's untrained classifier (on ``device``) and its frame encoder's parameter count."""
    input_size, encoder_params = lstm_input_width(cfg)
    num_classes = DATASET_CLASSES[cfg.dataset.name]
    with torch.device(device):
        net = instantiate(cfg.model.net)(input_size=input_size, num_classes=num_classes)
    return net, encoder_params


def compact_lstm_count(inputs: int, hidden: int, bias_vectors: int) -> int:
    """Parameters of a standard ``nn.LSTM(inputs, hidden)`` counted from the module, with 1 or 2 biases."""
    with torch.device("meta"):
        lstm = nn.LSTM(inputs, hidden, batch_first=True)
    return recurrent_weight_count(lstm) - (2 - bias_vectors) * lstm.bias_hh_l0.numel()


def _match(
    row: PaperRow, total: Optional[int], lstm: Optional[int], lstm_1bias: Optional[int], compact: Optional[int]
) -> str:
    if row.experiment is None:
        return "reference" if row.note.startswith("reference") else "not built"
    if row.reports_trained:
        if compact is None:
            return "trained: compare with --runs"
        return "compact shape exact" if matches_printed(compact, row.lstm_params) else "compact shape differs"
    lstm_ok = matches_printed(lstm, row.lstm_params)
    one_bias = not lstm_ok and matches_printed(lstm_1bias, row.lstm_params)
    total_ok = row.total_params is None or matches_printed(total, row.total_params)
    if (lstm_ok or one_bias) and total_ok:
        return "exact (1 bias vector)" if one_bias else "exact"
    return "lstm exact, total differs" if lstm_ok or one_bias else "differs"


def architecture_row(row: PaperRow) -> dict[str, Any]:
    """One line of ``architectures.csv`` for a paper row."""
    total = lstm = lstm_1bias = compact = None
    if row.experiment is not None:
        net, encoder_params = build_net(compose_experiment(row.experiment))
        lstm = recurrent_weight_count(net.rnn)
        bias_hh = getattr(net.rnn, "bias_hh_l0", None)
        lstm_1bias = lstm - bias_hh.numel() if bias_hh is not None else None
        total = encoder_params + deployable_param_count(net)
    if row.compact is not None:
        compact = compact_lstm_count(row.compact.inputs, row.compact.hidden, row.compact.bias_vectors)
    shape = row.compact
    return {
        "table": row.table,
        "row": row.row,
        "experiment": row.experiment or "",
        "total_params": total if total is not None else "",
        "lstm_params": lstm if lstm is not None else "",
        "paper_total_params": row.total_params or "",
        "paper_lstm_params": row.lstm_params or "",
        "compact_shape": f"{shape.inputs}x{shape.hidden} ({shape.bias_vectors} bias)" if shape else "",
        "compact_lstm_params": compact if compact is not None else "",
        "match": _match(row, total, lstm, lstm_1bias, compact),
        "note": row.note,
    }


def architecture_table(rows: Iterable[PaperRow] = PAPER_ROWS) -> list[dict[str, Any]]:
    """Every paper row's architecture counts (instantiates each row's model; needs no data)."""
    return [architecture_row(r) for r in rows]


def markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """``rows`` as a Markdown table over ``columns``."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- run tables

RESULT_COLUMNS = (
    "row",
    "experiment",
    "runs",
    "paper_acc",
    "acc",
    "paper_lstm_params",
    "lstm_params",
    "paper_ratio",
    "ratio",
    "paper_total_params",
    "total_params",
)


def run_experiment(run: Path) -> Optional[str]:
    """The ``experiment=`` a run folder was launched with (from Hydra's ``.hydra/overrides.yaml``)."""
    overrides = run / ".hydra" / "overrides.yaml"
    if not overrides.is_file():
        return None
    for item in OmegaConf.load(overrides):
        key, _, value = str(item).lstrip("+~").partition("=")
        if key == "experiment":
            return value
    return None


def find_runs(folders: Iterable[str | Path]) -> dict[str, list[Path]]:
    """Finished run folders (``status.json``: finished) under ``folders``, grouped by experiment."""
    found: dict[str, list[Path]] = {}
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"run folder {root} does not exist")
        for metrics in sorted(root.rglob("metrics.json")):
            run = metrics.parent
            if not is_finished(run):  # killed after writing metrics.json, or still running
                continue
            experiment = run_experiment(run)
            if experiment is not None:
                found.setdefault(experiment, []).append(run)
    return found


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise_runs(runs: Sequence[Path]) -> dict[str, Any]:
    """Accuracy (of the exported model when there is one), LSTM parameters, ratio and total parameters
    over ``runs``: means, with the accuracy's std across runs."""
    accs, lstm, ratio, total = [], [], [], []
    for run in runs:
        metrics = json.loads((run / "metrics.json").read_text())
        acc = metrics.get("test_acc_pruned", metrics.get("test_acc"))
        if acc is not None:
            accs.append(100.0 * float(acc))
        comp_path = run / "compression.json"
        if comp_path.is_file():
            comp = json.loads(comp_path.read_text())
            lstm.append(comp["lstm_params_after"])
            ratio.append(comp["compression_ratio"] or float("nan"))
            cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
            total.append(lstm_input_width(cfg)[1] + comp.get("total_params_after", 0))
    out: dict[str, Any] = {"runs": len(runs)}
    if accs:
        mean, std = _mean_std(accs)
        out["acc"] = f"{mean:.1f} +- {std:.1f}" if len(accs) > 1 else f"{mean:.1f}"
    if lstm:
        out["lstm_params"] = round(statistics.fmean(lstm))
        out["ratio"] = f"{statistics.fmean(ratio):.1f}"
        out["total_params"] = f"{statistics.fmean(total) / 1e6:.2f}M"
    return out


def result_tables(folders: Iterable[str | Path]) -> dict[str, list[dict[str, Any]]]:
    """Per table: every paper row with the paper's figures and ours from the runs found under ``folders``
    (rows without a run say so)."""
    runs = find_runs(folders)
    tables: dict[str, list[dict[str, Any]]] = {}
    naive: dict[str, Optional[float]] = {}
    for row in PAPER_ROWS:
        if row.row.startswith("Naive-LSTM"):
            naive[row.table] = parse_count(row.lstm_params)
        paper_lstm = parse_count(row.lstm_params)
        paper_ratio = row.ratio
        if paper_ratio is None and paper_lstm and naive.get(row.table) and row.experiment:
            paper_ratio = naive[row.table] / paper_lstm
        line: dict[str, Any] = {
            "row": row.row,
            "experiment": row.experiment or "",
            "paper_acc": row.accuracy if row.accuracy is not None else "-",
            "paper_lstm_params": row.lstm_params or "-",
            "paper_ratio": f"{paper_ratio:.1f}" if paper_ratio else "-",
            "paper_total_params": row.total_params or "-",
        }
        if row.experiment is None:
            line.update({"runs": "-", "acc": row.note.split(":")[0]})
        elif row.experiment in runs:
            line.update(summarise_runs(runs[row.experiment]))
        else:
            line.update({"runs": 0, "acc": "no run yet"})
        tables.setdefault(row.table, []).append(line)
    return tables


def write_result_tables(tables: dict[str, list[dict[str, Any]]], out_dir: str | Path) -> list[Path]:
    """``<table>.csv`` per table and one ``tables.md`` with them all, under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [write_csv_rows(rows, out / f"{name}.csv", RESULT_COLUMNS) for name, rows in tables.items()]
    text = "\n\n".join(f"### {TABLE_TITLES[name]}\n\n{markdown(rows, RESULT_COLUMNS)}" for name, rows in tables.items())
    md = out / "tables.md"
    atomic_save(lambda tmp: Path(tmp).write_text(text + "\n"), md)
    return [*written, md]
