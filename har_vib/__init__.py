"""har-vib: compress recurrent action-recognition models with Variational Information Bottlenecks."""

__version__ = "0.1.0"
