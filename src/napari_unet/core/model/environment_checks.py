"""Dependency versions an optional feature cannot work with, said with the fix.

bioimage.io export goes through ``bioimageio.spec``, whose package writer (0.5.12) breaks
under pydantic 2.14 with a ValidationError about ``package_file_descr_serializer``. The
``bioimageio`` extra of napari-unet pins ``pydantic<2.14``; an environment that already
had a newer pydantic gets, from :func:`check_export_environment`, one line naming the
version and the fix instead of that error.
"""

from __future__ import annotations

import re
from importlib import metadata

from ..errors import UserInputError

EXTRA = "napari-unet[bioimageio]"
PYDANTIC_BELOW = (2, 14)  # as pinned by the bioimageio extra in pyproject.toml


def installed_version(package: str) -> str | None:
    """The installed version of ``package``, or None when it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def version_tuple(version: str) -> tuple[int, ...]:
    """``"2.14.0rc1"`` -> ``(2, 14, 0)``: the leading numbers of a version."""
    numbers = []
    for part in version.split("."):
        match = re.match(r"\d+", part)
        if not match:
            break
        numbers.append(int(match[0]))
    return tuple(numbers)


def export_needs() -> str:
    below = ".".join(map(str, PYDANTIC_BELOW))
    return f"pydantic<{below}"


def check_export_environment() -> None:
    """Refuse a bioimage.io export with a pydantic it cannot work with, naming the fix."""
    version = installed_version("pydantic")
    if version is not None and version_tuple(version)[:2] >= PYDANTIC_BELOW:
        raise UserInputError(
            f"bioimage.io export: this needs {export_needs()} (pydantic {version} is "
            f"installed, with which bioimageio.spec cannot write packages); install "
            f"{EXTRA} (pip install '{EXTRA}', which installs {export_needs()})."
        )
