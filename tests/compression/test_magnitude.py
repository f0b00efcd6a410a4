"""Magnitude pruning to a parameter budget: the largest weights survive, the budget is met exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from har_vib.compression.magnitude import apply_masks_, bias_count, magnitude_masks, nonzero_param_count


def test_keeps_the_largest_weights_to_the_exact_budget():
    torch.manual_seed(0)
    rnn = nn.LSTM(5, 6, batch_first=True)
    keep = 100
    masks = magnitude_masks(rnn, keep)
    kept = torch.cat([rnn.weight_ih_l0[masks["weight_ih_l0"]], rnn.weight_hh_l0[masks["weight_hh_l0"]]]).abs()
    dropped = torch.cat([rnn.weight_ih_l0[~masks["weight_ih_l0"]], rnn.weight_hh_l0[~masks["weight_hh_l0"]]]).abs()
    assert len(kept) == keep - bias_count(rnn) == keep - 48
    assert kept.min() >= dropped.max()
    apply_masks_(rnn, masks)
    assert nonzero_param_count(rnn) == keep


def test_budget_outside_the_layer_is_an_error():
    rnn = nn.LSTM(2, 2)
    with pytest.raises(ValueError, match="choose keep between 17 and 48"):
        magnitude_masks(rnn, 10)
