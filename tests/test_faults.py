"""The suite's own mutation score: the clean mock passes, and every fault is caught on its rule."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.catalog import Level, load_catalog
from conformance.cli import main
from conformance.engine.record import exit_code_for
from conformance.mock.faults import FAULTS
from conformance.scenario import Timing, load_scenarios
from conformance.selftest import run_selftest

from conftest import MS, TIME_SCALE


def test_selftest_as_the_readme_writes_it() -> None:
    """`conformance selftest`, the command docs/proofs.md shows, as a user types it (the console script,
    its own defaults, every scenario against every fault): exit 0, the clean mock passes with
    every rule exercised, and each fault is caught on its rule alone. Run apart, in its own
    process: nothing in this test may play the suite at another speed than the user's command."""
    command = "conformance selftest"
    assert f"{command} " in Path(__file__).resolve().parents[1].joinpath("docs", "proofs.md").read_text(
        encoding="utf-8"
    )
    script = Path(sys.executable).with_name("conformance")
    done = subprocess.run(
        [str(script), *command.split()[1:]], capture_output=True, text=True, timeout=600_000 * MS, check=False
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    count = len(FAULTS)
    assert (
        f"mutation score: {count}/{count} faults caught on their rule (100 %), {count} of them alone (no other rule flagged); clean mock passes"
        in out
    ), out
    assert "also flagged" not in out and "inconclusive" not in out and "not exercised" not in out, out


def test_a_broken_must_rule_makes_the_run_exit_1() -> None:
    """Each fault of a MUST rule, caught by the suite, fails the run that finds it (exit 1)."""
    catalog = load_catalog()
    must = [
        name
        for name, fault in FAULTS.items()
        if catalog[fault.rule].level is Level.MUST and name in ("finalize-closes-stream", "keepalive-answered")
    ]
    scenarios = [s for s in load_scenarios() if s.id in ("finalize.all.1", "keepalive.idle.1")]
    results = asyncio.run(run_selftest(scenarios, Timing(scale=TIME_SCALE), must, processes=1))
    assert exit_code_for(results[0].records) == 0
    for mutant in results[1:]:
        assert mutant.caught and mutant.alone, (mutant.fault, mutant.stray_findings)
        assert exit_code_for(mutant.records) == 1, f"{mutant.fault} breaks a MUST rule but the run would exit 0"


def test_selftest_command_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "streaming_multichannel.yaml"
    code = main(
        [
            "selftest",
            "--fault",
            "results-schema-violation",
            "--fault",
            "multichannel-merged",
            "--scenario",
            str(scenario),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "results-schema-violation       MSG-1   yes     yes    MSG-1" in out
    assert (
        "mutation score: 2/2 faults caught on their rule (100 %), 2 of them alone (no other rule flagged); clean mock passes"
        in out
    )


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
    judged = {rule for scenario in load_scenarios() for rule in scenario.rules} | {
        rule for rule, _ in registered_checks()
    }
    needed = {rule for rule in judged if catalog[rule].level in (Level.MUST, Level.SHOULD)}
    missing = sorted(needed - {fault.rule for fault in FAULTS.values()})
    assert not missing, f"rules with no fault to prove they are caught: {missing}"
