"""make compare: controls sized from the VIB run, a real run recorded and reused, the summary table."""

from __future__ import annotations

from pathlib import Path

import pytest

from har_vib.reports.compare import RunResult, markdown, matched_overrides, run_one, summarise
from tests.conftest import TINY_RUN


def _result(method: str, seed: int, acc: float, params: int = 100, ratio: float = 10.0) -> RunResult:
    return RunResult("d", method, seed, Path("."), acc, params, ratio, 3, 2.0)


def test_controls_are_sized_from_the_same_seeds_vib_run():
    vib = _result("vib_lstm", 0, 0.9, params=2052)
    assert matched_overrides("small_lstm", vib) == ["model.net.hidden_size=3"]
    assert matched_overrides("magnitude_lstm", vib) == ["model.magnitude_keep=2052"]
    assert matched_overrides("naive_lstm", None) == []
    with pytest.raises(ValueError, match="run vib_lstm first"):
        matched_overrides("small_lstm", None)


def test_summary_is_mean_and_std_over_seeds():
    rows = summarise([_result("vib_lstm", 0, 0.8, 100), _result("vib_lstm", 1, 0.9, 200, 20.0)])
    assert rows[0].pop("vs_naive") is None  # no naive_lstm rows for this dataset
    assert rows == [
        {
            "dataset": "d",
            "method": "vib_lstm",
            "runs": 2,
            "lstm_params": 150,
            "compression_ratio": 15.0,
            "acc_mean": 85.0,
            "acc_std": 7.1,
            "wall_s": 2.0,
        }
    ]
    rows[0]["vs_naive"] = 20.0
    assert "| d | vib_lstm | 2 | 150 | 15.0x | 20.0x | 85.0 +- 7.1 | 2 |" in markdown(rows)
    with_naive = summarise([_result("naive_lstm", 0, 0.7, 3000, 1.0), _result("small_lstm", 0, 0.6, 150, 1.0)])
    assert [r["vs_naive"] for r in with_naive] == [1.0, 20.0]


@pytest.mark.slow
def test_a_run_is_recorded_then_reused(tmp_path: Path):
    result = run_one("basicmotions", "vib_lstm", 0, tmp_path, ["dataset.batch_size=8", *TINY_RUN])
    folder = tmp_path / "basicmotions" / "vib_lstm" / "seed0"
    assert result.folder == folder and (folder / "pruned.pt").exists() and result.wall_s > 0
    assert 0.0 <= result.accuracy <= 1.0 and result.lstm_params > 0

    def must_not_run(args):
        raise AssertionError(f"a finished run was trained again: {args}")

    extra = ["dataset.batch_size=8", *TINY_RUN]
    again = run_one("basicmotions", "vib_lstm", 0, tmp_path, extra, runner=must_not_run)
    assert again == result
    # other overrides into the same folder: refused, not the old results under a new setting
    with pytest.raises(RuntimeError, match="other overrides"):
        run_one("basicmotions", "vib_lstm", 0, tmp_path, [*extra, "beta=0.1"], runner=must_not_run)


def test_a_reference_row_has_no_lstm_size():
    mini = RunResult("d", "minirocket", 0, Path("."), 0.95, None, None, None, 1.0)
    rows = summarise([_result("naive_lstm", 0, 0.7, 3000, 1.0), mini])
    ref = next(r for r in rows if r["method"] == "minirocket")
    assert ref["lstm_params"] is None and ref["vs_naive"] is None and ref["acc_mean"] == 95.0
    assert "| d | minirocket | 1 | - | - | - | 95.0 +- 0.0 | 1 |" in markdown(rows)


def test_minirocket_needs_a_sequence_dataset(tmp_path: Path):
    with pytest.raises(ValueError, match="sequence datasets"):
        run_one("synthetic_video", "minirocket", 0, tmp_path, runner=lambda args: None)


@pytest.mark.slow
def test_minirocket_runs_on_the_runs_own_sequences_and_is_reused(tmp_path: Path):
    seen = []

    def real(args):
        from har_vib.reports.compare import _reference_subprocess

        seen.append(args)
        return _reference_subprocess(args)

    result = run_one(
        "italypowerdemand", "minirocket", 1, tmp_path, ["dataset.val_fraction=0.3", "model.lr=1"], runner=real
    )
    assert seen[0][-2:] == ["seed=1", "dataset.val_fraction=0.3"]  # the data overrides, not the model's
    assert result.lstm_params is None and 0.9 <= result.accuracy <= 1.0  # MiniRocket on ItalyPowerDemand: ~96%
    assert result.folder == tmp_path / "italypowerdemand" / "minirocket" / "seed1"

    def must_not_run(args):
        raise AssertionError(f"a finished reference was run again: {args}")

    same = ["dataset.val_fraction=0.3", "model.lr=1"]
    assert run_one("italypowerdemand", "minirocket", 1, tmp_path, same, runner=must_not_run) == result
    with pytest.raises(RuntimeError, match="other overrides"):
        run_one("italypowerdemand", "minirocket", 1, tmp_path, ["dataset.val_fraction=0.4"], runner=must_not_run)


def test_a_collapsed_run_in_the_summary_has_no_ratio_against_naive():
    """A VIB run that pruned every unit has 0 LSTM parameters: summarise() divided by it (ZeroDivisionError)."""
    rows = summarise([_result("naive_lstm", 0, 0.7, 3000, 1.0), _result("vib_lstm", 0, 0.1, 0, None)])
    vib = next(r for r in rows if r["method"] == "vib_lstm")
    assert vib["lstm_params"] == 0 and vib["vs_naive"] is None
    assert "| d | vib_lstm | 1 | 0 | - | - | 10.0 +- 0.0 |" in markdown(rows)
