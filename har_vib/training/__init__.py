"""Training helpers shared by the method packages and the Lightning modules (pure PyTorch, no Lightning): the
two-group Adam of the bottleneck models and the top-1 accuracy of image classifiers."""

from har_vib.training.metrics import image_accuracy
from har_vib.training.optim import two_group_adam

__all__ = ["image_accuracy", "two_group_adam"]
