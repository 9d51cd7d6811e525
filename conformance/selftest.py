"""The suite's mutation score: play the suite against the clean mock and against the mock with each
fault, and show which rules each run flagged. A fault is caught when the rule it breaks comes out
FAILED or NON-STRICT, and caught alone when no other rule does (one cause, one finding: a fault
that also flags other rules shows a cascade in the suite); the clean mock must flag nothing."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from conformance.engine.events import RunFinished
from conformance.engine.record import CaseRecord, Status
from conformance.mock.faults import FAULTS
from conformance.mock.server import MockConfig, MockServer
from conformance.run.runner import Runner, RunOptions
from conformance.scenario.durations import Timing
from conformance.scenario.model import Scenario
from conformance.verdicts import Verdict

__all__ = ["MutantResult", "run_selftest", "flagged_rules"]


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
            return not self.flagged and not self.errors
        return FAULTS[self.fault].rule in self.flagged

    @property
    def alone(self) -> bool:
        """No rule but the fault's own came out broken (the clean mock: nothing at all)."""
        return self.flagged <= ({FAULTS[self.fault].rule} if self.fault else set())


def flagged_rules(records: Sequence[CaseRecord]) -> set[str]:
    """Rules that came out FAILED or NON-STRICT in any of ``records``."""
    return {r.rule_id for record in records for r in record.results if r.verdict in (Verdict.FAILED, Verdict.NON_STRICT)}


async def _against(fault: str | None, scenarios: Sequence[Scenario], timing: Timing, gate: asyncio.Semaphore, audio_speed: float) -> MutantResult:
    async with gate:
        return await _play(fault, scenarios, timing, audio_speed)


async def _play(fault: str | None, scenarios: Sequence[Scenario], timing: Timing, audio_speed: float) -> MutantResult:
    key = secrets.token_hex(8)
    faults = frozenset([fault]) if fault else frozenset()
    config = MockConfig(api_key=key, time_scale=timing.scale, idle_timeout=timing.idle_timeout, faults=faults)
    async with MockServer(config) as mock:
        options = RunOptions(timing=timing, jobs=len(scenarios), api_key=key, audio_speed=audio_speed)
        async for event in Runner(scenarios, mock.url, options).execute():
            if isinstance(event, RunFinished):
                # The score needs the verdicts only. Dropping the traces keeps 37 suites' worth of
                # frames out of the heap, whose full collections would otherwise pause the loop
                # (150 ms measured) that the suites still playing are timed on.
                for record in event.records:
                    record.trace = None
                return MutantResult(fault, event.records)
    raise AssertionError("the runner ended without RunFinished")


async def run_selftest(
    scenarios: Sequence[Scenario], timing: Timing, faults: Sequence[str] = (), *, parallel: int = 6, audio_speed: float = 2.0
) -> list[MutantResult]:
    """Play ``scenarios`` against the clean mock and one mock per fault (all faults by default).

    Args:
        parallel: Suites played at once. Mocks and runner share one event loop, so too many at
            once would make the suite's own timing, not the mock, miss deadlines.
        audio_speed: Streams go this many times faster than the scenarios say; the mock
            does not need real-time pace, and the self-test finishes sooner.
    """
    names: list[str | None] = [None, *(faults or FAULTS)]
    gate = asyncio.Semaphore(parallel)
    return list(await asyncio.gather(*(_against(name, scenarios, timing, gate, audio_speed) for name in names)))
