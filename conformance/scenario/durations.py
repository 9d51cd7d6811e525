"""Durations written in scenarios: ``250ms``, ``3s``, ``1.5idle``, and sums such as ``1idle+3s``.

Wall-clock durations are endpoint timing: :meth:`Duration.resolve` multiplies them by the run's
time scale, so CI can play a scenario against a mock whose clock runs ten times faster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Duration", "parse_duration", "Timing"]

_TERM = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|idle)\s*")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0}


@dataclass(frozen=True)
class Timing:
    """The endpoint's clock: its idle timeout and the scale applied to wall-clock durations."""

    idle_timeout: float = 10.0
    scale: float = 1.0


@dataclass(frozen=True)
class Duration:
    """A duration as written: fixed seconds plus a multiple of the idle timeout."""

    seconds: float = 0.0
    idle: float = 0.0

    def resolve(self, timing: Timing) -> float:
        """Seconds of wall-clock time under ``timing``."""
        return (self.seconds + self.idle * timing.idle_timeout) * timing.scale

    def audio_seconds(self) -> float:
        """Seconds of audio time (never scaled); an ``idle`` term is meaningless here."""
        assert self.idle == 0, "audio durations cannot be relative to the idle timeout"
        return self.seconds

    def __str__(self) -> str:
        terms = [f"{self.seconds:g}s"] if self.seconds or not self.idle else []
        if self.idle:
            terms.insert(0, f"{self.idle:g}idle")
        return "+".join(terms)


def parse_duration(text: str) -> Duration:
    """Parse ``"1.5idle+2s"`` into a :class:`Duration`.

    Raises:
        ValueError: the text is not a sum of ``<number>(ms|s|idle)`` terms.
    """
    seconds = idle = 0.0
    for term in text.split("+"):
        match = _TERM.fullmatch(term)
        if not match:
            raise ValueError(f"not a duration: {text!r} (write e.g. 250ms, 3s, 1.5idle or 1idle+2s)")
        value, unit = float(match.group(1)), match.group(2)
        if unit == "idle":
            idle += value
        else:
            seconds += value * _UNIT_SECONDS[unit]
    return Duration(seconds, idle)
