"""trainer=ddp with two CPU processes (gloo): one set of reports, written by rank 0, matching a one-process run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from har_vib.utils.run_status import read_status
from tests.conftest import SUBPROCESS_RUN, train_subprocess

# 2 processes x batch 4 = the one-process run's batch of 8: the same samples per optimiser step (the epoch-seeded
# DistributedSampler deals one permutation out across the ranks) and DDP averages the two halves' gradients
DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "dataset.batch_size=4"]


def _epoch_rows(run: Path, key: str) -> dict[int, float]:
    with open(run / "csv" / "version_0" / "metrics.csv", newline="") as fh:
        return {int(r["epoch"]): float(r[key]) for r in csv.DictReader(fh) if r.get(key) and r.get("epoch")}


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_one_process(tiny_subprocess_run: Path, tmp_path: Path):
    run = tmp_path / "ddp"
    proc = train_subprocess(*SUBPROCESS_RUN, *DDP, f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    status = read_status(run)
    assert status["status"] == "finished" and status["attempts"] == 1  # one rank wrote it, once
    single = json.loads((tiny_subprocess_run / "metrics.json").read_text())
    ddp = json.loads((run / "metrics.json").read_text())
    assert ddp.keys() == single.keys()
    # the trained model: the same steps on the same samples; only the bottleneck noise differs (drawn per rank)
    assert abs(ddp["test_acc"] - single["test_acc"]) <= 0.1 and abs(ddp["val_acc"] - single["val_acc"]) <= 0.1
    steps_single, steps_ddp = _epoch_rows(tiny_subprocess_run, "step"), _epoch_rows(run, "step")
    assert steps_ddp == steps_single  # the same number of optimiser steps per epoch
    loss_single, loss_ddp = _epoch_rows(tiny_subprocess_run, "train/ce"), _epoch_rows(run, "train/ce")
    assert loss_ddp.keys() == loss_single.keys() == {0, 1, 2}
    assert all(abs(loss_ddp[e] - loss_single[e]) <= 0.05 * loss_single[e] for e in loss_single)
    # one set of reports: the export and the reports once, no second checkpoint version, no rank-1 run folder
    comp = json.loads((run / "compression.json").read_text())
    assert (
        comp["lstm_params_before"]
        == json.loads((tiny_subprocess_run / "compression.json").read_text())["lstm_params_before"]
    )
    assert sorted(p.name for p in (run / "checkpoints").iterdir())[-1] == "last.ckpt"
    assert not list((run / "checkpoints").glob("*-v1.ckpt")) and sorted(p.name for p in (run / "csv").iterdir()) == [
        "version_0"
    ]
    assert (run / "pruned.pt").is_file() and (run / "pruned.onnx").is_file()
