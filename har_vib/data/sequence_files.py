"""Sequences from the user's own files: UEA/UCR ``.ts`` and ``.arff`` files (read with aeon's own loaders) and
NumPy ``.npz`` archives.

Every problem with a file is one :class:`ConfigError` naming the config key, the file, what is wrong and how to
fix it. The path checks (:func:`ts_files`, :func:`npz_files`) only look at names and the file system and import
nothing heavy: train.py runs them before Lightning is imported, so a typo fails in under a second.

``.npz`` layout (:func:`load_npz`): ``X`` (N, T, C) or (N, T) numbers, ``y`` (N,) labels (ints, strings or
bytes), optional ``lengths`` (N,) ints in 1..T (steps past a sequence's length are padding and never read) and
optional ``split`` (N,) of ``"train"`` / ``"val"`` / ``"test"``.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from har_vib.errors import ConfigError

TS_SUFFIXES = (".ts", ".arff")
NPZ_SUFFIXES = (".npz",)
SPLIT_NAMES = ("train", "val", "test")
NPZ_HOWTO = "np.savez(path, X=X, y=y) with X (N, T, C) floats and y (N,) int or str labels"


@dataclass
class SequenceSplit:
    """Variable-length multivariate sequences, each (T_i, C) float32, with their labels (N,) and ``source``: where
    they came from, as error messages name it (``dataset.path=/data/x.npz``)."""

    sequences: list[np.ndarray]
    labels: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.sequences)

    def subset(self, index: np.ndarray) -> SequenceSplit:
        """The sequences at ``index`` (ints), in that order."""
        return SequenceSplit([self.sequences[i] for i in index], self.labels[index], self.source)


# ----------------------------------------------------------------------------------------------- paths (cheap)


def _wrong_suffix_hint(suffix: str, wanted: tuple[str, ...]) -> str:
    if suffix in NPZ_SUFFIXES:
        return "an .npz archive is read by dataset=arrays: train.py dataset=arrays dataset.path=<file>.npz"
    if suffix in TS_SUFFIXES:
        return f"a {suffix} file is read by dataset=ts: train.py dataset=ts dataset.path=<file>{suffix}"
    if suffix == ".npy":
        return f"save X and y together in one archive: {NPZ_HOWTO}"
    if wanted == NPZ_SUFFIXES:
        return f"convert your data to an .npz archive: {NPZ_HOWTO}"
    return "give a UEA/UCR .ts or .arff file, or convert your data to .npz for dataset=arrays"


def check_data_path(value: Any, key: str, suffixes: tuple[str, ...], folder_ok: bool = False) -> Path:
    """The file (or, with ``folder_ok``, folder) that config key ``key`` names, after checking that it exists and
    ends in one of ``suffixes`` (case-insensitive); returned absolute. ``~`` is expanded; a relative path is taken
    from the working directory (the folder train.py is started in).

    Raises:
        ConfigError: ``<key>=<value>: <what is wrong>; <fix>``.
    """
    kinds = " or ".join(suffixes)
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise ConfigError(f"{key}={value!r}: must be the path of a {kinds} file")
    path = Path(os.path.expanduser(str(value))).absolute()
    if path.is_dir():
        if folder_ok:
            return path
        raise ConfigError(f"{key}={value}: is a folder; give the {kinds} file itself")
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        found = f"a {path.suffix} file" if path.suffix else "a file without an extension"
        raise ConfigError(
            f"{key}={value}: expected a {kinds} file, got {found}; {_wrong_suffix_hint(suffix, suffixes)}"
        )
    if not path.is_file():
        where = path.parent
        near = sorted(p.name for p in where.iterdir() if p.suffix.lower() in suffixes)[:5] if where.is_dir() else []
        seen = f" ({where} holds {', '.join(near)})" if near else ""
        raise ConfigError(
            f"{key}={value}: no such file{seen}; check the path (a relative one is taken from {os.getcwd()})"
        )
    return path


def _given(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def _train_file_in(folder: Path) -> Path:
    """The one ``<Name>_TRAIN.ts`` (or ``.arff``) file of ``folder``; ``.ts`` when both exist."""
    problems: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in TS_SUFFIXES and p.stem.upper().endswith("_TRAIN"):
            problems.setdefault(p.stem[: -len("_TRAIN")], []).append(p)
    if not problems:
        present = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in TS_SUFFIXES)[:5]
        holds = f"it holds {', '.join(present)}" if present else "it holds no .ts or .arff file"
        raise ConfigError(
            f"dataset.path={folder}: no <Name>_TRAIN.ts or <Name>_TRAIN.arff file in this folder ({holds}); name "
            "the files <Name>_TRAIN.ts / <Name>_TEST.ts, or point dataset.path at one file"
        )
    if len(problems) > 1:
        raise ConfigError(
            f"dataset.path={folder}: this folder holds several problems ({', '.join(sorted(problems))}); point "
            "dataset.path at one <Name>_TRAIN file"
        )
    (files,) = problems.values()
    return next((p for p in files if p.suffix.lower() == ".ts"), files[0])


def ts_files(name: Any, path: Any, test_path: Any = None) -> tuple[Path | None, Path | None]:
    """``(train file, test file)`` of ``dataset=ts``: ``(None, None)`` for an aeon-bundled ``name``.

    ``path`` is a ``.ts``/``.arff`` file or a folder holding one ``<Name>_TRAIN`` file. The test file is
    ``test_path`` when given, else the ``<Name>_TEST`` file next to a ``<Name>_TRAIN`` one (same extension
    first), else None (a test split is then carved out of the training file).

    Raises:
        ConfigError: both or neither of ``name`` and ``path``; a missing file or folder, a wrong extension, a
            ``_TEST`` file given as ``path``.
    """
    if _given(name) == _given(path):
        both = "both dataset.name and dataset.path are" if _given(name) else "neither dataset.name nor dataset.path is"
        raise ConfigError(
            f"dataset=ts: {both} set; give one: dataset.name=<a dataset aeon ships, e.g. BasicMotions> or "
            "dataset.path=<a .ts/.arff file or folder>"
        )
    if _given(name):
        if _given(test_path):
            raise ConfigError(
                f"dataset.test_path={test_path}: only with dataset.path (dataset.name={name} has its own test split)"
            )
        return None, None
    train = check_data_path(path, "dataset.path", TS_SUFFIXES, folder_ok=True)
    if train.is_dir():
        train = _train_file_in(train)
    if _given(test_path):
        return train, check_data_path(test_path, "dataset.test_path", TS_SUFFIXES)
    stem = train.stem
    if stem.upper().endswith("_TEST"):
        partner = f"{stem[: -len('_TEST')]}_TRAIN{train.suffix}"
        raise ConfigError(
            f"dataset.path={path}: is a _TEST file; point dataset.path at the training file ({partner}): its test "
            "file is found next to it"
        )
    if stem.upper().endswith("_TRAIN"):
        base = stem[: -len("_TRAIN")]
        others = [s for s in TS_SUFFIXES if s != train.suffix.lower()]
        for suffix in (train.suffix, *others):
            for tag in ("_TEST", "_test", "_Test"):
                candidate = train.with_name(f"{base}{tag}{suffix}")
                if candidate.is_file():
                    return train, candidate
    return train, None


def npz_files(path: Any, test_path: Any = None) -> tuple[Path, Path | None]:
    """``(train file, test file or None)`` of ``dataset=arrays``, each checked to exist and to end in ``.npz``.

    Raises:
        ConfigError: no ``path``, a missing file, a folder, a wrong extension.
    """
    if not _given(path):
        raise ConfigError("dataset=arrays needs dataset.path=<file>.npz (" + NPZ_HOWTO + ")")
    train = check_data_path(path, "dataset.path", NPZ_SUFFIXES)
    test = check_data_path(test_path, "dataset.test_path", NPZ_SUFFIXES) if _given(test_path) else None
    return train, test


# ----------------------------------------------------------------------------------------------- labels, values


def normalize_labels(y: np.ndarray, source: str) -> np.ndarray:
    """Labels as ints (int64) or strings, whichever they are: bytes are decoded (UTF-8), whole-number floats
    become ints, booleans strings. Sorted with ``np.unique`` they give the class order (numeric for ints).

    Raises:
        ConfigError: fractional or non-finite float labels (a regression target), or labels of another kind
            (complex, dates, records).
    """
    kind = y.dtype.kind
    if kind == "U":
        return y.astype(str)
    if kind == "S":
        try:
            return np.char.decode(y, "utf-8").astype(str)
        except UnicodeDecodeError as err:
            raise ConfigError(f"{source}: labels are bytes that are not UTF-8 ({err}); save them as str") from None
    if kind in "iu":
        return y.astype(np.int64)
    if kind == "b":
        return y.astype(str)
    if kind == "f":
        finite = np.isfinite(y)
        if finite.all() and np.all(y == np.round(y)):
            return y.astype(np.int64)
        bad = (y[~finite] if not finite.all() else y[y != np.round(y)])[0].item()
        raise ConfigError(
            f"{source}: labels must be classes (ints or strings), found the number {bad!r}: a regression target "
            "cannot be classified; save class labels, e.g. y.astype(int) or y.astype(str)"
        )
    raise ConfigError(f"{source}: labels of dtype {y.dtype} are not supported; save them as ints or strings")


def _check_finite(sequences: list[np.ndarray], source: str) -> None:
    """Raise a ConfigError naming the first infinite value (NaN is allowed: it is imputed)."""
    for i, seq in enumerate(sequences):
        bad = np.argwhere(np.isinf(seq))
        if len(bad):
            step, channel = (int(v) for v in bad[0])
            raise ConfigError(
                f"{source}: sequence {i} holds an infinite value (step {step}, channel {channel}; or a number too "
                "large for float32); replace infinite values by finite ones, or by NaN, which is imputed"
            )


# ----------------------------------------------------------------------------------------------- .ts / .arff


def _ts_header(path: Path) -> dict[str, str]:
    """The ``@key value`` lines of a ``.ts`` file's header (keys lower-case), up to and including ``@data``."""
    header: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            text = line.strip()
            if not text.startswith("@"):
                continue
            key, _, value = text[1:].partition(" ")
            header[key.lower()] = value.strip()
            if key.lower() == "data":
                break
    return header


def load_ts_file(path: str | Path, source: str | None = None) -> SequenceSplit:
    """One UEA/UCR classification file, ``.ts`` (``aeon.datasets.load_from_ts_file``) or ``.arff``
    (``load_from_arff_file``), as (T_i, C) float32 sequences with string labels. Missing values (``?``, ``NaN``)
    stay NaN. aeon's ``.ts`` reader lower-cases the whole file, labels included; its ``.arff`` reader does not.

    Raises:
        ConfigError: naming ``source`` (default: the path): no ``@data``, a regression or unlabelled ``.ts``,
            a line aeon cannot parse, no samples, an infinite value.
    """
    path = Path(path)
    source = source or str(path)
    suffix = path.suffix.lower()
    if suffix == ".ts":
        header = _ts_header(path)
        if "data" not in header:
            raise ConfigError(
                f"{source}: not a UEA/UCR .ts file (no @data line); a .ts file has a header (@problemName, "
                "@univariate, @equalLength, @classLabel true <labels>), then @data and one series per line"
            )
        if header.get("targetlabel", "").lower().startswith("true"):
            raise ConfigError(f"{source}: a regression .ts file (@targetLabel true); har-vib needs class labels")
        if not header.get("classlabel", "").lower().startswith("true"):
            raise ConfigError(
                f"{source}: not a classification .ts file (no '@classLabel true <labels>' in its header); "
                "har-vib needs one class label per series"
            )
    from aeon.datasets import load_from_arff_file, load_from_ts_file

    try:
        if suffix == ".ts":
            x, y = load_from_ts_file(str(path))
        else:
            x, y = load_from_arff_file(str(path))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{source}: not UTF-8 text ({err}); save the file as UTF-8") from None
    except (OSError, ValueError, TypeError, IndexError) as err:
        raise ConfigError(f"{source}: aeon cannot read it as a UEA/UCR {suffix} file: {err}") from None
    if len(x) == 0:
        raise ConfigError(f"{source}: holds no samples (nothing after @data)")
    with np.errstate(over="ignore"):  # too large for float32 -> inf, reported below
        sequences = [np.ascontiguousarray(np.asarray(s, dtype=np.float32).T) for s in x]  # aeon: (C, T) -> (T, C)
    _check_finite(sequences, source)
    labels = np.asarray(y)
    if len(labels) != len(sequences):
        raise ConfigError(f"{source}: {len(sequences)} series but {len(labels)} labels; every series needs a label")
    return SequenceSplit(sequences, normalize_labels(labels.astype(str), source), source)


# ----------------------------------------------------------------------------------------------- .npz


def _npz_array(archive: Any, key: str, source: str) -> np.ndarray:
    try:
        return np.asarray(archive[key])
    except ValueError as err:
        if "allow_pickle" not in str(err):
            raise ConfigError(f"{source}: cannot read {key!r}: {err}") from None
        fix = {
            "X": "pad unequal-length sequences into one (N, T, C) float array and save their lengths as 'lengths'",
            "y": "save labels as a str or int array, e.g. y=np.asarray(labels, dtype=str)",
        }.get(key, f"save {key!r} as a str or int array")
        raise ConfigError(f"{source}: {key!r} is an object array (pickled Python objects, not read); {fix}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise ConfigError(f"{source}: cannot read {key!r} (damaged archive?): {err}") from None


def _one_per_sequence(a: np.ndarray, name: str, n: int, source: str) -> np.ndarray:
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ConfigError(f"{source}: {name!r} has shape {a.shape}; it must be 1-D, one value per sequence ({n},)")
    if len(a) != n:
        raise ConfigError(f"{source}: X holds {n} sequences but {name!r} has {len(a)} entries; they must match")
    return a


def _npz_lengths(lengths: np.ndarray, n: int, t: int, source: str) -> np.ndarray:
    lengths = _one_per_sequence(lengths, "lengths", n, source)
    if lengths.dtype.kind == "f" and np.all(np.isfinite(lengths)) and np.all(lengths == np.round(lengths)):
        lengths = lengths.astype(np.int64)
    if lengths.dtype.kind not in "iu":
        raise ConfigError(f"{source}: 'lengths' has dtype {lengths.dtype}; it must hold whole numbers (steps)")
    bad = np.flatnonzero((lengths < 1) | (lengths > t))
    if len(bad):
        i = int(bad[0])
        raise ConfigError(
            f"{source}: lengths[{i}]={int(lengths[i])} is out of range: every length must be in 1..{t} (X's "
            f"T={t}); a sequence of length L is X[i, :L], the rest is padding ({len(bad)} bad entries)"
        )
    return lengths.astype(np.int64)


def _npz_split(split: np.ndarray, n: int, source: str) -> np.ndarray:
    split = _one_per_sequence(split, "split", n, source)
    if split.dtype.kind == "S":
        split = np.char.decode(split, "utf-8", errors="replace")
    if split.dtype.kind != "U":
        raise ConfigError(f"{source}: 'split' has dtype {split.dtype}; it must hold the strings train, val or test")
    split = np.char.lower(np.char.strip(split.astype(str)))
    unknown = sorted(set(split.tolist()) - set(SPLIT_NAMES))
    if unknown:
        raise ConfigError(f"{source}: 'split' holds {unknown[:5]}; its values must be 'train', 'val' or 'test'")
    return split


def load_npz(path: str | Path, source: str | None = None) -> dict[str, SequenceSplit]:
    """An ``.npz`` archive (read with ``allow_pickle=False``) as ``{"all": split}``, or, when it has a ``split``
    array, as ``{"train": ..., "val": ..., "test": ...}`` (the parts present). Sequences are (L_i, C) float32
    with ``L_i = lengths[i]`` (T without ``lengths``); X of shape (N, T) is read as C=1.

    Raises:
        ConfigError: naming ``source`` (default: the path) and the fix: not an archive, missing ``X``/``y``
            (the keys found are listed), an object array, X not numeric or not of rank 2/3, no sequences,
            mismatched lengths of X / y / lengths / split, a length out of 1..T, an infinite value, labels that
            are not classes, ``split`` values other than train / val / test.
    """
    path = Path(path)
    source = source or str(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ConfigError(f"{source}: not a NumPy .npz archive ({err}); write it with {NPZ_HOWTO}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ConfigError(f"{source}: a single .npy array, not an .npz archive; write it with {NPZ_HOWTO}")
    with archive:
        keys = list(archive.files)
        missing = [k for k in ("X", "y") if k not in keys]
        if missing:
            raise ConfigError(
                f"{source}: no {' or '.join(repr(k) for k in missing)} array; it holds {keys or 'no arrays'}. "
                f"Save the arrays by name: {NPZ_HOWTO} (optional: lengths=, split=)"
            )
        x = _npz_array(archive, "X", source)
        y = _npz_array(archive, "y", source)
        lengths = _npz_array(archive, "lengths", source) if "lengths" in keys else None
        split = _npz_array(archive, "split", source) if "split" in keys else None
    if x.dtype.kind not in "biuf":
        raise ConfigError(f"{source}: X has dtype {x.dtype}, not numbers; save it as floats, e.g. X.astype(np.float32)")
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise ConfigError(
            f"{source}: X has shape {x.shape} (rank {x.ndim}); it must be (N, T, C): N sequences of T steps of C "
            "channels, or (N, T) for one channel"
        )
    n, t, c = x.shape
    if n == 0 or t == 0 or c == 0:
        raise ConfigError(f"{source}: X has shape {x.shape}: no sequences, steps or channels")
    y = normalize_labels(_one_per_sequence(y, "y", n, source), source)
    steps = _npz_lengths(lengths, n, t, source) if lengths is not None else np.full(n, t, dtype=np.int64)
    with np.errstate(over="ignore"):  # too large for float32 -> inf, reported below
        sequences = [np.ascontiguousarray(x[i, : steps[i]], dtype=np.float32) for i in range(n)]
    _check_finite(sequences, source)
    whole = SequenceSplit(sequences, y, source)
    if split is None:
        return {"all": whole}
    split = _npz_split(split, n, source)
    return {name: whole.subset(np.flatnonzero(split == name)) for name in SPLIT_NAMES if np.any(split == name)}
