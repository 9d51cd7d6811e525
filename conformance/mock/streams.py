"""How many streams the mock holds: counted in one process, or across the processes that share
one port (``conformance mock --processes N``), so ``--max-streams`` and ``--capacity`` are the
whole mock's figures, not each process's."""

from __future__ import annotations

from multiprocessing.sharedctypes import Synchronized

__all__ = ["StreamCount"]


class StreamCount:
    """Streams admitted and not yet finished. ``shared``: a ``multiprocessing.Value('q')`` that
    every process of the mock counts in; None: this process alone."""

    def __init__(self, shared: Synchronized | None = None) -> None:
        self._shared = shared
        self._local = 0

    @property
    def value(self) -> int:
        """Streams open now, across the mock's processes."""
        return int(self._shared.value) if self._shared is not None else self._local

    def admit(self, limit: int | None) -> bool:
        """Count one more stream unless ``limit`` streams are open (checked and counted at once,
        so two processes cannot both take the last slot)."""
        if self._shared is None:
            if limit is not None and self._local >= limit:
                return False
            self._local += 1
            return True
        with self._shared.get_lock():
            if limit is not None and self._shared.value >= limit:
                return False
            self._shared.value += 1
            return True

    def release(self) -> None:
        """A stream finished."""
        if self._shared is None:
            self._local -= 1
            return
        with self._shared.get_lock():
            self._shared.value -= 1
