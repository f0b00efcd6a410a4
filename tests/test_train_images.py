"""python train.py experiment=vibnet_*: VIBNet on scikit-learn's digits end to end, tiny."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from har_vib.errors import ConfigError
from har_vib.pipeline import instantiate, train
from tests.conftest import TINY_RUN, compose_train_cfg


@pytest.mark.slow
@pytest.mark.parametrize(
    ("experiment", "model"),
    [
        ("vibnet_lenet300_digits", None),
        ("vibnet_lenet5_digits", None),
        ("vibnet_lenet300_digits", "lenet300_100"),
        ("vibnet_lenet5_digits", "lenet5"),
        ("vibnet_vgg_digits", None),
    ],
)
def test_vibnet_trains_prunes_and_exports(tmp_path: Path, experiment: str, model: str | None):
    run = [o for o in TINY_RUN if not o.startswith(("model.net", "callbacks.prune_export"))]
    extra = [f"model={model}"] if model else []
    if "vgg" in experiment:  # a narrower VGG: the same blocks and pools, fewer filters
        extra += ["model.net.cfg=[8,8,M,16,M,16,M]", "model.net.fc=[16]"]
    cfg = compose_train_cfg(tmp_path, [f"experiment={experiment}", *extra, *run, "trainer.max_epochs=3", "beta=1e-2"])
    metrics = train(cfg)
    comp = json.loads((tmp_path / "compression.json").read_text())
    saved = json.loads((tmp_path / "metrics.json").read_text())
    if model:  # the plain baseline: nothing pruned, exported as it is
        assert comp["method"] == "none" and comp["rW"] == 1.0 and "test_acc_pruned" not in saved
        assert (tmp_path / "pruned.pt").exists() and (tmp_path / "pruned.onnx").exists()
        return
    assert comp["method"] == "vibnet" and comp["export_max_abs_diff"] < 1e-4
    assert 0 < comp["rW"] <= 1 and 0 < comp["rN"] <= 1 and comp["weights_after"] <= comp["weights_before"]
    assert saved["test_acc_pruned"] == pytest.approx(saved["test_acc"], abs=1 / 450)  # the same function
    assert metrics["test/acc"] == pytest.approx(saved["test_acc"])
    x = torch.randn(3, 1, 8, 8)
    scripted = torch.jit.load(str(tmp_path / "pruned.pt"))
    session = ort.InferenceSession(str(tmp_path / "pruned.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x.numpy()})[0]
    assert np.allclose(got, scripted(x).detach().numpy(), atol=1e-5)


@pytest.mark.slow
def test_an_inexact_vibnet_export_stops_the_run_before_anything_is_written(tmp_path: Path, monkeypatch):
    """The pruned network is held to float round-off against the bottlenecked one like every export (it used to
    record ``export_max_abs_diff`` only): a pruning that changed the function stops the run, nothing exported."""
    import har_vib.callbacks.vibnet_prune as vibnet_prune
    from har_vib.compression.exactness import InexactExportError

    real = vibnet_prune.prune_network

    def off_by_a_bias(*args, **kwargs):
        pruned = real(*args, **kwargs)
        last = [m for m in pruned.model.modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            last.bias[0] += 1.0
        return pruned

    monkeypatch.setattr(vibnet_prune, "prune_network", off_by_a_bias)
    run = [o for o in TINY_RUN if not o.startswith(("model.net", "callbacks.prune_export"))]
    cfg = compose_train_cfg(tmp_path, ["experiment=vibnet_lenet300_digits", *run, "trainer.max_epochs=1", "beta=1e-2"])
    with pytest.raises(InexactExportError, match="the pruned network against the bottlenecked one"):
        train(cfg)
    assert not (tmp_path / "pruned.pt").exists() and not (tmp_path / "pruned.onnx").exists()


@pytest.mark.slow
def test_vibnet_collapse_is_reported_not_a_crash(tmp_path: Path):
    """Every unit pruned (model.net.ib.threshold=50): a warning and compression.json naming the threshold in force
    with its value and beta (it was a RuntimeError about a conv weight of size [0, 1, 5, 5]); nothing exported."""
    run = [o for o in TINY_RUN if not o.startswith(("model.net", "callbacks.prune_export"))]
    overrides = ["experiment=vibnet_lenet5_digits", "model.net.ib.threshold=50", *run, "trainer.max_epochs=1"]
    train(compose_train_cfg(tmp_path, overrides))
    comp = json.loads((tmp_path / "compression.json").read_text())
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert comp["collapsed"] is True and comp["weights_after"] == 0
    assert "model.net.ib.threshold=50" in comp["collapse"] and "beta=0.001" in comp["collapse"]
    assert "The threshold is the cause" in comp["collapse"]
    assert saved["test_acc_pruned"] == saved["test_acc"] and not (tmp_path / "pruned.pt").exists()


def test_missing_mnist_is_one_clear_error(tmp_path: Path):
    cfg = compose_train_cfg(tmp_path, ["experiment=vibnet_lenet300_digits", "dataset.name=mnist"])
    dm = instantiate(cfg.dataset)
    with pytest.raises(ConfigError, match="never downloads"):
        dm.setup()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["hrel", "l1"])
def test_filter_pruning_from_train_py(tmp_path: Path, method: str):
    """experiment=hrel_lenet5_digits (and its L1 variant): the trained plain LeNet-5 is pruned to the target
    filters, fine-tuned, exported and reported like a VIBNet run."""
    run = [o for o in TINY_RUN if not o.startswith(("model.net", "callbacks.prune_export"))]
    fp = "callbacks.vibnet_prune.filter_pruning"
    extra = [f"{fp}.method={method}", f"{fp}.targets=[4,10]", f"{fp}.finetune_epochs=1", f"{fp}.l1_epochs=1"]
    extra += [f"{fp}.fractions=[0.5,0.5]", f"{fp}.relevance_batches=2", "trainer.max_epochs=2"]
    train(compose_train_cfg(tmp_path, ["experiment=hrel_lenet5_digits", *run, *extra]))
    comp = json.loads((tmp_path / "compression.json").read_text())
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert comp["method"] == method and comp["targets"] == [4, 10] and comp["rW"] < 1
    assert 0.0 <= saved["test_acc_pruned"] <= 1.0
    scripted = torch.jit.load(str(tmp_path / "pruned.pt"))
    convs = [m for m in scripted.modules() if m.original_name == "Conv2d"]
    assert [int(c.weight.shape[0]) for c in convs] == [4, 10]
    x = torch.randn(2, 1, 8, 8)
    session = ort.InferenceSession(str(tmp_path / "pruned.onnx"), providers=["CPUExecutionProvider"])
    assert np.allclose(session.run(None, {"x": x.numpy()})[0], scripted(x).detach().numpy(), atol=1e-5)


def test_filter_pruning_needs_the_plain_lenet5(tmp_path: Path):
    run = [o for o in TINY_RUN if not o.startswith(("model.net", "callbacks.prune_export"))]
    cfg = compose_train_cfg(
        tmp_path, ["experiment=hrel_lenet5_digits", "model=vib_lenet5", *run, "trainer.max_epochs=1"]
    )
    with pytest.raises(ConfigError, match="model=lenet5"):
        train(cfg)
    bad = compose_train_cfg(
        tmp_path, ["experiment=hrel_lenet5_digits", "callbacks.vibnet_prune.filter_pruning.method=x"]
    )
    with pytest.raises(ConfigError, match="filter_pruning.method"):
        instantiate(bad.callbacks.vibnet_prune)
