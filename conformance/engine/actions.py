"""What the sans-I/O player asks its driver to do next."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Send", "Wait", "CloseSocket", "Done", "Action"]


@dataclass(frozen=True)
class Send:
    """Send ``payload`` now (text when ``str``); ``due`` is its planned time for paced audio."""

    payload: str | bytes
    audio: bool = False
    due: float | None = None


@dataclass(frozen=True)
class Wait:
    """Receive until ``until`` (driver clock), then ask again."""

    until: float


@dataclass(frozen=True)
class CloseSocket:
    """Start the client-side WebSocket close."""

    code: int


@dataclass(frozen=True)
class Done:
    """The plan is finished."""


Action = Send | Wait | CloseSocket | Done
