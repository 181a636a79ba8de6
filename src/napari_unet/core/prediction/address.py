"""Dask scheduler addresses, parsed and checked before any connection is tried.

:func:`check_scheduler_address` parses with distributed's own address parsing
(:mod:`distributed.comm.addressing`, so what passes is what ``Client`` will read) and
refuses, in one line each: a missing or non-numeric port, a port out of range, an empty
or malformed host, an unknown protocol (or one whose support is not installed, such as
``ucx://`` without UCX), an in-process address, and ``tls://`` / ``wss://`` without a TLS
security configuration (a CA file and a client certificate in the dask configuration).
"""

from __future__ import annotations

import importlib.util
import re

from ..errors import UserInputError

PROTOCOLS = ("tcp", "tls", "ws", "wss")  # what a client in another process can reach
ENCRYPTED = ("tls", "wss")
EXAMPLE = "tcp://host:8786 (printed by the scheduler, or cluster.scheduler_address)"
_HOST = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?|[0-9A-Fa-f:.]+)$")
TLS_SETTINGS = ("distributed.comm.tls.ca-file", "distributed.comm.tls.client.cert")


def _bad(address: str, problem: str) -> UserInputError:
    return UserInputError(
        f"{address!r} is not a dask scheduler address: {problem}; give one such as {EXAMPLE}."
    )


def _protocol_usable(scheme: str, address: str) -> None:
    """Refuse protocols distributed does not know, and those it cannot use here."""
    from distributed.comm.registry import backends

    if scheme == "inproc":
        raise _bad(address, "inproc:// reaches only a scheduler inside this same process")
    if scheme == "ucx":
        if not any(importlib.util.find_spec(m) for m in ("ucxx", "ucp")):
            raise _bad(
                address, "ucx:// needs UCX support (distributed-ucxx), which is not installed"
            )
        return
    if scheme not in backends or scheme not in PROTOCOLS:
        hint = (
            " (that is the dashboard's web address, not the scheduler's)"
            if (scheme in ("http", "https"))
            else ""
        )
        raise _bad(
            address,
            f"unknown protocol '{scheme}://'{hint}; known: "
            f"{', '.join(p + '://' for p in PROTOCOLS)}",
        )


def _tls_configured() -> bool:
    """Whether the dask configuration names a CA file and a client certificate."""
    import dask.config

    return all(dask.config.get(key, default=None) for key in TLS_SETTINGS)


def check_scheduler_address(text: str) -> str:
    """The address, stripped, if a client can try it; :class:`UserInputError` otherwise."""
    from distributed.comm.addressing import parse_address, parse_host_port

    address = text.strip()
    if not address:
        raise _bad(text, "it is empty")
    if any(c.isspace() for c in address) or not address.isprintable():
        raise _bad(text, "it holds spaces or control characters")
    try:
        scheme, location = parse_address(address, strict=False)
    except (ValueError, TypeError) as err:
        raise _bad(text, f"it is not an address ({err})") from None
    _protocol_usable(scheme, address)
    try:
        host, port = parse_host_port(location)
    except (ValueError, TypeError) as err:
        problem = (
            "it has no port number"
            if "missing port" in str(err)
            else (f"host and port cannot be read ({' '.join(str(err).split())[:120]})")
        )
        raise _bad(text, problem) from None
    if not host or not _HOST.match(host):
        raise _bad(text, f"the host {host!r} is not a host name or IP address")
    if not 0 < int(port) < 65536:
        raise _bad(text, f"the port {port} is not between 1 and 65535")
    if scheme in ENCRYPTED and not _tls_configured():
        raise _bad(
            text,
            f"{scheme}:// needs a TLS security configuration (set "
            f"{' and '.join(TLS_SETTINGS)}, plus .client.key if separate, in "
            "the dask configuration), or use tcp://",
        )
    return address
