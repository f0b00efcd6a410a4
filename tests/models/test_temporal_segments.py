"""Temporal-segment front end: segments, per-segment norms, max-pooling, and exact compact export."""

from __future__ import annotations

import pytest
import torch

from har_vib.compression import compress
from har_vib.models import create_model
from har_vib.models.temporal_segments import TemporalSegmentPool


def test_pooling_follows_the_definition():
    torch.manual_seed(0)
    pool = TemporalSegmentPool(4, segments=3).eval()
    with torch.no_grad():
        for s, bn in enumerate(pool.norms):
            bn.running_mean.fill_(float(s))
            bn.running_var.fill_(4.0)
    x = torch.randn(2, 25, 4)  # 25 frames -> 3 segments of 8, frame 25 dropped
    out = pool(x)
    assert out.shape == (2, 3, 4)
    for s in range(3):
        expected = ((x[:, 8 * s : 8 * s + 8] - s) / torch.sqrt(torch.tensor(4.0 + 1e-5))).amax(dim=1)
        assert torch.allclose(out[:, s], expected, atol=1e-6)
    x[:, 24] = 1e6  # the dropped tail frame changes nothing
    assert torch.allclose(pool(x), out)


def test_each_segment_has_its_own_batch_statistics():
    pool = TemporalSegmentPool(2, segments=2).train()
    x = torch.cat([torch.zeros(8, 3, 2), 10 * torch.ones(8, 3, 2)], dim=1)
    x = x + 0.1 * torch.randn_like(x)
    pool(x)
    assert pool.norms[0].running_mean.mean() < 0.1 < 0.9 < pool.norms[1].running_mean.mean()


def test_unequal_lengths_and_too_short_clips_are_errors():
    pool = TemporalSegmentPool(2, segments=3)
    with pytest.raises(ValueError, match="equal-length"):
        pool(torch.randn(2, 6, 2), torch.tensor([6, 4]))
    with pytest.raises(ValueError, match="cannot make 3"):
        pool(torch.randn(2, 2, 2))


def test_ts_vib_lstm_compact_export_is_exact_with_pruned_inputs():
    torch.manual_seed(0)
    model = create_model("ts_vib_lstm", input_size=10, num_classes=3, hidden_size=8)
    model.train()
    model(torch.randn(16, 9, 10))  # non-trivial running statistics
    with torch.no_grad():
        model.input_ib.mu[[1, 4, 7]] = 0.0  # prune three inputs
        model.rnn.gate_ib.mu[[2, 5]] = 0.0  # and two hidden units (their i gate)
    model.eval()
    result = compress(model)
    compact = result.model.eval()
    assert result.report["input_dim_after"] == 7 and compact.frontend.norms[0].num_features == 7
    x = torch.randn(4, 9, 10)
    with torch.no_grad():
        assert torch.allclose(compact(x), model(x), atol=1e-6)
    scripted = torch.jit.script(compact)
    assert torch.allclose(scripted(x), compact(x), atol=1e-6)
