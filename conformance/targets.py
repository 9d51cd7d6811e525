"""Endpoint URLs as users write them: ws(s)://, http(s):// or bare host:port."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from conformance.errors import UsageError
from conformance.protocol.messages import LISTEN_PATH

__all__ = ["target_url"]

_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


def target_url(host: str) -> str:
    """Normalise ``--host``: ws(s)://, http(s):// or bare host:port; the path defaults to /v1/listen.

    Raises:
        UsageError: the scheme, host or port is unusable.
    """
    raw = host if "://" in host else f"ws://{host}"
    parts = urlsplit(raw)
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise UsageError(f"--host {host!r}: scheme must be ws, wss, http or https")
    try:
        _ = parts.port  # urllib parses the port only when asked for it
    except ValueError:
        raise UsageError(f"--host {host!r}: the port is not a number in 0-65535") from None
    if not parts.hostname:
        raise UsageError(f"--host {host!r}: no host name")
    path = parts.path if parts.path not in ("", "/") else LISTEN_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))
