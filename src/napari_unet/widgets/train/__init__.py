"""The Train widget, split into its session (state, no Qt widgets) and small views."""

from .learn_from import merge_training_labels
from .session import TrainRequest, TrainSession
from .widget import TrainWidget

__all__ = ["TrainRequest", "TrainSession", "TrainWidget", "merge_training_labels"]
