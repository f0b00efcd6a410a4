"""MiniRocket as a reference for the recurrent models: how good is an LSTM on this data at all?

MiniRocket (Dempster, Schmidt and Webb, "MINIROCKET: A Very Fast (Almost) Deterministic Transform for Time Series
Classification", KDD 2021, arXiv:2012.08791) transforms each series with about 10,000 fixed dilated convolution
kernels and fits a ridge classifier on the pooled features; it is among the most accurate classifiers on the
UCR/UEA archives at a small fraction of the cost of deep models. har-vib runs aeon's implementation
(``aeon.classification.convolution_based.MiniRocketClassifier``) on exactly the sequences the LSTMs see.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class ReferenceResult:
    """Test accuracy (fraction in [0, 1]) and wall times (s) of a reference classifier."""

    test_acc: float
    fit_s: float
    predict_s: float
    n_train: int
    n_test: int
    series_length: int


def pad_to_array(sequences: Sequence[torch.Tensor | np.ndarray], length: int) -> np.ndarray:
    """(T_i, C) sequences -> (N, C, length) float32, right-padded with zeros (the channel mean after
    standardisation), the layout aeon's classifiers take. Sequences longer than ``length`` are cut."""
    if not sequences:
        raise ValueError("no sequences to pad")
    channels = int(sequences[0].shape[1])
    out = np.zeros((len(sequences), channels, length), dtype=np.float32)
    for i, seq in enumerate(sequences):
        arr = np.asarray(seq, dtype=np.float32)
        n = min(arr.shape[0], length)
        out[i, :, :n] = np.nan_to_num(arr[:n].T, nan=0.0)
    return out


def minirocket_accuracy(
    train_x: Sequence[torch.Tensor | np.ndarray],
    train_y: np.ndarray,
    test_x: Sequence[torch.Tensor | np.ndarray],
    test_y: np.ndarray,
    seed: int = 0,
    n_jobs: int = 1,
) -> ReferenceResult:
    """Fit MiniRocket on ``train_x`` (each (T_i, C)) and labels ``train_y`` (N,); return its test accuracy.

    Unequal lengths are right-padded with zeros to the longest series of either split (aeon's MiniRocket takes
    equal-length input); series shorter than 9 steps, MiniRocket's kernel length, are padded to 9.
    """
    from aeon.classification.convolution_based import MiniRocketClassifier

    length = max(9, max(int(s.shape[0]) for s in [*train_x, *test_x]))
    xtr, xte = pad_to_array(train_x, length), pad_to_array(test_x, length)
    clf = MiniRocketClassifier(random_state=seed, n_jobs=n_jobs)
    start = time.perf_counter()
    clf.fit(xtr, np.asarray(train_y))
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = clf.predict(xte)
    predict_s = time.perf_counter() - start
    acc = float(np.mean(np.asarray(pred) == np.asarray(test_y)))
    return ReferenceResult(acc, fit_s, predict_s, len(xtr), len(xte), length)
