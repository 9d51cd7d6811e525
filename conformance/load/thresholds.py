"""Declarative pass/fail criteria (SLOs) over a run's measurements, or over one step of a
capacity discovery (pure; locust's statistics are read through :func:`snapshot`).

    p95(final_latency) < 800ms    a percentile of a latency entry (p50 … p99.9)
    avg(connect) < 300ms          also max(...), min(...), median(...)
    rate(rate_limited) < 1%       failures of an entry per stream attempt
    rate(failures) < 1%           streams that failed in any way, per stream attempt

A window of the run is the difference of two snapshots, so the same criteria judge the whole
run (``--threshold``/``--slo`` at the end) and each step of a discovery.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from conformance.load.metrics import FAILURE_NAMES, MEASURED

__all__ = [
    "Threshold",
    "Entry",
    "Snapshot",
    "snapshot",
    "parse_threshold",
    "evaluate",
    "describe",
    "judge",
    "with_generator_guard",
    "generator_late",
    "REQUEST_TYPE",
    "FAILURES",
    "GENERATOR_SLO",
    "GENERATOR_SATURATED",
]

REQUEST_TYPE = "WS"
# rate(failures): streams that failed (a refused or unreachable handshake, or a stream that ended
# badly or broke a rule) per attempt: the failures of ``connect`` and ``stream``.
FAILURES = "failures"
# Judged in every discovery step and every gated run: a generator that sends late measures
# itself, not the server.
GENERATOR_SLO = "p99(send_lateness) < 20ms"
GENERATOR_SATURATED = "it, not the server, was saturated; add locust processes (--processes N or workers) and run again"
_PATTERN = re.compile(
    r"^\s*(?P<stat>p\d{1,2}(?:\.\d+)?|avg|max|min|median|rate)\((?P<name>[a-z_]+)\)\s*(?P<op><=|<|>=|>)\s*(?P<value>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>ms|s|%)?\s*$"
)
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Entry:
    """One entry's requests in a window: counts, and response times as locust keeps them
    (milliseconds rounded to two significant digits above 100, with how many took each)."""

    requests: int = 0
    failures: int = 0
    total_ms: float = 0.0
    times: Mapping[int, int] = field(default_factory=dict)

    def percentile(self, fraction: float) -> float | None:
        """The response time that ``fraction`` of the requests did not exceed (locust's rule)."""
        if self.requests <= 0:
            return None
        rank = int(self.requests * fraction)
        seen = 0
        for time in sorted(self.times, reverse=True):
            seen += self.times[time]
            if self.requests - seen <= rank:
                return float(time)
        return float(min(self.times, default=0))

    def minus(self, earlier: Entry) -> Entry:
        times = {t: n - earlier.times.get(t, 0) for t, n in self.times.items() if n > earlier.times.get(t, 0)}
        return Entry(
            self.requests - earlier.requests, self.failures - earlier.failures, self.total_ms - earlier.total_ms, times
        )


@dataclass(frozen=True)
class Snapshot:
    """The WS entries' counts at one moment (or, from :meth:`minus`, over a window)."""

    entries: Mapping[str, Entry] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Entry:
        return self.entries.get(name, Entry())

    def failure_rate(self, name: str = FAILURES) -> float | None:
        """Failures of ``name`` per stream attempt (``failures``: failed streams, those of
        ``connect`` and ``stream``); None before any attempt."""
        attempts = self["connect"].requests
        failed = self["connect"].failures + self["stream"].failures if name == FAILURES else self[name].failures
        return failed / attempts if attempts else None

    def minus(self, earlier: Snapshot) -> Snapshot:
        """What happened between ``earlier`` and this snapshot."""
        return Snapshot({name: entry.minus(earlier[name]) for name, entry in self.entries.items()})


class Statistics(Protocol):
    """What :func:`snapshot` reads of locust's ``RequestStats`` (not imported: importing locust
    monkey-patches the process)."""

    entries: Mapping[tuple[str, str], Any]


def snapshot(stats: Statistics) -> Snapshot:
    """Copy what locust has counted so far (on a master: what its workers have reported)."""
    return Snapshot(
        {
            name: Entry(entry.num_requests, entry.num_failures, entry.total_response_time, dict(entry.response_times))
            for (name, method), entry in list(stats.entries.items())
            if method == REQUEST_TYPE
        }
    )


@dataclass(frozen=True)
class Threshold:
    """``stat(name) op value``; latencies in ms, rates as fractions."""

    text: str
    stat: str
    name: str
    op: str
    value: float

    def measure(self, window: Snapshot) -> float | None:
        """The measured value, or None when the window holds no data for it."""
        if self.stat == "rate":
            return window.failure_rate(self.name)
        entry = window[self.name]
        if entry.requests <= 0:
            return None
        if self.stat.startswith("p"):
            return entry.percentile(float(self.stat[1:]) / 100)
        if self.stat == "median":
            return entry.percentile(0.5)
        if self.stat == "avg":
            return entry.total_ms / entry.requests
        return float((max if self.stat == "max" else min)(entry.times))

    def holds(self, measured: float) -> bool:
        """Whether ``measured`` satisfies the threshold."""
        return _OPERATORS[self.op](measured, self.value)

    def show(self, measured: float) -> str:
        """The measured value in the threshold's unit."""
        return f"{measured * 100:.2f}%" if self.stat == "rate" else f"{measured:.0f}ms"


def parse_threshold(text: str) -> Threshold:
    """Parse ``"p95(final_latency) < 800ms"``.

    Raises:
        ValueError: the text is not ``stat(entry) op number unit``, names no entry a stream
            reports, or lacks the unit that fits the stat (``%`` for a rate, ``ms`` or ``s`` for a time).
    """
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"threshold {text!r}: write e.g. 'p95(final_latency) < 800ms' or 'rate(failures) < 1%'")
    stat, unit, value, name = match["stat"], match["unit"], float(match["value"]), match["name"]
    if stat.startswith("p") and not 0 < float(stat[1:]) < 100:
        raise ValueError(f"threshold {text!r}: a percentile is between p0 and p100")
    known = (*MEASURED, *FAILURE_NAMES, *((FAILURES,) if stat == "rate" else ()))
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"threshold {text!r}: nothing is measured as {name!r}; {hint}known: {', '.join(known)}")
    if stat == "rate":
        if unit != "%":
            raise ValueError(f"threshold {text!r}: a rate is a percentage: write e.g. 'rate({name}) < 1%'")
        value /= 100
    elif unit is None:
        raise ValueError(f"threshold {text!r}: {stat}() is a time: give its unit, ms or s")
    elif unit == "%":
        raise ValueError(f"threshold {text!r}: {stat}() is a time; use ms or s")
    elif unit == "s":
        value *= 1000
    return Threshold(text.strip(), stat, match["name"], match["op"], value)


def evaluate(thresholds: Sequence[Threshold], window: Snapshot) -> list[tuple[Threshold, float | None, bool]]:
    """Each threshold with its measured value and whether it held (no data never holds: a
    criterion nothing was measured for cannot be met by default)."""
    results = []
    for threshold in thresholds:
        measured = threshold.measure(window)
        results.append((threshold, measured, measured is not None and threshold.holds(measured)))
    return results


def describe(result: tuple[Threshold, float | None, bool]) -> str:
    """``PASS``/``FAIL`` with the measured value, one line."""
    threshold, measured, held = result
    if measured is None:
        return f"FAIL    {threshold.text}: no data for '{threshold.name}'"
    return f"{'PASS' if held else 'FAIL':7} {threshold.text}: measured {threshold.show(measured)}"


def with_generator_guard(thresholds: Sequence[Threshold]) -> list[Threshold]:
    """``thresholds`` plus :data:`GENERATOR_SLO` unless one of them is on ``send_lateness``."""
    if any(threshold.name == "send_lateness" for threshold in thresholds):
        return list(thresholds)
    return [*thresholds, parse_threshold(GENERATOR_SLO)]


def generator_late(results: Sequence[tuple[Threshold, float | None, bool]]) -> bool:
    """A criterion on ``send_lateness`` was measured and broken: the generator, not the server,
    was saturated, and the other results measured it."""
    return any(
        not held and measured is not None and threshold.name == "send_lateness" for threshold, measured, held in results
    )


def judge(texts: Sequence[str], window: Snapshot) -> tuple[list[str], bool]:
    """The gate's lines for ``texts`` over ``window``, and whether the run fails.

    As in a discovery, the generator is judged too (:func:`with_generator_guard`), and when it
    was late the run fails as inconclusive, whatever the other criteria said.

    Raises:
        ValueError: a criterion does not parse.
    """
    given = [parse_threshold(text) for text in texts]
    results = evaluate(with_generator_guard(given), window)
    # Where no audio was sent there is no lateness to judge, and the other criteria say why.
    results = [result for position, result in enumerate(results) if position < len(given) or result[1] is not None]
    lines = [describe(result) for result in results]
    if generator_late(results):
        lines.append(f"inconclusive: the load generator sent its audio late: {GENERATOR_SATURATED}")
    return lines, any(not held for _, _, held in results)
