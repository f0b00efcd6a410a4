"""Sweeps through Hydra's submitit launcher: the project's presets (conf/hydra/launcher/{slurm,local}.yaml) compose
with the run/sweep folders and the hparams_search configs, a local sweep runs, and a SLURM sweep submits one array
(to a stand-in for sbatch/srun/sacct, tests/fake_slurm.py) whose tasks land where sweep_report.py reads them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from tests import fake_slurm
from tests.conftest import CONF, TINY, check_finished_sweep, train_subprocess

# tinier than TINY: the launcher is under test, not the training
TINY_SWEEP = [*TINY, "trainer.max_epochs=1", "callbacks.prune_export.finetune_epochs=0"]


def _compose(overrides: list[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def test_slurm_preset_sets_the_cluster_keys_on_the_plugin_node():
    launcher = _compose(["hydra/launcher=slurm"]).hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.gpus_per_node, launcher.cpus_per_task, launcher.mem_gb) == (1, 4, 32)
    assert (launcher.timeout_min, launcher.array_parallelism, launcher.max_num_timeout) == (240, 8, 0)
    assert launcher.partition is None  # the cluster's default until told
    # the plugin's other keys stay (they come from its node, with its types)
    assert {"qos", "account", "constraint", "additional_parameters", "setup", "signal_delay_s"} <= set(launcher)
    assert _raw(launcher, "submitit_folder") == "${hydra.sweep.dir}/.submitit/%j"

    over = _compose(
        [
            "hydra/launcher=slurm",
            "hydra.launcher.partition=gpu",
            "hydra.launcher.gpus_per_node=2",
            "hydra.launcher.timeout_min=720",
            "hydra.launcher.array_parallelism=3",
        ]
    ).hydra.launcher
    assert (over.partition, over.gpus_per_node, over.timeout_min, over.array_parallelism) == ("gpu", 2, 720, 3)


def test_plugin_nodes_compose_too_and_the_local_preset_only_changes_gpus_and_timeout():
    plugin_slurm = _compose(["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu"]).hydra.launcher
    assert plugin_slurm.partition == "gpu" and plugin_slurm.array_parallelism == 256  # the plugin's own default
    plugin = _compose(["hydra/launcher=submitit_local"]).hydra.launcher
    preset = _compose(["hydra/launcher=local"]).hydra.launcher
    plugin, preset = (OmegaConf.to_container(c, resolve=False) for c in (plugin, preset))
    changed = {k for k in plugin if plugin[k] != preset[k]}
    assert changed == {"gpus_per_node", "timeout_min"}
    assert preset["_target_"] == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"
    assert (preset["gpus_per_node"], preset["timeout_min"]) == (1, 10080)  # plugin: null (no GPU visible), 60 min


def test_launcher_composes_with_the_sweep_folders_and_hparams_search():
    cfg = _compose(["hydra/launcher=slurm", "hparams_search=beta_sweep"])
    assert cfg.hydra.mode.name == "MULTIRUN" and cfg.hydra.sweeper.params.beta == "1e-4,3e-4,1e-3,3e-3"
    assert cfg.hydra.launcher.array_parallelism == 8
    # conf/hydra/default.yaml still decides the job folders: <sweep dir>/<job number>
    assert _raw(cfg.hydra.sweep, "dir").startswith("${paths.log_dir}/multiruns/")
    assert _raw(cfg.hydra.sweep, "subdir") == "${hydra.job.num}"
    optuna = _compose(["hydra/launcher=local", "hparams_search=vib_optuna"])
    assert optuna.hydra.sweeper.n_jobs == 1 and optuna.hydra.launcher.timeout_min == 10080


def test_sweep_folders_resolve_in_the_process_that_starts_the_multirun():
    """hydra.sweep.dir and the submitit folder lead to paths.root_dir: ${hydra:runtime.cwd}; Hydra 1.3 sets
    HydraConfig only per job, so the sweeper and launcher could not resolve them (train.py -m without
    hydra.sweep.dir stopped on "HydraConfig was not set"). The callback conf/hydra/default.yaml registers sets it."""
    cfg = _compose(["hydra/launcher=slurm"])
    before = HydraConfig.instance().cfg
    HydraConfig.instance().cfg = None  # as when train.py -m starts
    try:
        with pytest.raises(InterpolationResolutionError, match="HydraConfig was not set"):
            _ = cfg.hydra.launcher.submitit_folder
        callbacks = [instantiate(c) for c in cfg.hydra.callbacks.values()]
        for callback in callbacks:
            callback.on_multirun_start(config=cfg)
        sweep_dir = Path(cfg.hydra.sweep.dir)
        assert sweep_dir.parent == Path(os.getcwd()) / "outputs" / "multiruns"
        assert cfg.hydra.launcher.submitit_folder == f"{sweep_dir}/.submitit/%j"
        for callback in callbacks:
            callback.on_multirun_end(config=cfg)
        assert HydraConfig.instance().cfg is None
    finally:
        HydraConfig.instance().cfg = before


def _raw(node: DictConfig, key: str) -> str:
    """The value of ``node[key]`` as written, interpolations unresolved."""
    return OmegaConf.to_container(node, resolve=False)[key]


def _train(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return train_subprocess(*args, cwd=cwd, env={"HYDRA_FULL_ERROR": "1", **(env or {})})


@pytest.mark.slow
def test_local_launcher_runs_a_beta_sweep_into_the_default_sweep_folder(tmp_path: Path):
    """No hydra.sweep.dir given: jobs and the submitit folder land in outputs/multiruns/<time>/ (one folder for
    both jobs, though each job process starts later than the submitting one)."""
    proc = _train(["-m", "hydra/launcher=local", "beta=1e-4,1e-2", *TINY_SWEEP], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "outputs" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == [".submitit", "0", "1"]
    assert len(list((sweep_dir / ".submitit").glob("*/*_0_log.out"))) == 2  # one submitit job per sweep point
    out = check_finished_sweep(sweep_dir, 2)
    assert "| vib_lstm | 0.0001 |" in out and "| vib_lstm | 0.01 |" in out


@pytest.mark.slow
def test_slurm_launcher_submits_one_array_with_the_configured_resources(tmp_path: Path):
    state = tmp_path / "slurm"
    env = fake_slurm.install(tmp_path / "bin", state)
    sweep_dir = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=slurm", "beta=1e-4,1e-2", *TINY_SWEEP, f"hydra.sweep.dir={sweep_dir}"]
    args += ["hydra.launcher.partition=gpu-test", "hydra.launcher.timeout_min=30", "hydra.launcher.array_parallelism=1"]
    proc = _train(args, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]

    (script,) = state.glob("sbatch_*.sh")  # one sbatch for the whole sweep
    directives = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in script.read_text().splitlines()
        if line.startswith("#SBATCH ") and "=" in line
    }
    assert directives["#SBATCH --array"] == "0-1%1"  # 2 sweep points, at most 1 running
    assert directives["#SBATCH --partition"] == "gpu-test"
    assert directives["#SBATCH --gpus-per-node"] == "1"
    assert directives["#SBATCH --cpus-per-task"] == "4"
    assert directives["#SBATCH --mem"] == "32GB"
    assert directives["#SBATCH --time"] == "30"
    assert directives["#SBATCH --job-name"] == "train"
    assert directives["#SBATCH --output"].startswith(f"{sweep_dir}/.submitit/%A_%a/")
    assert f"{sys.executable} -u -m submitit.core._submit" in script.read_text()  # this venv's Python runs tasks

    array_id = script.stem.split("_")[1]
    for task in (0, 1):  # each array task's logs and result under the submitit folder, hydra.job.id its task id
        assert (sweep_dir / ".submitit" / f"{array_id}_{task}" / f"{array_id}_{task}_0_result.pkl").exists()
        assert f"id: '{array_id}_{task}'" in (sweep_dir / str(task) / ".hydra" / "hydra.yaml").read_text()
    check_finished_sweep(sweep_dir, 2)
