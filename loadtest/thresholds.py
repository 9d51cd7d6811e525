"""Declarative pass/fail thresholds evaluated at the end of a headless run.

    --threshold "p95(first_final) < 1500ms"   percentile of a latency entry
    --threshold "avg(connect) < 300ms"        also max(...), min(...), median(...)
    --threshold "rate(rate_limited) < 1%"     failures of an entry per stream attempt

A breach prints the threshold and the measured value and sets locust's exit code to 1.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing locust monkey-patches the process; only its types are needed here
    from locust.stats import RequestStats

__all__ = ["Threshold", "parse_threshold", "evaluate", "REQUEST_TYPE"]

REQUEST_TYPE = "WS"
_PATTERN = re.compile(r"^\s*(?P<stat>p\d{1,2}(?:\.\d+)?|avg|max|min|median|rate)\((?P<name>[a-z_]+)\)\s*(?P<op><=|<|>=|>)\s*(?P<value>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>ms|s|%)?\s*$")
_OPERATORS: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class Threshold:
    """``stat(name) op value``; latencies in ms, rates as fractions."""

    text: str
    stat: str
    name: str
    op: str
    value: float

    def measure(self, stats: "RequestStats") -> float | None:
        """The measured value, or None when the entry has no data."""
        entry = stats.get(self.name, REQUEST_TYPE)
        if self.stat == "rate":
            attempts = stats.get("connect", REQUEST_TYPE).num_requests
            return entry.num_failures / attempts if attempts else None
        if entry.num_requests == 0:
            return None
        if self.stat.startswith("p"):
            return float(entry.get_response_time_percentile(float(self.stat[1:]) / 100))
        return float({"avg": entry.avg_response_time, "max": entry.max_response_time, "min": entry.min_response_time, "median": entry.median_response_time}[self.stat])

    def holds(self, measured: float) -> bool:
        """Whether ``measured`` satisfies the threshold."""
        return _OPERATORS[self.op](measured, self.value)

    def show(self, measured: float) -> str:
        """The measured value in the threshold's unit."""
        return f"{measured * 100:.2f}%" if self.stat == "rate" else f"{measured:.0f}ms"


def parse_threshold(text: str) -> Threshold:
    """Parse ``"p95(first_final) < 1500ms"``.

    Raises:
        ValueError: the text is not ``stat(entry) op number[unit]``, or the unit does not fit the stat.
    """
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"threshold {text!r}: write e.g. 'p95(first_final) < 1500ms' or 'rate(rate_limited) < 1%'")
    stat, unit, value = match["stat"], match["unit"], float(match["value"])
    if stat == "rate":
        if unit not in ("%", None):
            raise ValueError(f"threshold {text!r}: a rate is a percentage")
        value = value / 100 if unit == "%" else value
    elif unit == "%":
        raise ValueError(f"threshold {text!r}: {stat}() is a time; use ms or s")
    elif unit == "s":
        value *= 1000
    return Threshold(text.strip(), stat, match["name"], match["op"], value)


def evaluate(thresholds: Sequence[Threshold], stats: "RequestStats") -> list[str]:
    """One line per threshold: ``PASS``/``FAIL``/``NO DATA`` with the measured value."""
    lines = []
    for threshold in thresholds:
        measured = threshold.measure(stats)
        if measured is None:
            lines.append(f"FAIL    {threshold.text}: no data for '{threshold.name}'")
        else:
            verdict = "PASS" if threshold.holds(measured) else "FAIL"
            lines.append(f"{verdict:7} {threshold.text}: measured {threshold.show(measured)}")
    return lines
