"""Knowledge distillation (Hinton, Vinyals, Dean 2015, arXiv:1503.02531; docs/methods/baselines.md): a trained teacher's
temperature-softened outputs guide the compact student during fine-tuning.

``loss = (1 - alpha) * CE(student, y) + alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))``; the
``T^2`` keeps the soft term's gradients on the same scale as the hard one's as ``T`` grows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from har_vib.errors import ConfigError

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor, temperature: float, alpha: float
) -> torch.Tensor:
    """Hard cross-entropy mixed with the temperature-scaled KL divergence to the teacher."""
    if temperature <= 0 or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"need temperature > 0 and 0 <= alpha <= 1, got {temperature}, {alpha}")
    hard = F.cross_entropy(student_logits, y)
    soft = F.kl_div(
        F.log_softmax(student_logits / temperature, dim=-1),
        F.log_softmax(teacher_logits / temperature, dim=-1),
        reduction="batchmean",
        log_target=True,
    )
    return (1.0 - alpha) * hard + alpha * temperature**2 * soft


def distillation_loss_fn(teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.7) -> LossFn:
    """A ``finetune`` loss ``(logits, x, lengths, y) -> loss`` with ``teacher`` (frozen, eval mode) as the guide."""
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def loss(logits: torch.Tensor, x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = teacher(x, lengths)
        return distillation_loss(logits, target, y, temperature, alpha)

    return loss


def load_teacher(path: str, device: torch.device) -> nn.Module:
    """A teacher from a run folder (its ``pruned.pt``: for an unpruned run, the trained model itself) or a
    TorchScript file."""
    file = Path(path)
    if file.is_dir():
        file = file / "pruned.pt"
    if not file.is_file():
        raise ConfigError(
            f"callbacks.prune_export.distill.teacher={path}: no TorchScript model there; pass a finished run "
            "folder (e.g. of model=naive_lstm) or its pruned.pt"
        )
    try:
        with warnings.catch_warnings():  # torch 2.9+ marks TorchScript deprecated; the teacher is TorchScript
            warnings.filterwarnings("ignore", message=".*torch.jit.load.*is deprecated", category=FutureWarning)
            return torch.jit.load(str(file), map_location=device)
    except Exception as err:  # not TorchScript: a state dict, a pickle, a truncated file
        raise ConfigError(
            f"callbacks.prune_export.distill.teacher={path}: {file} is not a TorchScript model "
            f"({type(err).__name__}); pass a run folder's pruned.pt or a file written by torch.jit.save"
        ) from None
