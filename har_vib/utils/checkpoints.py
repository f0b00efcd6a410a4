"""Reading checkpoints without running code: every ``torch.load`` of the project goes through here with
``weights_only=True`` (torch's restricted unpickler: tensors and plain containers only), whatever the installed
torch's default. A file that needs more is refused in one line naming it; nothing suggests turning the check off.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from har_vib.errors import ConfigError


def load_tensors(path: str | Path, what: str = "file", map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``; any failure is a :class:`ConfigError` naming ``path`` and ``what``
    it should have been (e.g. ``"the run's pruned_state_dict.pt"``)."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found ({what})") from None
    except Exception as err:  # truncated, foreign, or a pickle that would run code
        raise ConfigError(
            f"{path}: not readable as {what} with torch's safe loader ({type(err).__name__}); it is truncated, "
            "from another program, or holds objects other than tensors"
        ) from None


def _omegaconf_types() -> list[Any]:
    """The classes a Lightning checkpoint's hyper-parameters pickle when they came from Hydra configs."""
    from omegaconf import DictConfig, ListConfig
    from omegaconf.base import ContainerMetadata, Metadata
    from omegaconf.nodes import AnyNode, BooleanNode, FloatNode, IntegerNode, StringNode

    return [
        DictConfig,
        ListConfig,
        ContainerMetadata,
        Metadata,
        AnyNode,
        BooleanNode,
        FloatNode,
        IntegerNode,
        StringNode,
        typing.Any,
    ]


def load_lightning_state_dict(path: str | Path, map_location: Any = "cpu") -> Mapping[str, torch.Tensor]:
    """The model ``state_dict`` of a Lightning checkpoint, read with ``weights_only=True`` (OmegaConf containers,
    which Hydra-configured hyper-parameters bring along, are allowed as data)."""
    with torch.serialization.safe_globals(_omegaconf_types()):
        ckpt = load_tensors(path, "a Lightning checkpoint", map_location)
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("state_dict"), Mapping):
        raise ConfigError(f"{path}: a Lightning checkpoint has a 'state_dict'; this file has none")
    return ckpt["state_dict"]
