"""Sequence models and their registry."""

from har_vib.models import recurrent_models  # noqa: F401  (registers the models)
from har_vib.models.registry import create_model, list_models, register_model
from har_vib.models.sequence_classifier import SequenceClassifier, last_valid_step, make_head
from har_vib.vibnet import models as _vibnet_models  # noqa: F401,E402  (registers the VIBNet image models)

__all__ = ["SequenceClassifier", "create_model", "last_valid_step", "list_models", "make_head", "register_model"]
