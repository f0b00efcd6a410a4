"""HRel vs VIBNet vs L1-norm filter pruning on the same LeNet-5, data and seed, at matched conv filters: VIBNet
runs first and its kept filter counts become the targets of HRel and L1, which both start from the same
trained baseline and get the same number of fine-tuning epochs."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import torch
from torch import nn
from torch.nn import functional as F

from har_vib.hrel.information_plane import information_plane_point, plot_information_plane
from har_vib.hrel.l1_baseline import l1_prune_lenet5
from har_vib.hrel.prune import hrel_prune_lenet5, train_images
from har_vib.models import create_model
from har_vib.training import image_accuracy, two_group_adam
from har_vib.vibnet import models as _image_models  # noqa: F401  (registers lenet5 / vib_lenet5 by name)
from har_vib.vibnet.prune import architecture_counts, prune_network


def train_vibnet(net: nn.Module, batches: Sequence, epochs: int, beta: float, lr: float, ib_lr: float) -> None:
    """CE + beta * KL with two Adam groups (weights at ``lr``, bottlenecks at ``ib_lr``)."""
    optimizer = two_group_adam(net, SimpleNamespace(lr=lr, weight_decay=0.0, ib_lr=ib_lr, ib_weight_decay=0.0))
    net.train()
    for _ in range(epochs):
        for x, y in batches:
            loss = F.cross_entropy(net(x), y) + beta * net.kl()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    net.eval()


def _row(method: str, model: nn.Module, base: dict[str, int], shape: tuple, test: Sequence) -> dict[str, Any]:
    counts = architecture_counts(model, shape)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return {
        "method": method,
        "filters": "-".join(str(c.out_channels) for c in convs),
        "weights": counts["weights"],
        "rW": round(100 * counts["weights"] / base["weights"], 2),
        "flops": counts["flops"],
        "flops_pct": round(100 * counts["flops"] / base["flops"], 2),
        "test_acc": round(100 * image_accuracy(model, test, torch.device("cpu")), 2),
    }


def compare_filter_pruning(
    datamodule: Any,
    epochs: int = 30,
    beta: float = 1e-3,
    finetune_epochs: int = 5,
    lr: float = 1e-3,
    ib_lr: float = 1e-2,
    relevance_batches: int = 4,
    seed: int = 0,
    plane_path: Optional[Path] = None,
) -> list[dict[str, Any]]:
    """Rows ``method, filters, weights, rW, flops, flops_pct, test_acc`` for the baseline, VIBNet, HRel and L1;
    with ``plane_path``, also the baseline's information plane over training as a PNG."""
    datamodule.setup()
    train, test = list(datamodule.train_dataloader()), list(datamodule.test_dataloader())
    shape, classes = tuple(datamodule.input_dim), datamodule.num_classes
    padding = 2 if shape[-1] < 28 else 0
    torch.manual_seed(seed)
    base = create_model("lenet5", input_size=shape, num_classes=classes, padding=padding)
    probe_x, probe_y = train[0]
    layers = [base.conv1, base.conv2, base.fc1, base.fc2]
    plane = [information_plane_point(base, layers, probe_x, probe_y, classes)]
    for _ in range(epochs):  # one epoch at a time, to record the information plane after each
        train_images(base, train, 1, lr)
        plane.append(information_plane_point(base, layers, probe_x, probe_y, classes))
    if plane_path is not None:
        plot_information_plane(plane, ["conv1", "conv2", "fc1", "fc2"], plane_path)
    base_counts = architecture_counts(base, shape)
    rows = [_row("baseline", base, base_counts, shape, test)]
    torch.manual_seed(seed)
    vib = create_model("vib_lenet5", input_size=shape, num_classes=classes, padding=padding, ib={"eval_mode": "mu"})
    train_vibnet(vib, train, epochs, beta, lr, ib_lr)
    pruned = prune_network(vib, shape)
    rows.append(_row(f"VIBNet (beta {beta:g})", pruned.model, base_counts, shape, test))
    targets = (max(len(pruned.kept["conv1"]), 1), max(len(pruned.kept["conv2"]), 1))
    hrel = hrel_prune_lenet5(
        copy.deepcopy(base),
        train,
        classes,
        targets,
        finetune_epochs=finetune_epochs,
        lr=lr,
        relevance_batches=relevance_batches,
    )
    rows.append(_row(f"HRel ({len(hrel.history)} rounds)", hrel.model, base_counts, shape, test))
    l1 = l1_prune_lenet5(copy.deepcopy(base), torch.zeros(1, *shape), targets)
    train_images(l1, train, finetune_epochs * len(hrel.history), lr)  # the same fine-tuning budget as HRel
    rows.append(_row("L1 norm (Torch-Pruning)", l1, base_counts, shape, test))
    return rows
