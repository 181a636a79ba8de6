"""The ``napari-unet`` command line: train, predict, evaluate, measure, attack, robustness,
export.

Each subcommand is a module with ``register(subparsers)`` and ``run(args) -> int``.
Options are checked by the ``type=`` functions of :mod:`napari_unet.cli._validate` before
any work starts. Any bad input ends with exit code 2 and one line naming the problem,
never a traceback; Ctrl-C anywhere ends with one line and exit code 130; a reader that
stops early (``napari-unet evaluate ... | head``) ends the command quietly with exit code
141 (128 + SIGPIPE, what a shell reports for ``cat big | head``); an unexpected
error prints one line asking for a report (exit code 1), with the traceback only when
the environment variable ``NAPARI_UNET_DEBUG=1`` is set.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

SUBCOMMANDS = ("train", "predict", "evaluate", "measure", "attack", "robustness", "export")
EXIT_BAD_INPUT = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 128 + int(getattr(signal, "SIGPIPE", 13))  # 141
DEBUG_ENV = "NAPARI_UNET_DEBUG"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error prints one line (with a pointer to ``--help``), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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
    try:
        code = _run(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()  # a reader gone shows here, not in Python's shutdown
        return code
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """The reader of our output closed the pipe (``| head``): stop quietly, as a command
    killed by SIGPIPE does. What is left in the buffer goes to /dev/null, so Python's
    shutdown flush does not print 'Exception ignored ... BrokenPipeError'."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (embedded): nothing left to protect
        pass
    return EXIT_BROKEN_PIPE


def _run(argv: list[str]) -> int:
    """Parse ``argv`` and run the subcommand; every error but a closed output pipe ends
    in one line and its exit code."""
    prog = "napari-unet" + (f" {argv[0]}" if argv and argv[0] in SUBCOMMANDS else "")
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args) or 0)
    except BrokenPipeError:
        raise  # the reader stopped early: main ends quietly
    except SystemExit as done:  # argparse: --help (0) or a usage error (2, already printed)
        return done.code if isinstance(done.code, int) else EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BaseException as err:  # noqa: BLE001 - every outcome ends in one line
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        code, message = describe_error(err)
        print(f"{prog}: error: {message}", file=sys.stderr)
        return code


_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EDQUOT,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.EFBIG,
    errno.ENAMETOOLONG,
    errno.EMFILE,
    errno.EIO,
}


def describe_error(err: BaseException) -> tuple[int, str]:
    """Exit code and one line for an exception that reached the top of a command."""
    from napari_unet.core.errors import UserInputError

    if isinstance(err, UserInputError):
        return EXIT_BAD_INPUT, _one_line(str(err))
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        from napari_unet.core.io.disk_space import disk_full_message

        return EXIT_BAD_INPUT, _one_line(disk_full_message(err.filename or "an output"))
    if isinstance(err, OSError) and (err.errno in _ENVIRONMENT_ERRNOS or err.filename):
        where = f" ({err.filename})" if err.filename else ""
        return EXIT_BAD_INPUT, _one_line(f"{err.strerror or err}{where}")
    if isinstance(err, MemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower()
    ):
        return EXIT_BAD_INPUT, (
            "not enough memory for this run; use smaller images or a "
            "smaller model, or free memory (GPU: try --device cpu)"
        )
    detail = _one_line(str(err))
    return EXIT_BUG, (
        f"unexpected {type(err).__name__}{': ' + detail if detail else ''} - "
        f"please report this (set {DEBUG_ENV}=1 for the traceback)"
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]
