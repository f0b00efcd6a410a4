"""Sweep objective under a parameter budget and the accuracy-size Pareto front."""

import math

import pytest

from har_vib.reports.sweep import final_accuracy, pareto_front, sweep_objective


def test_objective_is_validation_accuracy_within_budget():
    assert sweep_objective({"val_acc": 0.7}) == 0.7
    assert sweep_objective({"val_acc": 0.7, "val_acc_pruned": 0.6, "lstm_params_after": 90}, budget=100) == 0.6
    assert sweep_objective({"test_acc": 0.9}) is None  # never the test split


def test_objective_over_budget_ranks_below_every_run_within_it():
    over = sweep_objective({"val_acc_pruned": 0.99, "lstm_params_after": 1000}, budget=100)
    closer = sweep_objective({"val_acc_pruned": 0.10, "lstm_params_after": 200}, budget=100)
    assert over == pytest.approx(-1.0) and closer == pytest.approx(-math.log10(2))
    assert over < closer < sweep_objective({"val_acc_pruned": 0.0, "lstm_params_after": 100}, budget=100)


def test_pareto_front_keeps_only_undominated_runs():
    rows = [
        {"job": "a", "lstm_params_after": 100, "test_acc_pruned": 0.5},
        {"job": "b", "lstm_params_after": 50, "test_acc_pruned": 0.6},  # dominates a
        {"job": "c", "lstm_params_after": 400, "test_acc_pruned": 0.8},
        {"job": "d", "lstm_params_after": 400, "test_acc_pruned": 0.7},  # dominated by c
        {"job": "e", "lstm_params_after": 1000, "test_acc": 0.9},  # not pruned: its trained accuracy counts
        {"job": "f", "lstm_params_after": None, "test_acc": 1.0},  # no size: left out
    ]
    assert [r["job"] for r in pareto_front(rows)] == ["b", "c", "e"]
    assert final_accuracy(rows[4]) == 0.9 and final_accuracy(rows[0]) == 0.5
