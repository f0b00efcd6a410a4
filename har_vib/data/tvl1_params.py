"""The TV-L1 parameters shared by both flow backends (:mod:`har_vib.data.flow`'s OpenCV one and
:mod:`har_vib.data.tvl1_torch`), in a module of their own so neither backend imports the other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TVL1Params:
    """OpenCV's ``DualTVL1OpticalFlow`` parameters, with OpenCV's defaults and meaning."""

    tau: float = 0.25
    lambda_: float = 0.15  # data fidelity vs smoothness: smaller = smoother
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    gamma: float = 0.0
    median_filtering: int = 5
