"""A deployment under load, modelled (``conformance mock --capacity N``): sans-I/O.

The modelled server processes ``N`` real-time streams' worth of audio per second, shared equally
by the open streams (processor sharing). With ``N`` streams or fewer each is processed at least as
fast as it arrives, so results come as soon as their audio does. With more, each stream is
processed at ``N / open`` of real time: its backlog, and the delay of every result behind its
audio, grows by ``1 - N / open`` seconds per second of audio, until the stream ends. That is how
a deployment without admission control falls behind; the knee is at exactly ``N``, so capacity
discovery can be tested against a known answer.

An output the session produced once ``p`` seconds of audio had arrived (a result, the answer to
Finalize or CloseStream) is released when the stream's processed audio reaches ``p``: in order,
never before the audio it answers.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

__all__ = ["Backlog"]

T = TypeVar("T")
# Positions are sums of frame durations: equal within float rounding.
_EPSILON = 1e-9


class Backlog(Generic[T]):
    """One stream's audio received but not processed yet, and the outputs waiting for it."""

    __slots__ = ("capacity", "processed", "received", "updated", "waiting")

    def __init__(self, capacity: int, now: float) -> None:
        self.capacity = capacity
        self.processed = 0.0
        self.received = 0.0
        self.updated = now
        self.waiting: deque[tuple[float, list[T]]] = deque()

    def advance(self, now: float, open_streams: int) -> None:
        """Process audio for the time since the last call, at this stream's share of the capacity."""
        rate = self.capacity / max(open_streams, 1)
        self.processed = min(self.received, self.processed + rate * (now - self.updated))
        self.updated = now

    def receive(self, seconds: float, outputs: list[T], now: float, open_streams: int) -> list[T]:
        """Audio arrived (``seconds``; 0 for a text frame) and the session answered ``outputs``:
        what may be sent now, in order."""
        self.advance(now, open_streams)
        self.received += seconds
        self.advance(now, open_streams)
        if outputs:
            self.waiting.append((self.received, outputs))
        return self.release()

    def release(self) -> list[T]:
        """The outputs whose audio has been processed, in the order they were produced."""
        released: list[T] = []
        while self.waiting and self.waiting[0][0] <= self.processed + _EPSILON:
            released.extend(self.waiting.popleft()[1])
        return released
