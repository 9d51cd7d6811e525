"""Feeding a run's events to the reporters: a crashing reporter is disabled with a warning, never
turned into a verdict, and every reporter is shut down whatever happens.

Nothing a run saw is lost: SIGINT (Ctrl-C) or SIGTERM (what a CI timeout or cancel sends) stops
the run, and the reporters still get a :class:`RunFinished` with every case that finished, those
cut short marked INTERRUPTED; the exit code is 128 + the signal's number (130, 143), as a shell
reports a process a signal ended. A second signal ends the process at once.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from conformance.engine.events import (
    Event,
    FatalError,
    Interrupted,
    NonFatalError,
    RunFinished,
    ScenarioFinished,
    ScenarioStarted,
)
from conformance.engine.record import EXIT_USAGE, CaseRecord, Status
from conformance.report.base import EventHandler

__all__ = ["dispatch", "consume", "reported", "interrupting_signal"]


def dispatch(handlers: list[EventHandler], event: Event) -> None:
    for handler in list(handlers):
        try:
            handler.handle_event(event)
        except Exception as exc:  # a reporter bug is a reporter error, never a verdict
            handlers.remove(handler)
            dispatch(
                handlers, NonFatalError(message=f"reporter {type(handler).__name__} failed and was disabled: {exc}")
            )


# The signal that interrupted the run in progress (one run per process at a time).
_received: list[int] = []


def interrupting_signal() -> int | None:
    """The signal that stopped the run in progress, if one did."""
    return _received[0] if _received else None


async def consume(events: AsyncIterator[Event], handlers: list[EventHandler]) -> int:
    """Feed ``events`` to ``handlers``; the exit code the run finished with. Interrupted by a
    signal, the run still finishes for the reporters, with what it saw (see the module)."""
    exit_code = EXIT_USAGE
    started: dict[str, str] = {}
    finished: list[CaseRecord] = []
    began = time.monotonic()
    try:
        async for event in events:
            dispatch(handlers, event)
            if isinstance(event, ScenarioStarted):
                started[event.scenario_id] = event.title
            elif isinstance(event, ScenarioFinished):
                finished.append(event.record)
            elif isinstance(event, (RunFinished, FatalError)):
                exit_code = event.exit_code
    except asyncio.CancelledError:
        signum = interrupting_signal()
        if signum is None:
            raise
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()  # an async generator's finally (the runner cancels its cases there)
        name = signal.Signals(signum).name
        done = {record.id for record in finished}
        cut = [
            CaseRecord(case_id, title, "", (), Status.INTERRUPTED, error=f"interrupted by {name} while playing")
            for case_id, title in started.items()
            if case_id not in done
        ]
        exit_code = 128 + signum
        dispatch(handlers, Interrupted(signal=name))
        records = tuple(sorted([*finished, *cut], key=lambda r: r.id))
        dispatch(
            handlers,
            RunFinished(records=records, exit_code=exit_code, duration=time.monotonic() - began, interrupted=name),
        )
    return exit_code


async def _interruptible(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main``; the first SIGINT or SIGTERM cancels it (see :func:`consume`), the second ends
    the process as that signal would."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    assert task is not None

    def interrupt(signum: int) -> None:
        _received.append(signum)
        for each in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(each)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, interrupt, signum)
    try:
        return await main
    except asyncio.CancelledError:
        received = interrupting_signal()
        if received is None:
            raise
        return 128 + received
    finally:
        for each in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(each)


def reported(
    handlers: list[EventHandler],
    main: Coroutine[Any, Any, int],
    run: Callable[[Coroutine[Any, Any, int]], int] = asyncio.run,
) -> int:
    """Start ``handlers``, run ``main`` (stopped by SIGINT or SIGTERM, see the module), and shut
    the handlers down whatever happens: they write their reports then."""
    _received.clear()
    for handler in handlers:
        handler.start()
    try:
        return run(_interruptible(main))
    finally:
        for handler in handlers:
            try:
                handler.shutdown()
            except Exception as exc:
                print(f"warning: reporter {type(handler).__name__} failed: {exc}", file=sys.stderr)
