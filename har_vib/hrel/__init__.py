"""HRel (Sarvani et al. 2022): filter relevance as the mutual information between each filter's activation
map and the labels, by the matrix-based Renyi entropy estimator."""

from har_vib.hrel.checks import HRelInputError
from har_vib.hrel.entropy import (
    gram_matrix,
    joint_entropy,
    kernel_width_by_alignment,
    label_gram,
    matrix_entropy,
    mutual_information,
    normalize_gram,
)
from har_vib.hrel.relevance import filter_relevance

__all__ = [
    "HRelInputError",
    "filter_relevance",
    "gram_matrix",
    "joint_entropy",
    "kernel_width_by_alignment",
    "label_gram",
    "matrix_entropy",
    "mutual_information",
    "normalize_gram",
]
