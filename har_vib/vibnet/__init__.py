"""VIBNet (Dai et al. 2018): Information Bottleneck layers on the neurons of dense nets and the channels of
conv nets, and structured pruning to a physically smaller standard network.

Importing this package registers its image models (``lenet300_100``, ``lenet5``, ``vgg`` and their ``vib_``
versions) in :mod:`har_vib.models`' registry, so ``create_model("vib_lenet5", ...)`` finds them."""

from har_vib.vibnet.layers import ConvInformationBottleneck
from har_vib.vibnet.models import IBMLP, IBLeNet5  # registers the image models
from har_vib.vibnet.prune import PrunedNet, architecture_counts, prune_network

__all__ = [
    "ConvInformationBottleneck",
    "IBLeNet5",
    "IBMLP",
    "PrunedNet",
    "architecture_counts",
    "prune_network",
]
