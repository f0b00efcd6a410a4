"""A compressed encoder on disk: the channels removed at every site (the *plan*) and the pruned weights.

Loading rebuilds the backbone from its timm spec, removes the same channels with Torch-Pruning (so the module
classes stay timm's own) and loads the weights; nothing is pickled.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from har_vib.compression.export import save_torch
from har_vib.encoders.sites import ChannelSite
from har_vib.errors import ConfigError
from har_vib.utils.io import atomic_dir

PLAN_FILE, WEIGHTS_FILE = "plan.json", "encoder.pt"


@dataclass
class EncoderPlan:
    """``removed[site.conv]``: sorted channel indices removed at that site; ``crop``: the input side the
    encoder runs at; ``stats``: parameters / MACs before and after, per-site counts, training history."""

    method: str
    crop: int
    sites: list[ChannelSite]
    removed: dict[str, list[int]]
    stats: dict[str, Any] = field(default_factory=dict)

    def kept(self) -> dict[str, int]:
        """Channels kept per site."""
        return {s.conv: s.channels - len(self.removed.get(s.conv, [])) for s in self.sites}

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "method": self.method,
            "crop": self.crop,
            "sites": [asdict(s) for s in self.sites],
            "removed": self.removed,
            "stats": self.stats,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EncoderPlan:
        """Inverse of :meth:`to_json`."""
        return cls(
            data["method"],
            int(data["crop"]),
            [ChannelSite(**s) for s in data["sites"]],
            {k: [int(i) for i in v] for k, v in data["removed"].items()},
            data.get("stats", {}),
        )


def apply_plan(model: nn.Module, plan: EncoderPlan) -> nn.Module:
    """Remove ``plan.removed`` channels from ``model`` (in place; returned) with Torch-Pruning: each site's conv
    loses those output channels and every dependent layer (its BN, depthwise conv, SE convs, the next layer's
    input channels) follows."""
    import torch_pruning as tp

    if not any(plan.removed.values()):
        return model
    example = torch.zeros(1, 3, plan.crop, plan.crop)
    graph = tp.DependencyGraph().build_dependency(model.eval(), example_inputs=example)
    for site in plan.sites:
        idxs = plan.removed.get(site.conv, [])
        if not idxs:
            continue
        conv = model.get_submodule(site.conv)
        if len(idxs) >= conv.out_channels:
            raise ValueError(f"plan removes all {conv.out_channels} channels of {site.conv}; keep at least one")
        group = graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=list(idxs))
        group.prune()
    return model


def save_compressed(folder: str | Path, model: nn.Module, plan: EncoderPlan) -> Path:
    """Write ``plan.json`` and ``encoder.pt`` (state dict) into ``folder`` atomically (all or nothing)."""
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        (tmp / PLAN_FILE).write_text(json.dumps(plan.to_json(), indent=2, sort_keys=True) + "\n")
        # serialised in memory, written by Python: a full disk is an OSError naming the file, not a RuntimeError
        save_torch({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp / WEIGHTS_FILE)
    return folder


def read_plan(folder: str | Path) -> EncoderPlan:
    """The plan stored in ``folder``."""
    path = Path(folder) / PLAN_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: no compressed-encoder plan here (was the compression run interrupted?)")
    return EncoderPlan.from_json(json.loads(path.read_text()))


def load_compressed(folder: str | Path, model: nn.Module) -> tuple[nn.Module, EncoderPlan]:
    """Prune the freshly built backbone ``model`` by the plan in ``folder`` and load the stored weights."""
    folder = Path(folder)
    plan = read_plan(folder)
    apply_plan(model, plan)
    state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ConfigError(
            f"{folder / WEIGHTS_FILE} does not fit the backbone pruned by its plan ({err}); delete {folder} to "
            "compress the encoder again"
        ) from None
    return model.eval(), plan
