"""Harness errors: everything that stops the suite from judging, as opposed to verdicts.

The tree::

    ConformanceError
    ├── UsageError            bad flags or configuration (exit 2)
    ├── ScenarioError         a scenario file is unreadable or invalid (exit 2)
    ├── SchemaLoadError       a bundled or user JSON Schema is broken (exit 2)
    ├── AudioError            an audio source cannot be read or converted (exit 2)
    └── ConnectError          the target cannot be reached: DNS, refused, TLS, timeout (exit 3)
        └── HandshakeRejected the target answered the upgrade with an HTTP error status

A broken rule is *not* an error: it is a :class:`conformance.checks.violations.RuleViolation`,
a verdict recorded against the endpoint.
"""

from __future__ import annotations

__all__ = [
    "ConformanceError",
    "UsageError",
    "ScenarioError",
    "SchemaLoadError",
    "AudioError",
    "ConnectError",
    "HandshakeRejected",
]


class ConformanceError(Exception):
    """Root of the harness errors; ``str()`` is a one-line message for the user."""

    exit_code = 2


class UsageError(ConformanceError):
    """A command-line flag or configuration value is wrong."""


class ScenarioError(ConformanceError):
    """A scenario file cannot be used.

    Args:
        path: The file.
        location: Where in the file, as a JSON path such as ``$.steps[2].expect.within``.
        message: What is wrong, with a remedy where one exists.
    """

    def __init__(self, path: str, location: str, message: str) -> None:
        self.path = path
        self.location = location
        self.message = message
        super().__init__(f"{path}: {location}: {message}")


class SchemaLoadError(ConformanceError):
    """A JSON Schema file is unreadable or not a valid schema."""


class AudioError(ConformanceError):
    """An audio source is missing, unreadable or in a format we cannot convert."""


class ConnectError(ConformanceError):
    """The target could not be reached (refused, DNS, TLS, timeout)."""

    exit_code = 3


class HandshakeRejected(ConnectError):
    """The server answered the WebSocket upgrade with an HTTP error status.

    Args:
        status: HTTP status code.
        headers: Response headers (lower-cased names).
        body: Response body, decoded and truncated.
    """

    def __init__(self, status: int, headers: dict[str, str], body: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        detail = headers.get("dg-error") or body[:200]
        super().__init__(f"handshake rejected with HTTP {status}" + (f": {detail}" if detail else ""))
