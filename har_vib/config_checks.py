"""Checks of a run's config before any work: a wrong type, a value out of range or a missing file is one
:class:`ConfigError` naming the key and the fix, raised before data is generated, extracted or trained on (instead
of a traceback from the first training step, or a silently useless run).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from har_vib.errors import ConfigError
from har_vib.factorised_size import DEFAULT_REFUSE_SIZE_RATIO, lstm_input_map_size, refuse_pointless

_MISSING = object()


def _get(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, default=_MISSING, throw_on_missing=False)


def _is_list(v: Any) -> bool:
    from omegaconf import ListConfig

    return isinstance(v, (list, tuple, ListConfig))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(float(v))


# key, what it must be, the test, the fix
_RULES: list[tuple[str, str, Callable[[Any], bool], str]] = [
    ("seed", "a whole number >= 0", lambda v: _is_int(v) and v >= 0, "seed=0"),
    ("beta", "a number >= 0 (the weight of the KL term)", lambda v: _is_number(v) and v >= 0, "beta=1e-5"),
    ("model.lr", "a number > 0", lambda v: _is_number(v) and v > 0, "model.lr=3e-3"),
    (
        "model.ib_lr",
        "a number >= 0 (0 holds the bottlenecks at their init)",
        lambda v: _is_number(v) and v >= 0,
        "model.ib_lr=3e-2",
    ),
    ("model.weight_decay", "a number >= 0", lambda v: _is_number(v) and v >= 0, "model.weight_decay=0"),
    ("model.net.hidden_size", "a whole number >= 1", lambda v: _is_int(v) and v >= 1, "model.net.hidden_size=128"),
    (
        "model.net.refuse_size_ratio",
        "null (never refuse) or a number >= 1 (refuse a factorised layer this many times its dense size)",
        lambda v: v is None or (_is_number(v) and v >= 1),
        "model.net.refuse_size_ratio=2.0",
    ),
    ("dataset.frames", "a whole number >= 1", lambda v: _is_int(v) and v >= 1, "dataset.frames=8"),
    ("dataset.batch_size", "a whole number >= 1", lambda v: _is_int(v) and v >= 1, "dataset.batch_size=32"),
    (
        "trainer.max_epochs",
        "a whole number >= 1 (or -1: until early stopping); 0 would export an untrained model",
        lambda v: v is None or (_is_int(v) and (v >= 1 or v == -1)),
        "trainer.max_epochs=60, or train=false to evaluate and export without training",
    ),
    (
        "train_steps",
        "null (trainer.max_epochs decides) or a whole number >= 1 (optimisation steps, as whole epochs)",
        lambda v: v is None or (_is_int(v) and v >= 1),
        "train_steps=1500",
    ),
    (
        "model.lr_schedule",
        "'none' (constant) or 'cosine' (warm-up, then cosine decay to 0)",
        lambda v: v in ("none", "cosine"),
        "model.lr_schedule=cosine",
    ),
    (
        "model.warmup_fraction",
        "a number in [0, 1) (the share of the steps the learning rate warms up over)",
        lambda v: _is_number(v) and 0 <= v < 1,
        "model.warmup_fraction=0.05",
    ),
    (
        "model.beta_warmup",
        "a number in [0, 1] (the share of the steps beta rises from 0 over; 0: no warm-up)",
        lambda v: _is_number(v) and 0 <= v <= 1,
        "model.beta_warmup=0.25",
    ),
    (
        "model.net.ranks",
        "null or a list of whole numbers >= 1 (the TT/TR ranks)",
        lambda v: v is None or (_is_list(v) and len(v) >= 2 and all(_is_int(r) and r >= 1 for r in v)),
        "model.net.ranks=[1,4,4,1]",
    ),
    (
        "dataset.patch_length",
        "'auto' or a whole number >= 1 (steps per LSTM input)",
        lambda v: v == "auto" or (_is_int(v) and v >= 1),
        "dataset.patch_length=auto",
    ),
    (
        "dataset.max_rnn_steps",
        "a whole number >= 1 (the recurrence length patch_length=auto aims at)",
        lambda v: _is_int(v) and v >= 1,
        "dataset.max_rnn_steps=64",
    ),
    (
        "callbacks.prune_export.finetune_epochs",
        "a whole number >= 0",
        lambda v: _is_int(v) and v >= 0,
        "callbacks.prune_export.finetune_epochs=150",
    ),
    (
        "callbacks.prune_export.distill.alpha",
        "a number in [0, 1] (the weight of the teacher's term)",
        lambda v: _is_number(v) and 0 <= v <= 1,
        "callbacks.prune_export.distill.alpha=0.7",
    ),
    (
        "callbacks.prune_export.distill.temperature",
        "a number > 0",
        lambda v: _is_number(v) and v > 0,
        "callbacks.prune_export.distill.temperature=4.0",
    ),
]


def check_run_config(cfg: DictConfig) -> None:
    """Every rule above whose key the config has, then the files the run will need (the user's sequence files, the
    distillation teacher).

    Raises:
        ConfigError: the first problem, as ``<key>=<value>: must be ... ; e.g. <fix>``.
    """
    for key, must, ok, fix in _RULES:
        value = _get(cfg, key)
        if value is _MISSING:
            continue
        if key in ("trainer.max_epochs", "train_steps") and _get(cfg, "train") is False:
            continue  # train=false: no epochs are run
        if not ok(value):
            raise ConfigError(f"{key}={value!r}: must be {must}; e.g. {fix}")
    _check_finite_schedule(cfg)
    _check_factorised_size(cfg)
    _check_sequence_files(cfg)
    _check_teacher(cfg)
    _check_backbone_fits_dataset(cfg)
    _check_backbone_weights(cfg)
    _check_exact_export(cfg)


def _check_finite_schedule(cfg: DictConfig) -> None:
    """A learning-rate schedule or KL warm-up is a share of the run's steps: the run must have an end."""
    endless = _get(cfg, "trainer.max_epochs") == -1 and not _get(cfg, "train_steps") and _get(cfg, "train") is not False
    schedule = _get(cfg, "model.lr_schedule") == "cosine"
    warmup = _get(cfg, "model.beta_warmup")
    if endless and (schedule or (_is_number(warmup) and warmup > 0)):
        raise ConfigError(
            "trainer.max_epochs=-1 with train_steps=null: the run has no end, and model.lr_schedule=cosine / "
            "model.beta_warmup are shares of its steps; set train_steps=1500 or trainer.max_epochs=100 (or "
            "model.lr_schedule=none model.beta_warmup=0)"
        )


def _check_factorised_size(cfg: DictConfig) -> None:
    """A TT/TR-LSTM whose factorised input map is ``model.net.refuse_size_ratio`` times (or more) the size of the
    dense matrix it replaces is refused now, when the config fixes the input size (``model.net.in_modes``);
    otherwise the model refuses it when built, once the data gives the input size (before training)."""
    net = _get(cfg, "model.net")
    if not isinstance(net, DictConfig) or net.get("ranks") is None or not net.get("in_modes"):
        return
    ranks, in_modes = list(net.ranks), list(net.in_modes)
    hidden_modes = list(net.hidden_modes) if net.get("hidden_modes") else None
    try:
        size = lstm_input_map_size(math.prod(in_modes), int(net.get("hidden_size", 256)), ranks, in_modes, hidden_modes)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"model.net.ranks={ranks}, in_modes={in_modes}, hidden_modes={hidden_modes}: {err}") from None
    refuse_pointless(size, net.get("refuse_size_ratio", DEFAULT_REFUSE_SIZE_RATIO))


_SEQUENCE_TARGETS = ("TimeSeriesDataModule", "ArrayDataModule")


def _check_sequence_files(cfg: DictConfig) -> None:
    """``dataset=ts`` / ``dataset=arrays``: one of name and path, and the files exist with the right extension
    (names and the file system only: their contents are read by the DataModule)."""
    dataset = _get(cfg, "dataset")
    if not isinstance(dataset, DictConfig):
        return
    from har_vib.data.sequence_files import npz_files, ts_files

    target = str(dataset.get("_target_"))
    if target.endswith("TimeSeriesDataModule"):
        ts_files(dataset.get("name"), dataset.get("path"), dataset.get("test_path"))
    elif target.endswith("ArrayDataModule"):
        npz_files(dataset.get("path"), dataset.get("test_path"))


def _check_teacher(cfg: DictConfig) -> None:
    """A distillation teacher must be a TorchScript model (a run folder's pruned.pt or the file), found and
    loadable now rather than after the whole fit."""
    teacher = _get(cfg, "callbacks.prune_export.distill.teacher")
    if teacher in (_MISSING, None, ""):
        return
    import torch

    from har_vib.compression.distill import load_teacher

    load_teacher(str(teacher), torch.device("cpu"))


def _check_backbone_fits_dataset(cfg: DictConfig) -> None:
    """A frame encoder needs a video dataset; encoder compression needs a frame encoder."""
    backbone = _get(cfg, "backbone")
    backbone = {} if backbone in (_MISSING, None) else backbone
    name = str(backbone.get("name", "none"))
    if name == "none" and str(backbone.get("compress", "none")) != "none":
        raise ConfigError(
            "backbone.compress prunes a CNN frame encoder; backbone=none has none. Choose a CNN backbone, e.g. "
            "backbone=mobilenetv3_small backbone.compress=vib"
        )
    dataset = _get(cfg, "dataset")
    if name != "none" and dataset not in (_MISSING, None) and str(dataset.get("_target_")).endswith(_SEQUENCE_TARGETS):
        raise ConfigError(
            f"backbone={name} encodes video frames; dataset {dataset.get('name')!r} is a "
            "sequence dataset. Use a video dataset (dataset=ucf11|hmdb51|ucf101|synthetic) or backbone=none"
        )


def _check_backbone_weights(cfg: DictConfig) -> None:
    """The frame encoder's weights must be found or downloadable, and a ``backbone.weights`` file must load into
    the encoder (tensor names, kinds and shapes), now rather than after the videos are generated or decoded.
    Nothing is downloaded here: weights that are not on disk pass when downloading is on and timm names a Hugging
    Face Hub repository for them (they are fetched when the encoder is built), and are refused, saying how to
    provide them, under ``HF_HUB_OFFLINE=1`` or ``backbone.download=false``."""
    backbone = _get(cfg, "backbone")
    if backbone in (_MISSING, None) or str(backbone.get("name", "none")) == "none":
        return
    from har_vib.features.backbones import BackboneSpec, create_backbone, weights_source

    spec = BackboneSpec.from_config(OmegaConf.to_container(backbone, resolve=True))
    if spec.pretrained and spec.weights:
        create_backbone(spec)  # reads the file once and checks it against the model
    else:
        weights_source(spec)  # packaged, cached or downloadable, without building the model or downloading


# recurrent models with bottlenecks on their gates, and the gates whose eval multiplier no standard layer can carry
# (har_vib.compression.fold.UNFOLDABLE_GATES; tests/compression/test_fold.py keeps this table in step with the
# model registry)
GATE_BOTTLENECK_MODELS = {"vib_lstm": "i, f and g", "ts_vib_lstm": "i, f and g", "vib_gru": "update (z)"}


def _check_exact_export(cfg: DictConfig) -> None:
    """``model.net.ib.eval_mode=mu`` on a model with gate bottlenecks: the compact model could not reproduce it
    (``mask * mu`` on an LSTM's i/f/g or a GRU's z gate does not fold into a standard layer), so the run is refused
    before training instead of failing at export. An input-feature bottleneck alone folds ``mu`` exactly."""
    mode, name = _get(cfg, "model.net.ib.eval_mode"), _get(cfg, "model.net.name")
    if mode is _MISSING or mode is None:
        return
    if mode not in ("hard", "mu"):
        raise ConfigError(f"model.net.ib.eval_mode={mode!r}: must be 'hard' or 'mu'; e.g. model.net.ib.eval_mode=hard")
    if mode == "mu" and name in GATE_BOTTLENECK_MODELS:
        cell = "GRU" if "gru" in str(name) else "LSTM"
        raise ConfigError(
            f"model.net.ib.eval_mode=mu: {name} would evaluate its {GATE_BOTTLENECK_MODELS[name]} gates scaled by mu, "
            f"which a standard nn.{cell} cannot reproduce, so the exported compact model would not compute what the "
            f"trained model computes. Use model.net.ib.eval_mode=hard (the default: the export is exact); "
            "model=feature_vib_lstm (input-feature bottleneck only) may use mu, which folds into the input weights"
        )
