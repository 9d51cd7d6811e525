"""The suite's own mutation score: the clean mock passes, and every fault is caught on its rule."""

from __future__ import annotations

import asyncio

from conformance.checks.violations import Verdict
from conformance.engine.events import RunFinished
from conformance.catalog import Level, load_catalog
from conformance.engine.record import CaseRecord, exit_code_for
from conformance.engine.runner import RunOptions, Runner
from conformance.mock import MockConfig, MockServer
from conformance.mock.faults import FAULTS
from conformance.scenario import Timing, load_scenarios

from conftest import TIME_SCALE

KEY = "fault-test-key"


async def _suite_against(faults: frozenset[str]) -> tuple[CaseRecord, ...]:
    scenarios = load_scenarios()
    async with MockServer(MockConfig(api_key=KEY, time_scale=TIME_SCALE, faults=faults)) as mock:
        runner = Runner(scenarios, mock.url, RunOptions(timing=Timing(scale=TIME_SCALE), api_key=KEY))
        async for event in runner.execute():
            if isinstance(event, RunFinished):
                return event.records
    raise AssertionError("the run did not finish")


async def _all() -> dict[str, tuple[CaseRecord, ...]]:
    names = ["", *FAULTS]
    outcomes = await asyncio.gather(*(_suite_against(frozenset([n]) if n else frozenset()) for n in names))
    return dict(zip(names, outcomes))


def _flagged(records: tuple[CaseRecord, ...]) -> set[str]:
    return {r.rule_id for record in records for r in record.results if r.verdict in (Verdict.FAILED, Verdict.NON_STRICT)}


def test_every_fault_is_caught_on_the_rule_it_breaks() -> None:
    """Clean mock: nothing flagged. Each fault: its own rule is FAILED or NON-STRICT."""
    runs = asyncio.run(_all())
    assert _flagged(runs[""]) == set(), "the clean mock must pass every rule"
    missed = {name: sorted(_flagged(runs[name])) for name, fault in FAULTS.items() if fault.rule not in _flagged(runs[name])}
    assert not missed, f"faults not caught on their rule (fault: rules flagged instead): {missed}"
    errors = [f"{name}/{r.id}: {r.error}" for name, records in runs.items() for r in records if r.status.value == "ERROR"]
    assert not errors
    catalog = load_catalog()
    assert exit_code_for(runs[""]) == 0
    for name, fault in FAULTS.items():
        expected = 1 if catalog[fault.rule].level is Level.MUST else 0
        assert exit_code_for(runs[name]) >= expected, f"{name} breaks MUST rule {fault.rule} but the run would exit 0"
