"""Checks of the values read from a project manifest: each failure is a
:class:`ProjectError` naming the manifest and the field (``images[0].shape``)."""

from __future__ import annotations

import math
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from ..errors import UserInputError

MAX_TEXT = 4096  # characters of a name, path or setting
MAX_SETTINGS_BYTES = 64 << 10  # JSON text of one round's settings


class ProjectError(UserInputError):
    """A project folder or manifest that cannot be used, with what is wrong and what to do."""


class Checker:
    """Typed reads of the fields of one manifest (``where``: its path, for messages)."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, at: str, expected: str, value: Any) -> ProjectError:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return ProjectError(
            f"{self.where}: {at} must be {expected}, got {shown}; the manifest is damaged "
            "or was not written by napari-unet."
        )

    def kind(self, value: Any, kind: type, at: str) -> Any:
        if type(value) is not kind:
            raise self.fail(at, f"a JSON {_JSON_NAMES[kind]}", value)
        return value

    def items(self, value: Any, at: str, most: int) -> list[Any]:
        self.kind(value, list, at)
        if len(value) > most:
            raise self.fail(at, f"a list of at most {most:,} entries", f"{len(value):,} entries")
        return value

    def text(self, value: Any, at: str, empty: bool = False) -> str:
        if type(value) is not str or len(value) > MAX_TEXT or (not empty and not value):
            raise self.fail(
                at,
                f"{'a' if empty else 'a non-empty'} text of at most {MAX_TEXT} characters",
                value,
            )
        if "\x00" in value:
            raise self.fail(at, "a text without NUL characters", value)
        return value

    def choice(self, value: Any, at: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self.fail(at, f"one of {', '.join(choices)}", value)
        return value

    def integer(self, value: Any, at: str, low: int, high: int) -> int:
        if type(value) is not int or not low <= value <= high:
            raise self.fail(at, f"an integer in {low}..{high}", value)
        return value

    def optional_int(self, value: Any, at: str, low: int, high: int) -> int | None:
        return None if value is None else self.integer(value, at, low, high)

    def number(self, value: Any, at: str, low: float = -math.inf) -> float:
        if type(value) not in (int, float) or not math.isfinite(value) or value < low:
            raise self.fail(at, f"a finite number{'' if low == -math.inf else f' >= {low}'}", value)
        return float(value)

    def optional_number(self, value: Any, at: str, low: float = -math.inf) -> float | None:
        return None if value is None else self.number(value, at, low)

    def boolean(self, value: Any, at: str) -> bool:
        return self.kind(value, bool, at)

    def internal_path(self, value: Any, at: str, folder: str) -> str:
        """A path inside the project's ``folder`` (``models``, ``labels``, ``images``):
        relative, in POSIX form, without ``..``: a manifest never points the project's own
        writes or reads of its files outside the project folder."""
        text = self.text(value, at)
        path = PurePosixPath(text)
        if (
            "\\" in text
            or path.is_absolute()
            or PureWindowsPath(text).drive
            or ".." in path.parts
            or len(path.parts) != 2
            or path.parts[0] != folder
        ):
            raise self.fail(at, f"a file name inside the project's {folder}/ folder", value)
        return text

    def hash(self, value: Any, at: str) -> str:
        text = self.text(value, at)
        algorithm, _, digest = text.partition(":")
        if algorithm != "blake2b-128" or len(digest) != 32 or not _is_hex(digest):
            raise self.fail(at, "a content hash 'blake2b-128:<32 hex digits>'", value)
        return text


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


_JSON_NAMES = {dict: "object", list: "list", str: "text", bool: "true/false", int: "integer"}
