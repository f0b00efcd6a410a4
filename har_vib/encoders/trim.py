"""Trim the encoder's output features to the ones the compact LSTM reads.

After VIB pruning the LSTM keeps a few input columns (49 of 2048 on UCF11); the encoder channels behind the other
features feed nothing. When those channels reach the output without a residual addition (MobileNet-v3's and
EfficientNet's head conv, Inception's last concatenated branches) Torch-Pruning removes them, with their BN and
input-side dependencies, and the kept features are unchanged. A residual output stream (ResNet) cannot be trimmed
this way and is left whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def trim_outputs(backbone: nn.Module, keep: Sequence[int], crop: int) -> bool:
    """Remove every output feature of ``backbone`` not in ``keep`` (in place), keeping the order of the rest.
    Returns False (and changes nothing) when the output channels sit on a residual stream."""
    import torch_pruning as tp

    with torch.no_grad():
        width = int(backbone.eval()(torch.zeros(1, 3, crop, crop)).shape[-1])
    keep = sorted(set(int(k) for k in keep))
    if not keep or keep[-1] >= width:
        raise ValueError(f"keep must be non-empty indices below the output width {width}")
    drop = [i for i in range(width) if i not in set(keep)]
    if not drop:
        return True
    probe = nn.Linear(width, 1)
    wrapped = nn.Sequential(backbone, probe).eval()
    graph = tp.DependencyGraph().build_dependency(wrapped, example_inputs=torch.zeros(1, 3, crop, crop))
    group = graph.get_pruning_group(probe, tp.prune_linear_in_channels, idxs=drop)
    if any(getattr(dep.target.module, "_grad_fn", "").startswith("Add") for dep, _ in group):
        return False
    group.prune()
    return True


def remap_input_index(index: Sequence[int], width: int, keep: Sequence[int], streams: int) -> list[int]:
    """New positions of the compact model's input columns once every stream's ``width`` features are trimmed to
    ``keep`` (features are concatenated per frame stream by stream, so column ``i`` is stream ``i // width``,
    channel ``i % width``)."""
    pos = {c: j for j, c in enumerate(sorted(set(keep)))}
    trimmed = len(pos)
    out = []
    for i in index:
        stream, channel = divmod(int(i), width)
        if stream >= streams or channel not in pos:
            raise ValueError(f"input column {i} is not among the kept features")
        out.append(stream * trimmed + pos[channel])
    return out


def used_channels(index: Sequence[int], width: int) -> list[int]:
    """Encoder channels any stream's kept column reads."""
    return sorted({int(i) % width for i in index})
