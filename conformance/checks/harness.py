"""The suite's own lateness: a timing window the harness itself overran is not judged.

Two measures, both in the trace: the stalls of the driver's event loop (``Trace.harness_stalls``:
while the loop could not run, no frame left and none was read, so a frame that arrived then is
timestamped late) and the lateness of each paced send (a KeepAlive or an audio frame that left
after its due time). Where either could have decided a timing verdict, the verdict is NOT JUDGED
and says how late the harness was: our lateness is never the server's failure.

- A step broken by its clock (nothing by the window's end, a close after it) is not judged when
  the harness was late at the window's end (stalled across it, or judging it late) and read
  something right after that may have come in time.
- A rule whose checks read wall-clock times (``timed`` in the catalog: idle timeouts, KeepAlive
  cadence, whose reply a close is) is not judged where the harness was later than the case's
  tolerance (5 % of the idle timeout as played, half the band that tells an early idle close from
  a punctual one, and at least 20 ms) in the idle timeout before the finding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

from conformance.catalog import Catalog
from conformance.engine.trace import Outcome, Trace
from conformance.verdicts import HARNESS_LATE, RuleResult, Verdict

__all__ = ["HarnessLateness", "worst_lateness", "overran_window", "excuse_timed", "case_tolerance", "WINDOW_TOLERANCE"]

# How late the harness may be at a window's end before it could have missed what came in time:
# above the timer's own resolution on a quiet machine.
WINDOW_TOLERANCE = 0.01
# How soon after a stall the loop reads what arrived during it.
_READ_SECONDS = 0.05
_CASE_TOLERANCE_FRACTION = 0.05
_CASE_TOLERANCE_FLOOR = 0.02
# How far back from a timed finding the harness's lateness counts: a server's idle timer, the
# longest wall-clock memory the timed rules read, looks back one idle timeout.
_SPAN_IDLE_TIMEOUTS = 1.0


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
    """Why a step broken by its clock cannot be judged: the harness was late at the window's end
    (its loop stalled across it, or it judged the window late), and read a frame or the close right
    after, which may have come in time. Nothing read then: the lateness hid nothing."""
    deadline = outcome.deadline
    if deadline is None:
        return None
    ends = [
        ran
        for due, ran in trace.harness_stalls
        if due <= deadline + WINDOW_TOLERANCE and ran >= deadline and ran - due > WINDOW_TOLERANCE
    ]
    if outcome.t - deadline > WINDOW_TOLERANCE:
        ends.append(outcome.t)
    if not ends:
        return None
    late_until = max(ends)
    close = trace.close
    arrivals = [e.t for e in trace.received() if deadline < e.t <= late_until + _READ_SECONDS]
    if close is not None and close.by != "client" and deadline < close.t <= late_until + _READ_SECONDS:
        arrivals.append(close.t)
    if not arrivals:
        return None
    return (
        f"the suite's own event loop was {1000 * (late_until - deadline):.0f} ms late at the window's end ({deadline:.3f}s), "
        f"and what it read right after (at {min(arrivals):.3f}s) may have come in time"
    )


def case_tolerance(trace: Trace) -> float:
    """How late the harness may be before the case's wall-clock verdicts mean nothing."""
    return max(_CASE_TOLERANCE_FLOOR, _CASE_TOLERANCE_FRACTION * trace.timing.idle_timeout * trace.timing.scale)


def excuse_timed(results: list[RuleResult], trace: Trace, catalog: Catalog) -> list[RuleResult]:
    """Broken verdicts of ``timed`` rules become NOT JUDGED where the harness was later than the
    case's tolerance in the span the finding reads: up to the finding's frame (or the close, for a
    finding about how the stream ended), back as far as a server's idle timer remembers."""
    tolerance = case_tolerance(trace)
    span = _SPAN_IDLE_TIMEOUTS * trace.timing.idle_timeout * trace.timing.scale
    excused = []
    for result in results:
        if result.verdict.broken and catalog[result.rule_id].timed:
            moment = _moment(trace, result.frame_index)
            late = worst_lateness(trace, moment - span, moment + tolerance)
            if late is not None and late.seconds > tolerance:
                reason = (
                    f"{HARNESS_LATE}: its {late.describe()}, over the {tolerance * 1000:.0f} ms this "
                    f"case's timing allows (a busy machine, not the server); on its own it found: {result.message}"
                )
                result = RuleResult(result.rule_id, result.level, Verdict.NOT_JUDGED, reason, result.frame_index)
        excused.append(result)
    return excused


def _moment(trace: Trace, index: int | None) -> float:
    """When a timed finding was decided: its frame, else the close, else at the end."""
    if index is not None:
        return next((e.t for e in trace.entries if e.index == index), math.inf)
    return trace.close.t if trace.close is not None else math.inf
