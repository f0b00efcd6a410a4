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
    with lightning_safe_globals():
        ckpt = load_tensors(path, "a Lightning checkpoint", map_location)
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("state_dict"), Mapping):
        raise ConfigError(f"{path}: a Lightning checkpoint has a 'state_dict'; this file has none")
    return ckpt["state_dict"]


def lightning_safe_globals() -> Any:
    """A context in which ``torch.load(..., weights_only=True)`` accepts what a Lightning checkpoint of this project
    holds besides tensors (OmegaConf containers of Hydra-configured hyper-parameters); for ``Trainer.fit(ckpt_path=...,
    weights_only=True)``."""
    return torch.serialization.safe_globals(_omegaconf_types())


def load_resume_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint to continue training from, read safely and checked to be one (weights, optimiser and
    loop states).

    Raises:
        ConfigError: the file is missing, unreadable, or not a Lightning training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"ckpt_path={path}: no such file; pass a checkpoint of a run, e.g. <run folder>/checkpoints/last.ckpt, "
            "or resume=<run folder>"
        )
    with lightning_safe_globals():
        ckpt = load_tensors(path, "a Lightning checkpoint")
    missing = [k for k in ("state_dict", "loops", "optimizer_states") if not isinstance(ckpt, Mapping) or k not in ckpt]
    if missing:
        raise ConfigError(
            f"ckpt_path={path}: not a Lightning training checkpoint (no {', '.join(missing)}); training continues "
            "only from a checkpoint written by train.py (<run folder>/checkpoints/*.ckpt)"
        )
    return dict(ckpt)
