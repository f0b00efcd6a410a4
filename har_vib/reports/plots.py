"""Matplotlib figures: alive units over training, a beta sweep's accuracy and size against beta, and the
accuracy-size Pareto front of a sweep."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

import matplotlib

from har_vib.utils.io import save_figure

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_alive_history(history: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """One line per bottleneck: units kept at the end of each training epoch."""
    path = Path(path)
    keys = [k for k in history[0] if k != "epoch"] if history else []
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    epochs = [h["epoch"] for h in history]
    for key in keys:
        ax.plot(epochs, [h[key] for h in history], label=key, linewidth=2 if key == "hidden" else 1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("units kept (log SNR > threshold)")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_title("VIB sparsity over training")
    ax.grid(True, alpha=0.3)
    if keys:
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)  # atomic: never a half-written figure
    plt.close(fig)
    return path


def plot_beta_sweep(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Test accuracy (trained and pruned) and LSTM parameters against beta, log-scaled x axis."""
    path = Path(path)
    rows = sorted(rows, key=lambda r: r["beta"])
    betas = [r["beta"] for r in rows]
    fig, ax_acc = plt.subplots(figsize=(6.4, 4.0))
    for key, style in (("test_acc", "o--"), ("test_acc_pruned", "o-")):
        pts = [(b, r[key]) for b, r in zip(betas, rows) if r.get(key) is not None]
        if pts:
            ax_acc.plot([p[0] for p in pts], [100 * p[1] for p in pts], style, label=key)
    ax_acc.set_xscale("log")
    ax_acc.set_xlabel("beta")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_par = ax_acc.twinx()
    pts = [(b, r["lstm_params_after"]) for b, r in zip(betas, rows) if r.get("lstm_params_after") is not None]
    if pts:
        ax_par.plot([p[0] for p in pts], [max(p[1], 1) for p in pts], "s:", color="tab:red", label="LSTM params")
    ax_par.set_yscale("log")
    ax_par.set_ylabel("LSTM parameters after pruning", color="tab:red")
    lines = ax_acc.get_legend_handles_labels()
    lines2 = ax_par.get_legend_handles_labels()
    ax_acc.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="best")
    ax_acc.grid(True, alpha=0.3)
    ax_acc.set_title("beta sweep: accuracy and size")
    fig.tight_layout()
    save_figure(fig, path)  # atomic: never a half-written figure
    plt.close(fig)
    return path


def plot_pareto(
    rows: Sequence[dict[str, Any]],
    front: Sequence[dict[str, Any]],
    path: str | Path,
    accuracy: Callable[[dict[str, Any]], Optional[float]],
) -> Path:
    """Accuracy against LSTM parameters (log x) for every run, the Pareto front joined: the paper's Figure 5
    in spirit (compression rises with beta until accuracy falls off)."""
    path = Path(path)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    pts = [(r["lstm_params_after"], accuracy(r), r.get("beta")) for r in rows]
    pts = [p for p in pts if p[0] is not None and p[1] is not None]
    if pts:
        sc = ax.scatter(
            [max(p[0], 1) for p in pts],
            [100 * p[1] for p in pts],
            c=[math.log10(p[2]) if p[2] else 0.0 for p in pts],
            cmap="viridis",
            s=28,
            label="runs",
        )
        fig.colorbar(sc, ax=ax, label="log10 beta")
    if front:
        ax.step(
            [max(r["lstm_params_after"], 1) for r in front],
            [100 * accuracy(r) for r in front],
            "r-",
            where="post",
            label="Pareto front",
        )
    ax.set_xscale("log")
    ax.set_xlabel("LSTM parameters (exported model)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("accuracy vs size")
    fig.tight_layout()
    save_figure(fig, path)  # atomic: never a half-written figure
    plt.close(fig)
    return path


def plot_encoder_methods(runs: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]], path: str | Path) -> Path:
    """Test accuracy of the compact model against the deployed whole model's MACs per clip (left) and its
    single-thread latency per clip (right, when the runs were benchmarked), one marker per run, coloured by the
    encoder method, the method's mean as a larger marker. ``runs``: ``{method: [(clip_model.json, metrics.json)]}``
    (a clip_model dict may carry bench_clip.py's JSON under ``bench``)."""
    path = Path(path)
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.0), sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (method, items) in enumerate(sorted(runs.items())):
        colour = colours[i % len(colours)]
        acc = [100.0 * float(m["test_acc_pruned"]) for _, m in items]
        macs = [float(c["after"]["total_macs_per_clip"]) / 1e6 for c, _ in items]
        ms = [
            next((float(r["median_ms"]) for r in c["bench"]["rows"] if r["stage"] == "after"), math.nan)
            if c.get("bench")
            else math.nan
            for c, _ in items
        ]
        for ax, xs in ((axes[0], macs), (axes[1], ms)):
            pts = [(x, a) for x, a in zip(xs, acc) if not math.isnan(x)]
            if not pts:
                continue
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=colour, s=18, alpha=0.6)
            mx, my = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
            ax.scatter([mx], [my], color=colour, s=90, marker="D", edgecolor="black", label=method)
    axes[0].set_xlabel("deployed model, MMACs per clip")
    axes[1].set_xlabel("deployed model, ms per clip (1 thread)")
    axes[0].set_ylabel("test accuracy of the compact model (%)")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8, loc="best")
    fig.suptitle("frame-encoder compression: accuracy against cost (small markers: seeds)")
    fig.tight_layout()
    save_figure(fig, path)  # atomic: never a half-written figure
    plt.close(fig)
    return path
