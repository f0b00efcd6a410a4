"""VIBNet (Dai et al. 2018): Information Bottleneck layers on the neurons of dense nets and the channels of
conv nets, and structured pruning to a physically smaller standard network."""

from har_vib.vibnet.layers import ConvInformationBottleneck
from har_vib.vibnet.models import IBMLP, IBLeNet5
from har_vib.vibnet.prune import PrunedNet, architecture_counts, prune_network

__all__ = [
    "ConvInformationBottleneck",
    "IBLeNet5",
    "IBMLP",
    "PrunedNet",
    "architecture_counts",
    "prune_network",
]
