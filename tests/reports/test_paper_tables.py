"""The paper's tables: every experiment config composes, architecture counts match the paper where the
architecture is exact, run folders are aggregated per paper row."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import timm
from omegaconf import OmegaConf

from har_vib.reports.paper import PAPER_ROWS, matches_printed, parse_count
from har_vib.reports.paper_tables import compose_experiment, result_tables, write_result_tables
from tests.conftest import CONF

EXPERIMENTS = sorted(
    str(p.relative_to(CONF / "experiment").with_suffix(""))
    for p in (CONF / "experiment").rglob("*.yaml")
    if not p.name.startswith("_")
)


def lstm_count(inputs: int, hidden: int, biases: int = 2) -> int:
    return 4 * hidden * (hidden + inputs) + biases * 4 * hidden


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_config_composes(experiment: str):
    cfg = compose_experiment(experiment)
    assert cfg.model.net.name and cfg.dataset.name and cfg.backbone.name
    OmegaConf.to_container(cfg.model, resolve=False)


def test_every_paper_row_names_an_existing_experiment():
    named = {r.experiment for r in PAPER_ROWS if r.experiment}
    assert named <= set(EXPERIMENTS)
    # every paper experiment config is a row of some table
    assert {e for e in EXPERIMENTS if e.startswith("paper/")} == named
    assert {r.table for r in PAPER_ROWS} == {"t1", "t2", "t3_hmdb51", "t3_ucf101", "t4"}


def test_printed_counts_match_at_their_precision():
    assert parse_count("33.57M") == pytest.approx(33.57e6) and parse_count("2052") == 2052 and parse_count("-") is None
    assert matches_printed(33_570_816, "33.57M") and not matches_printed(33_562_624 - 10_000, "33.57M")
    assert matches_printed(267_552, "0.268M") and not matches_printed(266_528, "0.268M")
    assert matches_printed(177_804, "0.1778M") and not matches_printed(177_904, "0.1778M")
    assert matches_printed(2052, "2052") and not matches_printed(2053, "2052")
    assert not matches_printed(None, "1M") and not matches_printed(5, None)


@pytest.mark.slow
def test_architectures_csv_matches_the_paper(tmp_path: Path):
    from scripts.paper_tables import main

    assert main(["--architectures", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "architectures.csv") as fh:
        rows = {(r["table"], r["row"]): r for r in csv.DictReader(fh)}
    assert len(rows) == len(PAPER_ROWS)
    inception = sum(p.numel() for p in timm.create_model("inception_v3", num_classes=0).parameters())
    naive = rows[("t2", "Naive-LSTM")]
    assert int(naive["lstm_params"]) == lstm_count(2048, 2048) == 33_570_816
    assert int(naive["total_params"]) == inception + lstm_count(2048, 2048) + (2048 * 11 + 11)
    assert naive["match"] == "exact" and rows[("t4", "Naive-LSTM")]["match"] == "exact"
    e2e = rows[("t1", "Naive-LSTM")]
    assert int(e2e["lstm_params"]) == lstm_count(3 * 160 * 120, 256) == 59_246_592
    assert e2e["match"] == "exact (1 bias vector)"  # the paper's 59.246M counts one bias vector
    tt_factors = 8 * 16 * 1 * 4 + 2 * (4 * 20 * 4 * 4) + 4 * 18 * 4 * 1
    tt = rows[("t1", "TT-LSTM")]
    assert int(tt["lstm_params"]) == 4 * 256 * 256 + tt_factors + 8 * 256 == 267_552 and tt["match"] == "exact"
    assert rows[("t1", "TR-LSTM")]["match"] == "exact"
    ucf101 = rows[("t3_ucf101", "Naive-LSTM")]
    assert int(ucf101["lstm_params"]) == lstm_count(4096, 512) == 9_441_280
    assert ucf101["match"] == "lstm exact, total differs" and ucf101["note"]
    assert rows[("t3_hmdb51", "Naive-LSTM")]["lstm_params"] == str(lstm_count(2048, 2048))
    assert int(rows[("t2", "VIB-LSTM+ISS")]["compact_lstm_params"]) == lstm_count(52, 7, biases=1) == 1680
    assert int(rows[("t4", "w/o feature mask layer")]["compact_lstm_params"]) == lstm_count(2048, 8) == 65_856
    assert rows[("t2", "VIB-LSTM")]["match"] == "compact shape differs"
    assert rows[("t1", "BT-LSTM")]["match"] == "not built" and rows[("t2", "Two-Stream")]["match"] == "reference"
    assert all(r["note"] for r in rows.values() if r["match"] in ("differs", "lstm exact, total differs"))


def _fake_run(folder: Path, experiment: str, acc: float, after: int, ratio: float) -> None:
    """A finished run folder as train.py leaves it (only the files the table builder reads)."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(f"- experiment={experiment}\n- seed=1\n")
    OmegaConf.save(compose_experiment(experiment), folder / ".hydra" / "config.yaml")
    (folder / "metrics.json").write_text(json.dumps({"test_acc": 0.5, "test_acc_pruned": acc}))
    comp = {"lstm_params_after": after, "compression_ratio": ratio, "total_params_after": 30_000}
    (folder / "compression.json").write_text(json.dumps(comp))


def test_result_tables_aggregate_runs_per_row(tmp_path: Path):
    _fake_run(tmp_path / "a", "paper/t2_vib_lstm", 0.9, 2000, 16785.4)
    _fake_run(tmp_path / "b", "paper/t2_vib_lstm", 0.8, 3000, 11190.3)
    (tmp_path / "unrelated").mkdir()
    (tmp_path / "unrelated" / "metrics.json").write_text("{}")  # no experiment override: ignored
    tables = result_tables([tmp_path])
    assert set(tables) == {"t1", "t2", "t3_hmdb51", "t3_ucf101", "t4"}
    vib = next(r for r in tables["t2"] if r["row"] == "VIB-LSTM")
    assert vib["runs"] == 2 and vib["acc"] == "85.0 +- 7.1"
    assert vib["lstm_params"] == 2500 and vib["ratio"] == "13987.9"  # (16785.4 + 11190.3) / 2 = 13987.85
    assert vib["total_params"] == "21.82M"  # Inception-v3 (21,785,568) + the compact classifier (30,000)
    assert vib["paper_acc"] == 98.53 and vib["paper_ratio"] == "16359.6"  # printed 33.57M / 2052
    naive = next(r for r in tables["t2"] if r["row"] == "Naive-LSTM")
    assert naive["acc"] == "no run yet" and naive["runs"] == 0
    paths = write_result_tables(tables, tmp_path / "out")
    assert (tmp_path / "out" / "tables.md") in paths
    assert "| VIB-LSTM | paper/t2_vib_lstm | 2 | 98.53 | 85.0 +- 7.1 |" in (tmp_path / "out" / "tables.md").read_text()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        result_tables([tmp_path / "missing"])
