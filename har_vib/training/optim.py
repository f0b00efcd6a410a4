"""Optimisers of the bottleneck models: the weights and the bottleneck parameters in two Adam groups."""

from __future__ import annotations

from typing import Any

import torch

from har_vib.vib.bottleneck import InformationBottleneck


def two_group_adam(net: torch.nn.Module, hp: Any) -> torch.optim.Optimizer:
    """Adam with the bottleneck parameters (``mu``, ``log sigma^2``) at ``hp.ib_lr`` / ``hp.ib_weight_decay``
    and everything else at ``hp.lr`` / ``hp.weight_decay``."""
    ib_params = [p for m in net.modules() if isinstance(m, InformationBottleneck) for p in m.parameters()]
    ib_ids = {id(p) for p in ib_params}
    rest = [p for p in net.parameters() if id(p) not in ib_ids]
    groups = [{"params": rest, "lr": hp.lr, "weight_decay": hp.weight_decay}]
    if ib_params:
        groups.append({"params": ib_params, "lr": hp.ib_lr, "weight_decay": hp.ib_weight_decay})
    return torch.optim.Adam(groups)
