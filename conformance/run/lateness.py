"""How late the suite's own event loop runs, measured all the time a run plays.

Every timing verdict assumes the harness sent its frames when the plan said and read the server's
frames when they came. On a busy machine (a CI runner is never quiet) the loop can be descheduled
or backlogged for tens or hundreds of milliseconds: a KeepAlive leaves late, a frame that arrived
before a window ended is read after it. A tick every few milliseconds records each wake-up that
came late as a stall, ``(when it was due, when it ran)`` on the loop's clock; the runner hands each
case the stalls that overlap it (:attr:`~conformance.engine.trace.Trace.harness_stalls`), and the
checks do not judge a timing window the harness itself overran.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque

__all__ = ["LoopLateness", "loop_lateness"]

_TICK_SECONDS = 0.005
# Wake-ups later than this are kept: below it is the timer's own resolution on a quiet machine.
_RECORD_SECONDS = 0.003
# A run of a few minutes on an overloaded loop stays within this many stalls; past it the oldest
# go, and a case that old has been judged long before.
_KEEP_STALLS = 50_000

_MONITORS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLateness] = weakref.WeakKeyDictionary()


class LoopLateness:
    """Stalls of one event loop: a tick task wakes every 5 ms and records each late wake-up."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._stalls: deque[tuple[float, float]] = deque(maxlen=_KEEP_STALLS)
        self._task = loop.create_task(self._tick(), name="conformance-loop-lateness")
        self.worst = 0.0

    async def _tick(self) -> None:
        loop = self._loop
        due = loop.time() + _TICK_SECONDS
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            ran = loop.time()
            if ran - due > _RECORD_SECONDS:
                self._stalls.append((due, ran))
                self.worst = max(self.worst, ran - due)
            # The next tick is due a period after this one ran: a long stall is one stall, not
            # a burst of catch-up ticks that would themselves load the loop.
            due = ran + _TICK_SECONDS

    def stalls(self, start: float, end: float) -> list[tuple[float, float]]:
        """The stalls overlapping ``[start, end]`` on the loop's clock."""
        return [(a, b) for a, b in self._stalls if b >= start and a <= end]

    def close(self) -> None:
        """Stop ticking."""
        self._task.cancel()


def loop_lateness() -> LoopLateness:
    """The monitor of the running loop, started on first use (one per loop, however many
    runners share it: the mock and the suite in one process are late together)."""
    loop = asyncio.get_running_loop()
    monitor = _MONITORS.get(loop)
    if monitor is None or monitor._task.done():
        monitor = _MONITORS[loop] = LoopLateness(loop)
    return monitor
