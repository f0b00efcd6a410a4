"""A whole CNN-LSTM per clip, for latency: the frame encoder on every frame of every stream, the per-frame features
concatenated across streams, then the sequence classifier. ``clip_pair`` rebuilds a finished run's model before
compression (the dense encoder and a dense LSTM of the run's original size) and after (the compressed encoder
from its cache folder and the exported compact LSTM)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from har_vib.deploy.models import run_pair
from har_vib.errors import ConfigError
from har_vib.models.sequence_classifier import SequenceClassifier


class ClipModel(nn.Module):
    """``frames`` (S * T, 3, crop, crop), normalised, stream-major -> logits (1, C) of one clip."""

    def __init__(self, encoder: nn.Module, classifier: SequenceClassifier, steps: int, streams: int) -> None:
        super().__init__()
        self.encoder, self.classifier = encoder, classifier
        self.steps, self.streams = steps, streams
        self.register_buffer("lengths", torch.tensor([steps]), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Encode, concatenate the streams' features per frame, classify."""
        feats = self.encoder(frames)  # (S*T, D)
        x = feats.view(self.streams, self.steps, -1).permute(1, 0, 2).reshape(1, self.steps, -1)
        return self.classifier(x, self.lengths)


def deploy_encoder(
    clip: dict[str, Any], input_index: Sequence[int] | None, random_weights: bool = False
) -> tuple[nn.Module, list[int] | None, bool]:
    """The encoder a deployed clip model runs: the compressed backbone of ``clip`` (clip_model.json) or the dense
    one, its output trimmed to the channels the compact model's ``input_index`` reads (when the output is not a
    residual stream). Returns it (eval mode), the remapped index (None when there is none) and whether it was
    trimmed. ``random_weights``: skip loading pretrained weights (latency only)."""
    from har_vib.encoders.plan import load_compressed
    from har_vib.encoders.trim import remap_input_index, trim_outputs, used_channels
    from har_vib.features.backbones import BackboneSpec, create_backbone

    cfg = dict(clip["backbone"])
    if random_weights:
        cfg["pretrained"] = False
    spec = BackboneSpec.from_config(cfg)
    folder = clip["encoder"].get("folder")
    encoder = create_backbone(spec)[0]
    if folder:
        encoder = load_compressed(folder, encoder)[0]
    if input_index is None:
        return encoder.eval(), None, False
    crop, streams = int(clip["encoder"]["crop"]), int(clip["streams"])
    with torch.no_grad():
        width = int(encoder(torch.zeros(1, 3, crop, crop)).shape[-1])
    keep = used_channels(input_index, width)
    if not trim_outputs(encoder, keep, crop):
        return encoder.eval(), list(input_index), False
    return encoder.eval(), remap_input_index(input_index, width, keep, streams), True


def clip_pair(run: str | Path, seed: int = 0) -> tuple[ClipModel, ClipModel, dict[str, Any]]:
    """``(before, after, info)`` for a finished CNN-LSTM run; ``info`` has the crop, steps, streams and
    parameter counts of both."""
    from har_vib.features.backbones import BackboneSpec, create_backbone

    run = Path(run)
    clip_path = run / "clip_model.json"
    if not clip_path.is_file():
        raise ConfigError(f"{run}: no clip_model.json; pass a finished run with a CNN backbone (backbone != none)")
    clip = json.loads(clip_path.read_text())
    spec = BackboneSpec.from_config({**clip["backbone"], "pretrained": False})  # latency does not depend on weights
    dense = create_backbone(spec)[0]
    crop = int(clip["encoder"]["crop"])
    naive, compact, _ = run_pair(run, seed)
    index = compact.input_index.tolist() if compact.input_index is not None else None
    encoder, new_index, trimmed = deploy_encoder(clip, index, random_weights=True)
    if new_index is not None:
        compact.input_index = torch.tensor(new_index, dtype=torch.long)
    if trimmed:  # the trimmed encoder gives fewer features per frame: the compact model takes that width
        with torch.no_grad():
            compact.input_features = int(encoder(torch.zeros(1, 3, crop, crop)).shape[-1]) * int(clip["streams"])
    steps, streams = int(clip["frames"]), int(clip["streams"])
    before = ClipModel(dense.eval(), naive, steps, streams).eval()
    after = ClipModel(encoder, compact, steps, streams).eval()
    info = {
        "crop": crop,
        "steps": steps,
        "streams": streams,
        "params_before": sum(p.numel() for p in before.parameters()),
        "params_after": sum(p.numel() for p in after.parameters()),
        "encoder_method": clip.get("encoder_method"),
        "encoder_outputs_trimmed": trimmed,
    }
    return before, after, info
