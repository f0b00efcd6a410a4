"""When pruning keeps nothing: one message naming the settings in force that caused it and what to change.

A VIB model collapses when its bottlenecks keep no unit of a layer (every hidden unit, every input feature, every
filter of a conv): the compact model is then a constant predictor. The cause is either the threshold (units carry
information, but ``log(mu^2 / sigma^2)`` stays below a raised ``threshold``) or the KL term (``beta``, the
bottlenecks' learning rate ``model.ib_lr``, ``kl_mult``, or an ``init_logvar`` that starts every unit closed drove
every unit's ``log(mu^2 / sigma^2)`` down). :func:`collapse_message` shows the per-site ``log(mu^2 / sigma^2)``
range against the threshold, the settings with their values, which of the two it is, and the fix.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Optional

from torch import nn

from har_vib.vib.bottleneck import InformationBottleneck

THRESHOLD_KEY = "model.net.ib.threshold"
_IB_DEFAULTS = {name: p.default for name, p in inspect.signature(InformationBottleneck.__init__).parameters.items()}


class NothingKeptError(RuntimeError):
    """Every hidden unit (or every input feature, or every unit of a layer) was pruned: no layer is left to
    export. The message names the settings in force and what to change (:func:`collapse_message`)."""


@dataclass(frozen=True)
class SiteRange:
    """One bottleneck site: ``log(mu^2 / sigma^2)`` from ``low`` to ``high`` over its ``units``, ``kept`` above
    ``threshold``; ``kl_mult`` its KL multiplier."""

    name: str
    low: float
    high: float
    kept: int
    units: int
    threshold: float
    kl_mult: float

    def describe(self, show_threshold: bool, show_kl_mult: bool) -> str:
        """``name low..high (kept/units kept)``, with this site's threshold / kl_mult when they differ by site."""
        extra = f", threshold {self.threshold:g}" if show_threshold else ""
        extra += f", kl_mult {self.kl_mult:g}" if show_kl_mult else ""
        return f"{self.name} {self.low:.3g}..{self.high:.3g} ({self.kept}/{self.units} kept{extra})"


def _bottlenecks(model: nn.Module) -> list[tuple[str, InformationBottleneck]]:
    return [(name or "ib", m) for name, m in model.named_modules() if isinstance(m, InformationBottleneck)]


def site_ranges(model: nn.Module) -> list[SiteRange]:
    """``log(mu^2 / sigma^2)`` range of every bottleneck of ``model``; a VIB recurrent layer's gate bottleneck
    is split per gate (``rnn.gate_ib[i]``, ...)."""
    owners = {id(m.gate_ib): m for m in model.modules() if hasattr(m, "gate_ib") and hasattr(m, "gate_slice")}
    sites = []
    for name, ib in _bottlenecks(model):
        snr, keep = ib.log_snr(), ib.keep_mask()
        owner = owners.get(id(ib))
        parts = [(name, slice(None))]
        if owner is not None:
            parts = [(f"{name}[{gate}]", owner.gate_slice(gate)) for gate in owner.gates]
        for part, idx in parts:
            s = snr[idx]
            sites.append(
                SiteRange(
                    part, float(s.min()), float(s.max()), int(keep[idx].sum()), s.numel(), ib.threshold, ib.kl_mult
                )
            )
    return sites


@contextmanager
def thresholds_set_to(model: nn.Module, value: float) -> Iterator[None]:
    """Every bottleneck of ``model`` at threshold ``value`` inside the block (restored after)."""
    ibs = [ib for _, ib in _bottlenecks(model)]
    before = [ib.threshold for ib in ibs]
    try:
        for ib in ibs:
            ib.threshold = value
        yield
    finally:
        for ib, t in zip(ibs, before):
            ib.threshold = t


def collapse_settings(hparams: Any) -> dict[str, Any]:
    """The run's settings behind a collapse that the model does not hold: ``beta`` and ``model.ib_lr`` from a
    LightningModule's ``hparams`` (those it has)."""
    found = {}
    for attr, key in (("beta", "beta"), ("ib_lr", "model.ib_lr")):
        value = getattr(hparams, attr, None) if not isinstance(hparams, Mapping) else hparams.get(attr)
        if value is not None:
            found[key] = value
    return found


def _value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def collapse_message(
    model: nn.Module,
    what: str,
    kept_count: Callable[[], int],
    settings: Optional[Mapping[str, Any]] = None,
    threshold_key: str = THRESHOLD_KEY,
) -> str:
    """One line: what was pruned, the settings in force with their values, each site's ``log(mu^2 / sigma^2)``
    range against the threshold, whether the threshold or the KL term caused it, and what to change.

    Args:
        model: the collapsed model (its bottlenecks hold the thresholds, ``kl_mult`` and ``init_logvar`` in force).
        what: what was pruned and how much was kept, e.g. ``"every hidden unit (0/6 inputs, 0/16 hidden kept)"``.
        kept_count: how many units the collapsed layer keeps under the bottlenecks' current thresholds (0 now);
            called once more with every threshold at the default, to tell a threshold collapse from a KL one.
        settings: the run's settings the model does not hold, as ``{config key: value}`` (``beta``,
            ``model.ib_lr``: :func:`collapse_settings`); without them the advice names the keys only.
        threshold_key: the config key of the threshold.
    """
    settings = dict(settings or {})
    ibs = [ib for _, ib in _bottlenecks(model)]
    sites = site_ranges(model)
    thresholds = sorted({ib.threshold for ib in ibs})
    kl_mults = sorted({ib.kl_mult for ib in ibs})
    init_logvars = sorted({ib._init[1] for ib in ibs})
    in_force = dict(settings)
    if len(thresholds) == 1:
        in_force[threshold_key] = thresholds[0]
    prefix = threshold_key.rsplit(".", 1)[0]
    if len(kl_mults) == 1 and kl_mults[0] != _IB_DEFAULTS["kl_mult"]:
        in_force[f"{prefix}.kl_mult"] = kl_mults[0]
    if len(init_logvars) == 1 and init_logvars[0] != _IB_DEFAULTS["init_logvar"]:
        in_force[f"{prefix}.init_logvar"] = init_logvars[0]
    shown = ", ".join(f"{k}={_value(v)}" for k, v in in_force.items())
    ranges = "; ".join(s.describe(len(thresholds) > 1, len(kl_mults) > 1) for s in sites)
    against = f" vs threshold {thresholds[0]:g}" if len(thresholds) == 1 else ""
    line = f"the bottlenecks pruned {what} with {shown}: log(mu^2/sigma^2) per site {ranges}{against}"

    default = float(_IB_DEFAULTS["threshold"])
    highest = max(s.high for s in sites)
    with thresholds_set_to(model, default):
        at_default = kept_count()
    threshold = max(thresholds)
    if threshold > default and at_default > 0:
        return (
            f"{line}. The threshold is the cause: units reach log(mu^2/sigma^2) {highest:.3g} at most, below "
            f"{threshold_key}={_value(threshold)}; lower it below {highest:.3g} (at the default {default:g}, "
            f"{at_default} would be kept)"
        )
    beta = f"beta (now {_value(settings['beta'])})" if "beta" in settings else "beta"
    ib_lr = f"model.ib_lr (now {_value(settings['model.ib_lr'])})" if "model.ib_lr" in settings else "model.ib_lr"
    fix = f"lower {beta} or the bottlenecks' learning rate {ib_lr}"
    if f"{prefix}.kl_mult" in in_force:
        fix += f", or {prefix}.kl_mult (now {_value(in_force[f'{prefix}.kl_mult'])})"
    init = in_force.get(f"{prefix}.init_logvar")
    if init is not None:
        log_mu2 = math.log(ibs[0]._init[0] ** 2 + 1e-8)  # _init = (init_mu, init_logvar, init_std)
        start, default_init = log_mu2 - float(init), float(_IB_DEFAULTS["init_logvar"])
        if start <= threshold:
            return (
                f"{line}. The initialisation is the cause: {prefix}.init_logvar={_value(init)} starts every unit at "
                f"log(mu^2/sigma^2) about {start:.3g}, not above the threshold {threshold:g}; use the default "
                f"{default_init:g} (which starts them at {log_mu2 - default_init:.3g}), or {fix}"
            )
    cause = "The KL term is the cause: no unit stays above the threshold"
    if threshold > default:
        cause += f", nor above the default {default:g}"
    return f"{line}. {cause}: {fix}"
