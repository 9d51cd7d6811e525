"""What the sans-I/O player asks its driver to do next.

Actions are created for every audio frame (50 a second per stream under load), so they are plain
slotted dataclasses: a frozen one costs four times as much to create. Treat them as values.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Send", "Wait", "CloseSocket", "Done", "Action"]


@dataclass(slots=True)
class Send:
    """Send ``payload`` now (text when ``str``); ``due`` is its planned time for paced audio.

    ``then`` is when the player will next have something to send if no frame arrives meanwhile:
    a driver may sleep until then without asking again (None: ask right away). Drivers that
    always ask lose nothing but a question per frame. ``probe``: a frame the scenario sends raw on
    purpose (a binary KeepAlive, undecodable bytes); the checks judge what it provokes apart.
    ``seconds``: the audio time an audio frame carries, decoded (a container's header: none)."""

    payload: str | bytes
    audio: bool = False
    due: float | None = None
    then: float | None = None
    probe: bool = False
    seconds: float = 0.0


@dataclass(slots=True)
class Wait:
    """Receive until ``until`` (driver clock), then ask again."""

    until: float


@dataclass(slots=True)
class CloseSocket:
    """Start the client-side WebSocket close."""

    code: int


@dataclass(slots=True)
class Done:
    """The plan is finished."""


Action = Send | Wait | CloseSocket | Done
