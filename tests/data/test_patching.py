"""Patches of long sequences: layout, the auto length, and the DataModule on aeon's real long series."""

import json

import numpy as np
import pytest

from har_vib.data.patching import auto_patch_length, patch_sequence
from har_vib.data.sequences import load_bundled
from har_vib.datamodules import TimeSeriesDataModule
from har_vib.errors import ConfigError


def test_auto_patch_length_is_the_smallest_that_fits():
    assert auto_patch_length(100, 100) == 1
    assert auto_patch_length(101, 100) == 2
    assert auto_patch_length(1460, 64) == 23  # ACSF1: 64 patches
    assert auto_patch_length(5, 100) == 1
    with pytest.raises(ValueError, match="max_steps"):
        auto_patch_length(10, 0)


def test_a_patch_holds_consecutive_steps_step_major_on_a_real_series():
    seq = load_bundled("BasicMotions", "train").sequences[0]  # (100, 6)
    patched = patch_sequence(seq, 3)
    assert patched.shape == (34, 18)
    # row k, block j: step 3k + j, all 6 channels
    for k, j in [(0, 0), (0, 2), (5, 1), (32, 2)]:
        assert np.array_equal(patched[k, 6 * j : 6 * j + 6], seq[3 * k + j])
    # the last patch holds step 99 and zero padding
    assert np.array_equal(patched[33, :6], seq[99]) and not patched[33, 6:].any()
    assert patch_sequence(seq, 1) is seq


def test_long_univariate_series_are_patched_automatically(tmp_path):
    dm = TimeSeriesDataModule(name="ACSF1", batch_size=4)  # 1460 steps, 1 channel
    dm.setup()
    assert dm.patch_length == 23 and dm.input_dim == 23 and dm.channels == 1
    x, lengths, _ = next(iter(dm.train_dataloader()))
    assert x.shape[1:] == (64, 23) and lengths.tolist() == [64] * len(lengths)
    info = dm.dataset_info()
    assert info["patch_length"] == 23 and info["input_dim"] == 23 and info["channels"] == 1
    json.dumps(info)  # what classes.json holds must be JSON


def test_unequal_lengths_are_patched_to_their_own_length():
    dm = TimeSeriesDataModule(name="JapaneseVowels", max_rnn_steps=10)  # 7..26 steps, 12 channels
    dm.setup()
    assert dm.patch_length == 3 and dm.input_dim == 36
    raw = load_bundled("JapaneseVowels", "test").sequences
    assert [len(s) for s in dm.test_set.sequences] == [-(-len(s) // 3) for s in raw]


def test_short_series_are_read_step_by_step_and_a_fixed_length_wins():
    dm = TimeSeriesDataModule(name="ItalyPowerDemand")  # 24 steps: within the default 64
    dm.setup()
    assert dm.patch_length == 1 and dm.input_dim == 1
    fixed = TimeSeriesDataModule(name="BasicMotions", patch_length=4)
    fixed.setup()
    assert fixed.patch_length == 4 and fixed.input_dim == 24 and len(fixed.train_set.sequences[0]) == 25


@pytest.mark.parametrize("bad", [{"patch_length": 0}, {"patch_length": "big"}, {"max_rnn_steps": 0}])
def test_bad_patch_settings_name_the_key(bad):
    with pytest.raises(ConfigError, match=f"dataset.{next(iter(bad))}"):
        TimeSeriesDataModule(name="BasicMotions", **bad)
