"""How much of its job a client program did (pure): a client scenario hands the program a job
(stream N seconds, maybe pause, CloseStream and wait); a program that did not do it cannot pass.

A job cut short by the server's own provocation (``error_after_audio``) is done as far as it could
be; cut short by the server because of what the client sent (undecodable audio, an idle gap), it
is the client's failure; not done at all, with no such reason, it is an ERROR: nothing to judge.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.client.checks import end_request
from conformance.client.evidence import ClientConnection, ClientRun
from conformance.engine.trace import SENT

__all__ = ["Progress", "progress"]

# Real-time clients end a few frames short of the seconds asked (the last partial chunk).
_STREAMED_FRACTION = 0.9


def _streamed(connection: ClientConnection) -> float:
    """Audio seconds sent: decoded (or by the declared format), else the span of the binary frames."""
    trace = connection.trace
    if connection.bytes_per_second or connection.decoded:
        return trace.audio_seconds
    times = [e.t for e in trace.entries if e.direction == SENT and e.kind == "binary" and e.size and e.text is None]
    return times[-1] - times[0] if len(times) > 1 else 0.0


@dataclass(frozen=True)
class Progress:
    """What the program did of its job."""

    asked: float
    streamed: float
    ended: bool
    connected: int
    opened: int
    cut: ClientConnection | None
    provoked: bool

    @property
    def done(self) -> bool:
        """It streamed what it was asked (or what the provocation let it)."""
        return self.provoked or self.streamed >= _STREAMED_FRACTION * self.asked

    def describe(self) -> str:
        """e.g. ``streamed 0.02s of the 3s of audio asked; never sent CloseStream``."""
        if not self.connected:
            return "it never connected"
        if not self.opened:
            return f"it never opened a stream ({self.connected} connection(s), none upgraded to /v1/listen)"
        parts = [f"streamed {self.streamed:.2f}s of the {self.asked:g}s of audio asked"]
        if self.cut is not None and self.cut.trace.close is not None:
            parts.append(f"the server ended the stream first: {self.cut.trace.close.describe()}")
        if not self.ended:
            parts.append("never sent CloseStream")
        return "; ".join(parts)


def progress(run: ClientRun) -> Progress:
    """Measure the job done over every connection the program opened."""
    accepted = run.accepted
    streamed = max((_streamed(c) for c in accepted), default=0.0)
    ended = any(end_request(c) is not None for c in accepted)
    cut = next((c for c in accepted if _cut_by_server(c)), None)
    provoked = (
        cut is not None
        and run.scenario.server.error_after_audio is not None
        and cut.trace.close is not None
        and cut.trace.close.code == 1011
    )
    return Progress(run.scenario.job.audio_seconds, streamed, ended, len(run.connections), len(accepted), cut, provoked)


def _cut_by_server(connection: ClientConnection) -> bool:
    close = connection.trace.close
    if close is None or close.by != "server":
        return False
    request = end_request(connection)
    return request is None or close.t < request.t
