"""Play the suite against every corpus implementation: the servers (three corpus servers and the
mock with five faults at once) and the clients (the faulty client's real-world failures)."""

from __future__ import annotations

import asyncio
import secrets
import sys
from pathlib import Path

from conformance.client.harness import ClientHarness, ClientOptions
from conformance.client.scenario import load_client_scenarios, select_client_scenarios
from conformance.engine.events import RunFinished
from conformance.engine.record import CaseRecord
from conformance.mock.faults import parse_faults
from conformance.mock.server import MockConfig, MockServer
from conformance.run.runner import Runner, RunOptions
from conformance.scenario import Timing, load_scenarios
from conformance.verdicts import HARNESS_LATE

from corpus import servers
from corpus.ground_truth import Agreement, compare, load

KEY = secrets.token_hex(8)
# Four suites share one event loop: at a fifth of real time, a KeepAlive every 0.8 s still leaves
# the strict server's 1.2 s idle timeout a margin that loop lag cannot eat.
TIME_SCALE = 0.2
TIMING = Timing(scale=TIME_SCALE)
PYTHON = Path(__file__).resolve().parents[2] / "clients" / "python"
SERVER_EXPECTATIONS = (*sorted(servers.PROFILES), "mock_profile")
CLIENT_FAULTS = ("never-streams", "no-encoding", "close-after-closestream", "hang-after-error", "unknown-control")


async def _suite(url: str) -> tuple[CaseRecord, ...]:
    """The suite in two rounds: the format scenarios (each a codec for the mock to decode) after
    the others, so the idle-timeout windows of four suites on one loop keep their margin."""
    options = RunOptions(timing=TIMING, jobs=32, api_key=KEY, audio_speed=2.0)
    scenarios = load_scenarios()
    records: list[CaseRecord] = []
    for chosen in ([s for s in scenarios if "encoding" not in s.tags], [s for s in scenarios if "encoding" in s.tags]):
        async for event in Runner(chosen, url, options).execute():
            if isinstance(event, RunFinished):
                records.extend(event.records)
                break
        else:
            raise AssertionError("the runner ended without RunFinished")
    for _ in range(2):
        # A case the suite's own lateness left unjudged (a busy machine) is played again, alone:
        # the truth written for it is about the server, and this is how a user gets it.
        late = {r.id for r in records if any(HARNESS_LATE in v.message for v in r.results)}
        if not late:
            break
        again = Runner(
            [s for s in scenarios if s.id in late], url, RunOptions(timing=TIMING, jobs=1, api_key=KEY, audio_speed=2.0)
        )
        async for event in again.execute():
            if isinstance(event, RunFinished):
                records = [r for r in records if r.id not in late] + list(event.records)
    return tuple(sorted(records, key=lambda r: r.id))


async def _against_corpus_server(name: str) -> tuple[CaseRecord, ...]:
    server = await servers.start(servers.PROFILES[name], api_key=KEY, scale=TIME_SCALE)
    try:
        return await _suite(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/listen")
    finally:
        server.close()
        await server.wait_closed()


async def _against_mock(faults: list[str]) -> tuple[CaseRecord, ...]:
    config = MockConfig(api_key=KEY, time_scale=TIME_SCALE, faults=parse_faults(faults))
    async with MockServer(config) as mock:
        return await _suite(mock.url)


async def server_runs() -> dict[str, tuple[CaseRecord, ...]]:
    """Expectation name -> the records of the suite against that server."""
    names = sorted(servers.PROFILES)
    runs = await asyncio.gather(
        *(_against_corpus_server(n) for n in names), _against_mock(load("mock_profile")["faults"])
    )
    return dict(zip(SERVER_EXPECTATIONS, runs, strict=False))


async def _client(name: str, scenario: str) -> CaseRecord:
    script = "websockets_client.py" if name == "canonical" else "faulty_client.py"
    command = [sys.executable, str(PYTHON / script), *([] if name == "canonical" else ["--fault", name])]
    chosen = select_client_scenarios(load_client_scenarios(), [scenario])
    # A program that hangs is stopped soon: its hang is the finding, the time is not.
    options = ClientOptions(timing=TIMING, deadline=8.0)
    async for event in ClientHarness(chosen, command, options).execute():
        if isinstance(event, RunFinished):
            return event.records[0]
    raise AssertionError("the harness ended without RunFinished")


async def client_runs() -> list[tuple[dict, CaseRecord]]:  # type: ignore[type-arg]
    """Each case of clients.yaml with the record of its run."""
    cases = load("clients")["cases"]
    records = await asyncio.gather(*(_client(c["client"], c["scenario"]) for c in cases))
    return list(zip(cases, records, strict=False))


def server_agreement(name: str, records: tuple[CaseRecord, ...]) -> Agreement:
    return compare(load(name)["cases"], records)


def client_agreement(runs: list[tuple[dict, CaseRecord]]) -> Agreement:  # type: ignore[type-arg]
    agreement = Agreement()
    for case, record in runs:
        label = f"{case['client']} {case['scenario']}: "
        agreement.add(
            compare({record.id: case["verdicts"]}, [record], label=label, statuses={record.id: case["status"]})
        )
    return agreement
