"""A short run of the mock fuzzer (tests/hostile/fuzz.py; the long run is benchmarks/fuzz_mock.py):
every hostile sequence is answered within a bound, and the mock stays healthy for the next client."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from websockets.sync.client import connect

from conformance.mock import MockConfig

from conftest import MS, TIME_SCALE, RunningMock, start_mock, stop_mock
from hostile.fuzz import Attack, attacks, play

KEY = "fuzz-key-0123456789"
# An answer (HTTP, a close, or the end after our own close) must come within this long.
WAIT_SECONDS = 5.0


@pytest.fixture(scope="module")
def fuzzed_mock() -> Iterator[RunningMock]:
    running, thread = start_mock(MockConfig(api_key=KEY, time_scale=TIME_SCALE, max_streams=2, handshake_timeout=2.0))
    yield running
    stop_mock(running, thread)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(attack=attacks())
def test_the_mock_answers_every_hostile_sequence(fuzzed_mock: RunningMock, attack: Attack) -> None:
    """Points 12-17: an HTTP answer with Deepgram's fields, or a close frame, never silence or a
    dropped connection."""
    host, port = "127.0.0.1", fuzzed_mock.server.port
    answer = play(host, port, KEY, attack, WAIT_SECONDS * 1000 * MS)
    assert answer.kind in ("http", "close"), (answer, attack)


def test_the_mock_is_healthy_after_the_fuzzing(fuzzed_mock: RunningMock) -> None:
    """No stream slot leaked (--max-streams 2 still admits two), and a clean client is served."""
    deadline = time.monotonic() + 5000 * MS
    while fuzzed_mock.server.active_streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fuzzed_mock.server.active_streams == 0
    url = fuzzed_mock.url + "?encoding=linear16&sample_rate=16000"
    with (
        connect(url, additional_headers={"Authorization": f"Token {KEY}"}) as first,
        connect(url, additional_headers={"Authorization": f"Token {KEY}"}) as second,
    ):
        for ws in (first, second):
            ws.send(b"\0" * 32000)
            ws.send('{"type": "CloseStream"}')
        for ws in (first, second):
            kinds = []
            try:
                while True:
                    kinds.append(ws.recv(timeout=3000 * MS)[:20])
            except Exception:
                pass
            assert any('"Metadata"' in k or "Metadata" in k for k in kinds) or ws.close_code == 1000, kinds
