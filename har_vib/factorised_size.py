"""Parameter counts of factorised (tensor-train / tensor-ring) matrices against the dense matrices they replace.

A factorised ``W`` (``prod(in_modes) x prod(out_modes)``) holds ``sum_k r_{k-1} m_k n_k r_k`` parameters in its cores
(docs/methods/tensorized.md). It only compresses when that is below ``prod(in_modes) * prod(out_modes)``; with
large ranks or few modes it is larger than the dense matrix, which it can never out-express (every factorised
``W`` is a dense ``W``).

No torch here: ``train.py``'s config checks use these counts before anything heavy is imported, and the models
(:mod:`har_vib.models.tensorized`) use them when built. Policy:

* a factorised map that is not smaller than its dense matrix is a warning (one line: the layer, both counts, the
  ranks and modes, smaller ranks that would compress), and ``compression.json`` records it;
* one at least ``refuse_size_ratio`` times the dense size (default :data:`DEFAULT_REFUSE_SIZE_RATIO`) is refused
  with a :class:`~har_vib.errors.ConfigError` before training (``model.net.refuse_size_ratio=null``: warn only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from har_vib.errors import ConfigError

# refuse a factorised map holding at least this many times the parameters of the dense matrix it replaces
DEFAULT_REFUSE_SIZE_RATIO = 2.0


def balanced_factors(n: int, d: int) -> list[int]:
    """``d`` factors of ``n`` (1s allowed) as equal as greedy prime assignment gets them, largest first.

    Raises:
        ValueError: ``n < 1`` or ``d < 1``.
    """
    if n < 1 or d < 1:
        raise ValueError(f"need n >= 1 and d >= 1, got n={n}, d={d}")
    primes, rest, p = [], n, 2
    while p * p <= rest:
        while rest % p == 0:
            primes.append(p)
            rest //= p
        p += 1
    if rest > 1:
        primes.append(rest)
    factors = [1] * d
    for prime in sorted(primes, reverse=True):
        factors[factors.index(min(factors))] *= prime
    return sorted(factors, reverse=True)


def core_param_count(in_modes: Sequence[int], out_modes: Sequence[int], ranks: Sequence[int]) -> int:
    """Parameters of the cores ``(r_{k-1}, m_k, n_k, r_k)``: ``sum_k r_{k-1} m_k n_k r_k``.

    Raises:
        ValueError: not ``d`` in modes, ``d`` out modes and ``d + 1`` ranks.
    """
    d = len(in_modes)
    if len(out_modes) != d or len(ranks) != d + 1:
        raise ValueError(f"need d in modes, d out modes and d+1 ranks; got {in_modes}, {out_modes}, {ranks}")
    return sum(ranks[k] * in_modes[k] * out_modes[k] * ranks[k + 1] for k in range(d))


def _fmt(n: int) -> str:
    return f"{n:,}"


@dataclass(frozen=True)
class FactorisedSize:
    """A factorised map's size against the dense matrix it replaces.

    Attributes:
        layer: what the map is, for messages (e.g. ``"rnn.weight_ih of the TT-LSTM"``).
        in_modes, out_modes, ranks: the factorisation (``len(ranks) = len(in_modes) + 1``).
        shared_params: parameters the factorised and the dense layer both hold besides this map (a TT-LSTM's
            ``W_hh`` and biases), for the whole-layer counts; 0 for a bare map.
        ranks_key: the setting that sets ``ranks``, named in the advice (``model.net.ranks``).
    """

    layer: str
    in_modes: tuple[int, ...]
    out_modes: tuple[int, ...]
    ranks: tuple[int, ...]
    shared_params: int = 0
    ranks_key: str = "ranks"

    @property
    def params(self) -> int:
        """Parameters of the cores."""
        return core_param_count(self.in_modes, self.out_modes, self.ranks)

    @property
    def dense_params(self) -> int:
        """Parameters of the dense ``prod(in_modes) x prod(out_modes)`` matrix."""
        return math.prod(self.in_modes) * math.prod(self.out_modes)

    @property
    def ratio(self) -> float:
        """``params / dense_params``: above 1, the factorisation is larger than what it replaces."""
        return self.params / self.dense_params

    @property
    def larger_than_dense(self) -> bool:
        """Whether the cores hold at least as many parameters as the dense matrix (no compression)."""
        return self.params >= self.dense_params

    @property
    def is_ring(self) -> bool:
        """Tensor ring (``r_0 = r_d > 1``) rather than tensor train."""
        return self.ranks[0] > 1

    @property
    def kind(self) -> str:
        """``"tensor_ring"`` or ``"tensor_train"``."""
        return "tensor_ring" if self.is_ring else "tensor_train"

    def smaller_ranks(self) -> Optional[tuple[int, ...]]:
        """The largest uniform ranks below the current ones (train: ``[1, r, ..., r, 1]``; ring: all ``r >= 2``)
        whose cores are smaller than the dense matrix, or None when no such ranks exist with these modes."""
        d = len(self.in_modes)
        top = max(self.ranks)
        for r in range(top - 1, 0, -1):
            if self.is_ring:
                if r < 2:
                    break
                ranks = (r,) * (d + 1)
            else:
                ranks = (1, *([r] * (d - 1)), 1)
            if core_param_count(self.in_modes, self.out_modes, ranks) < self.dense_params:
                return ranks
        return None

    def advice(self) -> str:
        """What to change so that the map compresses: smaller ranks (with their count), or more modes."""
        ranks = self.smaller_ranks()
        if ranks is not None:
            count = core_param_count(self.in_modes, self.out_modes, ranks)
            shown = "[" + ",".join(str(r) for r in ranks) + "]"
            return f"lower the ranks, e.g. {self.ranks_key}={shown} ({_fmt(count)} parameters), or use more modes"
        return (
            f"no {'ring ' if self.is_ring else ''}ranks make it smaller with these modes: factorise into more modes "
            "(a longer ranks list, or in_modes/hidden_modes with more factors), or use the dense layer"
        )

    def describe(self) -> str:
        """One line: the layer, its parameter count against the dense count, the factorisation and the fix."""
        modes = "x".join(map(str, self.in_modes)) + " -> " + "x".join(map(str, self.out_modes))
        rows, cols = math.prod(self.in_modes), math.prod(self.out_modes)
        line = (
            f"{self.layer} ({self.kind.replace('_', '-')}, modes {modes}, ranks {list(self.ranks)}) holds "
            f"{_fmt(self.params)} parameters vs {_fmt(self.dense_params)} for the dense {rows}x{cols} matrix it "
            f"replaces ({self.ratio:.3g}x its size"
        )
        if self.shared_params:
            whole, dense = self.params + self.shared_params, self.dense_params + self.shared_params
            line += f"; the whole layer {_fmt(whole)} vs {_fmt(dense)}, compression_ratio {dense / whole:.3g}"
        return line + f"): {self.advice()}"

    def report(self) -> dict[str, Any]:
        """The ``compression.json`` fields: ``factorised_larger_than_dense`` and the counts behind it."""
        return {
            "factorised_larger_than_dense": self.larger_than_dense,
            "factorised": {
                "kind": self.kind,
                "in_modes": list(self.in_modes),
                "out_modes": list(self.out_modes),
                "ranks": list(self.ranks),
                "params": self.params,
                "dense_params": self.dense_params,
                "size_ratio": self.ratio,
            },
        }


def lstm_input_map_size(
    input_size: int,
    hidden_size: int,
    ranks: Sequence[int],
    in_modes: Optional[Sequence[int]] = None,
    hidden_modes: Optional[Sequence[int]] = None,
    ranks_key: str = "model.net.ranks",
) -> FactorisedSize:
    """The factorised ``W_ih`` (``L x 4H``) of a TT/TR-LSTM: modes factorised evenly unless given, the first output
    mode carrying the 4 gates (as :class:`~har_vib.models.tensorized.TensorizedLSTM` builds it).

    Raises:
        ValueError: the modes do not multiply to the sizes, or the ranks do not fit the modes.
    """
    d = len(ranks) - 1
    if d < 1:
        raise ValueError(f"need at least 2 ranks (one core), got {list(ranks)}")
    ins = list(in_modes) if in_modes else balanced_factors(input_size, d)
    hid = list(hidden_modes) if hidden_modes else balanced_factors(hidden_size, d)
    if math.prod(ins) != input_size or math.prod(hid) != hidden_size:
        raise ValueError(
            f"modes must multiply to the sizes: prod{tuple(ins)} vs input {input_size}, "
            f"prod{tuple(hid)} vs hidden {hidden_size}"
        )
    outs = [4 * hid[0], *hid[1:]]
    core_param_count(ins, outs, ranks)  # the shapes fit
    kind = "TR" if ranks[0] > 1 else "TT"
    return FactorisedSize(
        layer=f"rnn.weight_ih of the {kind}-LSTM",
        in_modes=tuple(ins),
        out_modes=tuple(outs),
        ranks=tuple(int(r) for r in ranks),
        shared_params=4 * hidden_size * hidden_size + 8 * hidden_size,  # W_hh and two bias vectors
        ranks_key=ranks_key,
    )


def refuse_pointless(
    size: FactorisedSize, refuse_size_ratio: Optional[float], key: str = "model.net.refuse_size_ratio"
) -> None:
    """Refuse a factorised map at least ``refuse_size_ratio`` times its dense matrix (None: never refuse).

    Raises:
        ConfigError: naming the layer, both counts, the ranks to lower and ``key`` (to train it anyway).
    """
    if refuse_size_ratio is None or size.params < refuse_size_ratio * size.dense_params:
        return
    raise ConfigError(
        f"{size.describe()}; a factorised layer {refuse_size_ratio:g}x or more the size of the dense one is refused "
        f"(set {key}=null to train it anyway)"
    )
