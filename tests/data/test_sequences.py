"""aeon-bundled datasets, stratified splits, padding and the DataModule."""

import numpy as np
import pytest
import torch

from har_vib.data.sequences import (
    bundled_classification_datasets,
    load_bundled,
    pad_collate,
    stratified_split,
)
from har_vib.datamodules import TimeSeriesDataModule
from har_vib.errors import ConfigError


def test_bundled_names_include_defaults_and_exclude_regression():
    names = bundled_classification_datasets()
    assert {"BasicMotions", "GunPoint", "JapaneseVowels"} <= set(names)
    assert "CardanoSentiment" not in names  # a regression set


def test_load_basic_motions_shapes():
    split = load_bundled("BasicMotions", "train")
    assert len(split.sequences) == 40 and split.sequences[0].shape == (100, 6)
    assert sorted(set(split.labels)) == ["badminton", "running", "standing", "walking"]


def test_unknown_name_lists_choices():
    with pytest.raises(ConfigError, match="BasicMotions") as err:
        TimeSeriesDataModule(name="NoSuchSet")
    assert "dataset.name='NoSuchSet'" in str(err.value)


def test_stratified_split_is_seeded_and_disjoint():
    labels = np.array(["a"] * 10 + ["b"] * 5)
    kept, held = stratified_split(labels, 0.2, seed=3)
    kept2, held2 = stratified_split(labels, 0.2, seed=3)
    assert np.array_equal(held, held2) and np.array_equal(kept, kept2)
    assert set(kept).isdisjoint(held) and len(kept) + len(held) == 15
    assert sorted(labels[held].tolist()) == ["a", "a", "b"]


def test_pad_collate_right_pads_and_reports_lengths():
    batch = [(torch.ones(3, 2), torch.tensor(0)), (torch.ones(5, 2), torch.tensor(1))]
    x, lengths, y = pad_collate(batch)
    assert x.shape == (2, 5, 2) and lengths.tolist() == [3, 5] and y.tolist() == [0, 1]
    assert torch.all(x[0, 3:] == 0)


def test_datamodule_unequal_length_dataset():
    dm = TimeSeriesDataModule(name="JapaneseVowels", batch_size=16, seed=1)
    dm.setup("fit")
    assert dm.input_dim == 12 and dm.num_classes == 9
    x, lengths, y = next(iter(dm.train_dataloader()))
    assert x.shape[0] == 16 and x.shape[2] == 12 and int(lengths.max()) == x.shape[1]
    assert len(set(lengths.tolist())) > 1
    # standardised with train statistics
    train_x = torch.cat([s for s in dm.train_set.sequences])
    assert torch.allclose(train_x.mean(0), torch.zeros(12), atol=1e-4)
    assert len(dm.val_set) > 0 and len(dm.test_set) == 370
