"""A deployment under load, modelled (``conformance mock --capacity N``): sans-I/O.

The modelled server processes ``N`` real-time streams' worth of audio per second: each tick it
has ``N × tick`` seconds of audio to process, shared equally by the streams that have audio
waiting, and what one of them does not need goes to the others (processor sharing, work
conserving). With ``N`` streams or fewer every stream is processed as fast as it arrives, and a
burst on one stream is absorbed by the spare capacity within a tick or two; with more, each stream
is processed at ``N / open`` of real time, so its backlog, and the delay of every result behind its
audio, grows by ``1 - N / open`` seconds per second of audio until the stream ends. That is how a
deployment without admission control falls behind, with the knee at exactly ``N``: capacity
discovery can be tested against a known answer.

An output the session produced once ``p`` seconds of audio had arrived (a result, the answer to
Finalize or CloseStream) is released when the stream's processed audio reaches ``p``: in order,
never before the audio it answers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

__all__ = ["Backlog", "process"]

T = TypeVar("T")
# Positions are sums of frame durations: equal within float rounding.
_EPSILON = 1e-9


class Backlog(Generic[T]):
    """One stream's audio received but not processed yet, and the outputs waiting for it."""

    __slots__ = ("processed", "received", "waiting")

    def __init__(self) -> None:
        self.processed = 0.0
        self.received = 0.0
        self.waiting: deque[tuple[float, list[T]]] = deque()

    def receive(self, seconds: float, outputs: list[T]) -> list[T]:
        """Audio arrived (``seconds``; 0 for a text frame) and the session answered ``outputs``:
        what may be sent now (an answer to a text frame, once the audio before it is processed)."""
        self.received += seconds
        if outputs:
            self.waiting.append((self.received, outputs))
        return self.release()

    def release(self) -> list[T]:
        """The outputs whose audio has been processed, in the order they were produced."""
        released: list[T] = []
        while self.waiting and self.waiting[0][0] <= self.processed + _EPSILON:
            released.extend(self.waiting.popleft()[1])
        return released


def process(backlogs: Iterable[Backlog[T]], budget: float) -> None:
    """Process ``budget`` seconds of audio over the streams that have audio waiting: equal shares,
    and a stream that needs less than its share leaves the rest to the others."""
    behind = sorted(
        (b for b in backlogs if b.received > b.processed + _EPSILON), key=lambda b: b.received - b.processed
    )
    for remaining, backlog in zip(range(len(behind), 0, -1), behind, strict=True):
        take = min(budget / remaining, backlog.received - backlog.processed)
        backlog.processed += take
        budget -= take
