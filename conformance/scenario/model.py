"""Scenarios as frozen dataclasses: what to connect with and the ordered steps to play.

These types are the validated, typed form of ``scenarios/*.yaml`` (see ``schemas/scenario.schema.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.scenario.durations import Duration

__all__ = [
    "Scenario",
    "Connect",
    "ExpectRejected",
    "Step",
    "Stream",
    "SendJson",
    "SendRaw",
    "KeepAlive",
    "Pause",
    "Expect",
    "ExpectNone",
    "ExpectClose",
    "Close",
    "Repeat",
    "AudioSpec",
]


@dataclass(frozen=True)
class Stream:
    """Send audio from ``source`` as binary frames on an absolute real-time schedule."""

    source: str = "speech"
    seconds: float | None = None
    chunk: Duration = Duration(0.02)
    realtime: float = 1.0


@dataclass(frozen=True)
class SendJson:
    """Send one JSON control message as a text frame."""

    message: dict[str, Any]


@dataclass(frozen=True)
class SendRaw:
    """Send one frame verbatim (negative cases: binary KeepAlive, empty binary, non-JSON text)."""

    opcode: str
    data: bytes


@dataclass(frozen=True)
class KeepAlive:
    """Send only ``{"type":"KeepAlive"}`` every ``every`` for ``duration``."""

    every: Duration
    duration: Duration
    rule: str | None = None


@dataclass(frozen=True)
class Pause:
    """Send nothing for ``duration`` (frames are still received and recorded)."""

    duration: Duration
    rule: str | None = None


ANCHORS = ("step", "last_sent")


@dataclass(frozen=True)
class Expect:
    """A message of one of ``types`` that also satisfies ``match`` arrives within ``within``,
    counted from ``anchor`` (the step's start, or the client's last frame)."""

    types: tuple[str, ...]
    within: Duration
    rule: str
    match: dict[str, Any] | None = None
    description: str = ""
    since_previous: bool = False
    anchor: str = "step"
    control: bool = False


@dataclass(frozen=True)
class ExpectNone:
    """No message (of ``type``, satisfying ``match``) arrives for ``duration``."""

    duration: Duration
    rule: str
    type: str | None = None
    match: dict[str, Any] | None = None
    description: str = ""


@dataclass(frozen=True)
class ExpectClose:
    """The server closes the connection within ``within`` (counted from ``anchor``), with
    ``codes`` and a ``reason`` match."""

    within: Duration
    rule: str
    codes: tuple[int, ...] = ()
    reason: str | None = None
    description: str = ""
    anchor: str = "step"
    control: bool = False


@dataclass(frozen=True)
class Close:
    """The client closes the WebSocket itself (no CloseStream)."""

    code: int = 1000


@dataclass(frozen=True)
class Repeat:
    """Play ``steps`` ``times`` times."""

    times: int
    steps: tuple[Step, ...]


Step = Stream | SendJson | SendRaw | KeepAlive | Pause | Expect | ExpectNone | ExpectClose | Close | Repeat


@dataclass(frozen=True)
class ExpectRejected:
    """The handshake must fail with one of ``statuses`` (the scenario sends no frames)."""

    statuses: tuple[int, ...]
    rule: str
    error_details_rule: str | None = None


@dataclass(frozen=True)
class Connect:
    """How to open the stream: query params, which credentials, whether a rejection is expected."""

    params: dict[str, Any] = field(default_factory=dict)
    auth: str = "default"
    expect_rejected: ExpectRejected | None = None

    def _integer(self, name: str, default: int) -> int:
        # Negative scenarios send invalid values on purpose; they stream no audio, so the
        # default is never used to shape audio (the loader enforces this).
        try:
            return int(self.params.get(name, default))
        except (TypeError, ValueError):
            return default

    def integer_param_valid(self, name: str) -> bool:
        """Whether param ``name`` is absent or a positive integer."""
        value = self.params.get(name)
        return (
            value is None
            or (isinstance(value, int) and not isinstance(value, bool) and value > 0)
            or (isinstance(value, str) and value.isdigit() and int(value) > 0)
        )

    @property
    def channels(self) -> int:
        """Channels of the audio sent (``channels`` param, default 1)."""
        return self._integer("channels", 1)

    @property
    def sample_rate(self) -> int:
        """Sample rate of the audio sent (``sample_rate`` param, default 16000)."""
        return self._integer("sample_rate", 16000)

    @property
    def multichannel(self) -> bool:
        """Whether the server should transcribe channels separately."""
        return str(self.params.get("multichannel", "false")).lower() == "true"


@dataclass(frozen=True)
class AudioSpec:
    """A scenario's ``audio`` block: what its stream steps send, over what ``connect`` declares."""

    format: str | None = None
    sample_rate: int | None = None
    channels: int | None = None

    def overrides(self) -> dict[str, Any]:
        """The fields given, by name."""
        return {
            k: v
            for k, v in (("format", self.format), ("sample_rate", self.sample_rate), ("channels", self.channels))
            if v is not None
        }


@dataclass(frozen=True)
class Scenario:
    """One playable scenario, loaded from ``path`` (line ``line`` of the file)."""

    id: str
    title: str
    rules: tuple[str, ...]
    steps: tuple[Step, ...]
    connect: Connect = Connect()
    audio: AudioSpec = AudioSpec()
    description: str = ""
    tags: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    feature: str | None = None
    path: Path | None = None
