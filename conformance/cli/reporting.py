"""Feeding a run's events to the reporters: a crashing reporter is disabled with a warning, never
turned into a verdict, and every reporter is shut down whatever happens."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from conformance.engine.events import Event, FatalError, Interrupted, NonFatalError, RunFinished
from conformance.engine.record import EXIT_USAGE
from conformance.report.base import EventHandler

__all__ = ["dispatch", "consume", "reported"]


def dispatch(handlers: list[EventHandler], event: Event) -> None:
    for handler in list(handlers):
        try:
            handler.handle_event(event)
        except Exception as exc:  # a reporter bug is a reporter error, never a verdict
            handlers.remove(handler)
            dispatch(handlers, NonFatalError(message=f"reporter {type(handler).__name__} failed and was disabled: {exc}"))


async def consume(events: AsyncIterator[Event], handlers: list[EventHandler]) -> int:
    """Feed ``events`` to ``handlers``; the exit code the run finished with."""
    exit_code = EXIT_USAGE
    try:
        async for event in events:
            dispatch(handlers, event)
            if isinstance(event, (RunFinished, FatalError)):
                exit_code = event.exit_code
    except asyncio.CancelledError:
        dispatch(handlers, Interrupted())
        raise
    return exit_code


def reported(handlers: list[EventHandler], main: Coroutine[Any, Any, int], run: Callable[[Coroutine[Any, Any, int]], int] = asyncio.run) -> int:
    """Start ``handlers``, run ``main``, and shut the handlers down whatever happens."""
    for handler in handlers:
        handler.start()
    try:
        return run(main)
    finally:
        for handler in handlers:
            try:
                handler.shutdown()
            except Exception as exc:
                print(f"warning: reporter {type(handler).__name__} failed: {exc}", file=sys.stderr)
