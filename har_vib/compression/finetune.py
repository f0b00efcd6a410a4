"""Second stage of the authors' pipeline: fine-tune the compact model, its pruning pattern fixed.

Fine-tuning the compact standard model is the same as fine-tuning the VIB model with its masks fixed to
their 0/1 values (the compact model *is* that masked model), only cheaper. Closed gates stay closed: their
rows are 0, their bias is -1e4 and ``sigmoid'`` is exactly 0 there, so they get no gradient; weight decay is
applied to weight matrices only, so it cannot move those biases either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, batches: Iterable[Batch], device: Optional[torch.device] = None) -> float:
    """Top-1 accuracy of ``model`` in eval mode over ``(x, lengths, y)`` batches."""
    was_training = model.training
    model.eval()
    correct = total = 0
    for x, lengths, y in batches:
        if device is not None:
            x, lengths, y = x.to(device), lengths.to(device), y.to(device)
        pred = model(x, lengths).argmax(dim=-1)
        correct += int((pred == y).sum())
        total += int(y.numel())
    model.train(was_training)
    if total == 0:
        raise ValueError("evaluate_accuracy got no samples")
    return correct / total


def finetune(
    model: nn.Module,
    train_batches: Iterable[Batch],
    epochs: int,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    grad_clip: Optional[float] = 1.0,
    device: Optional[torch.device] = None,
    on_epoch_end: Optional[Callable[[int, float], None]] = None,
    penalty: Optional[Callable[[nn.Module], torch.Tensor]] = None,
    after_step: Optional[Callable[[nn.Module], object]] = None,
    loss_fn: Optional[Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = None,
) -> list[float]:
    """Train ``model`` with Adam on cross-entropy for ``epochs`` epochs; return the mean loss per epoch.

    ``loss_fn(logits, x, lengths, y)`` replaces cross-entropy (e.g. distillation from a teacher);
    ``penalty(model)`` is added to the loss (e.g. ISS group lasso); ``after_step(model)`` runs after every
    optimiser step (e.g. zeroing small weights).
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    optimizer = torch.optim.Adam(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )
    model.train()
    history = []
    sampler = getattr(train_batches, "sampler", None)
    for epoch in range(epochs):
        if hasattr(sampler, "set_epoch"):  # an epoch-seeded sampler (DistributedSampler): a new order each epoch
            sampler.set_epoch(epoch)
        total, count = 0.0, 0
        for x, lengths, y in train_batches:
            if device is not None:
                x, lengths, y = x.to(device), lengths.to(device), y.to(device)
            logits = model(x, lengths)
            loss = F.cross_entropy(logits, y) if loss_fn is None else loss_fn(logits, x, lengths, y)
            if penalty is not None:
                loss = loss + penalty(model)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            if after_step is not None:
                after_step(model)
            total += loss.item() * len(y)
            count += len(y)
        history.append(total / max(count, 1))
        if on_epoch_end is not None:
            on_epoch_end(epoch, history[-1])
    model.eval()
    return history
