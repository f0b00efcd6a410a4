"""Chop long sequences into non-overlapping patches: (T, C) -> (ceil(T / P), P * C).

An LSTM unrolled over thousands of steps trains slowly and forgets; grouping P consecutive steps into one input
vector shortens the recurrence P times while keeping every sample (the idea of patch tokens in PatchTST, Nie et al.,
"A Time Series is Worth 64 Words", ICLR 2023, arXiv:2211.14730, here as the input of a recurrent model).
"""

from __future__ import annotations

import math

import numpy as np


def auto_patch_length(max_length: int, max_steps: int) -> int:
    """Smallest patch length P with ``ceil(max_length / P) <= max_steps`` (1 when the sequences are short enough).

    Raises:
        ValueError: if ``max_steps`` < 1.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    return max(1, math.ceil(max_length / max_steps))


def patch_sequence(seq: np.ndarray, patch_length: int) -> np.ndarray:
    """(T, C) -> (ceil(T / P), P * C): row k holds steps kP..kP+P-1, step-major (step 0's C channels first).

    The last patch is right-padded with zeros (the channel mean after standardisation) when P does not divide T.
    """
    if patch_length == 1:
        return seq
    t, c = seq.shape
    steps = math.ceil(t / patch_length)
    padded = np.zeros((steps * patch_length, c), dtype=seq.dtype)
    padded[:t] = seq
    return padded.reshape(steps, patch_length * c)
