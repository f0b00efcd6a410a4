"""LightningModule for image classifiers with VIBNet bottlenecks: loss = CE + beta * sum of the layers' KL.

Hydra target of conf/model/vib_*.yaml (formerly ``har_vib.vibnet.lit_module``); importing it registers the
:mod:`har_vib.vibnet` models, so the config's ``net`` (``create_model`` by name) finds them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Union

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.classification import MulticlassAccuracy

from har_vib.training.optim import two_group_adam
from har_vib.vib.bottleneck import InformationBottleneck
from har_vib.vibnet import models as _image_models  # noqa: F401  (registers the nets model.net builds by name)


class ImageLitModule(L.LightningModule):
    """Trains an image classifier (plain or with bottlenecks) on ``(x, y)`` batches.

    Args:
        net: the model, or a factory called as ``net(input_size=..., num_classes=...)`` (a Hydra partial).
        input_size: the image shape ``(C, H, W)`` (from the DataModule); num_classes likewise.
        beta: weight of the summed KL (VIBNet's ``kl_fac``); lr, weight_decay, ib_lr, ib_weight_decay: Adam
            settings of the weights and of the bottleneck parameters.
    """

    def __init__(
        self,
        net: Union[nn.Module, Callable[..., nn.Module]],
        input_size: Union[int, Sequence[int], None] = None,
        num_classes: int | None = None,
        beta: float = 1e-5,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        ib_lr: float = 1e-2,
        ib_weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"], logger=False)
        if not isinstance(net, nn.Module):
            net = net(input_size=input_size, num_classes=num_classes)
        self.net = net
        self.input_shape = tuple(input_size) if isinstance(input_size, Sequence) else (int(input_size or 0),)
        self.train_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.alive_history: list[dict[str, Any]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        ce = F.cross_entropy(logits, y)
        loss = ce + self.hparams.beta * self.net.kl()
        self.train_acc(logits, y)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=len(y))
        self.log("train/ce", ce, on_step=False, on_epoch=True, sync_dist=True, batch_size=len(y))
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y))
        return loss

    def on_train_epoch_end(self) -> None:
        ibs = [m for m in self.net.modules() if isinstance(m, InformationBottleneck)]
        if not ibs:
            return
        self.log("vib/kl", self.net.kl().detach(), on_epoch=True)
        counts = {f"layer{i}": int(ib.keep_mask().sum()) for i, ib in enumerate(ibs)}
        for name, count in counts.items():
            self.log(f"vib/alive/{name}", float(count), on_epoch=True)
        self.alive_history.append({"epoch": self.current_epoch, **counts})

    def _eval(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str, metric: MulticlassAccuracy) -> None:
        x, y = batch
        logits = self.net(x)
        metric(logits, y)
        self.log(f"{stage}/loss", F.cross_entropy(logits, y), on_epoch=True, sync_dist=True, batch_size=len(y))
        self.log(f"{stage}/acc", metric, on_epoch=True, prog_bar=stage == "val", batch_size=len(y))

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval(batch, "val", self.val_acc)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval(batch, "test", self.test_acc)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return two_group_adam(self.net, self.hparams)
