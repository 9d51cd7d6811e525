"""The synchronous driver (used by locust) plays and judges scenarios exactly like the asyncio one."""

from __future__ import annotations

import pytest

from conformance.engine.plan import Player, build_plan
from conformance.engine.record import Status
from conformance.errors import ConnectError
from conformance.run.case import auth_headers, conclude, new_record, new_trace
from conformance.run.runner import scenario_url
from conformance.scenario import Timing, load_scenarios
from conformance.transport.sync import run_player

from conftest import TIME_SCALE

TIMING = Timing(scale=TIME_SCALE)
# The mock does not need real-time pace (the self-test plays at the same speed).
AUDIO_SPEED = 3.0


@pytest.mark.parametrize(
    "scenario_id", ["finalize.all.1", "timeout.idle.1", "handshake.params.1", "errors.malformed-json.1"]
)
def test_sync_driver_passes_the_clean_mock(mock_factory, scenario_id: str) -> None:  # type: ignore[no-untyped-def]
    mock = mock_factory()
    scenario = next(s for s in load_scenarios() if s.id == scenario_id)
    plan = build_plan(scenario, TIMING, AUDIO_SPEED)
    url = scenario_url(mock.url, scenario)
    trace = new_trace(scenario, plan, url, TIMING, None)
    opened: list[bool] = []
    run_player(Player(plan, trace), url, headers=auth_headers(scenario, None), on_open=lambda: opened.append(True))
    record = new_record(scenario)
    conclude(record, trace, scenario)
    assert record.status is Status.SUCCESS, [(r.rule_id, r.message) for r in record.failed()]
    assert opened == ([] if scenario.connect.expect_rejected else [True])


def test_sync_driver_catches_a_fault(mock_factory) -> None:  # type: ignore[no-untyped-def]
    mock = mock_factory(faults=frozenset({"no-metadata-on-closestream"}))
    scenario = next(s for s in load_scenarios() if s.id == "closestream.midstream.1")
    plan = build_plan(scenario, TIMING, AUDIO_SPEED)
    url = scenario_url(mock.url, scenario)
    trace = new_trace(scenario, plan, url, TIMING, None)
    run_player(Player(plan, trace), url, headers={})
    record = new_record(scenario)
    conclude(record, trace, scenario)
    assert "CS-1" in {r.rule_id for r in record.failed()}


def test_sync_driver_unreachable_is_a_connect_error() -> None:
    scenario = next(s for s in load_scenarios() if s.id == "finalize.all.1")
    plan = build_plan(scenario, TIMING)
    trace = new_trace(scenario, plan, "ws://127.0.0.1:9/v1/listen", TIMING, None)
    with pytest.raises(ConnectError, match="connection refused"):
        run_player(Player(plan, trace), "ws://127.0.0.1:9/v1/listen", headers={})
