"""Cost of the whole CNN-LSTM per clip: the frame encoder (run on every frame of every stream) plus the recurrent
classifier, before and after compression, from the encoder's counted modules and the exported LSTM's shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GATES = {"lstm": 4, "gru": 3}


def recurrent_macs(cell: str, input_dim: int, hidden: int, steps: int, classes: int) -> int:
    """Multiply-accumulates of a one-layer LSTM/GRU over ``steps`` plus its linear head on the last state."""
    gates = GATES.get(cell)
    if gates is None:
        raise ValueError(f"cell must be one of {', '.join(GATES)}, got {cell!r}")
    return steps * gates * hidden * (input_dim + hidden) + hidden * classes


def clip_model_report(
    encoder: Mapping[str, Any],
    compression: Mapping[str, Any],
    frames: int,
    streams: int,
    classes: int,
) -> dict[str, Any]:
    """Parameters and MACs per clip of encoder + recurrent model, before and after.

    ``encoder``: :meth:`VideoDataModule.encoder_summary` (params / MACs per frame before and after);
    ``compression``: the run's compression.json (deployable parameters and shapes before and after pruning).
    The encoder is shared by the streams, so its parameters count once and its MACs ``frames * streams`` times.
    """
    cell = str(compression.get("cell", "lstm"))
    out: dict[str, Any] = {"frames": frames, "streams": streams, "encoder_method": encoder.get("method")}
    for stage in ("before", "after"):
        enc = encoder[stage]
        rnn_params = int(compression[f"total_params_{stage}"])
        rnn_macs = recurrent_macs(
            cell, int(compression[f"input_dim_{stage}"]), int(compression[f"hidden_{stage}"]), frames, classes
        )
        enc_macs = int(enc["macs_per_frame"]) * frames * streams
        out[stage] = {
            "encoder_params": int(enc["params"]),
            "recurrent_params": rnn_params,
            "total_params": int(enc["params"]) + rnn_params,
            "encoder_macs_per_clip": enc_macs,
            "recurrent_macs_per_clip": rnn_macs,
            "total_macs_per_clip": enc_macs + rnn_macs,
        }
    out["param_ratio"] = out["before"]["total_params"] / out["after"]["total_params"]
    out["mac_ratio"] = out["before"]["total_macs_per_clip"] / out["after"]["total_macs_per_clip"]
    return out


def summarize_clip_runs(runs: Mapping[str, list[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """One row per method from its runs' ``(clip_model.json, metrics.json)`` pairs: mean +- std of the compact
    model's test accuracy, the encoder's parameters and MACs per frame as pruned, and the mean parameters / MACs
    per clip of the deployed whole model (before -> after). A clip_model dict carrying ``bench`` (bench_clip.py's
    JSON) adds its single-thread median milliseconds per clip, before -> after; runs without one show ``-``."""
    import statistics

    rows = []
    for method, items in runs.items():
        acc = [100.0 * float(m["test_acc_pruned"]) for _, m in items]

        def mean(key: str, stage: str, items=items) -> float:
            return statistics.mean(float(c[stage][key]) for c, _ in items)

        def enc(stage: str, key: str = "params", items=items) -> float:
            # "compressed": the encoder as pruned; "after": as deployed (outputs trimmed to what the LSTM reads)
            return statistics.mean(float(c["encoder"].get(stage, c["encoder"]["after"])[key]) for c, _ in items)

        benches = [c["bench"] for c, _ in items if c.get("bench")]
        if benches:
            ms: dict[str, list[float]] = {}
            for bench in benches:
                for r in bench["rows"]:
                    ms.setdefault(r["stage"], []).append(float(r["median_ms"]))
            latency = f"{statistics.mean(ms['before']):.1f} -> {statistics.mean(ms['after']):.1f}"
            if len(benches) < len(items):
                latency += f" ({len(benches)} of {len(items)} runs)"
        else:
            latency = "-"

        rows.append(
            {
                "encoder": method,
                "runs": len(items),
                "encoder_pruned": f"{enc('compressed'):,.0f}",
                "encoder_mmacs_per_frame": f"{enc('compressed', 'macs_per_frame') / 1e6:,.1f}",
                "encoder_params": f"{enc('before'):,.0f} -> {enc('after'):,.0f}",
                "total_params": f"{mean('total_params', 'before'):,.0f} -> {mean('total_params', 'after'):,.0f}",
                "macs_per_clip": (
                    f"{mean('total_macs_per_clip', 'before') / 1e6:,.1f}M -> "
                    f"{mean('total_macs_per_clip', 'after') / 1e6:,.1f}M"
                ),
                "param_ratio": f"{statistics.mean(float(c['param_ratio']) for c, _ in items):.1f}x",
                "mac_ratio": f"{statistics.mean(float(c['mac_ratio']) for c, _ in items):.2f}x",
                "ms_per_clip": latency,
                "test_acc": f"{statistics.mean(acc):.1f} +- {statistics.pstdev(acc):.1f}",
            }
        )
    return rows
