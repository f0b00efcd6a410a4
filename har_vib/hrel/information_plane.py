"""The information plane (Shwartz-Ziv and Tishby 2017; as HRel's seed shows it): for every layer T, I(X; T)
against I(T; Y) on a fixed batch, recorded over training, with the matrix-based estimator (input kernel
width 8, label width 0.1, each layer's width by alignment with the labels)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from har_vib.hrel.checks import check_activations, check_labels, module_name  # noqa: E402
from har_vib.hrel.entropy import (  # noqa: E402
    gram_matrix,
    kernel_width_by_alignment,
    label_gram,
    mutual_information,
    normalize_gram,
)
from har_vib.utils.io import save_figure  # noqa: E402

INPUT_SIGMA = 8.0


@torch.no_grad()
def information_plane_point(
    net: nn.Module, layers: Sequence[nn.Module], x: torch.Tensor, y: torch.Tensor, num_classes: int
) -> list[tuple[float, float]]:
    """``(I(X; T), I(T; Y))`` in bits for the output T of each of ``layers`` on the batch ``(x, y)``.

    Raises:
        HRelInputError: ``x``, a layer's output (its name, filters/units and samples) or ``y`` is not finite, or a
            label is not a class index.
    """
    check_activations(x, "the probe batch x", unit="channel")
    check_labels(y, num_classes)
    captured: list[torch.Tensor] = []
    handles = [layer.register_forward_hook(lambda m, i, o: captured.append(o.detach())) for layer in layers]
    was_training = net.training
    try:
        net.eval()(x)
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    k_y = label_gram(y, num_classes)
    a_x, a_y = normalize_gram(gram_matrix(x.flatten(1), INPUT_SIGMA)), normalize_gram(k_y)
    points = []
    for layer, t in zip(layers, captured):
        name = module_name(net, layer)
        check_activations(t, name, unit="filter" if t.dim() == 4 else "unit")
        t = t.flatten(1)
        a_t = normalize_gram(gram_matrix(t, kernel_width_by_alignment(t, k_y, layer=name)))
        points.append((float(mutual_information(a_x, a_t)), float(mutual_information(a_t, a_y))))
    return points


def plot_information_plane(
    history: Sequence[list[tuple[float, float]]], names: Sequence[str], path: str | Path
) -> Path:
    """One trajectory per layer (colour darkening with the epoch), ``I(X; T)`` on x, ``I(T; Y)`` on y."""
    path = Path(path)
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    cmaps = ["Blues", "Oranges", "Greens", "Reds", "Purples", "Greys"]
    for j, name in enumerate(names):
        xs = [h[j][0] for h in history]
        ys = [h[j][1] for h in history]
        shades = plt.get_cmap(cmaps[j % len(cmaps)])(torch.linspace(0.35, 1.0, len(history)).tolist())
        ax.plot(xs, ys, "-", color=shades[-1], alpha=0.5, linewidth=1)
        ax.scatter(xs, ys, c=shades, s=18, label=name)
    ax.set_xlabel("I(X; T) (bits)")
    ax.set_ylabel("I(T; Y) (bits)")
    ax.set_title("information plane over training (darker = later)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)  # atomic: never a half-written figure
    plt.close(fig)
    return path
