"""Dense and conv classifiers with VIBNet bottlenecks (docs/methods/vibnet.md): LeNet-300-100 with an IB on the input
pixels and after every hidden layer, LeNet-5 with an IB per conv channel, on the flattened conv features and on
the fc1 outputs, and a VGG-style conv net (:class:`IBVGG`) with an IB per conv channel and per hidden FC unit.
``use_ib=False`` gives the plain baseline with the same layers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Optional, Union

import torch
from torch import nn
from torch.nn import functional as F

from har_vib.models.registry import register_model
from har_vib.vib.bottleneck import InformationBottleneck
from har_vib.vibnet.layers import ConvInformationBottleneck

Shape = Union[int, Sequence[int]]
# the default conv widths ("M": a max-pool closing a block): VIBNet's VGG cfg without its fifth block
VGG_CFG: tuple[Union[int, str], ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M")


def _identity_ib(n: int, use_ib: bool, ib: dict[str, Any], conv: bool = False, spatial: int = 1) -> nn.Module:
    if not use_ib:
        return nn.Identity()
    return ConvInformationBottleneck(n, spatial, **ib) if conv else InformationBottleneck(n, **ib)


class IBNet(nn.Module):
    """Shared behaviour: the bottlenecks in order, their summed (weighted) KL."""

    __jit_unused_properties__ = ["is_vib"]  # TorchScript export of plain nets compiles forward() only

    def bottlenecks(self) -> list[InformationBottleneck]:
        """The IB layers in forward order."""
        return [m for m in self.modules() if isinstance(m, InformationBottleneck)]

    def kl(self) -> torch.Tensor:
        """Sum of every bottleneck's KL (0 without bottlenecks)."""
        terms = [ib.kl() for ib in self.bottlenecks()]
        return torch.stack(terms).sum() if terms else next(self.parameters()).new_zeros(())

    @property
    def is_vib(self) -> bool:
        """Whether the net has bottlenecks to prune by."""
        return bool(self.bottlenecks())


class IBMLP(IBNet):
    """``input -> IB -> [Linear -> ReLU -> IB] * n -> Linear`` (LeNet-300-100 with ``hidden=(300, 100)``)."""

    def __init__(
        self,
        input_size: Shape,
        num_classes: int,
        hidden: Sequence[int] = (300, 100),
        use_ib: bool = True,
        ib: Optional[dict[str, Any]] = None,
    ) -> None:
        super().__init__()
        width = input_size if isinstance(input_size, int) else math.prod(input_size)
        sizes = [width, *hidden]
        ib = dict(ib or {})
        self.ibs = nn.ModuleList(_identity_ib(n, use_ib, ib) for n in sizes)
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, [*hidden, num_classes]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ibs[0](x.flatten(1))
        for linear, ib in zip(self.linears[:-1], self.ibs[1:]):
            x = ib(F.relu(linear(x)))
        return self.linears[-1](x)


class IBLeNet5(IBNet):
    """LeNet-5 (Caffe variant): ``conv(20,5) -> ReLU -> IB -> pool -> conv(50,5) -> ReLU -> IB -> pool -> IB ->
    fc(500) -> ReLU -> IB -> fc``. ``padding=2`` keeps small inputs (scikit-learn's 8x8 digits) valid."""

    def __init__(
        self,
        input_size: Shape,
        num_classes: int,
        channels: Sequence[int] = (20, 50),
        fc: int = 500,
        padding: int = 0,
        use_ib: bool = True,
        ib: Optional[dict[str, Any]] = None,
    ) -> None:
        super().__init__()
        if isinstance(input_size, int) or len(input_size) != 3:
            raise ValueError(f"IBLeNet5 needs an image shape (C, H, W), got {input_size}")
        c, h, w = (int(v) for v in input_size)
        ib = dict(ib or {})
        self.conv1 = nn.Conv2d(c, channels[0], 5, padding=padding)
        h1, w1 = h + 2 * padding - 4, w + 2 * padding - 4
        self.ib1 = _identity_ib(channels[0], use_ib, ib, conv=True, spatial=h1 * w1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 5, padding=padding)
        h2, w2 = h1 // 2 + 2 * padding - 4, w1 // 2 + 2 * padding - 4
        if min(h2, w2) < 2:
            raise ValueError(f"input {h}x{w} is too small for LeNet-5 with padding={padding}; use padding=2")
        self.ib2 = _identity_ib(channels[1], use_ib, ib, conv=True, spatial=h2 * w2)
        self.flat_shape = (channels[1], h2 // 2, w2 // 2)
        flat = math.prod(self.flat_shape)
        self.ib_flat = _identity_ib(flat, use_ib, ib)
        self.fc1 = nn.Linear(flat, fc)
        self.ib_fc = _identity_ib(fc, use_ib, ib)
        self.fc2 = nn.Linear(fc, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.ib1(F.relu(self.conv1(x))), 2)
        x = F.max_pool2d(self.ib2(F.relu(self.conv2(x))), 2)
        x = self.ib_flat(x.flatten(1))
        return self.fc2(self.ib_fc(F.relu(self.fc1(x))))


class IBVGG(IBNet):
    """VGG-style conv net as VIBNet's ``ib_vgg`` (Dai et al. 2018): every conv is ``Conv3x3(pad 1) -> BN -> ReLU ->
    IB(C)``, ``"M"`` in ``cfg`` is a MaxPool(2) closing a block, then ``flatten -> [Linear -> ReLU -> IB] * len(fc)
    -> Linear``. ``kl_mult``: one multiplier per block (VIBNet's per-layer gamma_l, docs/methods/vibnet.md), on top of
    ``ib["kl_mult"]`` and each conv IB's ``H * W`` factor; None = 1 for every block."""

    def __init__(
        self,
        input_size: Shape,
        num_classes: int,
        cfg: Sequence[Union[int, str]] = VGG_CFG,
        fc: Sequence[int] = (512,),
        use_ib: bool = True,
        ib: Optional[dict[str, Any]] = None,
        kl_mult: Optional[Sequence[float]] = None,
    ) -> None:
        super().__init__()
        if isinstance(input_size, int) or len(input_size) != 3:
            raise ValueError(f"IBVGG needs an image shape (C, H, W), got {input_size}")
        c, h, w = (int(v) for v in input_size)
        ib = dict(ib or {})
        blocks = sum(1 for v in cfg if v == "M")
        mults = list(kl_mult) if kl_mult is not None else [1.0] * max(blocks, 1)
        if kl_mult is not None and len(mults) != blocks:
            raise ValueError(f"kl_mult has {len(mults)} entries for {blocks} blocks (one per 'M' in cfg)")
        self.convs, self.bns, self.conv_ibs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.pool_after: list[bool] = []
        block = 0
        for v in cfg:
            if v == "M":
                if not self.pool_after:
                    raise ValueError("cfg must start with a conv width, not 'M'")
                if self.pool_after[-1]:
                    raise ValueError(
                        f"cfg {list(cfg)} has two 'M' in a row: each 'M' closes a block of convs with one 2x2 "
                        "max-pool; put a conv width between them (or drop one 'M')"
                    )
                self.pool_after[-1] = True
                h, w, block = h // 2, w // 2, block + 1
                if min(h, w) < 1:
                    raise ValueError(f"input {tuple(input_size)} is too small for {blocks} poolings")
                continue
            self.convs.append(nn.Conv2d(c, int(v), 3, padding=1))
            self.bns.append(nn.BatchNorm2d(int(v)))
            conv_ib = {**ib, "kl_mult": float(ib.get("kl_mult", 1.0)) * mults[min(block, len(mults) - 1)]}
            self.conv_ibs.append(_identity_ib(int(v), use_ib, conv_ib, conv=True, spatial=h * w))
            self.pool_after.append(False)
            c = int(v)
        self.flat_shape = (c, h, w)
        sizes = [math.prod(self.flat_shape), *fc]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, [*fc, num_classes]))
        self.fc_ibs = nn.ModuleList(_identity_ib(n, use_ib, ib) for n in fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, bn, ib, pool in zip(self.convs, self.bns, self.conv_ibs, self.pool_after):
            x = ib(F.relu(bn(conv(x))))
            if pool:
                x = F.max_pool2d(x, 2)
        x = x.flatten(1)
        for linear, ib in zip(self.linears[:-1], self.fc_ibs):
            x = ib(F.relu(linear(x)))
        return self.linears[-1](x)


@register_model
def lenet300_100(input_size: Shape, num_classes: int, hidden: Sequence[int] = (300, 100), **_: Any) -> IBMLP:
    """LeNet-300-100, no bottlenecks (the baseline)."""
    return IBMLP(input_size, num_classes, hidden, use_ib=False)


@register_model
def vib_lenet300_100(
    input_size: Shape, num_classes: int, hidden: Sequence[int] = (300, 100), ib: Optional[dict] = None
) -> IBMLP:
    """LeNet-300-100 with VIBNet bottlenecks on the input and both hidden layers."""
    return IBMLP(input_size, num_classes, hidden, use_ib=True, ib=ib)


@register_model
def lenet5(input_size: Shape, num_classes: int, padding: int = 0, **_: Any) -> IBLeNet5:
    """LeNet-5 (20-50-500), no bottlenecks."""
    return IBLeNet5(input_size, num_classes, padding=padding, use_ib=False)


@register_model
def vib_lenet5(input_size: Shape, num_classes: int, padding: int = 0, ib: Optional[dict] = None) -> IBLeNet5:
    """LeNet-5 with VIBNet bottlenecks on both conv layers' channels, the flattened features and fc1."""
    return IBLeNet5(input_size, num_classes, padding=padding, use_ib=True, ib=ib)


@register_model
def vgg(
    input_size: Shape,
    num_classes: int,
    cfg: Sequence[Union[int, str]] = VGG_CFG,
    fc: Sequence[int] = (512,),
    **_: Any,
) -> IBVGG:
    """Plain VGG-style baseline (BN, no bottlenecks)."""
    return IBVGG(input_size, num_classes, cfg, fc, use_ib=False)


@register_model
def vib_vgg(
    input_size: Shape,
    num_classes: int,
    cfg: Sequence[Union[int, str]] = VGG_CFG,
    fc: Sequence[int] = (512,),
    ib: Optional[dict] = None,
    kl_mult: Optional[Sequence[float]] = None,
) -> IBVGG:
    """VGG-style net with a VIBNet bottleneck after every conv (per channel) and hidden FC layer."""
    return IBVGG(input_size, num_classes, cfg, fc, use_ib=True, ib=ib, kl_mult=kl_mult)
