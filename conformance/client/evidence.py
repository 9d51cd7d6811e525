"""What a client run leaves to judge: its connections as the mock saw them and how the program
ended (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field

from conformance.client.scenario import ClientScenario
from conformance.engine.trace import Trace
from conformance.protocol.params import StreamFormat
from conformance.scenario.durations import Timing

__all__ = ["ClientConnection", "ClientRun"]


@dataclass
class ClientConnection:
    """One connection the client opened.

    Attributes:
        trace: Frames both ways, the handshake and the close, written from the client's side
            (``sent`` = what the client sent); times in seconds since the connection's first byte.
        fmt: The stream format the query declared (None before the upgrade or when invalid).
        credentials: How the client authenticated, e.g. ``Authorization: Token``; empty when it did not.
        credentials_match: Whether a presented credential is the key handed to the program.
        container: The container the first audio frame starts with, if any.
        upgraded_at: When the 101 went out (None: no successful upgrade).
        bytes_per_second: Audio bytes per second of the declared (or sniffed WAV) format.
        origin: The event loop's clock at the connection's first byte.
        header_bytes: How much of the first audio frame is a WAV header rather than audio.
        decoded: Whether the audio was decoded as sent (then ``trace.audio_seconds`` is decoded
            audio time, for containers too).
        undecodable: (entry index, why) of the first frame the declared format cannot decode.
    """

    trace: Trace
    fmt: StreamFormat | None = None
    credentials: list[str] = field(default_factory=list)
    credentials_match: bool = False
    container: str | None = None
    upgraded_at: float | None = None
    bytes_per_second: float | None = None
    origin: float = 0.0
    header_bytes: int = 0
    decoded: bool = False
    undecodable: tuple[int, str] | None = None

    @property
    def accepted(self) -> bool:
        """The upgrade succeeded."""
        return self.upgraded_at is not None


@dataclass
class ClientRun:
    """One client scenario, played.

    Attributes:
        scenario: What the program was asked to do and how the mock behaved.
        timing: The mock's idle timeout and time scale.
        connections: In the order the program opened them.
        exit_status: The program's exit status; None when it was stopped at the deadline.
        output: The tail of its stdout and stderr (secrets redacted).
        duration: Seconds from start to exit.
        process: False when the client was not started by us (``conformance mock --judge-clients``):
            its exit status is unknown and each connection is judged alone.
        stopped_at: The event loop's clock when the harness stopped the program at its deadline
            (None: it ended by itself). What the stop did to its connections is not the client's doing.
    """

    scenario: ClientScenario
    timing: Timing
    connections: list[ClientConnection] = field(default_factory=list)
    exit_status: int | None = None
    output: str = ""
    duration: float = 0.0
    process: bool = True
    stopped_at: float | None = None

    @property
    def accepted(self) -> list[ClientConnection]:
        """Connections whose upgrade succeeded."""
        return [c for c in self.connections if c.accepted]
