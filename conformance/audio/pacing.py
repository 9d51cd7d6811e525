"""The absolute send schedule: frame ``i`` is due at ``t0 + i * interval``, never sleep-after-send.

Planning from the stream start keeps a slow send from delaying every later one; the lateness of
each send (actual minus due) is recorded in the trace so a saturated sender cannot pass for a slow server.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Schedule"]


@dataclass(frozen=True)
class Schedule:
    """Due times of evenly spaced sends starting at ``start``."""

    start: float
    interval: float

    def due(self, index: int) -> float:
        """When send number ``index`` (0-based) is due."""
        return self.start + index * self.interval
