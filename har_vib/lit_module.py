"""LightningModule for recurrent sequence classifiers: loss = CE + beta * KL, two parameter groups."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, Optional, Union

import lightning as L
import torch
from torch.nn import functional as F
from torchmetrics.classification import MulticlassAccuracy

from har_vib.compression.iss import ISSStage, group_lasso_penalty, kept_hidden, zero_small_weights_
from har_vib.models.sequence_classifier import SequenceClassifier
from har_vib.training.optim import two_group_adam  # defined here before; still importable from here

NetFactory = Callable[..., SequenceClassifier]


def alive_counts(net: SequenceClassifier) -> dict[str, int]:
    """Units each bottleneck keeps now: ``input``, one entry per gate, and ``hidden`` (the kept hidden units)."""
    counts: dict[str, int] = {}
    if net.input_ib is not None:
        counts["input"] = int(net.input_ib.keep_mask().sum())
    rnn = net.rnn
    if hasattr(rnn, "gate_masks"):
        for gate, mask in rnn.gate_masks().items():
            counts[f"gate_{gate}"] = int(mask.sum())
        counts["hidden"] = int(rnn.kept_hidden_mask().sum())
    return counts


LR_SCHEDULES = ("none", "cosine")


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor at optimisation ``step`` (0-based): ``(step + 1) / warmup`` during the warm-up, then
    ``(1 + cos(pi * progress)) / 2`` with ``progress`` going from 0 to 1 over the remaining ``total - warmup``
    steps (0 from then on)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class SequenceLitModule(L.LightningModule):
    """Trains a :class:`SequenceClassifier` (plain or VIB) on ``(x, lengths, y)`` batches.

    Args:
        net: the model, or a factory called as ``net(input_size=..., num_classes=...)`` (a Hydra partial).
        input_size: forwarded to the factory (taken from the DataModule).
        num_classes: forwarded to the factory (taken from the DataModule).
        beta: weight of the KL term (``kl_fac`` in the authors' code); ignored by models without bottlenecks.
        lr: Adam learning rate of every non-bottleneck parameter.
        weight_decay: Adam weight decay of every non-bottleneck parameter.
        ib_lr: Adam learning rate of the bottleneck parameters (``mu``, ``log sigma^2``).
        ib_weight_decay: Adam weight decay of the bottleneck parameters.
        group_lasso: weight of the ISS group-lasso term on the hidden units of a plain LSTM/GRU (0: off).
        iss_threshold: a unit counts as removed when its squared group norm is at most this.
        iss_include_head: whether the head's input column is part of a unit's group (Wen et al.: yes).
        zero_threshold: after every step, weights with ``|w|`` below this are set to 0 (ISS; 0: off).
        iss_stage: settings of :class:`ISSStage` to run after VIB pruning (VIB + ISS); None: no such stage.
        magnitude_keep: after training a plain model, magnitude-prune its recurrent weights to this many
            parameters (biases included) and fine-tune with the pruned weights held at 0; 0: off.
        lr_schedule: ``"none"`` (constant learning rates, the papers' protocol) or ``"cosine"``: a linear warm-up
            over the first ``warmup_fraction`` of the optimisation steps, then a cosine decay to 0 (Loshchilov and
            Hutter, "SGDR", ICLR 2017, arXiv:1608.03983), per step, on both parameter groups.
        warmup_fraction: share of the steps the cosine schedule warms up over, in [0, 1).
        beta_warmup: share of the steps over which the KL weight rises linearly from 0 to ``beta`` (KL annealing,
            Bowman et al., "Generating Sentences from a Continuous Space", CoNLL 2016, arXiv:1511.06349), so the
            bottlenecks cannot prune units before the classifier has learned anything; 0: ``beta`` from the start.
    """

    def __init__(
        self,
        net: Union[SequenceClassifier, NetFactory],
        input_size: int | None = None,
        num_classes: int | None = None,
        beta: float = 1e-4,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        ib_lr: float = 1e-2,
        ib_weight_decay: float = 0.0,
        group_lasso: float = 0.0,
        iss_threshold: float = 0.01,
        iss_include_head: bool = True,
        zero_threshold: float = 0.0,
        iss_stage: Optional[dict[str, Any]] = None,
        magnitude_keep: int = 0,
        lr_schedule: str = "none",
        warmup_fraction: float = 0.0,
        beta_warmup: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"], logger=False)
        if not isinstance(net, SequenceClassifier):
            if input_size is None or num_classes is None:
                raise ValueError("a net factory needs input_size and num_classes")
            net = net(input_size=input_size, num_classes=num_classes)
        self.net = net
        n_cls = net.head[-1].out_features if num_classes is None else num_classes
        self.train_acc = MulticlassAccuracy(num_classes=n_cls, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=n_cls, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=n_cls, average="micro")
        self.alive_history: list[dict[str, Any]] = []
        if group_lasso > 0 and net.is_vib:
            raise ValueError("group_lasso applies to plain LSTM/GRU models; for VIB + ISS use model=vib_iss_lstm")
        self.iss_stage = ISSStage(**dict(iss_stage)) if iss_stage else None
        if self.iss_stage is not None and not net.is_vib:
            raise ValueError("iss_stage follows VIB pruning; a plain model takes model.group_lasso instead")
        if magnitude_keep and (net.is_vib or group_lasso > 0):
            raise ValueError("magnitude_keep prunes a plain, unregularised model (model=magnitude_lstm)")
        self.magnitude_keep = int(magnitude_keep)
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"model.lr_schedule={lr_schedule!r}: choose one of {', '.join(LR_SCHEDULES)}")
        if not 0.0 <= warmup_fraction < 1.0:
            raise ValueError(f"model.warmup_fraction={warmup_fraction}: must be in [0, 1), e.g. 0.05")
        if not 0.0 <= beta_warmup <= 1.0:
            raise ValueError(f"model.beta_warmup={beta_warmup}: must be in [0, 1], e.g. 0.25")

    @property
    def uses_iss(self) -> bool:
        """Whether training adds the ISS group-lasso term."""
        return self.hparams.group_lasso > 0

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x, lengths)

    def _step(self, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, lengths, y = batch
        logits = self.net(x, lengths)
        return F.cross_entropy(logits, y), logits, y

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        ce, logits, y = self._step(batch)
        beta = self.current_beta()
        loss = ce + beta * self.net.kl()
        if self.uses_iss:
            lasso = group_lasso_penalty(self.net, self.hparams.iss_include_head)
            loss = loss + self.hparams.group_lasso * lasso
            self.log("iss/penalty", lasso.detach(), on_step=False, on_epoch=True, sync_dist=True, batch_size=len(y))
        if self.net.is_vib and self.hparams.beta_warmup > 0:
            self.log("vib/beta", beta, on_step=False, on_epoch=True, batch_size=len(y))
        self.train_acc(logits, y)
        bs = len(y)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=bs)
        self.log("train/ce", ce, on_step=False, on_epoch=True, sync_dist=True, batch_size=bs)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True, batch_size=bs)
        return loss

    def total_steps(self) -> int:
        """Optimisation steps the fit will take (Lightning's estimate from max_steps, max_epochs and the loader),
        computed once per Trainer: the KL warm-up asks for it at every step."""
        cached = getattr(self, "_total_steps", None)
        if cached is not None and cached[0] == id(self.trainer):
            return cached[1]
        steps = self.trainer.estimated_stepping_batches
        if not math.isfinite(steps):
            raise ValueError(
                "model.lr_schedule=cosine and model.beta_warmup need a finite training length, and this fit has "
                "none (trainer.max_epochs=-1 without train_steps): set train_steps=1500 or trainer.max_epochs"
            )
        self._total_steps = (id(self.trainer), max(int(steps), 1))
        return self._total_steps[1]

    def current_beta(self) -> float:
        """The KL weight at this step: ``beta * min(1, step / (beta_warmup * total_steps))`` (``beta`` without a
        warm-up or outside a fit)."""
        frac = self.hparams.beta_warmup
        if frac <= 0 or self._trainer is None:
            return float(self.hparams.beta)
        return float(self.hparams.beta) * min(1.0, self.global_step / (frac * self.total_steps()))

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.hparams.zero_threshold > 0 and not self.net.is_vib:
            zero_small_weights_(self.net, self.hparams.zero_threshold, self.hparams.iss_include_head)

    def on_train_epoch_end(self) -> None:
        if self.uses_iss:
            alive = int(kept_hidden(self.net, self.hparams.iss_threshold, self.hparams.iss_include_head).numel())
            self.log("iss/alive/hidden", float(alive), on_epoch=True)
            self.alive_history.append({"epoch": self.current_epoch, "hidden": alive})
        if not self.net.is_vib:
            return
        self.log("vib/kl", self.net.kl().detach(), on_epoch=True)
        counts = alive_counts(self.net)
        for name, count in counts.items():
            self.log(f"vib/alive/{name}", float(count), on_epoch=True)
        self.alive_history.append({"epoch": self.current_epoch, **counts})

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["alive_history"] = list(self.alive_history)  # the sparsity curve survives a resume

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.alive_history = list(checkpoint.get("alive_history", []))

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        ce, logits, y = self._step(batch)
        self.val_acc(logits, y)
        self.log("val/loss", ce, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=len(y))
        self.log("val/acc", self.val_acc, on_epoch=True, prog_bar=True, batch_size=len(y))

    def test_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        ce, logits, y = self._step(batch)
        self.test_acc(logits, y)
        self.log("test/loss", ce, on_epoch=True, sync_dist=True, batch_size=len(y))
        self.log("test/acc", self.test_acc, on_epoch=True, batch_size=len(y))

    def configure_optimizers(self) -> Any:
        optimizer = two_group_adam(self.net, self.hparams)
        if self.hparams.lr_schedule == "none":
            return optimizer
        factor = functools.partial(
            warmup_cosine, total=self.total_steps(), warmup=int(self.hparams.warmup_fraction * self.total_steps())
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
