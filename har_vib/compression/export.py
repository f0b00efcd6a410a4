"""Export a compact model: TorchScript (loadable without har_vib) and a plain state dict with its spec."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from har_vib.compression.params import cell_type
from har_vib.models.sequence_classifier import SequenceClassifier
from har_vib.utils.io import atomic_save, write_json

__all__ = ["export_compact", "model_spec", "write_json"]


def model_spec(model: SequenceClassifier) -> dict[str, Any]:
    """What it takes to rebuild ``model`` from plain torch modules and its state dict."""
    head = [
        {"type": type(m).__name__, **({"in": m.in_features, "out": m.out_features} if isinstance(m, nn.Linear) else {})}
        for m in model.head
    ]
    return {
        "cell": cell_type(model.rnn),
        "rnn_type": type(model.rnn).__name__,
        "input_size": int(model.rnn.input_size),
        "hidden_size": int(model.rnn.hidden_size),
        "batch_first": True,
        "input_index": None if model.input_index is None else model.input_index.tolist(),
        "frontend": None if model.frontend is None else type(model.frontend).__name__,
        "head": head,
        "forward": "x (B, T, F) -> x[..., input_index] -> rnn -> output at step lengths-1 -> head",
    }


def export_compact(model: SequenceClassifier, out_dir: str | Path) -> dict[str, str]:
    """Write ``pruned.pt`` (TorchScript), ``pruned_state_dict.pt`` and ``pruned_spec.json`` into ``out_dir``."""
    out = Path(out_dir)
    model = model.eval().cpu()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*is deprecated", category=FutureWarning)
        scripted = torch.jit.script(model)
    paths = {
        "torchscript": out / "pruned.pt",
        "state_dict": out / "pruned_state_dict.pt",
        "spec": out / "pruned_spec.json",
    }
    atomic_save(lambda tmp: torch.jit.save(scripted, tmp), paths["torchscript"])
    atomic_save(lambda tmp: torch.save(model.state_dict(), tmp), paths["state_dict"])
    write_json(model_spec(model), paths["spec"])
    return {k: str(v) for k, v in paths.items()}
