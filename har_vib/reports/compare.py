"""Every compression method on the same data and seeds: run ``train.py`` per (dataset, method, seed), then one
table of LSTM parameters, compression ratio, accuracy mean +- std and wall time per method.

The controls are matched to VIB: ``small_lstm`` trains at the hidden size the same seed's VIB run ended with,
and ``magnitude_lstm`` keeps as many parameters as that VIB run's compact LSTM has.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from har_vib.utils.io import write_json
from har_vib.utils.run_status import is_finished

ROOT = Path(__file__).resolve().parents[2]

# per dataset: the overrides that select it (aeon's shipped sets, and the generated videos of make demo-video)
DATASETS: dict[str, list[str]] = {
    "basicmotions": ["dataset=ts", "dataset.name=BasicMotions"],
    "japanesevowels": ["dataset=ts", "dataset.name=JapaneseVowels"],
    "arrowhead": ["dataset=ts", "dataset.name=ArrowHead"],
    "italypowerdemand": ["dataset=ts", "dataset.name=ItalyPowerDemand"],
    "osuleaf": ["dataset=ts", "dataset.name=OSULeaf"],
    "acsf1": ["dataset=ts", "dataset.name=ACSF1"],
    "gunpoint": ["dataset=ts", "dataset.name=GunPoint"],
    "synthetic_video": ["experiment=demo_video"],
}

# methods in run order: vib_lstm comes before the controls matched to it
METHODS: dict[str, list[str]] = {
    "naive_lstm": ["model=naive_lstm"],
    "vib_lstm": ["model=vib_lstm"],
    "feature_vib_lstm": ["model=feature_vib_lstm"],
    "iss_lstm": ["model=iss_lstm"],
    "vib_iss_lstm": ["model=vib_iss_lstm"],
    "tt_lstm": ["model=tt_lstm"],
    "tr_lstm": ["model=tr_lstm"],
    "ts_lstm": ["model=ts_lstm"],
    "ts_vib_lstm": ["model=ts_vib_lstm"],
    "small_lstm": ["model=small_lstm"],
    "magnitude_lstm": ["model=magnitude_lstm"],
    # not an LSTM: aeon's MiniRocket on the same sequences (scripts/minirocket_reference.py), how good any model
    # gets on the dataset; sequence datasets only
    "minirocket": [],
}

# methods that are not train.py runs
REFERENCES = ("minirocket",)

COLUMNS = (
    "dataset",
    "method",
    "runs",
    "lstm_params",
    "compression_ratio",
    "vs_naive",
    "acc_mean",
    "acc_std",
    "wall_s",
)


@dataclass
class RunResult:
    """One finished ``train.py`` run of the comparison."""

    dataset: str
    method: str
    seed: int
    folder: Path
    accuracy: float
    lstm_params: Optional[int]
    compression_ratio: Optional[float]
    hidden_after: Optional[int]
    wall_s: float


def matched_overrides(method: str, vib: Optional[RunResult]) -> list[str]:
    """Overrides that size the controls like the same seed's VIB run (nothing for other methods)."""
    if method not in ("small_lstm", "magnitude_lstm"):
        return []
    if vib is None:
        raise ValueError(f"{method} is matched to a vib_lstm run of the same seed: run vib_lstm first")
    if method == "small_lstm":
        return [f"model.net.hidden_size={max(vib.hidden_after, 1)}"]
    return [f"model.magnitude_keep={max(vib.lstm_params, 1)}"]


def read_result(dataset: str, method: str, seed: int, folder: Path) -> Optional[RunResult]:
    """The result a finished run left in ``folder`` (None when it has not finished)."""
    metrics_path, comp_path, timing = folder / "metrics.json", folder / "compression.json", folder / "wall_time.json"
    if method in REFERENCES:  # no model to compress: accuracy and time only
        if not (is_finished(folder) and metrics_path.is_file() and timing.is_file()):
            return None
        acc = float(json.loads(metrics_path.read_text())["test_acc"])
        wall = float(json.loads(timing.read_text())["wall_s"])
        return RunResult(dataset, method, seed, folder, acc, None, None, None, wall)
    if not (is_finished(folder) and metrics_path.is_file() and comp_path.is_file() and timing.is_file()):
        return None
    metrics, comp = json.loads(metrics_path.read_text()), json.loads(comp_path.read_text())
    acc = metrics.get("test_acc_pruned")
    return RunResult(
        dataset=dataset,
        method=method,
        seed=seed,
        folder=folder,
        accuracy=float(metrics["test_acc"] if acc is None else acc),
        lstm_params=int(comp["lstm_params_after"]),
        compression_ratio=comp.get("compression_ratio"),
        hidden_after=int(comp["hidden_after"]),
        wall_s=float(json.loads(timing.read_text())["wall_s"]),
    )


def run_one(
    dataset: str,
    method: str,
    seed: int,
    out_dir: Path,
    extra: Sequence[str] = (),
    vib: Optional[RunResult] = None,
    runner: Optional[Callable[[list[str]], subprocess.CompletedProcess]] = None,
) -> RunResult:
    """Train one (dataset, method, seed) in ``out_dir/dataset/method/seed<k>``; a finished run is reused when it
    was run with the same overrides.

    Raises:
        RuntimeError: the run failed, or the folder holds a run made with other overrides (its results would not
            be this comparison's).
    """
    folder = out_dir / dataset / method / f"seed{seed}"
    if method in REFERENCES:
        if not is_sequence_dataset(dataset):
            raise ValueError(f"{method} runs on sequence datasets (dataset=ts), not {dataset!r}")
        args = [f"--out={folder}", *DATASETS[dataset], f"seed={seed}", *_dataset_overrides(extra)]
    else:
        args = [
            *DATASETS[dataset],
            *METHODS[method],
            *matched_overrides(method, vib),
            f"seed={seed}",
            "logger=csv",
            f"hydra.run.dir={folder}",
            *extra,
        ]
    if is_finished(folder):
        _check_same_overrides(folder, method, args)
    done = read_result(dataset, method, seed, folder)
    if done is not None:
        return done
    if is_finished(folder):  # finished, but killed before its wall time was written: the time is lost, not the run
        write_json({"wall_s": float("nan")}, folder / "wall_time.json")
        return read_result(dataset, method, seed, folder)
    if method not in REFERENCES and (folder / "checkpoints" / "last.ckpt").is_file():  # killed: continue it
        args = [f"resume={folder}"]
    run = runner or (_reference_subprocess if method in REFERENCES else _train_subprocess)
    start = time.perf_counter()
    proc = run(args)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr or "")[-2000:]
        script = "scripts/minirocket_reference.py" if method in REFERENCES else "train.py"
        raise RuntimeError(f"{script} {' '.join(args)} failed (exit {proc.returncode}):\n{tail}")
    write_json({"wall_s": wall}, folder / "wall_time.json")
    result = read_result(dataset, method, seed, folder)
    if result is None:
        raise RuntimeError(f"{folder}: train.py finished without metrics.json / compression.json")
    return result


def recorded_overrides(folder: Path, method: str) -> Optional[list[str]]:
    """The overrides the run in ``folder`` was made with (Hydra's ``.hydra/overrides.yaml``, or the reference's
    ``reference.json``); None when the folder does not say."""
    if method in REFERENCES:
        path = folder / "reference.json"
        return json.loads(path.read_text()).get("overrides") if path.is_file() else None
    path = folder / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return None
    import yaml

    return [str(o) for o in yaml.safe_load(path.read_text()) or []]


def _check_same_overrides(folder: Path, method: str, args: Sequence[str]) -> None:
    recorded = recorded_overrides(folder, method)
    wanted = [a for a in args if not a.startswith(("hydra.", "--out="))]
    if recorded is not None and recorded != wanted:
        raise RuntimeError(
            f"{folder} holds a finished run made with other overrides ({' '.join(recorded)}), not "
            f"({' '.join(wanted)}): its results are not this comparison's; give another --out or delete the folder"
        )


def is_sequence_dataset(dataset: str) -> bool:
    """Whether ``dataset`` (a key of :data:`DATASETS`) is a sequence dataset (``dataset=ts``)."""
    return DATASETS[dataset][0] == "dataset=ts"


def _dataset_overrides(extra: Sequence[str]) -> list[str]:
    """The overrides of ``extra`` that change the data (``dataset.*``): what a reference must see too."""
    return [o for o in extra if o.lstrip("+~").startswith("dataset.")]


def _reference_subprocess(args: list[str]) -> subprocess.CompletedProcess:
    script = ROOT / "scripts" / "minirocket_reference.py"
    return subprocess.run([sys.executable, str(script), *args], cwd=ROOT, capture_output=True, text=True, check=False)


def _train_subprocess(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def summarise(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """One row per (dataset, method): means over seeds, accuracy in % with its std across seeds."""
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for r in results:
        groups.setdefault((r.dataset, r.method), []).append(r)
    rows = []
    for (dataset, method), runs in groups.items():
        accs = [100.0 * r.accuracy for r in runs]
        ratios = [r.compression_ratio for r in runs if r.compression_ratio]
        sizes = [r.lstm_params for r in runs if r.lstm_params is not None]
        rows.append(
            {
                "dataset": dataset,
                "method": method,
                "runs": len(runs),
                "lstm_params": round(statistics.fmean(sizes)) if sizes else None,
                "compression_ratio": round(statistics.fmean(ratios), 1) if ratios else None,
                "acc_mean": round(statistics.fmean(accs), 1),
                "acc_std": round(statistics.stdev(accs), 1) if len(accs) > 1 else 0.0,
                "wall_s": round(statistics.fmean(r.wall_s for r in runs), 1),
            }
        )
    naive = {r["dataset"]: r["lstm_params"] for r in rows if r["method"] == "naive_lstm"}
    for r in rows:  # against the dense baseline: what a size-matched control (small_lstm) is compared by
        known = r["dataset"] in naive and r["lstm_params"]
        r["vs_naive"] = round(naive[r["dataset"]] / r["lstm_params"], 1) if known else None
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The comparison as Markdown: accuracy as mean +- std."""
    lines = [
        "| dataset | method | seeds | LSTM params | compression (own) | vs naive_lstm | test acc (%) | wall time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r['compression_ratio']:.1f}x" if r["compression_ratio"] else "-"
        vs = f"{r['vs_naive']:.1f}x" if r.get("vs_naive") else "-"
        params = f"{r['lstm_params']:,}" if r["lstm_params"] is not None else "-"
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['runs']} | {params} | {ratio} | {vs} | "
            f"{r['acc_mean']:.1f} +- {r['acc_std']:.1f} | {r['wall_s']:.0f} |"
        )
    return "\n".join(lines)
