"""Single-thread CPU latency of a naive and a compact sequence classifier under three runtimes: PyTorch eager,
TorchScript and onnxruntime (the paper's Raspberry Pi test: one core, a clip of features, batch 1 and 10).

Every figure is the median over many timed calls after a warm-up, in microseconds per clip (a batch's time
divided by its size), with the 10th-90th percentile spread.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from har_vib.compression.onnx_export import export_onnx, onnx_feeds, onnx_session
from har_vib.compression.onnx_lean import export_lean_onnx, supports_lean
from har_vib.errors import ConfigError

RUNTIMES = ("eager", "torchscript", "onnxruntime")


@dataclass(frozen=True)
class Timing:
    """Per-clip latency over ``reps`` timed calls, microseconds."""

    median_us: float
    p10_us: float
    p90_us: float
    reps: int


def single_thread(pin_cpu: Optional[int] = None) -> None:
    """One intra-op and one inter-op thread for torch; with ``pin_cpu``, this process runs on that core only.

    Raises:
        ConfigError: ``pin_cpu`` is not a core this process may run on (names ``--pin-cpu`` and the cores).
    """
    if pin_cpu is not None:
        allowed = sorted(os.sched_getaffinity(0))
        if pin_cpu not in allowed:
            raise ConfigError(f"--pin-cpu {pin_cpu}: this process may run on cores {allowed}; choose one of them")
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set once in this process
        pass
    if pin_cpu is not None:
        os.sched_setaffinity(0, {pin_cpu})


def time_call(
    fn: Callable[[], Any], per_call_items: int = 1, warmup: int = 5, min_reps: int = 20, min_seconds: float = 0.5
) -> Timing:
    """Time ``fn`` after ``warmup`` calls, at least ``min_reps`` times and ``min_seconds`` in all; per item."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < min_reps or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / 1e3 / per_call_items)
        if len(samples) >= 100_000:
            break
    deciles = statistics.quantiles(samples, n=10)
    return Timing(statistics.median(samples), deciles[0], deciles[-1], len(samples))


def runtime_callables(
    model: nn.Module, x: torch.Tensor, lengths: torch.Tensor, workdir: Path, runtimes: Sequence[str] = RUNTIMES
) -> dict[str, Callable[[], Any]]:
    """A no-argument call of ``model`` on ``(x, lengths)`` per runtime (the ONNX file is written to ``workdir``)."""
    model = model.eval().cpu()
    calls: dict[str, Callable[[], Any]] = {}
    if "eager" in runtimes:

        def eager() -> Any:
            with torch.inference_mode():
                return model(x, lengths)

        calls["eager"] = eager
    if "torchscript" in runtimes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation notices
            scripted = torch.jit.optimize_for_inference(torch.jit.script(model).eval())

        def scripted_call() -> Any:
            with torch.inference_mode():
                return scripted(x, lengths)

        calls["torchscript"] = scripted_call
    if "onnxruntime" in runtimes:
        path = Path(workdir) / f"{id(model)}.onnx"
        if supports_lean(model):  # what export_compact writes as pruned.onnx
            export_lean_onnx(model, path)
        else:
            export_onnx(model, path, x, lengths)
        session = onnx_session(path, threads=1)
        binding = session.io_binding()  # inputs bound once: the call measures the model, not Python's copies
        for name, array in onnx_feeds(session, x.numpy(), lengths.numpy()).items():
            binding.bind_cpu_input(name, array)
        binding.bind_output("logits")
        calls["onnxruntime"] = lambda: session.run_with_iobinding(binding)
    return calls


def compare_latency(
    naive: nn.Module,
    compact: nn.Module,
    features: int,
    batches: Sequence[int] = (1, 10),
    steps: int = 25,
    runtimes: Sequence[str] = RUNTIMES,
    min_seconds: float = 0.5,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Rows of ``runtime, batch, naive_us, compact_us, speedup`` (+ spreads) on random ``(batch, steps, features)``
    clips; both models read the same input."""
    rows = []
    gen = torch.Generator().manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        for batch in batches:
            x = torch.randn(batch, steps, features, generator=gen)
            lengths = torch.full((batch,), steps, dtype=torch.long)
            naive_calls = runtime_callables(naive, x, lengths, Path(tmp), runtimes)
            compact_calls = runtime_callables(compact, x, lengths, Path(tmp), runtimes)
            for runtime in runtimes:
                a = time_call(naive_calls[runtime], batch, min_seconds=min_seconds)
                b = time_call(compact_calls[runtime], batch, min_seconds=min_seconds)
                rows.append(
                    {
                        "runtime": runtime,
                        "batch": batch,
                        "steps": steps,
                        "naive_us": round(a.median_us, 2),
                        "compact_us": round(b.median_us, 2),
                        "speedup": round(a.median_us / b.median_us, 1),
                        "naive": asdict(a),
                        "compact": asdict(b),
                    }
                )
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The latency rows as a Markdown table (median microseconds per clip, 10-90% spread)."""
    lines = [
        "| runtime | batch | naive us/clip (p10-p90) | compact us/clip (p10-p90) | speedup |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        a, b = r["naive"], r["compact"]
        lines.append(
            f"| {r['runtime']} | {r['batch']} | {a['median_us']:,.1f} ({a['p10_us']:,.1f}-{a['p90_us']:,.1f}) | "
            f"{b['median_us']:,.2f} ({b['p10_us']:,.2f}-{b['p90_us']:,.2f}) | {r['speedup']:,.0f}x |"
        )
    return "\n".join(lines)
