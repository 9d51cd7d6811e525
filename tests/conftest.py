"""Shared fixtures: the timeout unit, a running mock, and a helper to run the CLI in-process."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.mock import MockConfig, MockServer
from conformance.mock.server import StreamObserver

pytest_plugins = ["pytester"]

# Every wait in the tests is a multiple of MS, so slow CI machines can stretch them.
MS = 0.001 * float(os.environ.get("CONFORMANCE_TESTS_TIMEOUT_FACTOR", "1"))
TIME_SCALE = 0.1


@dataclass
class RunningMock:
    """A mock served from a background event loop."""

    server: MockServer
    loop: asyncio.AbstractEventLoop

    @property
    def url(self) -> str:
        return self.server.url


def start_mock(
    config: MockConfig, observe: Callable[[], StreamObserver] | None = None
) -> tuple[RunningMock, threading.Thread]:
    """Start a mock in a thread with its own loop (``observe``: record-and-judge mode); stop it
    with :func:`stop_mock`."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, MockServer] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        holder["server"] = loop.run_until_complete(MockServer(config, observe=observe).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(5000 * MS), "the mock did not start"
    return RunningMock(holder["server"], loop), thread


def stop_mock(mock: RunningMock, thread: threading.Thread) -> None:
    asyncio.run_coroutine_threadsafe(mock.server.stop(), mock.loop).result(5000 * MS)
    mock.loop.call_soon_threadsafe(mock.loop.stop)
    thread.join(5000 * MS)


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs write default trace folders into the working directory: keep that out of the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def mock_factory() -> Iterator:
    """Start mocks with any config; all are stopped at teardown."""
    started: list[tuple[RunningMock, threading.Thread]] = []

    def make(**kwargs: object) -> RunningMock:
        kwargs.setdefault("time_scale", TIME_SCALE)
        pair = start_mock(MockConfig(**kwargs))  # type: ignore[arg-type]
        started.append(pair)
        return pair[0]

    yield make
    for pair in started:
        stop_mock(*pair)
