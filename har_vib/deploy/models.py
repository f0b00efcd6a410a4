"""The model pairs the latency benchmark compares: a run folder's exported compact model against a dense one of
the run's original size, or the paper's UCF11 sizes without any data."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from har_vib.errors import ConfigError
from har_vib.models.sequence_classifier import SequenceClassifier, make_head
from har_vib.models.temporal_segments import TemporalSegmentPool
from har_vib.utils.checkpoints import load_tensors

# the paper's compact UCF11 LSTM has 2,052 parameters (Srivastava et al., WACV 2021, arXiv:2010.01343; the bias
# convention is in docs/methods/vib-lstm.md); with 9 hidden units and two bias
# vectors that is 46 of the 2048 Inception-v3 features (4*9*(9+46) + 8*9 = 2,052)
PAPER_FEATURES, PAPER_HIDDEN, PAPER_CLASSES = 2048, 2048, 11
PAPER_COMPACT_INPUTS, PAPER_COMPACT_HIDDEN = 46, 9


def paper_scale_pair(seed: int = 0) -> tuple[SequenceClassifier, SequenceClassifier, int]:
    """Naive LSTM 2048 -> 2048 + Linear(2048, 11) against the compact 46 -> 9 LSTM + Linear(9, 11) that reads
    46 of the 2048 features; and the feature width both take."""
    gen = torch.Generator().manual_seed(seed)
    naive = SequenceClassifier(
        nn.LSTM(PAPER_FEATURES, PAPER_HIDDEN, batch_first=True), make_head(PAPER_HIDDEN, PAPER_CLASSES)
    )
    kept = torch.randperm(PAPER_FEATURES, generator=gen)[:PAPER_COMPACT_INPUTS].sort().values
    compact = SequenceClassifier(
        nn.LSTM(PAPER_COMPACT_INPUTS, PAPER_COMPACT_HIDDEN, batch_first=True),
        make_head(PAPER_COMPACT_HIDDEN, PAPER_CLASSES),
        input_index=kept,
        input_features=PAPER_FEATURES,
    )
    return naive.eval(), compact.eval(), PAPER_FEATURES


def _head_from_spec(spec: dict, in_features: int) -> nn.Sequential:
    head = spec["head"]
    classes = head[-1]["out"]
    return make_head(in_features, classes, head[0]["out"] if len(head) > 1 else 0)


def load_compact(run: str | Path) -> SequenceClassifier:
    """Rebuild a run's exported compact model as plain modules from ``pruned_spec.json`` and
    ``pruned_state_dict.pt`` (so eager PyTorch can be timed as well as the TorchScript file)."""
    run = Path(run)
    spec_path, state_path = run / "pruned_spec.json", run / "pruned_state_dict.pt"
    if not spec_path.is_file() or not state_path.is_file():
        raise ConfigError(f"{run}: no pruned_spec.json / pruned_state_dict.pt; pass the folder of a finished run")
    spec = json.loads(spec_path.read_text())
    state = load_tensors(state_path, "the run's pruned_state_dict.pt (a state dict of tensors)")
    if spec["rnn_type"] not in ("LSTM", "GRU"):
        raise ConfigError(f"{run}: the benchmark rebuilds LSTM/GRU exports, this run exported {spec['rnn_type']}")
    rnn_cls = nn.LSTM if spec["rnn_type"] == "LSTM" else nn.GRU
    frontend = None
    if spec.get("frontend"):
        segments = len({k.split(".")[2] for k in state if k.startswith("frontend.norms.")})
        frontend = TemporalSegmentPool(spec["input_size"], segments)
    index = state.get("input_index")
    features = spec.get("input_features")
    if features is None and index is not None:  # a spec written before it recorded the width x takes
        comp_path = run / "compression.json"
        if not comp_path.is_file():
            raise ConfigError(f"{run}: no input_features in pruned_spec.json and no compression.json to read it from")
        features = json.loads(comp_path.read_text())["input_dim_before"]
    model = SequenceClassifier(
        rnn_cls(spec["input_size"], spec["hidden_size"], batch_first=True),
        _head_from_spec(spec, spec["hidden_size"]),
        input_index=index,
        frontend=frontend,
        input_features=None if features is None else int(features),
    )
    model.load_state_dict(state)
    return model.eval()


def run_pair(run: str | Path, seed: int = 0) -> tuple[SequenceClassifier, SequenceClassifier, int]:
    """A run's compact model against a dense model of the run's original size (same cell and head layout;
    latency does not depend on the weights, so it is seeded random), and the input width."""
    run = Path(run)
    comp_path = run / "compression.json"
    if not comp_path.is_file():
        raise ConfigError(f"{run}: no compression.json; pass the folder of a finished run")
    comp = json.loads(comp_path.read_text())
    compact = load_compact(run)
    torch.manual_seed(seed)
    features, hidden = int(comp["input_dim_before"]), int(comp["hidden_before"])
    rnn_cls = nn.LSTM if comp.get("cell", "lstm") == "lstm" else nn.GRU
    frontend = TemporalSegmentPool(features, compact.frontend.segments) if compact.frontend is not None else None
    naive = SequenceClassifier(
        rnn_cls(features, hidden, batch_first=True),
        _head_from_spec(json.loads((run / "pruned_spec.json").read_text()), hidden),
        frontend=frontend,
    )
    return naive.eval(), compact, features
