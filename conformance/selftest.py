"""The suite's mutation score: play the suite against the clean mock and against the mock with each
fault, and show which rules each run flagged. A fault is caught when the rule it breaks comes out
FAILED or NON-STRICT, and caught alone when no other rule does (one cause, one finding: a fault
that also flags other rules shows a cascade in the suite); the clean mock must flag nothing."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import secrets
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from conformance.engine.events import RunFinished, ScenarioFinished
from conformance.engine.record import CaseRecord, Status
from conformance.mock.faults import FAULTS
from conformance.mock.server import MockConfig, MockServer
from conformance.run.runner import Runner, RunOptions
from conformance.scenario.durations import Timing
from conformance.scenario.model import Scenario
from conformance.verdicts import HARNESS_LATE, Verdict

__all__ = ["MutantResult", "run_selftest", "flagged_rules"]

# Times a suite is played again, alone, when the suite itself ran late while judging it.
_REPLAYS = 3


@dataclass(frozen=True)
class MutantResult:
    """The suite against one mock: ``fault`` is None for the clean mock."""

    fault: str | None
    records: tuple[CaseRecord, ...]

    @property
    def flagged(self) -> set[str]:
        """Rules that came out FAILED or NON-STRICT."""
        return flagged_rules(self.records)

    @property
    def errors(self) -> list[str]:
        """Cases that could not be judged."""
        return [f"{r.id}: {r.error}" for r in self.records if r.status is Status.ERROR]

    @property
    def caught(self) -> bool:
        """Clean mock: nothing flagged. Faulty mock: its own rule flagged."""
        if self.fault is None:
            return not self.flagged and not self.errors and not self.unexercised
        return FAULTS[self.fault].rule in self.flagged

    @property
    def alone(self) -> bool:
        """No rule but the fault's own came out broken (the clean mock: nothing at all)."""
        return self.flagged <= ({FAULTS[self.fault].rule} if self.fault else set())

    @property
    def unexercised(self) -> list[str]:
        """On the clean mock: the rules a scenario left NOT JUDGED or UNIMPLEMENTED (a scenario
        that cannot exercise its rules against the reference proves nothing), less those the suite's
        own lateness left unjudged."""
        return [
            f"{record.id} {r.rule_id} {r.verdict.value}: {r.message}"
            for record in self.records
            for r in record.results
            if r.verdict in (Verdict.NOT_JUDGED, Verdict.UNIMPLEMENTED) and HARNESS_LATE not in r.message
        ]

    @property
    def harness_late(self) -> list[str]:
        """Verdicts not judged because the suite itself ran late: the suite proved nothing there."""
        return [
            f"{record.id} {r.rule_id}: {r.message}"
            for record in self.records
            for r in record.results
            if HARNESS_LATE in r.message
        ]

    @property
    def stray_findings(self) -> list[str]:
        """Each finding on a rule other than the fault's own, as ``scenario RULE VERDICT: message``:
        on the clean mock every finding, on a faulty one the cascades."""
        own = FAULTS[self.fault].rule if self.fault else None
        return [
            f"{record.id} {r.rule_id} {r.verdict.value}: {r.message}"
            for record in self.records
            for r in record.results
            if r.verdict.broken and r.rule_id != own
        ]


def flagged_rules(records: Sequence[CaseRecord]) -> set[str]:
    """Rules that came out FAILED or NON-STRICT in any of ``records``."""
    return {
        r.rule_id for record in records for r in record.results if r.verdict in (Verdict.FAILED, Verdict.NON_STRICT)
    }


async def _against(
    fault: str | None, scenarios: Sequence[Scenario], timing: Timing, gate: asyncio.Semaphore, audio_speed: float
) -> MutantResult:
    async with gate:
        return await _play(fault, scenarios, timing, audio_speed)


async def _play(fault: str | None, scenarios: Sequence[Scenario], timing: Timing, audio_speed: float) -> MutantResult:
    key = secrets.token_hex(8)
    faults = frozenset([fault]) if fault else frozenset()
    config = MockConfig(api_key=key, time_scale=timing.scale, idle_timeout=timing.idle_timeout, faults=faults)
    async with MockServer(config) as mock:
        options = RunOptions(timing=timing, jobs=len(scenarios), api_key=key, audio_speed=audio_speed)
        async for event in Runner(scenarios, mock.url, options).execute():
            # The score needs the verdicts only. Dropping each trace as its case ends keeps 37
            # suites' worth of frames out of the heap, whose full collections would pause the
            # loop that the suites still playing are timed on.
            if isinstance(event, ScenarioFinished):
                event.record.trace = None
            elif isinstance(event, RunFinished):
                return MutantResult(fault, event.records)
    raise AssertionError("the runner ended without RunFinished")


async def run_selftest(
    scenarios: Sequence[Scenario],
    timing: Timing,
    faults: Sequence[str] = (),
    *,
    parallel: int = 4,
    audio_speed: float = 2.0,
    processes: int | None = None,
) -> list[MutantResult]:
    """Play ``scenarios`` against the clean mock and one mock per fault (all faults by default).

    Args:
        parallel: Suites played at once in each process. Mocks and runner share the process's
            event loop, so too many at once would make the suite's own timing, not the mock,
            miss deadlines.
        audio_speed: Streams go this many times faster than the scenarios say; the mock
            does not need real-time pace, and the self-test finishes sooner.
        processes: Event loops to spread the suites over (default: one per CPU this process
            may use, at most 4: a container's CPU quota is not visible here, and more
            processes than cores would bring back the lateness they are there to avoid). One
            loop near saturation delays a mock's answer past a scaled window (0.2 s for 2 s)
            now and then, and the clean mock would be flagged for the harness's own lateness.
    """
    names: list[str | None] = [None, *(faults or FAULTS)]
    processes = max(1, min(processes or min(_usable_cpus(), 4), len(names)))
    if processes == 1:
        by_name = {result.fault: result for result in await _suites(names, scenarios, timing, parallel, audio_speed)}
    else:
        shares = [names[i::processes] for i in range(processes)]
        loop = asyncio.get_running_loop()
        # spawn, not fork: a forked child would inherit this process's running loop and sockets.
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = await asyncio.gather(
                *(
                    loop.run_in_executor(pool, _suites_in_process, share, scenarios, timing, parallel, audio_speed)
                    for share in shares
                )
            )
        by_name = {result.fault: result for part in parts for result in part}
    for replay in range(_REPLAYS):
        late = [name for name in names if by_name[name].harness_late]
        if not late:
            break
        # On a busy machine the suites' shared loops ran late somewhere: play those suites again,
        # one at a time, so that their verdicts rest on the mock, not on the machine's load; the
        # last time at twice the time scale (what a faulty mock breaks does not depend on it).
        slower = Timing(idle_timeout=timing.idle_timeout, scale=timing.scale * 2) if replay == _REPLAYS - 1 else timing
        for result in await _suites(late, scenarios, slower, 1, audio_speed):
            by_name[result.fault] = result
    return [by_name[name] for name in names]


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


async def _suites(
    names: Sequence[str | None], scenarios: Sequence[Scenario], timing: Timing, parallel: int, audio_speed: float
) -> list[MutantResult]:
    gate = asyncio.Semaphore(parallel)
    return list(await asyncio.gather(*(_against(name, scenarios, timing, gate, audio_speed) for name in names)))


def _suites_in_process(
    names: Sequence[str | None], scenarios: Sequence[Scenario], timing: Timing, parallel: int, audio_speed: float
) -> list[MutantResult]:
    return asyncio.run(_suites(names, scenarios, timing, parallel, audio_speed))
