"""The ``napari-unet`` command line: train, predict, evaluate, attack, robustness.

Each subcommand is a module with ``register(subparsers)`` and ``run(args) -> int``.
Any bad input ends with exit code 2 and one line naming the problem, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBCOMMANDS = ("train", "predict", "evaluate", "attack", "robustness")
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors print one line (plus usage) and exit with code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="napari-unet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"napari_unet.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"napari_unet.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-unet`` script; returns the exit code."""
    from napari_unet.core.errors import UserInputError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (UserInputError, FileNotFoundError, IsADirectoryError, PermissionError) as err:
        print(f"napari-unet {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"napari-unet {args.command}: interrupted", file=sys.stderr)
        return 130
