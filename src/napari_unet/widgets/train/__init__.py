"""The Train widget, split into its session (state, no Qt widgets) and small views."""

from .session import TrainRequest, TrainSession
from .widget import TrainWidget, merge_training_labels

__all__ = ["TrainRequest", "TrainSession", "TrainWidget", "merge_training_labels"]
