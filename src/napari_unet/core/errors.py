"""Exceptions whose message tells the user what is wrong and what to do."""

from __future__ import annotations


class UserInputError(ValueError):
    """Bad input from the user (image, labels, settings); the message names the fix."""


class ModelFileError(UserInputError):
    """A model file that cannot be used: missing, corrupt, unsafe or incompatible."""
