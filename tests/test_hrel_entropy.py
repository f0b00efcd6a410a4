"""The matrix-based entropy estimator on cases with known answers, and filter relevance."""

from __future__ import annotations

import math

import pytest
import torch

from har_vib.hrel import (
    filter_relevance,
    gram_matrix,
    kernel_width_by_alignment,
    label_gram,
    matrix_entropy,
    mutual_information,
    normalize_gram,
)


def _a(y: torch.Tensor, classes: int) -> torch.Tensor:
    return normalize_gram(label_gram(y, classes))


def test_entropy_of_balanced_labels_is_log2_of_the_classes():
    y = torch.arange(4).repeat(6)  # 24 samples, 4 balanced classes
    assert float(matrix_entropy(_a(y, 4))) == pytest.approx(2.0, abs=1e-6)
    assert float(matrix_entropy(normalize_gram(torch.ones(5, 5)))) == pytest.approx(0.0, abs=1e-6)  # one value
    assert float(matrix_entropy(normalize_gram(torch.eye(8)))) == pytest.approx(3.0, abs=1e-6)  # all distinct


def test_identical_variables_share_all_their_information():
    y = torch.arange(3).repeat(5)
    a = _a(y, 3)
    assert float(mutual_information(a, a)) == pytest.approx(float(matrix_entropy(a)), abs=1e-6)
    assert float(mutual_information(a, a)) == pytest.approx(math.log2(3), abs=1e-6)


def test_independent_variables_share_none():
    # a full factorial design: every (x, y) pair occurs equally often, so x and y are independent
    x = torch.arange(4).repeat_interleave(3).repeat(2)
    y = torch.arange(3).repeat(8)
    assert float(mutual_information(_a(x, 4), _a(y, 3))) == pytest.approx(0.0, abs=1e-6)
    # and a continuous variable drawn independently of the labels carries little of them
    torch.manual_seed(0)
    labels = torch.randint(0, 2, (200,))
    noise = torch.randn(200, 3)
    a_x = normalize_gram(gram_matrix(noise, kernel_width_by_alignment(noise, label_gram(labels, 2))))
    informative = torch.nn.functional.one_hot(labels, 2).double() * 3 + 0.1 * torch.randn(200, 2).double()
    a_inf = normalize_gram(gram_matrix(informative, 1.0))
    assert float(mutual_information(a_x, _a(labels, 2))) < 0.2 < float(mutual_information(a_inf, _a(labels, 2)))


def test_batched_entropies_match_one_by_one():
    torch.manual_seed(0)
    x = torch.randn(5, 12, 4)
    a = normalize_gram(gram_matrix(x, 2.0))
    batched = matrix_entropy(a)
    assert torch.allclose(batched, torch.stack([matrix_entropy(m) for m in a]))


def test_filter_relevance_ranks_the_label_carrying_filter_first():
    torch.manual_seed(0)
    batches = []
    for _ in range(3):
        y = torch.randint(0, 4, (40,))
        maps = torch.randn(40, 3, 4, 4)  # filters 0 and 2: noise
        maps[:, 1] += 4.0 * y.view(-1, 1, 1).float()  # filter 1: a function of the label
        batches.append((maps, y))
    rel = filter_relevance(batches, sigma=3.0, num_classes=4)
    assert rel.shape == (3,) and int(rel.argmax()) == 1
    assert float(rel[1]) > 1.5 and float(rel.min()) >= -1e-6


def test_information_plane_points_are_bounded_by_the_label_entropy(tmp_path):
    from har_vib.hrel.information_plane import information_plane_point, plot_information_plane
    from har_vib.models import create_model
    from har_vib.vibnet import models as _image_models  # noqa: F401  (registers lenet5)

    torch.manual_seed(0)
    net = create_model("lenet5", input_size=(1, 8, 8), num_classes=4, padding=2)
    x, y = torch.randn(40, 1, 8, 8), torch.arange(4).repeat(10)
    points = information_plane_point(net, [net.conv1, net.fc2], x, y, 4)
    assert len(points) == 2
    for ixt, ity in points:
        assert ixt >= -1e-6 and -1e-6 <= ity <= 2.0 + 1e-6  # I(T; Y) <= H(Y) = log2(4)
    path = plot_information_plane([points, points], ["conv1", "fc2"], tmp_path / "plane.png")
    assert path.stat().st_size > 0
