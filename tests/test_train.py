"""train.py end to end on tiny configs: every model config, reports, export, sweeps, errors."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path

import pytest
import torch

from har_vib.pipeline import train
from tests.conftest import TINY, check_finished_sweep, train_subprocess

COMPRESSION_KEYS = {
    "lstm_params_before",
    "lstm_params_after",
    "compression_ratio",
    "input_dim_before",
    "input_dim_after",
    "hidden_before",
    "hidden_after",
    "kept_inputs",
    "kept_hidden",
    "threshold",
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "logger"),
    [
        ("naive_lstm", "csv"),
        ("vib_lstm", "csv"),
        ("naive_gru", "tensorboard"),
        ("vib_gru", "csv"),
        ("iss_lstm", "csv"),
        ("vib_iss_lstm", "csv"),
        ("tt_lstm", "csv"),
        ("tr_lstm", "csv"),
        ("ts_lstm", "csv"),
        ("ts_vib_lstm", "csv"),
        ("small_lstm", "csv"),
        ("magnitude_lstm", "csv"),
        ("feature_vib_lstm", "csv"),
    ],
)
def test_train_every_model_config(tiny_cfg, tmp_path: Path, model: str, logger: str):
    extras = {
        "vib_iss_lstm": ["model.iss_stage.epochs=2"],
        "magnitude_lstm": ["model.magnitude_keep=200"],
        # at hidden 8 the default ring ranks 4 make a factorised map 2.6x the dense 6x32 one: refused
        "tr_lstm": ["model.net.ranks=[2,2,2,2,2]"],
    }
    extra = extras.get(model, [])
    cfg = tiny_cfg(f"model={model}", f"logger={logger}", *extra)
    metrics = train(cfg)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    comp = json.loads((tmp_path / "compression.json").read_text())
    assert COMPRESSION_KEYS <= comp.keys()
    assert 0.0 <= saved["test_acc"] <= 1.0
    assert metrics["test/acc"] == pytest.approx(saved["test_acc"])  # trainer.test saw the same weights
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
    scripted = torch.jit.load(str(tmp_path / "pruned.pt"))
    x = torch.randn(3, 17, 6)
    lengths = torch.tensor([17, 17, 17]) if model.startswith("ts") else torch.tensor([17, 5, 9])
    assert scripted(x, lengths).shape == (3, 4)
    if model.startswith(("vib", "iss", "ts_vib", "feature_vib")):  # pruned to a smaller standard layer
        assert 0.0 <= saved["test_acc_pruned"] <= 1.0
        assert comp["export_max_abs_diff"] < 1e-5
        assert comp["lstm_params_after"] <= comp["lstm_params_before"]
        assert (tmp_path / "sparsity.png").exists()
        assert scripted.rnn.original_name == ("LSTM" if "lstm" in model else "GRU")
        assert comp["method"] == {"vib_iss_lstm": "vib+iss", "iss_lstm": "iss"}.get(model, "vib")
        if model == "vib_iss_lstm":  # the ISS stage's removal is checked like the VIB export
            assert comp["iss_export_max_abs_diff"] < 1e-5
        assert (scripted.frontend is not None) == model.startswith("ts")
        if model == "feature_vib_lstm":  # the feature mask prunes inputs only
            assert comp["hidden_after"] == comp["hidden_before"] and comp["input_dim_after"] <= 6
    elif model == "magnitude_lstm":  # same shape, 200 parameters left non-zero (biases included)
        state = torch.load(tmp_path / "pruned_state_dict.pt")
        nonzero = sum(int((state[f"rnn.weight_{k}_l0"] != 0).sum()) for k in ("ih", "hh")) + 2 * 4 * 8
        assert comp["method"] == "magnitude" and comp["lstm_params_after"] == nonzero <= 200
        assert 0.0 <= saved["test_acc_pruned"] <= 1.0
    elif model.startswith(("tt", "tr")):  # factorised: the exported layer itself, counted from its tensors
        assert comp["method"] == {"tt_lstm": "tensor_train", "tr_lstm": "tensor_ring"}[model]
        net = torch.load(tmp_path / "pruned_state_dict.pt")
        assert comp["lstm_params_after"] == sum(v.numel() for k, v in net.items() if k.startswith("rnn."))
        assert comp["compression_ratio"] == comp["lstm_params_before"] / comp["lstm_params_after"]
        factorised = comp["factorised"]  # tiny TT ranks [1,4,4,4,1]: 196 core parameters vs 192 dense, a warning
        assert factorised["dense_params"] == 6 * 4 * 8
        assert comp["factorised_larger_than_dense"] is (factorised["params"] >= factorised["dense_params"])
        assert comp["factorised_larger_than_dense"] is (model == "tt_lstm")
    else:
        assert "test_acc_pruned" not in saved and comp["compression_ratio"] == 1.0
    if logger == "tensorboard":
        assert list(tmp_path.glob("tensorboard/**/events.out.tfevents.*"))


@pytest.mark.slow
def test_a_collapse_names_the_threshold_in_force(tiny_cfg, tmp_path: Path, caplog):
    """model.net.ib.threshold=50 prunes every unit: the warning and compression.json name that threshold with its
    value (not only beta and the IB learning rate), beta and model.ib_lr with theirs, and the sites' ranges."""
    with caplog.at_level(logging.WARNING, logger="har_vib"):
        train(tiny_cfg("model=vib_lstm", "model.net.ib.threshold=50"))
    comp = json.loads((tmp_path / "compression.json").read_text())
    msg = comp["collapse"]
    assert comp["collapsed"] is True and comp["hidden_after"] == 0
    assert "model.net.ib.threshold=50" in msg and "beta=0.001, model.ib_lr=0.03" in msg
    assert "rnn.gate_ib[i]" in msg and "vs threshold 50" in msg and "The threshold is the cause" in msg
    assert any(msg in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


@pytest.mark.slow
def test_csv_logger_gets_kl_alive_units_and_summary(tiny_cfg, tmp_path: Path):
    train(tiny_cfg("model=vib_lstm"))
    (metrics_csv,) = tmp_path.glob("csv/version_*/metrics.csv")
    header = metrics_csv.read_text().splitlines()[0].split(",")
    for key in ("vib/kl", "vib/alive/hidden", "vib/alive/input", "vib/alive/gate_f", "final/test_acc_pruned"):
        assert key in header


@pytest.mark.slow
def test_wandb_offline_summary(tiny_cfg, tmp_path: Path, monkeypatch):
    import wandb

    import har_vib.pipeline as pipeline

    monkeypatch.setenv("WANDB_MODE", "offline")
    seen: dict = {}
    real_finish = pipeline._finish_wandb

    def finish_and_record() -> None:
        if wandb.run is not None:
            seen.update(dict(wandb.run.summary))
            seen["_offline"] = wandb.run.offline
        real_finish()

    monkeypatch.setattr(pipeline, "_finish_wandb", finish_and_record)
    train(tiny_cfg("model=vib_lstm", "logger=wandb"))
    assert seen["_offline"] is True
    assert {"test_acc", "test_acc_pruned", "compression_ratio", "hidden_after", "lstm_params_after"} <= seen.keys()
    (run_file,) = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    # written to the offline run, ready for `wandb sync` (W&B's service may still be flushing it: wait a little)
    for _ in range(60):
        if b"test_acc_pruned" in run_file.read_bytes():
            break
        time.sleep(0.5)
    assert b"test_acc_pruned" in run_file.read_bytes()


def test_wandb_mode_disabled_means_no_wandb_run(tiny_cfg, tmp_path: Path, monkeypatch):
    """WANDB_MODE=disabled (what `make test` and the make targets set) leaves no W&B run behind, even though the
    logger config asks for an offline one; the other loggers stay."""
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    from har_vib.pipeline import instantiate_loggers

    group = tiny_cfg("logger=many").logger
    monkeypatch.setenv("WANDB_MODE", "disabled")
    loggers = instantiate_loggers(group)
    assert not any(isinstance(lg, WandbLogger) for lg in loggers)
    assert any(isinstance(lg, CSVLogger) for lg in loggers)
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert any(isinstance(lg, WandbLogger) for lg in instantiate_loggers(group))


def _run_train(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return train_subprocess(*args, cwd=cwd, timeout=timeout, env={"HYDRA_FULL_ERROR": "0"})


def test_last_checkpoint_is_the_latest_epoch_and_best_is_the_best(tiny_cfg, tmp_path: Path):
    """checkpoints/last.ckpt holds the final epoch even when the monitored metric stopped improving; the ranked
    checkpoint keeps the best. The monitor here is the epoch itself, minimised, so the best is epoch 0 and stays
    it (with one callback, last.ckpt used to stay at epoch 0 too)."""
    cfg = tiny_cfg(
        "trainer.max_epochs=3",
        "callbacks.model_checkpoint.monitor=epoch",
        "callbacks.model_checkpoint.mode=min",
        "callbacks.prune_export.finetune_epochs=0",
    )
    train(cfg)
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.glob("*.ckpt")) == ["epoch_000.ckpt", "last.ckpt"]
    with torch.serialization.safe_globals(_omegaconf_types()):
        last = torch.load(folder / "last.ckpt", map_location="cpu", weights_only=True)
        best = torch.load(folder / "epoch_000.ckpt", map_location="cpu", weights_only=True)
    assert (last["epoch"], best["epoch"]) == (2, 0)


def _omegaconf_types():
    from har_vib.utils.checkpoints import _omegaconf_types as types

    return types()


def test_prune_best_checkpoint_is_read_with_the_safe_loader(tiny_cfg, tmp_path: Path, monkeypatch):
    """callbacks.prune_export.weights=best reloads the best checkpoint through torch.load(weights_only=True) (its
    Hydra hyper-parameters allowed as data) and prunes those weights."""
    import har_vib.utils.checkpoints as checkpoints

    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(checkpoints.torch, "load", spy)
    metrics = train(tiny_cfg("model=vib_lstm", "callbacks.prune_export.weights=best"))
    assert calls == [True] and 0.0 <= metrics["test_acc_pruned"] <= 1.0


@pytest.mark.slow
def test_multirun_beta_sweep_and_report(tmp_path: Path):
    sweep_dir = tmp_path / "sweep"
    sweep = ["-m", "beta=1e-4,1e-2", *TINY, f"hydra.sweep.dir={sweep_dir}"]
    proc = _run_train(sweep, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {p: p.stat().st_mtime_ns for p in sweep_dir.glob("*/metrics.json")}
    # the same sweep again completes it: finished jobs are kept, not retrained (nor refused as finished folders)
    (sweep_dir / "1" / "status.json").write_text('{"status": "running"}')  # as if killed before its end
    (sweep_dir / "1" / "metrics.json").unlink()
    proc = _run_train(sweep, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (sweep_dir / "0" / "metrics.json").stat().st_mtime_ns == results[sweep_dir / "0" / "metrics.json"]
    assert "continuing from" in (sweep_dir / "1" / "train.log").read_text()  # from its last.ckpt
    report = check_finished_sweep(sweep_dir, 2)
    lines = (sweep_dir / "sweep.csv").read_text().splitlines()
    assert lines[0].startswith("job,model,beta,ib_lr,val_acc_pruned,test_acc")
    assert (sweep_dir / "sweep.png").stat().st_size > 0
    assert (sweep_dir / "pareto.png").stat().st_size > 0 and "Pareto front" in report
    assert "| vib_lstm | 0.0001 |" in report


def test_wrong_config_key_gives_one_clear_error(tmp_path: Path):
    proc = _run_train(["betta=1e-5"], cwd=tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "Could not override 'betta'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_dataset_name_gives_one_clear_error(tmp_path: Path):
    proc = _run_train(["dataset.name=NoSuchSet", "logger=csv"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert err[-1].startswith("error: unknown dataset.name='NoSuchSet'") and "BasicMotions" in err[-1]
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_optuna_sweep_over_beta_and_ib_lr_under_a_budget(tmp_path: Path):
    sweep_dir = tmp_path / "optuna"
    args = ["-m", "hparams_search=vib_optuna", *TINY, f"hydra.sweep.dir={sweep_dir}"]
    args += ["hydra.sweeper.n_trials=3", "hydra.sweeper.sampler.n_startup_trials=2", "param_budget=100"]
    proc = _run_train(args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = (sweep_dir / "optimization_results.yaml").read_text()
    assert "best_params" in result and "model.ib_lr" in result
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert len(jobs) == 3
    for job in jobs:  # each trial pruned, exported and scored on validation (what the sweeper maximised)
        metrics = json.loads((job / "metrics.json").read_text())
        assert 0.0 <= metrics["val_acc_pruned"] <= 1.0 and (job / "pruned.pt").exists()
    overrides = {(j / ".hydra" / "overrides.yaml").read_text() for j in jobs}
    assert len(overrides) == 3  # TPE proposed three different (beta, ib_lr) pairs


@pytest.mark.slow
def test_distillation_and_int8_stages_after_pruning(tiny_cfg, tmp_path: Path):
    train(tiny_cfg("model=naive_lstm", "model.net.hidden_size=32"))  # the teacher
    teacher = tmp_path.parent / f"{tmp_path.name}-teacher.pt"
    (tmp_path / "pruned.pt").rename(teacher)
    train(
        tiny_cfg(
            "model=vib_lstm",
            f"callbacks.prune_export.distill.teacher={teacher}",
            "callbacks.prune_export.quantize=true",
            "callbacks.prune_export.finetune_epochs=3",
        )
    )
    saved = json.loads((tmp_path / "metrics.json").read_text())
    comp = json.loads((tmp_path / "compression.json").read_text())
    assert comp["distill"]["teacher"] == str(teacher) and 0.0 <= saved["test_acc_pruned_ce"] <= 1.0
    assert comp["onnx_max_abs_diff"] < 1e-5 and comp["torchscript_max_abs_diff"] < 1e-5
    fp32, int8 = comp["deploy"]
    assert (fp32["stage"], int8["stage"]) == ("fp32", "int8")
    assert fp32["test_acc"] == pytest.approx(saved["test_acc_pruned"]) == pytest.approx(fp32["onnx_test_acc"])
    # stated tolerance: int8 within 3 of the 40 test sequences of the fp32 compact model
    assert (
        abs(int8["test_acc"] - fp32["test_acc"]) <= 3 / 40 and abs(int8["onnx_test_acc"] - fp32["test_acc"]) <= 3 / 40
    )
    # the file is int8 in fact: every weight initializer int8 (an LSTM has onnxruntime's DynamicQuantizeLSTM), and
    # smaller than fp32, which a compact model of a few units is not always (a scale and zero point per tensor)
    assert int8["onnx_weights"] == {"W": "int8", "R": "int8", "head0_w": "int8"}
    assert int8["onnx_bytes"] == (tmp_path / "pruned_int8.onnx").stat().st_size < fp32["onnx_bytes"]
    assert int8["torch_weights"] == {"rnn": "int8", "head.0": "int8"}
    assert saved["test_acc_int8"] == int8["test_acc"] and "onnx_int8_skipped" not in saved


@pytest.mark.slow
def test_gru_int8_stage_says_its_onnx_weights_would_stay_fp32(tiny_cfg, tmp_path: Path):
    """onnxruntime has no dynamic int8 GRU: no pruned_int8.onnx, and compression.json / metrics.json say why (before:
    a file with fp32 GRU weights, larger than fp32 at this size, reported as the int8 stage)."""
    saved = train(tiny_cfg("model=naive_gru", "model.net.hidden_size=32", "callbacks.prune_export.quantize=true"))
    fp32, int8 = json.loads((tmp_path / "compression.json").read_text())["deploy"]
    assert int8["stage"] == "int8" and int8["onnx_file"] is None and not (tmp_path / "pruned_int8.onnx").exists()
    assert int8["onnx_fp32_weights"] == ["W", "R"] and int8["onnx_weights"]["head0_w"] == "int8"
    assert "no int8 kernel for GRU" in int8["onnx_skipped"] == saved["onnx_int8_skipped"]
    assert saved["onnx_test_acc_int8"] is None and saved["test_acc_int8"] == int8["test_acc"]
    assert int8["torch_weights"] == {"rnn": "int8", "head.0": "int8"}  # PyTorch does quantize nn.GRU
