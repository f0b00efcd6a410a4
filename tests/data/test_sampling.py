"""Frame sampling strategies."""

from __future__ import annotations

import numpy as np
import pytest

from har_vib.data.sampling import STRATEGIES, sample_indices
from har_vib.errors import ConfigError


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_gives_sorted_in_range_indices(strategy):
    rng = np.random.default_rng(0)
    for n in (8, 9, 50, 301):
        for train in (False, True):
            idx = sample_indices(n, 8, strategy, rng=rng, train=train)
            assert idx.shape == (8,) and idx.dtype == np.int64
            assert idx.min() >= 0 and idx.max() < n
            assert np.all(np.diff(idx) >= 0)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_eval_is_deterministic(strategy):
    a = sample_indices(100, 8, strategy, rng=np.random.default_rng(0), train=False)
    b = sample_indices(100, 8, strategy, rng=np.random.default_rng(1), train=False)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("strategy", ["random", "segment", "strided"])
def test_training_redraws(strategy):
    rng = np.random.default_rng(0)
    draws = {tuple(sample_indices(100, 8, strategy, rng=rng, train=True)) for _ in range(20)}
    assert len(draws) > 5


def test_uniform_spans_the_video():
    np.testing.assert_array_equal(sample_indices(9, 5, "uniform"), [0, 2, 4, 6, 8])


def test_random_draws_distinct_frames():
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert len(set(sample_indices(10, 8, "random", rng=rng, train=True))) == 8


def test_segments_pick_one_frame_per_segment():
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = sample_indices(80, 8, "segment", rng=rng, train=True)
        np.testing.assert_array_equal(idx // 10, np.arange(8))
    np.testing.assert_array_equal(sample_indices(80, 8, "segment"), np.arange(8) * 10 + 5)  # centres at test


def test_strided_follows_the_authors_loader():
    np.testing.assert_array_equal(sample_indices(35, 8, "strided"), np.arange(8) * 4)  # start 0, stride N//T
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = sample_indices(35, 8, "strided", rng=rng, train=True)
        stride = np.unique(np.diff(idx))
        assert len(stride) == 1 and 1 <= stride[0] <= 4


def test_short_video_pads_front_with_first_frame():
    for strategy in STRATEGIES:
        np.testing.assert_array_equal(
            sample_indices(3, 6, strategy, rng=np.random.default_rng(0), train=True), [0, 0, 0, 0, 1, 2]
        )


def test_bad_arguments():
    with pytest.raises(ConfigError, match="uniform, random, segment, strided"):
        sample_indices(10, 4, "dense")
    with pytest.raises(ValueError, match="0 frames"):
        sample_indices(0, 4)
    with pytest.raises(ValueError, match="needs an rng"):
        sample_indices(10, 4, "random", train=True)
