"""Where ``napari.yaml`` and scripts find the Train widget; it lives in :mod:`.train`."""

from .train import TrainWidget, merge_training_labels

__all__ = ["TrainWidget", "merge_training_labels"]
