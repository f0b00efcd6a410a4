"""The latency benchmark: a run folder's export is rebuilt exactly, compared against its original size under
every runtime, and reported as rows with the documented keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from har_vib.compression import compress
from har_vib.compression.export import export_compact
from har_vib.deploy.latency import RUNTIMES, compare_latency, markdown
from har_vib.deploy.models import PAPER_COMPACT_HIDDEN, paper_scale_pair, run_pair
from har_vib.models import create_model


def _tiny_run(folder: Path) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model("vib_lstm", input_size=12, num_classes=3, hidden_size=10, head_hidden=6).eval()
    with torch.no_grad():
        model.input_ib.logvar[[0, 5, 7]] = 10.0
        model.rnn.gate_ib.logvar[[1, 4]] = 10.0
    result = compress(model)
    x = torch.randn(2, 5, 12)
    export_compact(result.model, folder, (x, torch.tensor([5, 3])))
    (folder / "compression.json").write_text(json.dumps(result.report))
    return result.model


def test_run_pair_rebuilds_the_export_and_sizes_the_naive_model(tmp_path: Path):
    compact_ref = _tiny_run(tmp_path)
    naive, compact, features = run_pair(tmp_path)
    assert features == 12 and naive.rnn.input_size == 12 and naive.rnn.hidden_size == 10
    assert compact.rnn.input_size == 9 and compact.rnn.hidden_size == 8
    scripted = torch.jit.load(str(tmp_path / "pruned.pt"))
    x, lengths = torch.randn(3, 7, 12), torch.tensor([7, 2, 5])
    with torch.no_grad():
        assert torch.allclose(compact(x, lengths), scripted(x, lengths), atol=1e-6)
        assert torch.allclose(compact(x, lengths), compact_ref.eval()(x, lengths), atol=1e-6)
    assert naive(x, lengths).shape == (3, 3)


def test_latency_rows_cover_every_runtime_and_batch(tmp_path: Path):
    _tiny_run(tmp_path)
    naive, compact, features = run_pair(tmp_path)
    rows = compare_latency(naive, compact, features, batches=(1, 3), steps=4, min_seconds=0.01)
    assert [(r["runtime"], r["batch"]) for r in rows] == [(rt, b) for b in (1, 3) for rt in RUNTIMES]
    for r in rows:
        assert r["naive_us"] > 0 and r["compact_us"] > 0 and r["naive"]["reps"] >= 20
        # speedup is rounded from the unrounded times, naive_us / compact_us from the rounded ones: 0.05 + slack
        assert r["speedup"] == pytest.approx(r["naive_us"] / r["compact_us"], abs=0.06)
    assert "| onnxruntime | 3 |" in markdown(rows)


def test_paper_scale_pair_has_the_papers_sizes():
    naive, compact, features = paper_scale_pair()
    count = lambda m: sum(p.numel() for p in m.rnn.parameters())  # noqa: E731
    assert features == 2048 and count(naive) == 4 * 2048 * 4096 + 8 * 2048 == 33_570_816
    assert count(compact) == 4 * 9 * (9 + 46) + 8 * 9 == 2052 and compact.rnn.hidden_size == PAPER_COMPACT_HIDDEN
    assert compact(torch.randn(1, 25, 2048)).shape == (1, 11)


@pytest.mark.parametrize("script", ["bench_inference", "bench_clip"])
def test_pin_cpu_outside_the_allowed_cores_is_one_line(tmp_path: Path, capsys, script: str):
    """--pin-cpu on a core this process may not use: exit 2 and one line naming --pin-cpu (no OSError)."""
    import importlib
    import os

    main = importlib.import_module(f"scripts.{script}").main
    bad = max(os.sched_getaffinity(0)) + 100
    args = ["--paper-scale"] if script == "bench_inference" else [str(tmp_path)]
    assert main([*args, "--pin-cpu", str(bad)]) == 2
    assert f"--pin-cpu {bad}: this process may run on cores" in capsys.readouterr().err


class _Payload:
    """A pickle that would create ``marker`` when unpickled by an unrestricted loader."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_hostile_pruned_state_dict_is_refused_without_running(tmp_path: Path):
    """A run folder's pruned_state_dict.pt is read with weights_only=True whatever torch's default: a pickle that
    would run code is one ConfigError naming the file, and its payload never runs."""
    from har_vib.errors import ConfigError

    _tiny_run(tmp_path)
    marker = tmp_path / "payload-ran"
    torch.save({"rnn.weight_ih_l0": _Payload(marker)}, tmp_path / "pruned_state_dict.pt")
    with pytest.raises(ConfigError, match=r"pruned_state_dict.pt: not readable as the run's pruned_state_dict.pt"):
        run_pair(tmp_path)
    assert not marker.exists()


def test_every_torch_load_in_the_project_is_weights_only():
    """Static check over har_vib/, scripts/ and train.py: each torch.load call passes weights_only=True
    explicitly (torch < 2.6 defaults to False), and no message tells a user to turn it off."""
    import ast

    root = Path(__file__).resolve().parents[1]
    files = [*root.glob("har_vib/**/*.py"), *root.glob("scripts/*.py"), root / "train.py"]
    unsafe = []
    for path in files:
        source = path.read_text()
        assert "weights_only=False" not in source, f"{path} mentions weights_only=False"
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "load"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "torch"
            ):
                flag = next((k.value for k in node.keywords if k.arg == "weights_only"), None)
                if not (isinstance(flag, ast.Constant) and flag.value is True):
                    unsafe.append(f"{path.relative_to(root)}:{node.lineno}")
    assert len(files) > 50 and not unsafe, unsafe
