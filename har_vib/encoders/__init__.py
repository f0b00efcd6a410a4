"""Compression of the CNN frame encoder (the timm backbone of a CNN-LSTM): VIBNet channel bottlenecks or HRel
filter relevance pick the channels to drop, Torch-Pruning removes them, and the smaller encoder is cached and
used for feature extraction like any other backbone."""

from har_vib.encoders.plan import EncoderPlan, apply_plan, load_compressed, save_compressed
from har_vib.encoders.sites import ChannelSite, find_sites

__all__ = ["ChannelSite", "EncoderPlan", "apply_plan", "find_sites", "load_compressed", "save_compressed"]
