"""Training the frame encoder on the task with Lightning: the encoder plus one linear head per stream, fed clips of
the training videos (:class:`har_vib.encoders.fit.ClipFrames`), every stream through the shared encoder, the frame
features averaged per clip (TSN-style) and classified by the stream's head.

The same LightningModule trains the VIBNet masks with the weights (loss = CE + beta * KL), fine-tunes with fixed
HRel masks, and fine-tunes the physically pruned encoder. (Formerly in ``har_vib.encoders.fit``, whose pure part,
the clips and the clip accuracy, stays there.)
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from har_vib.encoders.masks import SiteMultipliers
from har_vib.features.backbones import FrameEncoder
from har_vib.training.optim import two_group_adam


class EncoderFitModule(L.LightningModule):
    """The encoder plus one linear head per stream; loss = mean over streams of CE + ``beta`` * the sites' KL.

    Args:
        encoder: the frame encoder (its backbone is trained in place).
        streams: stream names (``rgb``, ``flow``); each gets its own head on the shared encoder.
        num_classes: classes of the dataset.
        multipliers: the sites' bottlenecks or fixed masks (installed as hooks by the caller), or None.
        beta: weight of the KL; lr / ib_lr / weight_decay: Adam settings (``ib_lr`` for the bottlenecks).
    """

    def __init__(
        self,
        encoder: FrameEncoder,
        streams: Sequence[str],
        num_classes: int,
        multipliers: SiteMultipliers | None = None,
        beta: float = 0.0,
        lr: float = 1e-3,
        ib_lr: float = 1e-2,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.multipliers = multipliers
        self.heads = nn.ModuleDict({s: nn.Linear(encoder.num_features, num_classes) for s in streams})
        self.beta, self.lr, self.ib_lr, self.weight_decay = beta, lr, ib_lr, weight_decay
        self.history: list[dict[str, float]] = []
        self._epoch: dict[str, float] = {}

    def logits(self, batch: list[tuple[dict[str, torch.Tensor], int]]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Per-stream clip logits (B, C) and labels (B,)."""
        y = torch.tensor([label for _, label in batch], device=self.device)
        out = {}
        for stream, head in self.heads.items():
            frames = [clip[stream].to(self.device) for clip, _ in batch]
            x = torch.cat([self.encoder.preprocess(f) for f in frames])
            feats = self.encoder.backbone(x).view(len(batch), -1, self.encoder.num_features).mean(1)
            out[stream] = head(feats)
        return out, y

    def training_step(self, batch: list, batch_idx: int) -> torch.Tensor:
        """CE (mean over streams) + beta * KL."""
        if not batch:
            return None
        logits, y = self.logits(batch)
        ce = torch.stack([F.cross_entropy(z, y) for z in logits.values()]).mean()
        kl = self.multipliers.kl() if self.multipliers is not None else torch.zeros((), device=self.device)
        loss = ce + self.beta * kl.to(ce.device)
        acc = torch.stack([(z.argmax(1) == y).float().mean() for z in logits.values()]).mean()
        n = len(batch)
        for key, value in (("ce", ce), ("kl", kl), ("acc", acc)):
            self._epoch[key] = self._epoch.get(key, 0.0) + float(value.detach()) * n
        self._epoch["n"] = self._epoch.get("n", 0.0) + n
        self.log("encoder/loss", loss, prog_bar=True, batch_size=n)
        return loss

    def on_train_epoch_end(self) -> None:
        n = max(self._epoch.pop("n", 0.0), 1.0)
        row = {k: v / n for k, v in self._epoch.items()}
        if self.multipliers is not None and self.multipliers.kind == "vib":
            removed = self.multipliers.removed()
            total = sum(s.channels for s in self.multipliers.sites)
            row["kept_fraction"] = 1.0 - sum(len(v) for v in removed.values()) / max(total, 1)
        self.history.append(row)
        self._epoch = {}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = SimpleNamespace(lr=self.lr, weight_decay=self.weight_decay, ib_lr=self.ib_lr, ib_weight_decay=0.0)
        return two_group_adam(self, hp)


def fit_encoder(
    module: EncoderFitModule,
    loader: DataLoader,
    epochs: int,
    accelerator: str = "auto",
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``module`` for ``epochs`` with a Lightning Trainer (no checkpoints, no loggers); the per-epoch
    history rows (mean CE, KL, accuracy and, for VIB, the fraction of channels kept)."""
    if epochs <= 0:
        return []
    start = len(module.history)
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    module.train()  # Lightning keeps submodules' modes as it finds them; the timm encoder comes in eval mode
    trainer.fit(module, train_dataloaders=loader)
    module.encoder.eval()
    return module.history[start:]
