"""Kill a run (SIGKILL, no cleanup) and resume it: it must end exactly where an uninterrupted run ends."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from har_vib.datamodules.samplers import EpochIndex, EpochSampler, item_rng
from har_vib.errors import ConfigError
from har_vib.loggers import RunCSVLogger
from har_vib.resume import merge_overrides, resolve_resume
from har_vib.utils.checkpoints import lightning_safe_globals
from har_vib.utils.run_status import mark, read_status, run_state
from tests.conftest import SUBPROCESS_RUN, train_subprocess

KILL = ["+callbacks.kill._target_=tests.kill_switch.KillAt"]
NEVER = ["+callbacks.kill.where=never"]  # the resumed run re-applies the run's overrides: disarm the switch


def _results(run: Path) -> dict:
    """What must not depend on the interruption: the metrics, the compression report (less latencies) and the
    logged curves."""
    comp = json.loads((run / "compression.json").read_text())
    comp.pop("deploy", None)  # measured latencies
    return {
        "metrics": json.loads((run / "metrics.json").read_text()),
        "compression": comp,
        "csv": (run / "csv" / "version_0" / "metrics.csv").read_text(),
    }


@pytest.fixture(scope="module")
def uninterrupted(tiny_subprocess_run: Path) -> Path:
    return tiny_subprocess_run


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill",
    [
        ["+callbacks.kill.epoch=1", "+callbacks.kill.batch=2"],  # mid-epoch
        ["+callbacks.kill.where=export"],  # fit done, compact model written, no metrics.json yet
    ],
    ids=["mid_epoch", "in_export"],
)
def test_killed_run_resumes_to_the_same_results(uninterrupted: Path, tmp_path: Path, kill: list[str]):
    run = tmp_path / "killed"
    proc = train_subprocess(*SUBPROCESS_RUN, *KILL, *kill, f"hydra.run.dir={run}")
    assert proc.returncode == -9, proc.stderr[-3000:]  # SIGKILL
    assert run_state(run) == "running"  # killed: not finished, whatever files it wrote
    assert (run / "checkpoints" / "last.ckpt").is_file()
    if kill[-1] == "+callbacks.kill.batch=2":  # a resume with an override that changes the model is refused ...
        kept = {p: p.read_bytes() for p in [*(run / ".hydra").iterdir(), run / "status.json"]}
        proc = train_subprocess(f"resume={run}", *NEVER, "model.net.hidden_size=16")
        assert proc.returncode == 2
        (line,) = proc.stderr.strip().splitlines()
        assert "resume without it" in line
        assert {p: p.read_bytes() for p in kept} == kept  # ... and changes nothing: the run resumes as it was

    proc = train_subprocess(f"resume={run}", *NEVER)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _results(run) == _results(uninterrupted)
    status = read_status(run)
    assert status["status"] == "finished" and status["attempts"] == 2
    assert status["resumed_from"] == str((run / "checkpoints" / "last.ckpt").resolve())
    assert sorted(p.name for p in (run / "csv").iterdir()) == ["version_0"]
    assert not list((run / "checkpoints").glob("*-v1.ckpt"))


@pytest.mark.slow
def test_finished_run_is_never_rerun_into(uninterrupted: Path):
    before = {p: p.stat().st_mtime_ns for p in uninterrupted.rglob("*") if p.is_file()}
    for args in ([f"resume={uninterrupted}"], [*SUBPROCESS_RUN, f"hydra.run.dir={uninterrupted}"]):
        proc = train_subprocess(*args)
        assert proc.returncode == 2
        (line,) = proc.stderr.strip().splitlines()
        assert "finished run" in line and str(uninterrupted) in line
    assert {p: p.stat().st_mtime_ns for p in uninterrupted.rglob("*") if p.is_file()} == before  # nothing written


@pytest.mark.slow
def test_last_checkpoint_is_the_latest_epoch(uninterrupted: Path):
    with lightning_safe_globals():
        ckpt = torch.load(uninterrupted / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 2  # max_epochs=3: the last epoch, not the best one


def _run_folder(tmp_path: Path, overrides: list[str], status: str | None = None, ckpt: bool = True) -> Path:
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (run / ".hydra" / "hydra.yaml").write_text("hydra:\n  overrides:\n    hydra:\n    - hydra.run.dir=somewhere\n")
    if ckpt:
        (run / "checkpoints").mkdir()
        (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
    if status:
        mark(run, status)
    return run


def test_resume_reapplies_the_runs_overrides_then_the_new_ones(tmp_path: Path):
    run = _run_folder(tmp_path, ["model=naive_lstm", "seed=3", "trainer.max_epochs=5"], status="running")
    argv = resolve_resume([f"resume={run}", "trainer.max_epochs=9"])
    assert argv == [
        "model=naive_lstm",
        "seed=3",
        "trainer.max_epochs=9",
        f"ckpt_path={run.resolve() / 'checkpoints' / 'last.ckpt'}",
        f"hydra.run.dir={run.resolve()}",
    ]
    # the same through ckpt_path= pointing into the run folder
    other = run / "checkpoints" / "epoch_001.ckpt"
    other.write_bytes(b"x")
    argv = resolve_resume([f"ckpt_path={other}"])
    assert argv[-2:] == [f"ckpt_path={other.resolve()}", f"hydra.run.dir={run.resolve()}"]


def test_resume_refusals(tmp_path: Path):
    with pytest.raises(ConfigError, match="not a run folder"):
        resolve_resume([f"resume={tmp_path}"])
    run = _run_folder(tmp_path, ["seed=1"], status="running")
    with pytest.raises(ConfigError, match="cannot be combined with -m"):
        resolve_resume(["-m", f"resume={run}"])
    with pytest.raises(ConfigError, match=r"unfinished run with a checkpoint; continue it with resume="):
        resolve_resume(["seed=1", f"hydra.run.dir={run}"])
    mark(run, "finished")
    with pytest.raises(ConfigError, match="holds a finished run"):
        resolve_resume([f"resume={run}"])


def test_resume_before_the_first_checkpoint_starts_the_run_again(tmp_path: Path):
    run = _run_folder(tmp_path, ["seed=1"], status="running", ckpt=False)
    assert resolve_resume([f"resume={run}"]) == ["seed=1", f"hydra.run.dir={run.resolve()}"]


def test_checkpoint_outside_a_run_folder_is_left_to_lightning(tmp_path: Path):
    ckpt = tmp_path / "weights.ckpt"
    ckpt.write_bytes(b"x")
    assert resolve_resume([f"ckpt_path={ckpt}", "seed=2"]) == [f"ckpt_path={ckpt}", "seed=2"]


def test_merge_overrides_one_per_key():
    merged = merge_overrides(["model=vib_lstm", "+a.b=1", "beta=1e-3"], ["beta=1e-5", "+a.b=2"])
    assert merged == ["model=vib_lstm", "beta=1e-5", "+a.b=2"]


def test_run_status_states(tmp_path: Path):
    assert run_state(tmp_path) == "new"
    (tmp_path / "metrics.json").write_text("{}")
    assert run_state(tmp_path) == "finished"  # a folder from before status.json existed
    first = mark(tmp_path, "running")
    assert run_state(tmp_path) == "running" and first["attempts"] == 1  # status.json now decides
    again = mark(tmp_path, "running")
    assert again["attempts"] == 2 and again["started"] == first["started"]
    mark(tmp_path, "finished")
    assert run_state(tmp_path) == "finished"


def test_csv_logger_keeps_the_rows_before_the_checkpoint(tmp_path: Path):
    first = RunCSVLogger(str(tmp_path))
    for step in range(6):
        first.log_metrics({"loss": float(step)}, step=step)
    first.save()
    resumed = RunCSVLogger(str(tmp_path), resume_from_step=4)
    resumed.log_metrics({"loss": 40.0, "acc": 0.5}, step=4)
    resumed.save()
    lines = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().splitlines()
    assert lines[0] == "acc,loss,step"
    assert lines[1:] == [f",{s}.0,{s}" for s in range(4)] + ["0.5,40.0,4"]
    assert not (tmp_path / "csv" / "version_1").exists()


def test_epoch_sampler_is_distributed_samplers_order_with_the_epoch_attached():
    data = list(range(23))
    ours, torch_own = EpochSampler(data, seed=5), DistributedSampler(data, num_replicas=1, rank=0, seed=5)
    for epoch in (0, 3):
        ours.set_epoch(epoch)
        torch_own.set_epoch(epoch)
        got = list(ours)
        assert got == list(torch_own) and {(i.seed, i.epoch) for i in got} == {(5, epoch)}
    index = pickle.loads(pickle.dumps(EpochIndex(7, 5, 3)))
    assert (int(index), index.seed, index.epoch) == (7, 5, 3)


class _Draws(Dataset):
    def __len__(self) -> int:
        return 12

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.tensor(item_rng(i).random(), dtype=torch.float64)


@pytest.mark.parametrize("workers", [0, 2])
def test_item_randomness_depends_on_seed_epoch_index_only(workers: int):
    """The random choices per clip (frames, flips) are the same with any number of DataLoader workers and whatever
    the global random stream did before: what a resumed run needs."""
    sampler = EpochSampler(_Draws(), seed=1)
    sampler.set_epoch(2)
    torch.manual_seed(123 + workers)  # a different global stream each time
    got = torch.cat(list(DataLoader(_Draws(), batch_size=4, sampler=sampler, num_workers=workers)))
    expected = []
    plain = DistributedSampler(range(12), num_replicas=1, rank=0, seed=1)
    plain.set_epoch(2)
    for i in plain:
        expected.append(np.random.default_rng([1, 2, i]).random())
    assert got.tolist() == pytest.approx(expected, abs=0)


def test_reports_skip_a_run_killed_after_metrics_json(tmp_path: Path):
    from har_vib.reports.compare import read_result

    for name in ("metrics.json", "compression.json"):
        (tmp_path / name).write_text(json.dumps({"test_acc": 0.5, "lstm_params_after": 10, "hidden_after": 2}))
    (tmp_path / "wall_time.json").write_text('{"wall_s": 1.0}')
    mark(tmp_path, "running")  # killed in testing, after the reports were written
    assert read_result("ts", "vib", 0, tmp_path) is None
    mark(tmp_path, "finished")
    assert read_result("ts", "vib", 0, tmp_path).accuracy == 0.5


def test_a_refused_config_leaves_no_run_folder(tmp_path: Path):
    run = tmp_path / "run"
    proc = train_subprocess("beta=abc", f"hydra.run.dir={run}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: beta='abc': must be a number >= 0 (the weight of the KL term); e.g. beta=1e-5"
    ]
    assert not run.exists()  # Hydra made it (.hydra/, train.log); nothing of a run was in it
    (run / "results").mkdir(parents=True)  # a folder that holds anything else is left alone
    assert train_subprocess("beta=abc", f"hydra.run.dir={run}").returncode == 2
    assert (run / "results").is_dir()


def test_csv_logger_resumed_on_a_rank_other_than_zero(tmp_path: Path):
    """DDP ranks > 0 get Lightning's dummy experiment: resuming there must not touch it (it crashed the rank)."""
    from lightning.pytorch.utilities import rank_zero_only

    first = RunCSVLogger(str(tmp_path))
    first.log_metrics({"loss": 1.0}, step=0)
    first.save()
    rank = rank_zero_only.rank
    rank_zero_only.rank = 1
    try:
        RunCSVLogger(str(tmp_path), resume_from_step=1).experiment.log_metrics({"loss": 2.0}, step=1)
    finally:
        rank_zero_only.rank = rank
    assert (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().splitlines() == ["loss,step", "1.0,0"]


def test_a_live_run_in_the_folder_is_not_resumed_twice(tmp_path: Path):
    import socket

    run = _run_folder(tmp_path, ["seed=1"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / "status.json").write_text(
            json.dumps({"status": "running", "pid": other.pid, "host": socket.gethostname()})
        )
        for argv in ([f"resume={run}"], ["seed=1", f"hydra.run.dir={run}"]):
            with pytest.raises(ConfigError, match=f"a run is going on in that folder now \\(pid {other.pid}"):
                resolve_resume(argv)
    finally:
        other.kill()
        other.wait(timeout=30)
    assert resolve_resume([f"resume={run}"])[-1] == f"hydra.run.dir={run.resolve()}"  # killed: resumable


def test_a_finished_runs_checkpoint_starts_a_new_run(tmp_path: Path):
    run = _run_folder(tmp_path, ["seed=1"], status="finished")
    argv = [f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", "model.net.hidden_size=16"]
    assert resolve_resume(argv) == argv  # Lightning starts from its state, in a new folder


def test_sweep_report_names_the_unfinished_jobs_it_leaves_out(tmp_path: Path, caplog):
    from har_vib.reports.sweep import collect_sweep

    for job, state in (("0", "finished"), ("1", "running")):
        folder = tmp_path / job
        (folder / ".hydra").mkdir(parents=True)
        (folder / ".hydra" / "config.yaml").write_text(
            "beta: 0.001\nmodel:\n  ib_lr: 0.01\n  net:\n    name: vib_lstm\n"
        )
        (folder / "metrics.json").write_text('{"test_acc": 0.5}')
        (folder / "compression.json").write_text('{"lstm_params_after": 10}')
        mark(folder, state)
    with caplog.at_level("WARNING"):
        rows = collect_sweep(tmp_path)
    assert [r["job"] for r in rows] == ["0"]
    assert "1 unfinished job(s) left out: 1 (running)" in caplog.text
