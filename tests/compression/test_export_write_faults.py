"""Exports that cannot be written (here: past the file size limit, EFBIG from the kernel) raise an ``OSError``
naming the file, leave nothing behind and keep the process alive. ``torch.jit.save`` to a file used to abort
the whole process natively (exit 134, a C++ exception) and leave its ``.tmp-pruned.pt.*`` file; the ONNX
writers raised without a file name; ``torch.save`` raised a RuntimeError; int8 quantization left a truncated
file at its destination."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Runs in a child process: RLIMIT_FSIZE makes every write past LIMIT bytes fail with EFBIG (SIGXFSZ ignored, or
# the kernel would kill the process instead); the last stdout line is what happened, as JSON.
CHILD = r"""
import json, resource, signal, sys, warnings
from pathlib import Path

import torch

from har_vib.models import create_model

warnings.simplefilter("ignore")
kind, out, limit = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
model = create_model("naive_lstm", input_size=8, num_classes=3, hidden_size=6, head_hidden=5).eval()
x, lengths = torch.randn(2, 5, 8), torch.tensor([5, 3])
out.mkdir(parents=True, exist_ok=True)
if kind == "quantize":  # its source file is written before the limit
    from har_vib.compression.onnx_lean import export_lean_onnx
    from har_vib.compression.quantize import quantize_onnx_int8

    export_lean_onnx(model, out / "src.onnx")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    if kind == "compact":
        from har_vib.compression.export import export_compact

        export_compact(model, out, (x, lengths))
    elif kind == "onnx":
        from har_vib.compression.onnx_export import export_onnx

        export_onnx(model, out / "traced.onnx", x, lengths)
    elif kind == "lean":
        from har_vib.compression.onnx_lean import export_lean_onnx

        export_lean_onnx(model, out / "lean.onnx")
    elif kind == "state":
        from har_vib.compression.export import save_torch

        save_torch(model.state_dict(), out / "state.pt")
    elif kind == "quantize":
        quantize_onnx_int8(out / "src.onnx", out / "int8.onnx")
    elif kind == "image":
        from har_vib.callbacks.vibnet_prune import export_image_model
        from har_vib.vibnet.models import IBLeNet5
        from har_vib.vibnet.prune import prune_network

        net = IBLeNet5((1, 8, 8), 3, channels=(2, 3), fc=4, padding=2, use_ib=False)
        export_image_model(prune_network(net, (1, 8, 8)).model, out, torch.zeros(2, 1, 8, 8))
    elif kind == "figure":
        from har_vib.reports.plots import plot_alive_history

        plot_alive_history([{"epoch": e, "hidden": 8 - e, "inputs": 6 - e} for e in range(5)], out / "sparsity.png")
    elif kind == "encoder":
        from har_vib.encoders.plan import EncoderPlan, save_compressed

        save_compressed(out / "encoder", torch.nn.Linear(64, 64), EncoderPlan("vib", 32, [], {}))
    result = {"raised": None}
except Exception as err:
    result = {"raised": type(err).__name__, "errno": getattr(err, "errno", None),
              "filename": getattr(err, "filename", None)}
print(json.dumps(result))
"""


def _run(kind: str, out: Path, limit: int) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(out), str(limit)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    return proc, json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("kind", "limit", "target"),
    [
        ("compact", 4096, "pruned.pt"),  # TorchScript: the native abort
        ("image", 4096, "pruned.pt"),  # the image (VIBNet / LeNet) export's TorchScript file
        ("state", 512, "state.pt"),  # torch.save: a RuntimeError without a path
        ("onnx", 512, "traced.onnx"),  # torch.onnx.export: an OSError without a path
        ("lean", 512, "lean.onnx"),  # onnx.save: an OSError without a path
        ("figure", 2048, "sparsity.png"),  # matplotlib wrote straight to the file: a truncated png, no path
        ("encoder", 4096, None),  # a compressed encoder's weights: torch.save's RuntimeError without a path
    ],
)
def test_export_over_the_size_limit_raises_oserror_naming_the_file(tmp_path: Path, kind: str, limit: int, target):
    out = tmp_path / "out"
    _, result = _run(kind, out, limit)
    if target is None:  # written inside a temp folder renamed into place when complete
        assert result["raised"] == "OSError" and result["errno"] == errno.EFBIG
        assert result["filename"].endswith("encoder.pt")
    else:
        assert result == {"raised": "OSError", "errno": errno.EFBIG, "filename": str(out / target)}
    assert [p.name for p in out.iterdir()] == []  # the failed file is not there, nor any temp file


def test_int8_quantization_leaves_no_partial_file(tmp_path: Path):
    """The int8 file (3159 bytes here) is over the limit, its source (2348 bytes) and onnxruntime's scratch
    copy of it are under."""
    out = tmp_path / "out"
    _, result = _run("quantize", out, 2800)
    assert result == {"raised": "OSError", "errno": errno.EFBIG, "filename": str(out / "int8.onnx")}
    assert sorted(p.name for p in out.iterdir()) == ["src.onnx"]


def test_exports_under_the_limit_are_complete(tmp_path: Path):
    """The in-memory serialisation writes the same loadable files when the disk has room."""
    import torch

    out = tmp_path / "out"
    _, result = _run("compact", out, 1 << 26)
    assert result == {"raised": None}
    assert sorted(p.name for p in out.iterdir()) == [
        "pruned.onnx",
        "pruned.pt",
        "pruned_spec.json",
        "pruned_state_dict.pt",
    ]
    scripted = torch.jit.load(str(out / "pruned.pt"))
    state = torch.load(out / "pruned_state_dict.pt", weights_only=True)
    assert set(state) == set(scripted.state_dict())
