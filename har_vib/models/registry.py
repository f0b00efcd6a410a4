"""A small model registry in the spirit of timm: ``@register_model`` factories, ``create_model(name)``."""

from __future__ import annotations

import sys
from collections.abc import Callable

from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a model factory under its function name."""
    if fn.__name__ in _MODELS:
        raise ValueError(f"model {fn.__name__!r} is registered twice")
    _MODELS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names of every registered model, sorted."""
    return sorted(_MODELS)


# packages that register further models when imported (the sequence-model package never imports them itself)
MODEL_PACKAGES = {"har_vib.vibnet": "the image models lenet300_100, lenet5, vgg and their vib_ versions"}


def create_model(name: str, **kwargs: object) -> nn.Module:
    """Build the registered model ``name`` with ``kwargs``.

    Raises:
        KeyError: ``name`` is not registered; the message lists the registered models and the packages whose
            import registers more (``import har_vib.vibnet`` for the image models).
    """
    if name not in _MODELS:
        unloaded = [f"import {pkg} for {what}" for pkg, what in MODEL_PACKAGES.items() if pkg not in sys.modules]
        hint = f" ({'; '.join(unloaded)})" if unloaded else ""
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(list_models())}{hint}")
    return _MODELS[name](**kwargs)
