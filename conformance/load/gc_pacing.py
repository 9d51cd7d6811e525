"""Keep Python's cyclic garbage collector from pausing the load generator.

Every stream keeps what the server said (a trace entry and its decoded JSON per message) until it
is judged, so a process driving hundreds of streams against a real server holds hundreds of
thousands of tracked objects; a full collection walks all of them, and when audio frames were still
one object each (about a million at 500 streams) it stalled every stream for 100-150 ms, which
shows up as send lateness.
Once a second the survivors are moved out of the collector's reach (``gc.freeze``); they are still
freed by reference counting when their stream ends. Once a minute everything is unfrozen and
collected, so reference cycles cannot pile up: one pause a minute instead of one every few seconds.
"""

from __future__ import annotations

import gc
import itertools

import gevent
from locust import events
from locust.env import Environment

__all__ = ["FREEZE_EVERY_SECONDS", "COLLECT_EVERY_SECONDS"]

FREEZE_EVERY_SECONDS = 1.0
COLLECT_EVERY_SECONDS = 60.0


def _pace_collections() -> None:
    freezes_per_collection = round(COLLECT_EVERY_SECONDS / FREEZE_EVERY_SECONDS)
    for tick in itertools.count(1):
        gevent.sleep(FREEZE_EVERY_SECONDS)
        if tick % freezes_per_collection:
            gc.freeze()
        else:
            gc.unfreeze()
            gc.collect()


@events.test_start.add_listener
def _start(environment: Environment, **_: object) -> None:
    if not getattr(environment, "_gc_pacing", None):
        environment._gc_pacing = gevent.spawn(_pace_collections)  # type: ignore[attr-defined]


@events.test_stop.add_listener
def _stop(environment: Environment, **_: object) -> None:
    pacing = getattr(environment, "_gc_pacing", None)
    if pacing is not None:
        pacing.kill(block=False)
        environment._gc_pacing = None  # type: ignore[attr-defined]
        gc.unfreeze()
