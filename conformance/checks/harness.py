"""The suite's own lateness: a timing window the harness itself overran is not judged.

Two measures, both in the trace: the stalls of the driver's event loop (``Trace.harness_stalls``:
while the loop could not run, no frame left and none was read, so a frame that arrived then is
timestamped late) and the lateness of each paced send (a KeepAlive or an audio frame that left
after its due time). Where either could have decided a timing verdict, the verdict is NOT JUDGED
and says how late the harness was: our lateness is never the server's failure.

- A step broken by its clock (nothing by the window's end, a close after it) is not judged when
  the harness lost time in the window (its loop stalled, or it judged the window late) and what
  the step waited for came within that much after the window's end: it may have come in time.
- A finding of a check on a rule that reads wall-clock times (``timed`` in the catalog: ``reply``,
  which client frame a server frame or close answers; ``idle``, the gaps a server's idle timer
  sees) is not judged where the harness was later than the case's tolerance (5 % of the idle
  timeout as played, half the band that tells an early idle close from a punctual one, and at
  least 20 ms) between the client's last frame and the finding, or, for ``idle``, sent a frame
  that late within the idle timeout before it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

from conformance.engine.trace import SENT, Outcome, Trace
from conformance.verdicts import HARNESS_LATE

__all__ = [
    "HarnessLateness",
    "worst_lateness",
    "lateness_behind",
    "overran_window",
    "excused_finding",
    "case_tolerance",
    "WINDOW_TOLERANCE",
]

# How late the harness may be at a window's end before it could have missed what came in time:
# above the timer's own resolution on a quiet machine.
WINDOW_TOLERANCE = 0.01
# How soon after a stall the loop reads what arrived during it.
_READ_SECONDS = 0.05
_CASE_TOLERANCE_FRACTION = 0.05
_CASE_TOLERANCE_FLOOR = 0.02


class HarnessLateness(NamedTuple):
    """How late the harness was, when (trace time) and in what way."""

    seconds: float
    at: float
    what: str

    def describe(self) -> str:
        """e.g. ``event loop 120 ms late at 3.016s``."""
        return f"{self.what} {self.seconds * 1000:.0f} ms late at {self.at:.3f}s"


def _lateness(trace: Trace, since: float, until: float) -> Iterable[HarnessLateness]:
    for due, ran in trace.harness_stalls:
        if due <= until and ran >= since:
            yield HarnessLateness(ran - due, due, "event loop")
    for entry in trace.entries:
        if entry.due is not None and since <= entry.t and entry.due <= until and entry.lateness > 0:
            yield HarnessLateness(entry.lateness, entry.due, f"send of frame #{entry.index}")


def worst_lateness(trace: Trace, since: float = -math.inf, until: float = math.inf) -> HarnessLateness | None:
    """The harness's worst lateness in the case (between ``since`` and ``until``, trace time), if
    it was ever late."""
    return max(_lateness(trace, since, until), key=lambda late: late.seconds, default=None)


def overran_window(trace: Trace, outcome: Outcome) -> str | None:
    """Why a step broken by its clock cannot be judged: the harness lost time in the window (its
    loop stalled: a frame it sent reached a server on this loop late, a frame that came was read
    late) or judged it late, and what the step waited for (a message of its types, or the close)
    came within that much after the window's end, maybe in time. Nothing of the kind then: the
    lateness hid nothing."""
    deadline = outcome.deadline
    if deadline is None:
        return None
    opened = outcome.opened if outcome.opened is not None else deadline
    until = max(deadline, outcome.t)
    lost = sum(ran - max(due, opened) for due, ran in trace.harness_stalls if ran > opened and due < until)
    lost = max(lost, outcome.t - deadline)
    if lost <= WINDOW_TOLERANCE:
        return None
    close, latest = trace.close, until + lost + _READ_SECONDS
    if outcome.awaited:
        arrivals = [
            e.t
            for e in trace.received()
            if deadline < e.t <= latest and e.message is not None and e.message.type in outcome.awaited
        ]
    else:
        arrivals = [close.t] if close is not None and close.by != "client" and deadline < close.t <= latest else []
    if not arrivals:
        return None
    return (
        f"the suite's own event loop lost {1000 * lost:.0f} ms in the window ({opened:.3f}s to {deadline:.3f}s), "
        f"and what it read right after (at {min(arrivals):.3f}s) may have come in time"
    )


def case_tolerance(trace: Trace) -> float:
    """How late the harness may be before the case's wall-clock verdicts mean nothing."""
    return max(_CASE_TOLERANCE_FLOOR, _CASE_TOLERANCE_FRACTION * trace.timing.idle_timeout * trace.timing.scale)


def excused_finding(trace: Trace, timed: str | None, message: str, frame: int | None) -> str | None:
    """For a check's finding on a ``timed`` rule: why it is not judged, when the harness was later
    than the case's tolerance where it could have decided it (see :func:`lateness_behind`). A
    step's own window is judged apart (:func:`overran_window`): a check reads the wall clock, a
    step only waits."""
    if timed is None:
        return None
    tolerance = case_tolerance(trace)
    late = lateness_behind(trace, timed, _moment(trace, frame), tolerance)
    if late is None or late.seconds <= tolerance:
        return None
    return (
        f"{HARNESS_LATE}: its {late.describe()}, over the {tolerance * 1000:.0f} ms this "
        f"case's timing allows (a busy machine, not the server); on its own it found: {message}"
    )


def lateness_behind(trace: Trace, timed: str, moment: float, tolerance: float) -> HarnessLateness | None:
    """The harness's worst lateness that could have decided a finding at ``moment``: its loop
    stalled between the client's last frame before it and the finding (a server frame read late
    looks like an answer to a frame sent after it arrived); for an ``idle`` rule, also a frame sent
    late within the idle timeout before it (the server's timer saw a longer gap than planned)."""
    sent = [e for e in trace.entries if e.direction == SENT and e.t <= moment]
    since = (sent[-1].t if sent else 0.0) - tolerance
    found = [
        HarnessLateness(ran - due, due, "event loop")
        for due, ran in trace.harness_stalls
        if ran >= since and due <= moment
    ]
    if timed == "idle":
        memory = trace.timing.idle_timeout * trace.timing.scale
        found += [
            HarnessLateness(e.lateness, e.due, f"send of frame #{e.index}")
            for e in sent
            if e.due is not None and e.t >= moment - memory and e.lateness > 0
        ]
    return max(found, key=lambda late: late.seconds, default=None)


def _moment(trace: Trace, index: int | None) -> float:
    """When a timed finding was decided: its frame, else the close, else at the end."""
    if index is not None:
        return next((e.t for e in trace.entries if e.index == index), math.inf)
    return trace.close.t if trace.close is not None else math.inf
