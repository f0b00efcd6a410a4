"""The sequence-dataset training recipe: step budget, warm-up + cosine learning rate, KL warm-up."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from har_vib.lit_module import SequenceLitModule, warmup_cosine
from har_vib.models import create_model
from har_vib.pipeline import epochs_for_steps
from har_vib.reports.paper_tables import compose_config, compose_experiment


def test_warmup_cosine_rises_then_decays_to_zero():
    total, warm = 100, 10
    assert warmup_cosine(0, total, warm) == pytest.approx(0.1)
    assert warmup_cosine(9, total, warm) == pytest.approx(1.0)
    assert warmup_cosine(10, total, warm) == pytest.approx(1.0)
    assert warmup_cosine(55, total, warm) == pytest.approx(0.5)
    assert warmup_cosine(100, total, warm) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine(500, total, warm) == pytest.approx(0.0, abs=1e-12)  # past the end: stays at 0
    assert warmup_cosine(0, total, 0) == pytest.approx(1.0)  # no warm-up


def _loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 5, 3, generator=g)
    y = torch.arange(16) % 2
    lengths = torch.full((16,), 5, dtype=torch.long)
    return DataLoader(TensorDataset(x, lengths, y), batch_size=4, shuffle=False)


class _Record(L.Callback):
    def __init__(self) -> None:
        self.betas: list[float] = []
        self.lrs: list[list[float]] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.betas.append(module.current_beta())
        self.lrs.append([g["lr"] for g in trainer.optimizers[0].param_groups])


def _fit(max_steps: int, **hp) -> _Record:
    torch.manual_seed(0)
    net = create_model("vib_lstm", input_size=3, num_classes=2, hidden_size=6)
    module = SequenceLitModule(net, beta=1e-2, lr=1e-2, ib_lr=1e-1, **hp)
    record = _Record()
    trainer = L.Trainer(
        max_steps=max_steps,
        max_epochs=1000,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[record],
    )
    trainer.fit(module, train_dataloaders=_loader())
    return record


def test_kl_weight_rises_from_zero_and_lr_follows_the_schedule():
    record = _fit(20, lr_schedule="cosine", warmup_fraction=0.1, beta_warmup=0.5)
    assert len(record.betas) == 20
    assert record.betas[0] == 0.0  # no KL pressure before the classifier has taken a step
    assert record.betas[5] == pytest.approx(1e-2 * 5 / 10)
    assert all(b == pytest.approx(1e-2) for b in record.betas[10:])
    main, ib = zip(*record.lrs)
    assert main[0] == pytest.approx(1e-2 * 1 / 2) and ib[0] == pytest.approx(1e-1 * 1 / 2)  # warm-up: 2 steps
    assert main[1] == pytest.approx(1e-2)
    assert all(a >= b for a, b in zip(main[1:], main[2:]))  # then only down
    assert main[-1] == pytest.approx(1e-2 * warmup_cosine(19, 20, 2)) and main[-1] < 1e-3


def test_without_the_recipe_beta_and_lr_are_constant():
    record = _fit(6)
    assert record.betas == [pytest.approx(1e-2)] * 6
    assert {tuple(lrs) for lrs in record.lrs} == {(1e-2, 1e-1)}


@pytest.mark.parametrize(
    ("hp", "key"),
    [
        ({"lr_schedule": "step"}, "lr_schedule"),
        ({"warmup_fraction": 1.0}, "warmup_fraction"),
        ({"beta_warmup": 2}, "beta_warmup"),
    ],
)
def test_bad_recipe_values_name_the_key(hp, key):
    net = create_model("vib_lstm", input_size=3, num_classes=2, hidden_size=4)
    with pytest.raises(ValueError, match=f"model.{key}"):
        SequenceLitModule(net, **hp)


def test_sequence_datasets_bring_the_recipe_and_video_and_paper_runs_keep_their_protocol():
    for overrides in ([], ["dataset=arrays", "dataset.path=x.npz"], ["model=naive_lstm", "trainer=gpu"]):
        cfg = compose_config(overrides)
        assert cfg.train_steps == 1500 and cfg.trainer.max_epochs >= 1000, overrides
        assert cfg.model.lr_schedule == "cosine" and cfg.model.beta_warmup == 0.25, overrides
        assert cfg.dataset.patch_length == "auto", overrides
    capped = compose_config(["trainer.max_epochs=3"])
    assert capped.trainer.max_epochs == 3 and capped.train_steps == 1500  # whichever comes first
    for experiment in ("demo_video", "paper/t1_vib_lstm", "vibnet_lenet5_digits"):
        cfg = compose_experiment(experiment)
        assert cfg.train_steps is None and "lr_schedule" not in cfg.model, experiment


def test_a_step_budget_is_whole_epochs_capped_by_max_epochs():
    assert epochs_for_steps(1500, 4, 5000) == 375  # BasicMotions: 32 sequences, batch 10
    assert epochs_for_steps(1500, 16, 5000) == 94  # OSULeaf: 1504 steps, never fewer than asked
    assert epochs_for_steps(1500, 16, 3) == 3  # trainer.max_epochs=3 caps it
    assert epochs_for_steps(1500, 16, -1) == 94 and epochs_for_steps(1500, 16, None) == 94
    assert epochs_for_steps(10, 500, 60) == 1
