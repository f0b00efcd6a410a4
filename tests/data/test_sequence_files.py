"""Your own sequences: UEA/UCR .ts / .arff files by path and .npz arrays, on aeon's real files, and one clear error
per bad file."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from har_vib.config_checks import check_run_config
from har_vib.data.sequence_files import load_npz, load_ts_file
from har_vib.data.sequences import _aeon_data_dir, load_bundled
from har_vib.datamodules import ArrayDataModule, TimeSeriesDataModule
from har_vib.errors import ConfigError
from tests.conftest import compose_train_cfg

AEON = _aeon_data_dir()


def _copy(tmp_path: Path, *names: str) -> list[Path]:
    """Copy aeon's real files ``<Problem>/<file>`` into ``tmp_path``; return the copies."""
    out = []
    for name in names:
        src = AEON / name.split("_")[0] / name
        out.append(Path(shutil.copy(src, tmp_path / name)))
    return out


def _setup(dm):
    dm.setup("fit")
    return dm


def _same_sets(a, b) -> None:
    """Both DataModules hold the same preprocessed sequences and targets, split by split."""
    for name in ("train_set", "val_set", "test_set"):
        sa, sb = getattr(a, name), getattr(b, name)
        assert len(sa) == len(sb), name
        assert torch.equal(sa.targets, sb.targets), name
        for x, y in zip(sa.sequences, sb.sequences):
            assert x.shape == y.shape and torch.allclose(x, y, atol=1e-6), name


def _pack(sequences: list[np.ndarray], t: int, pad: float = np.nan) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad (T_i, C) sequences into (N, t, C) with ``pad``; return it and the lengths."""
    x = np.full((len(sequences), t, sequences[0].shape[1]), pad, dtype=np.float32)
    for i, s in enumerate(sequences):
        x[i, : len(s)] = s
    return x, np.array([len(s) for s in sequences])


# ------------------------------------------------------------------------------------------------ real files


def test_ts_file_by_path_finds_its_test_partner_and_matches_the_bundled_route(tmp_path: Path):
    train_file, test_file = _copy(tmp_path, "GunPoint_TRAIN.ts", "GunPoint_TEST.ts")
    by_file = _setup(TimeSeriesDataModule(path=str(train_file), seed=3))
    assert by_file.test_file == test_file
    bundled = _setup(TimeSeriesDataModule(name="GunPoint", seed=3))
    assert by_file.class_names == bundled.class_names == ["1", "2"]
    _same_sets(by_file, bundled)
    by_folder = _setup(TimeSeriesDataModule(path=str(tmp_path), seed=3))  # a folder with one _TRAIN file
    _same_sets(by_folder, bundled)
    explicit = _setup(TimeSeriesDataModule(path=str(train_file), test_path=str(test_file), seed=3))
    _same_sets(explicit, bundled)
    assert by_file.sizes == {"train": 40, "val": 10, "test": 150}


def test_real_arff_without_test_file_gets_a_stratified_test_split(tmp_path: Path, caplog):
    """aeon ships BasicMotions_TRAIN.arff without a TEST partner: a stratified 20% is held out, said in the log."""
    (arff,) = _copy(tmp_path, "BasicMotions_TRAIN.arff")
    split = load_ts_file(arff)
    ts = load_bundled("BasicMotions", "train")
    assert len(split) == 40 and split.sequences[0].shape == (100, 6)
    for a, b in zip(split.sequences, ts.sequences):  # the same data as the .ts file
        assert np.allclose(a, b, atol=1e-5)
    assert [s.lower() for s in split.labels] == ts.labels.tolist()  # aeon lower-cases .ts files only
    with caplog.at_level(logging.INFO):
        dm = _setup(TimeSeriesDataModule(path=str(arff)))
    assert "has no test split: a stratified 20% of every class (8 sequences, seed 0) is held out" in caplog.text
    assert dm.class_names == ["Badminton", "Running", "Standing", "Walking"]
    assert dm.sizes == {"train": 24, "val": 8, "test": 8}
    assert torch.bincount(dm.test_set.targets).tolist() == [2, 2, 2, 2]
    # the held-out test samples are the same for every run seed; validation follows the seed
    other = _setup(TimeSeriesDataModule(path=str(arff), seed=5))

    def raw(d):  # undo the standardisation, whose statistics follow the training part (a patch: P steps of C)
        return [
            s.numpy() * np.tile(d.std, d.patch_length) + np.tile(d.mean, d.patch_length) for s in d.test_set.sequences
        ]

    assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(raw(dm), raw(other)))
    assert not np.allclose(dm.mean, other.mean)


def test_arff_train_file_finds_a_ts_test_partner(tmp_path: Path):
    train_file, test_file = _copy(tmp_path, "GunPoint_TRAIN.arff", "GunPoint_TEST.ts")
    dm = _setup(TimeSeriesDataModule(path=str(train_file)))
    assert dm.test_file == test_file and dm.sizes["test"] == 150 and dm.class_names == ["1", "2"]


def _vowels_npz(tmp_path: Path) -> Path:
    """JapaneseVowels (real, unequal lengths 7..29, string labels) as one .npz: X NaN-padded, lengths, split."""
    train, test = load_bundled("JapaneseVowels", "train"), load_bundled("JapaneseVowels", "test")
    t = max(len(s) for s in train.sequences + test.sequences)
    x, lengths = _pack(train.sequences + test.sequences, t)
    split = np.array(["train"] * len(train) + ["test"] * len(test))
    path = tmp_path / "vowels.npz"
    np.savez(path, X=x, y=np.concatenate([train.labels, test.labels]), lengths=lengths, split=split)
    return path


def test_npz_of_a_real_unequal_length_dataset_matches_the_bundled_route(tmp_path: Path):
    bundled = _setup(TimeSeriesDataModule(name="JapaneseVowels", seed=1))
    one_file = _setup(ArrayDataModule(path=str(_vowels_npz(tmp_path)), seed=1))
    assert one_file.class_names == bundled.class_names and one_file.input_dim == 12
    _same_sets(one_file, bundled)  # the NaN padding past each length is never read
    # separate train / test files, bytes labels
    train, test = load_bundled("JapaneseVowels", "train"), load_bundled("JapaneseVowels", "test")
    for name, part in (("train", train), ("test", test)):
        x, lengths = _pack(part.sequences, 40, pad=0.0)
        np.savez(tmp_path / f"{name}.npz", X=x, y=part.labels.astype(bytes), lengths=lengths)
    two_files = _setup(ArrayDataModule(path=str(tmp_path / "train.npz"), test_path=str(tmp_path / "test.npz"), seed=1))
    _same_sets(two_files, bundled)
    x, lengths, y = next(iter(two_files.train_dataloader()))
    assert x.shape[2] == 12 and int(lengths.max()) == x.shape[1] and len(set(lengths.tolist())) > 1


def test_int_labels_sort_numerically_and_val_entries_are_used(tmp_path: Path):
    rng = np.random.default_rng(0)
    y = np.array([10, 2, 33] * 8)
    split = np.array(["train"] * 12 + ["val"] * 6 + ["test"] * 6)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(24, 5)), y=y, split=split)  # (N, T): one channel
    dm = _setup(ArrayDataModule(path=str(tmp_path / "d.npz")))
    assert dm.class_names == ["2", "10", "33"] and dm.input_dim == 1
    assert dm.sizes == {"train": 12, "val": 6, "test": 6}
    assert dm.train_set.targets[:3].tolist() == [1, 0, 2]


def test_nan_in_a_real_ts_file_is_imputed_and_logged(tmp_path: Path, caplog):
    """BasicMotions with missing values ('?' in the file, as UEA archives write them): NaN -> the channel's
    training mean, which is 0 after standardisation."""
    for name in ("BasicMotions_TRAIN.ts", "BasicMotions_TEST.ts"):
        lines = (AEON / "BasicMotions" / name).read_text().splitlines()
        start = lines.index("@data") + 1
        for i in range(start, start + 5):  # the first value of the first channel of 5 series
            head, rest = lines[i].split(",", 1)
            lines[i] = "?," + rest
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.INFO):
        dm = _setup(TimeSeriesDataModule(path=str(tmp_path / "BasicMotions_TRAIN.ts"), patch_length=1))
    line = next(r.getMessage() for r in caplog.records if "imputed" in r.getMessage())
    counts = dict(part.split() for part in line.split(": ", 1)[1].split(", "))
    assert sum(int(v) for v in counts.values()) == 10 and int(counts["test"]) == 5
    assert "channel's training mean (0 after standardisation)" in line
    for dataset in (dm.train_set, dm.val_set, dm.test_set):
        assert not any(torch.isnan(s).any() for s in dataset.sequences)
    assert torch.all(torch.stack([s[0, 0] for s in dm.test_set.sequences[:5]]) == 0)
    stacked = torch.cat(list(dm.train_set.sequences))
    assert torch.allclose(stacked.mean(0), torch.zeros(6), atol=1e-4)


def test_dataset_info_reproduces_the_model_input_from_raw_data(tmp_path: Path):
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=(30, 8, 2)).astype(np.float32)
    x[0, 1, 0] = np.nan
    np.savez(tmp_path / "d.npz", X=x, y=np.array(["b", "a"] * 15))
    for standardize in (True, False):
        dm = _setup(ArrayDataModule(path=str(tmp_path / "d.npz"), standardize=standardize))
        info = dm.dataset_info()
        assert info["classes"] == ["a", "b"] and info["channels"] == 2 and info["standardize"] is standardize
        assert info["sizes"] == {"train": 20, "val": 4, "test": 6}
        fill, mean, std = (np.asarray(info[k], dtype=np.float32) for k in ("fill", "mean", "std"))
        raw = np.where(np.isnan(x), fill, x)
        expected = (raw - mean) / std
        model_input = torch.stack(list(dm.train_set.sequences + dm.val_set.sequences + dm.test_set.sequences))
        rows = sorted(expected.reshape(30, -1).tolist())
        assert np.allclose(sorted(model_input.reshape(30, -1).tolist()), rows, atol=1e-5)
        if not standardize:  # inputs as they are, NaN -> the training mean
            assert np.all(mean == 0) and np.all(std == 1)
            assert np.allclose(torch.cat(list(dm.train_set.sequences)).mean(0).numpy(), fill, atol=1e-5)


# ------------------------------------------------------------------------------------------------ bad files


def _npz(tmp_path: Path, name: str = "bad.npz", **arrays) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


X10 = np.zeros((10, 4, 2), np.float32)
Y10 = np.array(["a", "b"] * 5)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X": X10}, r"no 'y' array; it holds \['X'\]"),
        ({"features": X10, "labels": Y10}, r"no 'X' or 'y' array; it holds \['features', 'labels'\]"),
        ({"X": np.zeros(10), "y": Y10}, r"X has shape \(10,\) \(rank 1\); it must be \(N, T, C\)"),
        ({"X": np.zeros((10, 4, 2, 1)), "y": Y10}, r"rank 4"),
        ({"X": X10, "y": Y10[:7]}, r"X holds 10 sequences but 'y' has 7 entries"),
        ({"X": X10, "y": Y10, "lengths": np.ones(9, int)}, r"X holds 10 sequences but 'lengths' has 9 entries"),
        ({"X": X10, "y": Y10, "lengths": np.r_[4, 0, [4] * 8]}, r"lengths\[1\]=0 is out of range: .* in 1..4"),
        ({"X": X10, "y": Y10, "lengths": np.full(10, 5)}, r"lengths\[0\]=5 is out of range"),
        ({"X": X10.astype(str), "y": Y10}, r"X has dtype <U.*not numbers"),
        ({"X": np.zeros((10, 4, 2), complex), "y": Y10}, r"X has dtype complex128, not numbers"),
        ({"X": X10, "y": np.array([0.5, 1.0] * 5)}, r"labels must be classes .* found the number 0.5"),
        ({"X": X10, "y": np.array([{"a": 1}] * 10)}, r"'y' is an object array .* save labels as a str or int array"),
        ({"X": np.array([np.zeros((3, 2)), np.zeros((4, 2))], dtype=object), "y": Y10[:2]}, r"'X' is an object array"),
        ({"X": np.zeros((0, 4, 2)), "y": Y10[:0]}, r"no sequences, steps or channels"),
        ({"X": X10, "y": Y10, "split": np.array(["train", "tset"] * 5)}, r"'split' holds \['tset'\]"),
        ({"X": X10, "y": Y10, "split": np.array(["test"] * 10)}, r"no 'train' entries"),
        (
            {"X": X10, "y": np.array(["a"] * 9 + ["b"])},
            r"class 'b' has a single sample, but .* \(dataset.test_fraction=0.2\)",
        ),
        ({"X": X10, "y": np.array(["a"] * 10)}, r"a single class"),
    ],
)
def test_bad_npz_is_one_clear_error_naming_the_file(tmp_path: Path, arrays: dict, message: str):
    path = _npz(tmp_path, **arrays)
    with pytest.raises(ConfigError, match=message) as err:
        _setup(ArrayDataModule(path=str(path)))
    assert f"dataset.path={path}" in str(err.value)


def test_infinite_values_are_refused_and_padding_is_not_read(tmp_path: Path):
    x = np.zeros((10, 4, 2), np.float32)
    x[3, 2, 1] = np.inf
    with pytest.raises(ConfigError, match=r"bad.npz: sequence 3 holds an infinite value \(step 2, channel 1"):
        _setup(ArrayDataModule(path=str(_npz(tmp_path, X=x, y=Y10))))
    lengths = np.full(10, 2)  # the inf lies in the padding: never read
    dm = _setup(ArrayDataModule(path=str(_npz(tmp_path, "ok.npz", X=x, y=Y10, lengths=lengths))))
    assert all(s.shape == (2, 2) for s in dm.train_set.sequences)
    x64 = np.zeros((10, 4, 2))
    x64[0, 0, 0] = 1e300  # beyond float32
    with pytest.raises(ConfigError, match="too large for float32"):
        _setup(ArrayDataModule(path=str(_npz(tmp_path, "big.npz", X=x64, y=Y10))))


def test_class_with_one_training_sample_and_a_val_split(tmp_path: Path):
    y = np.array(["a"] * 6 + ["b"] * 4)
    split = np.array(["train"] * 5 + ["test"] + ["train"] + ["test"] * 3)  # b: 1 training sample
    path = _npz(tmp_path, X=X10, y=y, split=split)
    with pytest.raises(
        ConfigError, match=r"class 'b' has a single sample left for training, .* \(dataset.val_fraction=0.2\)"
    ):
        _setup(ArrayDataModule(path=str(path)))
    # no validation share instead: refused too (an empty validation set failed after training, in early stopping)
    with pytest.raises(ConfigError, match=r"dataset.val_fraction=0.0: .* no validation split of its own"):
        _setup(ArrayDataModule(path=str(path), val_fraction=0.0))


def test_unknown_test_labels_channel_mismatch_and_two_test_splits(tmp_path: Path):
    train = _npz(tmp_path, "train.npz", X=X10, y=Y10)
    test = _npz(tmp_path, "test.npz", X=X10[:4], y=np.array(["a", "b", "c", "zz"]))
    with pytest.raises(ConfigError, match=r"test.npz: test labels \['c', 'zz'\] never occur in the training data"):
        _setup(ArrayDataModule(path=str(train), test_path=str(test)))
    wide = _npz(tmp_path, "wide.npz", X=np.zeros((4, 4, 3)), y=Y10[:4])
    with pytest.raises(ConfigError, match=r"different channel counts .*wide.npz: \[3\]"):
        _setup(ArrayDataModule(path=str(train), test_path=str(wide)))
    with_split = _npz(tmp_path, "split.npz", X=X10, y=Y10, split=np.array(["train"] * 6 + ["test"] * 4))
    with pytest.raises(ConfigError, match=r"split.npz: its 'split' array marks test samples and dataset.test_path"):
        _setup(ArrayDataModule(path=str(with_split), test_path=str(test)))
    mixed = _npz(tmp_path, "mixed.npz", X=X10[:4], y=Y10[:4], split=np.array(["train", "test"] * 2))
    with pytest.raises(ConfigError, match=r"dataset.test_path=.*mixed.npz: its 'split' array marks \['train'\]"):
        _setup(ArrayDataModule(path=str(train), test_path=str(mixed)))


def test_unreadable_archives(tmp_path: Path):
    npy = tmp_path / "x.npz"
    with open(npy, "wb") as fh:
        np.save(fh, X10)
    with pytest.raises(ConfigError, match=r"x.npz: a single .npy array, not an .npz archive"):
        _setup(ArrayDataModule(path=str(npy)))
    text = tmp_path / "t.npz"
    text.write_text("1,2,3\n")
    with pytest.raises(ConfigError, match=r"t.npz: not a NumPy .npz archive"):
        _setup(ArrayDataModule(path=str(text)))
    positional = _npz(tmp_path, "pos.npz", arr_0=X10)
    with pytest.raises(ConfigError, match=r"it holds \['arr_0'\]\. Save the arrays by name: np.savez\(path, X=X"):
        load_npz(positional)


def test_regression_ts_file_is_refused(tmp_path: Path):
    """aeon's CardanoSentiment is a real regression .ts file (@targetlabel true)."""
    (path,) = _copy(tmp_path, "CardanoSentiment_TRAIN.ts")
    with pytest.raises(ConfigError, match=r"CardanoSentiment_TRAIN.ts: a regression .ts file \(@targetLabel true\)"):
        _setup(TimeSeriesDataModule(path=str(path)))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines, i: lines[: lines.index("@data")], r"no @data line"),
        (lambda lines, i: [ln for ln in lines if not ln.lower().startswith("@classlabel")], r"not a classification"),
        (lambda lines, i: [*lines[:i], "1.0,abc,2.0:1", *lines[i + 1 :]], r"aeon cannot read it .*abc"),
        (lambda lines, i: [*lines[:i], "inf," + lines[i].split(",", 1)[1], *lines[i + 1 :]], r"infinite value"),
        (lambda lines, i: lines[:i], r"holds no samples"),
    ],
)
def test_bad_ts_file_is_one_clear_error_naming_it(tmp_path: Path, edit, message: str):
    lines = (AEON / "ItalyPowerDemand" / "ItalyPowerDemand_TRAIN.ts").read_text().splitlines()
    path = tmp_path / "Italy_TRAIN.ts"
    path.write_text("\n".join(edit(lines, lines.index("@data") + 1)) + "\n")
    with pytest.raises(ConfigError, match=message) as err:
        _setup(TimeSeriesDataModule(path=str(path)))
    assert f"dataset.path={path}" in str(err.value)


def test_ts_test_labels_unknown_to_training(tmp_path: Path):
    train_file, _ = _copy(tmp_path, "GunPoint_TRAIN.ts", "GunPoint_TEST.ts")
    test = tmp_path / "GunPoint_TEST.ts"
    lines = test.read_text().splitlines()
    lines = [ln.replace("@classLabel true 1 2", "@classLabel true 1 2 3") for ln in lines]
    lines[-1] = lines[-1].rsplit(":", 1)[0] + ":3"
    test.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"the test file of dataset.path=.*GunPoint_TEST.ts: test labels \['3'\]"):
        _setup(TimeSeriesDataModule(path=str(train_file)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "missing_TRAIN.ts"}, r"dataset.path=missing_TRAIN.ts: no such file"),
        ({"path": "data.csv"}, r"dataset.path=data.csv: expected a .ts or .arff file, got a .csv file"),
        ({"path": "x.npz"}, r"got a .npz file; an .npz archive is read by dataset=arrays"),
        ({"name": "GunPoint", "path": "x.ts"}, r"both dataset.name and dataset.path are set"),
        ({}, r"neither dataset.name nor dataset.path is set"),
        ({"name": "GunPoint", "test_path": "x.ts"}, r"dataset.test_path=x.ts: only with dataset.path"),
        ({"path": str(AEON / "JapaneseVowels")}, r"holds several problems \(JapaneseVowels, JapaneseVowels_eq\)"),
        ({"path": str(AEON / "GunPoint" / "GunPoint_TEST.ts")}, r"is a _TEST file; .*\(GunPoint_TRAIN.ts\)"),
    ],
)
def test_bad_ts_paths(tmp_path: Path, monkeypatch, kwargs: dict, message: str):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message):
        TimeSeriesDataModule(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"dataset=arrays needs dataset.path=<file>.npz"),
        ({"path": "nope.npz"}, r"dataset.path=nope.npz: no such file .*holds data.npz"),
        ({"path": "data.npy"}, r"got a .npy file; save X and y together in one archive"),
        ({"path": "data.ts"}, r"a .ts file is read by dataset=ts"),
        ({"path": "data.npz", "test_path": "tst.npz"}, r"dataset.test_path=tst.npz: no such file"),
        ({"path": "."}, r"is a folder; give the .npz file itself"),
    ],
)
def test_bad_npz_paths(tmp_path: Path, monkeypatch, kwargs: dict, message: str):
    monkeypatch.chdir(tmp_path)
    _npz(tmp_path, "data.npz", X=X10, y=Y10)
    with pytest.raises(ConfigError, match=message):
        ArrayDataModule(**kwargs)


def test_config_checks_refuse_a_bad_path_before_any_work(tmp_path: Path):
    """train.py's preflight: the path checks read no file and import neither aeon nor torch's data stack."""
    cfg = compose_train_cfg(tmp_path, ["dataset=arrays", f"dataset.path={tmp_path / 'typo.npz'}"])
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"typo.npz: no such file"):
        check_run_config(cfg)
    assert time.perf_counter() - start < 1.0
    cfg = compose_train_cfg(tmp_path, ["dataset=ts", "dataset.path=x.ts", "dataset.name=GunPoint"])
    with pytest.raises(ConfigError, match="both dataset.name and dataset.path"):
        check_run_config(cfg)
    default = compose_train_cfg(tmp_path, [])
    assert default.dataset.name == "BasicMotions" and default.dataset.path is None
    check_run_config(default)
    cfg = compose_train_cfg(tmp_path, ["dataset=ts", f"dataset.path={AEON / 'GunPoint'}"])
    assert cfg.dataset.name is None
    check_run_config(cfg)
    _npz(tmp_path, "x.npz", X=X10, y=Y10)
    cfg = compose_train_cfg(tmp_path, ["dataset=arrays", f"dataset.path={tmp_path / 'x.npz'}", "backbone=resnet18"])
    with pytest.raises(ConfigError, match="is a sequence dataset"):
        check_run_config(cfg)


def test_no_validation_share_is_refused_when_the_data_has_no_val_split(tmp_path: Path):
    """val_fraction=0 left an empty validation set: the run trained, then failed in early stopping."""
    with pytest.raises(ConfigError, match=r"dataset.val_fraction=0.*no validation split of its own.*=0.2"):
        _setup(TimeSeriesDataModule(name="ArrowHead", val_fraction=0.0))
    x = np.random.default_rng(0).normal(size=(12, 5, 2)).astype(np.float32)
    split = np.array(["train"] * 6 + ["val"] * 2 + ["test"] * 4)
    path = _npz(tmp_path, X=x, y=np.array(["a", "b"] * 6), split=split)
    dm = _setup(ArrayDataModule(path=str(path), val_fraction=0.0))  # its own val entries: nothing to carve
    assert dm.sizes == {"train": 6, "val": 2, "test": 4} and dm.held_out == {}


def test_classes_json_says_which_training_sequences_were_held_out(tmp_path: Path):
    (arff,) = _copy(tmp_path, "BasicMotions_TRAIN.arff")  # no test file: test and val are carved out
    dm = _setup(TimeSeriesDataModule(path=str(arff), patch_length=1, seed=3))
    held = dm.dataset_info()["held_out"]
    raw = load_ts_file(arff)
    assert len(held["test"]) == 8 and len(held["val"]) == 8 and not set(held["test"]) & set(held["val"])
    for name, dataset in (("test", dm.test_set), ("val", dm.val_set)):
        # the recorded positions give back the split: the same raw sequences, standardised, in the same order
        for pos, seq in zip(held[name], dataset.sequences):
            assert np.allclose((raw.sequences[pos] - dm.mean) / dm.std, seq.numpy(), atol=1e-5)


def test_labels_that_differ_only_in_case_name_the_ts_reader(tmp_path: Path):
    """aeon's .ts reader lower-cases labels and its .arff reader does not: a real .arff train file with its .ts test
    file was refused with 'drop those samples or add training ones'."""
    train_file, test_file = _copy(tmp_path, "BasicMotions_TRAIN.arff", "BasicMotions_TEST.ts")  # Badminton, badminton
    with pytest.raises(ConfigError, match="differ from the training classes only in case.*same format"):
        _setup(TimeSeriesDataModule(path=str(train_file), test_path=str(test_file)))
