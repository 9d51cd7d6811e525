"""Capacity discovery by SLO, sans-I/O: raise the concurrency in steps, judge each step's window
by the SLOs, stop at the first step that breaks one (:class:`Discovery`); the locust side is
:mod:`conformance.load.discovery`.

A step ramps to its concurrency, lets ``settle`` pass (streams begun at the previous step end in
it, and their results would be counted here), then measures until the end of its ``hold``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from conformance.load.metrics import FAILURE_NAMES
from conformance.load.thresholds import (
    Snapshot,
    Threshold,
    evaluate,
    generator_late,
    parse_threshold,
    with_generator_guard,
)

__all__ = ["StepPlan", "StepResult", "Discovery", "OpenStreams", "DEFAULT_SLOS", "slos_from"]

DEFAULT_SLOS = ("p95(final_latency) < 800ms", "rate(failures) < 1%")


def slos_from(texts: Sequence[str]) -> list[Threshold]:
    """The SLOs of ``--slo`` (default :data:`DEFAULT_SLOS`), with the generator's guard
    (:func:`conformance.load.thresholds.with_generator_guard`).

    Raises:
        ValueError: an SLO does not parse.
    """
    return with_generator_guard([parse_threshold(text) for text in (texts or DEFAULT_SLOS)])


@dataclass(frozen=True)
class StepPlan:
    """``start`` streams, then ``step`` more at a time up to ``maximum``; each step ramps at
    ``rate`` users per second and holds ``hold`` seconds, the last ``hold - settle`` measured."""

    start: int = 10
    step: int = 10
    maximum: int = 1000
    hold: float = 60.0
    settle: float = 15.0
    rate: float = 10.0

    def __post_init__(self) -> None:
        if min(self.start, self.step, self.maximum) < 1 or self.rate <= 0 or not 0 <= self.settle < self.hold:
            raise ValueError("discovery needs start, step and max of 1 or more, a rate above 0, and 0 <= settle < hold")

    def users(self, index: int) -> int:
        return min(self.start + index * self.step, self.maximum)


@dataclass
class StepResult:
    """One step's concurrency, its measured window and the SLOs' verdicts."""

    users: int
    seconds: float
    window: Snapshot
    verdicts: list[tuple[Threshold, float | None, bool]]

    @property
    def met(self) -> bool:
        return all(held for _, _, held in self.verdicts)

    @property
    def measured(self) -> bool:
        """Some stream was attempted in the window (a master whose workers played nothing has
        no data: that is no verdict on the server)."""
        return self.window["connect"].requests > 0

    @property
    def generator_saturated(self) -> bool:
        """The load generator sent its audio late (measured, not merely unmeasured)."""
        return generator_late(self.verdicts)

    @property
    def failures(self) -> dict[str, int]:
        """Failed streams by kind in the window (``rate_limited``, ``idle_timeout``, ...;
        ``unreachable``: connections that never reached an HTTP answer)."""
        counts = {name: self.window[name].failures for name in FAILURE_NAMES if self.window[name].failures}
        answered = self.window["rate_limited"].failures + self.window["handshake_rejected"].failures
        unreachable = self.window["connect"].failures - answered
        return {"unreachable": unreachable, **counts} if unreachable > 0 else counts

    def percentile(self, name: str, fraction: float) -> float | None:
        return self.window[name].percentile(fraction)


@dataclass
class Discovery:
    """Which concurrency to run now, and the steps judged so far (``take`` snapshots the run)."""

    plan: StepPlan
    slos: list[Threshold]
    take: Callable[[], Snapshot]
    steps: list[StepResult] = field(default_factory=list)
    _index: int = 0
    _began: float = 0.0
    _window_start: Snapshot | None = None
    finished: bool = False

    def _timeline(self) -> tuple[float, float]:
        """Seconds after the step began when its window opens and closes."""
        previous = self.plan.users(self._index - 1) if self._index else 0
        ramp = (self.plan.users(self._index) - previous) / self.plan.rate
        return ramp + self.plan.settle, ramp + self.plan.hold

    def tick(self, now: float) -> tuple[int, float] | None:
        """The users and spawn rate to run at ``now`` (seconds since the start), or None: done."""
        if self.finished:
            return None
        opens, closes = self._timeline()
        elapsed = now - self._began
        if self._window_start is None and elapsed >= opens:
            self._window_start = self.take()
        if elapsed >= closes and self._window_start is not None:
            window = self.take().minus(self._window_start)
            users = self.plan.users(self._index)
            self.steps.append(StepResult(users, closes - opens, window, evaluate(self.slos, window)))
            if not self.steps[-1].met or users >= self.plan.maximum:
                self.finished = True
                return None
            self._index, self._began, self._window_start = self._index + 1, now, None
        return self.plan.users(self._index), self.plan.rate

    @property
    def capacity(self) -> int | None:
        """The highest concurrency whose step met every SLO, all steps below it too (None: the
        first step broke one)."""
        met = None
        for step in self.steps:
            if not step.met:
                break
            met = step.users
        return met

    @property
    def breaking(self) -> StepResult | None:
        """The step that broke an SLO, if one did."""
        return next((step for step in self.steps if not step.met), None)

    def duration(self) -> float:
        """Seconds the whole discovery takes if no step breaks an SLO (for the plan's printout)."""
        total, previous = 0.0, 0
        for index in range(math.ceil((self.plan.maximum - self.plan.start) / self.plan.step) + 1):
            users = self.plan.users(index)
            total += (users - previous) / self.plan.rate + self.plan.hold
            previous = users
        return total


# Upgrades under way when the first 429 came are counted if accepted within this long after it.
FIRST_429_SETTLE_SECONDS = 0.5


class OpenStreams:
    """Streams open in this process, and how many were open when the first 429 came (limit
    discovery): those open at that moment, plus those whose upgrade was already under way and
    was accepted within ``FIRST_429_SETTLE_SECONDS`` after it (the server took them first; their
    users had not heard yet). A stream that ends after the 429 still counts: it was open when
    the limit bit. Read after the 429 instead, the count missed streams that had ended since."""

    count = 0
    at_first_429: int | None = None
    first_429_at: float | None = None

    @classmethod
    def opened(cls, started: float, now: float) -> None:
        """A stream whose upgrade began at ``started`` was accepted at ``now``."""
        cls.count += 1
        if (
            cls.first_429_at is not None
            and cls.at_first_429 is not None
            and started < cls.first_429_at <= now <= cls.first_429_at + FIRST_429_SETTLE_SECONDS
        ):
            cls.at_first_429 += 1

    @classmethod
    def closed(cls) -> None:
        """A stream that was opened has ended."""
        cls.count -= 1

    @classmethod
    def rejected(cls, now: float) -> None:
        """An upgrade was answered 429 at ``now``."""
        if cls.first_429_at is None:
            cls.first_429_at, cls.at_first_429 = now, cls.count
