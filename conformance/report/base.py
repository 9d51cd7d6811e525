"""The reporter interface: reporters subscribe to events and know nothing of each other."""

from __future__ import annotations

from typing import Protocol

from conformance.engine.events import Event

__all__ = ["EventHandler"]


class EventHandler(Protocol):
    """Receives every event of a run, in order."""

    def start(self) -> None:
        """Called once before the first event."""

    def handle_event(self, event: Event) -> None:
        """Called for each event."""

    def shutdown(self) -> None:
        """Called once after the last event, also when the run was interrupted."""
