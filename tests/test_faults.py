"""The suite's own mutation score: the clean mock passes, and every fault is caught on its rule."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conformance.catalog import Level, load_catalog
from conformance.cli import main
from conformance.engine.record import exit_code_for
from conformance.mock.faults import FAULTS
from conformance.scenario import Timing, load_scenarios
from conformance.selftest import run_selftest
from conformance.verdicts import Verdict

from conftest import TIME_SCALE


# The format scenarios meet the faults of the rules they carry: each of them decodes a codec in
# the mock, and all of them against every fault would double the self-test's time.
_FORMAT_FAULTS = [name for name, fault in FAULTS.items() if fault.rule.startswith("ENC-")] + ["never-transcribes", "metadata-duration-wrong", "words-outside-result"]


def test_every_fault_is_caught_on_the_rule_it_breaks() -> None:
    """Clean mock: nothing flagged, nothing left unjudged, exit 0. Each fault: its own rule is FAILED
    or NON-STRICT and no other rule is (one cause, one finding), and a broken MUST rule makes the
    run exit 1."""
    scenarios = [s for s in load_scenarios() if "encoding" not in s.tags]
    faults = [name for name in FAULTS if not FAULTS[name].rule.startswith("ENC-")]
    _assert_caught_alone(asyncio.run(run_selftest(scenarios, Timing(scale=TIME_SCALE), faults, audio_speed=3.0)), faults)


def test_format_scenarios_catch_their_faults_in_decoded_audio_time() -> None:
    """The encoding scenarios pass against the clean mock, which decodes every format; a mock that
    refuses codecs or containers is caught on ENC-1/ENC-2 alone; transcripts, Metadata.duration
    and word times are judged in decoded audio time whatever the format."""
    scenarios = [s for s in load_scenarios() if "encoding" in s.tags]
    # One event loop, as on a one-CPU machine: the other test spreads the suites over processes.
    results = asyncio.run(run_selftest(scenarios, Timing(scale=TIME_SCALE), _FORMAT_FAULTS, audio_speed=3.0, processes=1))
    _assert_caught_alone(results, _FORMAT_FAULTS)


def _assert_caught_alone(results: list, faults: list[str]) -> None:  # type: ignore[type-arg]
    clean, mutants = results[0], results[1:]
    flagged = [f"{record.id} {r.rule_id} {r.verdict.value}: {r.message}" for record in clean.records for r in record.results if r.verdict.broken]
    assert clean.fault is None and clean.caught, "the clean mock must pass:\n" + "\n".join(flagged + clean.errors)
    assert exit_code_for(clean.records) == 0
    assert [m.fault for m in mutants] == faults
    missed = {m.fault: sorted(m.flagged) for m in mutants if not m.caught}
    assert not missed, f"faults not caught on their rule (fault: rules flagged instead): {missed}"
    cascades = [
        f"{m.fault}: {record.id} {r.rule_id} {r.verdict.value}: {r.message}"
        for m in mutants if not m.alone for record in m.records for r in record.results
        if r.verdict.broken and r.rule_id != FAULTS[m.fault or ""].rule
    ]
    assert not cascades, "faults that also flag other rules:\n" + "\n".join(cascades)
    unjudged = [(r.id, v.rule_id, v.message) for r in clean.records for v in r.results if v.verdict in (Verdict.NOT_JUDGED, Verdict.UNIMPLEMENTED)]
    assert not unjudged, f"the clean mock leaves rules unexercised: {unjudged}"
    assert not [error for m in mutants for error in m.errors]
    catalog = load_catalog()
    for mutant in mutants:
        if catalog[FAULTS[mutant.fault].rule].level is Level.MUST:
            assert exit_code_for(mutant.records) == 1, f"{mutant.fault} breaks a MUST rule but the run would exit 0"


def test_selftest_command_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "streaming_multichannel.yaml"
    code = main(["selftest", "--fault", "results-schema-violation", "--fault", "multichannel-merged", "--scenario", str(scenario)])
    out = capsys.readouterr().out
    assert code == 0
    assert "results-schema-violation       MSG-1   yes     yes    MSG-1" in out
    assert "mutation score: 2/2 faults caught on their rule (100 %), 2 of them alone (no other rule flagged); clean mock passes" in out


def test_selftest_fails_when_a_fault_goes_unnoticed(capsys: pytest.CaptureFixture[str]) -> None:
    """A suite without the scenario that would notice a fault scores below 100 % and exits 1."""
    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "streaming_multichannel.yaml"
    code = main(["selftest", "--fault", "keepalive-ignored", "--scenario", str(scenario)])
    assert code == 1
    assert "keepalive-ignored              KA-2    NO" in capsys.readouterr().out


def test_faults_cover_every_judged_must_and_should_rule() -> None:
    """Every MUST or SHOULD rule that a scenario or an automatic check judges has a fault that
    breaks it, so the mutation score speaks for the whole suite."""
    from conformance.checks import registered_checks

    catalog = load_catalog()
    judged = {rule for scenario in load_scenarios() for rule in scenario.rules} | {rule for rule, _ in registered_checks()}
    needed = {rule for rule in judged if catalog[rule].level in (Level.MUST, Level.SHOULD)}
    missing = sorted(needed - {fault.rule for fault in FAULTS.values()})
    assert not missing, f"rules with no fault to prove they are caught: {missing}"
