"""``conformance selftest``, ``rules`` and ``scenarios``: the mutation score and the catalogs."""

from __future__ import annotations

import argparse
import asyncio

from conformance.catalog import load_catalog
from conformance.client.scenario import ClientScenario, load_client_scenarios
from conformance.mock.faults import FAULTS, parse_faults
from conformance.scenario import Timing, load_scenarios, select_scenarios
from conformance.scenario.model import Scenario
from conformance.selftest import run_selftest

__all__ = ["cmd_selftest", "cmd_rules", "cmd_scenarios"]


def cmd_selftest(args: argparse.Namespace) -> int:
    faults = sorted(parse_faults(args.faults))
    results = asyncio.run(run_selftest(load_scenarios(args.scenario_paths), Timing(scale=args.time_scale), faults))
    print(f"{'mock':30} {'breaks':7} {'caught':7} {'alone':6} rules flagged")
    for result in results:
        name = result.fault or "(clean)"
        breaks = FAULTS[result.fault].rule if result.fault else "-"
        flagged = ", ".join(sorted(result.flagged)) or "none"
        print(
            f"{name:30} {breaks:7} {'yes' if result.caught else 'NO':7} {'yes' if result.alone else 'NO':6} {flagged}"
        )
        for finding in result.stray_findings:
            print(f"{'':4}also flagged: {finding}")
        for error in result.errors:
            print(f"{'':4}error: {error}")
        for unexercised in result.unexercised if result.fault is None else ():
            print(f"{'':4}not exercised against the reference: {unexercised}")
        for note in result.harness_late:
            print(f"{'':4}inconclusive: {note}")
    mutants = [r for r in results if r.fault]
    caught, alone = sum(r.caught for r in mutants), sum(r.caught and r.alone for r in mutants)
    clean = results[0].caught
    print(
        f"\nmutation score: {caught}/{len(mutants)} faults caught on their rule ({100 * caught / max(1, len(mutants)):.0f} %), "
        f"{alone} of them alone (no other rule flagged); clean mock {'passes' if clean else 'FAILS'}"
    )
    late = sum(1 for r in results if r.harness_late)
    problems = [] if clean else ["the clean mock was flagged, left a rule unexercised, or a case could not run"]
    problems += (
        [
            f"{late} suite(s) stayed inconclusive: the machine kept the suite itself late even when played "
            "alone; rerun on a quieter machine or with a larger --time-scale"
        ]
        if late
        else []
    )
    problems += [f"{len(mutants) - caught} fault(s) not caught on their rule"] if caught < len(mutants) else []
    problems += (
        [f"{caught - alone} fault(s) also flagged another rule (a cascade: one cause, two findings)"]
        if alone < caught
        else []
    )
    if problems:
        print(f"exit 1: {'; '.join(problems)} (see the lines above)")
        return 1
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    scenarios: list[Scenario | ClientScenario] = [*load_scenarios(args.scenario_paths), *load_client_scenarios()]
    for rule in load_catalog():
        testing = [s.id for s in scenarios if rule.id in s.rules]
        print(f"{rule.id:10} {rule.level.value:6} {rule.side:6} {rule.statement}")
        print(f"{'':24}tested by: {', '.join(testing) if testing else '(no scenario yet)'}")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    for scenario in select_scenarios(load_scenarios(args.scenario_paths), args.patterns, args.tags):
        print(f"{scenario.id:32} [{', '.join(scenario.tags)}] {scenario.title}")
    return 0
