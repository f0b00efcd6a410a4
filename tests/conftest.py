"""Shared fixtures: seeded RNG, tiny Hydra configs for end-to-end runs of the training task."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from har_vib.data.synthetic import SyntheticSpec, generate
from har_vib.utils.run_status import mark
from tests.videos import TINY_VIDEOS

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# no test may reach the network: W&B stays local, and the Hugging Face Hub is never asked for weights (the tests of
# downloads run against a local stand-in, tests/hub_stand_in.py, in processes of their own)
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# trainer, model and logger settings of every tiny end-to-end run
TINY_RUN = [
    "trainer.max_epochs=2",
    "trainer.enable_model_summary=false",
    "model.net.hidden_size=8",
    "callbacks.prune_export.finetune_epochs=1",
    "~callbacks.rich_progress_bar",
    "+trainer.enable_progress_bar=false",
    "logger=csv",
]
# BasicMotions step by step (its 100 steps would be read as 50 patches of 2 by default): the tests' shapes stay (T, 6)
TINY = ["dataset.name=BasicMotions", "dataset.batch_size=8", "dataset.patch_length=1", *TINY_RUN]
# train.py in a subprocess (kill-and-resume, DDP): 3 epochs, one fine-tuning epoch
SUBPROCESS_RUN = [*TINY, "trainer.max_epochs=3"]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def load_script(name: str) -> ModuleType:
    """``scripts/<name>`` imported as a module (``<stem>_under_test``), to test its functions in-process; registered in
    ``sys.modules`` (dataclasses look their module up) with ``scripts/`` on the path (for its ``import _bootstrap``)."""
    path = ROOT / "scripts" / name
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"{path.stem}_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def compose_train_cfg(tmp_path: Path, overrides: list[str]) -> DictConfig:
    """Compose ``conf/config.yaml`` like ``train.py`` does, with outputs under ``tmp_path``. Each call is a new run
    in ``tmp_path`` (tests train a teacher, then a student, there): a previous run there is marked as none
    (train.py refuses to rerun into a finished run's folder, as a user would delete it first)."""
    if (tmp_path / "status.json").exists() or (tmp_path / "metrics.json").exists():
        mark(tmp_path, "new")
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose(config_name="config", return_hydra_config=True, overrides=overrides)
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = str(tmp_path)
        cfg.paths.log_dir = str(tmp_path)
        cfg.hydra.runtime.output_dir = str(tmp_path)
        cfg.hydra.job.num = 0
    HydraConfig().set_config(cfg)
    return cfg


@pytest.fixture
def tiny_cfg(tmp_path: Path):
    """Factory: a tiny training config with extra overrides."""

    def make(*extra: str) -> DictConfig:
        return compose_train_cfg(tmp_path, [*TINY, *extra])

    return make


@pytest.fixture(scope="session")
def video_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny synthetic datasets in the three official layouts: ``{layout: dataset root}``, made once per session."""
    base = tmp_path_factory.mktemp("videos")
    return {
        layout: generate(SyntheticSpec(layout=layout, **TINY_VIDEOS), base / layout, progress=False)
        for layout in ("ucf101", "hmdb51", "ucf11")
    }


def train_subprocess(
    *args: str, cwd: Path = ROOT, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python train.py *args`` in ``cwd``, W&B off, the project importable (tests/ callbacks too)."""
    full_env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def tiny_subprocess_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted, one-process ``SUBPROCESS_RUN``: the reference of the resume and DDP tests."""
    run = tmp_path_factory.mktemp("reference") / "run"
    proc = train_subprocess(*SUBPROCESS_RUN, f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run


def check_finished_sweep(sweep_dir: Path, n_jobs: int) -> str:
    """Each job folder holds a finished run; sweep_report.py reads them all. Returns the report's stdout."""
    import json

    for job in range(n_jobs):
        run = sweep_dir / str(job)
        metrics = json.loads((run / "metrics.json").read_text())
        assert 0.0 <= metrics["test_acc_pruned"] <= 1.0 and (run / "pruned.pt").exists()
    report = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sweep_report.py"), str(sweep_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    lines = (sweep_dir / "sweep.csv").read_text().splitlines()
    assert len(lines) == 1 + n_jobs  # a launcher's folder (.submitit) is not a job
    return report.stdout
