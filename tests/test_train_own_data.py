"""train.py on your own sequences: a real dataset saved as .npz, trained, exported and read back with its class
names; a bad file is one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from har_vib.compression.onnx_export import onnx_feeds, onnx_session
from har_vib.data.sequences import load_bundled
from tests.conftest import TINY_RUN, train_subprocess


def _vowels_npz(path: Path) -> dict[str, np.ndarray]:
    """aeon's JapaneseVowels (real: 12 channels, 7..29 steps, 9 speakers) as one .npz with NaN padding, string
    labels, lengths and a train/test split; a few real steps set to NaN (imputed)."""
    train, test = load_bundled("JapaneseVowels", "train"), load_bundled("JapaneseVowels", "test")
    seqs = train.sequences + test.sequences
    x = np.full((len(seqs), max(len(s) for s in seqs), 12), np.nan, dtype=np.float32)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
    x[[0, 5, 300, 301], 0, [0, 3, 1, 2]] = np.nan
    arrays = {
        "X": x,
        "y": np.array([f"speaker{c}" for c in np.concatenate([train.labels, test.labels])]),
        "lengths": np.array([len(s) for s in seqs]),
        "split": np.array(["train"] * len(train) + ["test"] * len(test)),
    }
    np.savez(path, **arrays)
    return arrays


@pytest.mark.slow
def test_npz_run_exports_models_that_read_back_with_class_names(tmp_path: Path):
    data = _vowels_npz(tmp_path / "vowels.npz")
    run = tmp_path / "run"
    proc = train_subprocess(
        "dataset=arrays", f"dataset.path={tmp_path / 'vowels.npz'}", "dataset.batch_size=32", *TINY_RUN,
        f"hydra.run.dir={run}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (run / "train.log").read_text()
    imputed = re.search(r"training mean \(0 after standardisation\): train (\d+), val (\d+), test (\d+)", log)
    assert imputed and int(imputed[1]) + int(imputed[2]) == 2 and int(imputed[3]) == 2  # train NaNs: train or val
    assert re.search(r"data: 216 train / 54 val / 370 test sequences, 12 channel\(s\), \d+\.\.\d+ steps, 9 cl", log)
    info = json.loads((run / "classes.json").read_text())
    assert info["classes"] == [f"speaker{i}" for i in range(1, 10)]
    assert info["sizes"] == {"train": 216, "val": 54, "test": 370} and info["channels"] == 12
    # the test part, preprocessed from the raw arrays with classes.json alone
    test = data["split"] == "test"
    x, lengths, names = data["X"][test], data["lengths"][test], data["y"][test]
    fill, mean, std = (np.asarray(info[k], dtype=np.float32) for k in ("fill", "mean", "std"))
    steps = np.arange(x.shape[1])[None, :, None] < lengths[:, None, None]
    x = np.where(steps, (np.where(np.isnan(x), fill, x) - mean) / std, 0.0).astype(np.float32)
    scripted = torch.jit.load(str(run / "pruned.pt"))
    with torch.no_grad():
        ts_logits = scripted(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()
    session = onnx_session(run / "pruned.onnx")
    onnx_logits = session.run(None, onnx_feeds(session, x, lengths))[0]
    assert np.array_equal(onnx_logits.argmax(1), ts_logits.argmax(1))
    predicted = np.array(info["classes"])[onnx_logits.argmax(1)]
    assert set(predicted) <= set(info["classes"])
    metrics = json.loads((run / "metrics.json").read_text())
    assert float(np.mean(predicted == names)) == pytest.approx(metrics["test_acc_pruned"], abs=1.5 / 370)


@pytest.mark.slow
def test_bad_npz_from_the_command_line_is_one_line(tmp_path: Path):
    np.savez(tmp_path / "bad.npz", X=np.zeros((10, 4, 2)), labels=np.arange(10))
    run = tmp_path / "run"
    proc = train_subprocess("dataset=arrays", f"dataset.path={tmp_path / 'bad.npz'}", *TINY_RUN, f"hydra.run.dir={run}")
    assert proc.returncode == 2
    assert f"error: dataset.path={tmp_path / 'bad.npz'}: no 'y' array; it holds ['X', 'labels']" in proc.stderr
    assert "Traceback" not in proc.stderr and not run.exists()
