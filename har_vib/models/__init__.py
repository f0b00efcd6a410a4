"""Sequence models and their registry.

The image models (LeNet-300-100, LeNet-5, VGG, plain and VIBNet) register into the same registry when
:mod:`har_vib.vibnet` is imported: whoever builds one by name imports that package first."""

from har_vib.models import recurrent_models  # noqa: F401  (registers the models)
from har_vib.models.registry import create_model, list_models, register_model
from har_vib.models.sequence_classifier import SequenceClassifier, last_valid_step, make_head

__all__ = ["SequenceClassifier", "create_model", "last_valid_step", "list_models", "make_head", "register_model"]
