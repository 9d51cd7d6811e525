"""Human output: a line per scenario as it finishes, then a by-rule summary and the totals.

This is the only module of the run that prints.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from conformance.catalog import load_catalog
from conformance.engine.events import (
    Event,
    FatalError,
    Interrupted,
    NonFatalError,
    RunFinished,
    RunStarted,
    ScenarioFinished,
    ScenarioStarted,
)
from conformance.engine.record import CaseRecord, Status
from conformance.redaction import printable
from conformance.report.traces import has_finding
from conformance.verdicts import HARNESS_LATE, RuleResult, Verdict

__all__ = [
    "ConsoleHandler",
    "rule_summary",
    "RuleSummary",
    "case_label",
    "cause_of",
    "harness_summary",
    "HarnessSummary",
]

_CASE_LABEL = {
    Status.SUCCESS: "PASS",
    Status.FAILURE: "FAIL",
    Status.ERROR: "ERROR",
    Status.SKIP: "SKIP",
    Status.INTERRUPTED: "STOP",
    Status.XFAIL: "XFAIL",
    Status.XPASS: "XPASS",
}


@dataclass
class RuleSummary:
    """One rule across the run: its worst verdict, which cases judged it, and its findings grouped
    by cause (the same message with other numbers), each with the cases it came from, once."""

    rule_id: str
    level: str
    verdict: Verdict
    cases: list[str] = field(default_factory=list)
    broken_in: list[str] = field(default_factory=list)
    causes: dict[str, tuple[str, list[str]]] = field(default_factory=dict)


def cause_of(message: str) -> str:
    """A finding's cause: its message with numbers blanked, so one defect seen in many cases (at other
    times, in other frames) reads as one cause."""
    return re.sub(r"\d+(\.\d+)?", "#", message)


def rule_summary(records: Sequence[CaseRecord]) -> list[RuleSummary]:
    """Aggregate per-case verdicts by rule, in catalog order. Causes are kept for the verdicts that
    need a reader's attention: broken, unimplemented, and not judged where no case judged the rule."""
    by_rule: dict[str, RuleSummary] = {}
    for record in records:
        for result in record.results:
            summary = by_rule.setdefault(
                result.rule_id, RuleSummary(result.rule_id, result.level.value, Verdict.NOT_JUDGED)
            )
            summary.cases.append(record.id)
            if result.verdict.rank > summary.verdict.rank:
                summary.verdict, summary.causes = result.verdict, {}
            if result.verdict is summary.verdict and result.verdict in _NOTABLE:
                _, cases = summary.causes.setdefault(cause_of(result.message), (result.message, []))
                cases.append(record.id)
            if result.verdict.broken:
                summary.broken_in.append(record.id)
    order = {rule.id: i for i, rule in enumerate(load_catalog())}
    return sorted(by_rule.values(), key=lambda s: order.get(s.rule_id, len(order)))


_NOTABLE = (Verdict.FAILED, Verdict.NON_STRICT, Verdict.UNIMPLEMENTED, Verdict.NOT_JUDGED)
# SGR colours of the labels that open a case's line: green, yellow, red, cyan.
_COLOURS = {
    "PASS": "32",
    "XFAIL": "32",
    "WARN": "33",
    "N/J": "33",
    "N/A": "36",
    "FAIL": "31",
    "ERROR": "31",
    "XPASS": "31",
    "STOP": "33",
}


@dataclass(frozen=True)
class HarnessSummary:
    """How late the suite itself ran at worst over a run, in which case, and how many verdicts it
    could not judge for it."""

    worst: float
    where: str
    case: str | None
    not_judged: int

    def describe(self) -> str:
        if self.case is None:
            return "the suite itself was never late by more than 3 ms"
        excused = (
            f"; {self.not_judged} verdict(s) not judged for it (rerun on a quieter machine, or with a larger --time-scale against a mock)"
            if self.not_judged
            else ""
        )
        return (
            f"the suite's own lateness at worst: {self.worst * 1000:.0f} ms (its {self.where}, in {self.case}){excused}"
        )


def harness_summary(records: Sequence[CaseRecord]) -> HarnessSummary:
    """The run's worst harness lateness (see :mod:`conformance.checks.harness`)."""
    late = [(r.harness_lateness, r.id) for r in records if r.harness_lateness is not None]
    excused = sum(
        1 for r in records for x in r.results if x.verdict is Verdict.NOT_JUDGED and HARNESS_LATE in x.message
    )
    if not late:
        return HarnessSummary(0.0, "", None, excused)
    (seconds, where), case = max(late, key=lambda item: item[0][0])
    return HarnessSummary(seconds, where, case, excused)


def case_label(record: CaseRecord) -> str:
    """PASS, WARN, N/A (every own rule refused), N/J (none judged), FAIL, ERROR, SKIP, ..."""
    if record.status is Status.SUCCESS and record.worst is Verdict.NON_STRICT:
        return "WARN"
    own = [r for r in record.results if r.rule_id in record.rules]
    if record.status is Status.SUCCESS and own and all(r.verdict is Verdict.UNIMPLEMENTED for r in own):
        return "N/A"
    if (
        record.status is Status.SUCCESS
        and own
        and all(r.verdict in (Verdict.UNIMPLEMENTED, Verdict.NOT_JUDGED) for r in own)
    ):
        return "N/J"
    return _CASE_LABEL[record.status]


def _shown(result: RuleResult, record: CaseRecord) -> bool:
    """Without -v: findings, recorded behaviour, and the scenario's own rules left unjudged."""
    if result.verdict is Verdict.NOT_JUDGED:
        return result.rule_id in record.rules
    return result.verdict in (Verdict.FAILED, Verdict.NON_STRICT, Verdict.INFORMATIONAL, Verdict.UNIMPLEMENTED)


def _refused_upgrade(summary: RuleSummary) -> bool:
    """Every case that was to judge this rule got no stream: the upgrade was answered with an error."""
    return bool(summary.causes) and all(
        message.startswith("not exercised: the upgrade was answered with HTTP")
        for message, _ in summary.causes.values()
    )


def _cases(cases: list[str]) -> str:
    unique = list(dict.fromkeys(cases))
    return unique[0] if len(unique) == 1 else f"{len(unique)} scenarios: {', '.join(unique)}"


class ConsoleHandler:
    """Writes progress and the summary to ``stream``.

    Args:
        stream: Where to write (stdout by default).
        verbose: Also list every rule verdict of passing cases.
        trace_dir: Shown in the summary when traces were written.
        reports: The report files the run writes, named in the summary (the totals line stays last).

    On a terminal (and not under CI) a status line shows what is running; elsewhere the output is
    plain lines only, one per finished scenario.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        verbose: bool = False,
        trace_dir: str | None = None,
        reports: Sequence[str] = (),
    ) -> None:
        self.stream = stream or sys.stdout
        self.verbose = verbose
        self.trace_dir = trace_dir
        self.reports = list(reports)
        self.width = min(120, shutil.get_terminal_size((100, 24)).columns)
        self.traces_written = False
        self.live = self.stream.isatty() and not os.environ.get("CI")
        # Colour on a terminal unless NO_COLOR asks otherwise (no-color.org) or the terminal is dumb.
        self.colour = self.stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        self.running: list[str] = []
        self.finished = 0
        self.total = 0
        self.seen_causes: dict[tuple[str, str], str] = {}
        self.seen_errors: dict[str, str] = {}

    def start(self) -> None:
        """Nothing to prepare."""

    def _print(self, text: str = "", *, label: str = "") -> None:
        """One line; whatever a peer put into ``text`` cannot move the cursor or colour the screen.
        ``label`` opens the line, in its colour on a terminal that takes colour."""
        if self.live:
            self.stream.write("\r\033[K")
        colour = _COLOURS.get(label.strip()) if self.colour else None
        shown = f"\033[{colour}m{label}\033[0m" if colour else label
        print(shown + printable(text), file=self.stream, flush=True)

    def _status(self) -> None:
        """Redraw the status line (terminal only)."""
        if not self.live or not self.running:
            return
        line = printable(f"[{self.finished}/{self.total}] running: {', '.join(self.running)}")
        self.stream.write("\r\033[K" + line[: self.width - 1])
        self.stream.flush()

    def handle_event(self, event: Event) -> None:
        """Render one event."""
        if isinstance(event, RunStarted):
            scale = f", time scale {event.timing.scale:g}" if event.timing.scale != 1 else ""
            self.total, self.finished = event.scenario_count, 0
            if event.open_ended:
                self._print(f"conformance: judging every client connection to {event.target} as it ends{scale}")
            else:
                self._print(
                    f"conformance: {event.scenario_count} scenario(s) against {event.target} ({event.jobs} at a time{scale})"
                )
            if event.tls_insecure:
                self._print(
                    "warning: TLS certificate verification is DISABLED (--insecure); this run does not prove the endpoint's identity"
                )
        elif isinstance(event, ScenarioStarted):
            self.running.append(event.scenario_id)
            self._status()
        elif isinstance(event, ScenarioFinished):
            self.finished += 1
            if event.record.id in self.running:
                self.running.remove(event.record.id)
            self._case(event.record)
            self._status()
        elif isinstance(event, RunFinished):
            self._summary(event)
        elif isinstance(event, FatalError):
            self._print(f"error: {event.message}")
        elif isinstance(event, NonFatalError):
            self._print(f"warning: {event.message}")
        elif isinstance(event, Interrupted):
            self._print(
                f"interrupted by {event.signal}: the reports keep what finished (a second {event.signal} ends the process at once)"
            )

    def _case(self, record: CaseRecord) -> None:
        self._print(
            f" {record.id:32} {record.title[: self.width - 52]:<{self.width - 52}} {record.duration:6.1f}s",
            label=f"{case_label(record):5}",
        )
        if record.error:
            shown_in = self.seen_errors.setdefault(cause_of(record.error), record.id)
            self._print(
                f"      {record.error}" if shown_in == record.id else f"      {'same cause':13} ERROR as in {shown_in}"
            )
        if record.trace is not None and record.trace.handshake.redirected_to:
            self._print(
                f"      the upgrade was redirected to {record.trace.handshake.redirected_to} (--follow-redirects)"
            )
        shown = record.results if self.verbose else [r for r in record.results if _shown(r, record)]
        unjudged: dict[str, list[str]] = {}
        repeated: list[str] = []
        for result in shown:
            first = self._first_seen(record, result)
            if result.verdict is Verdict.NOT_JUDGED:
                unjudged.setdefault(result.message, []).append(result.rule_id)
            elif first is not None:
                repeated.append(f"{result.rule_id} {result.verdict.value} as in {first}")
            else:
                self._print(f"      {result.verdict.value:13} {result.rule_id} ({result.level.value}) {result.message}")
        for reason, rules in unjudged.items() if record.status is not Status.ERROR else ():
            self._print(f"      {Verdict.NOT_JUDGED.value:13} {', '.join(rules)}: {reason}")
        if repeated:
            self._print(f"      {'same cause':13} {'; '.join(repeated)}")
        if has_finding(record):
            self.traces_written = True

    def _first_seen(self, record: CaseRecord, result: RuleResult) -> str | None:
        """The case that showed this finding's cause first, when it was another one: each cause is
        printed in full once, later cases only point to it."""
        if result.verdict not in (Verdict.FAILED, Verdict.NON_STRICT, Verdict.UNIMPLEMENTED):
            return None
        first = self.seen_causes.setdefault((result.rule_id, cause_of(result.message)), record.id)
        return first if first != record.id else None

    def _summary(self, event: RunFinished) -> None:
        """One screen: verdict counts over rules, each rule that needs attention with its causes
        (the cases listed once per cause), case totals, traces. ``--verbose`` adds the full table."""
        summaries = rule_summary(event.records)
        self._print()
        if self.verbose:
            self._rule_table(summaries)
        tally = Counter(s.verdict for s in summaries)
        self._print(
            "rules: " + ", ".join(f"{tally[v]} {v.value}" for v in sorted(Verdict, key=lambda v: -v.rank) if tally[v])
        )
        catalog = load_catalog()
        refused = [s.rule_id for s in summaries if s.verdict is Verdict.NOT_JUDGED and _refused_upgrade(s)]
        for summary in summaries:
            if summary.verdict in _NOTABLE and summary.rule_id not in refused:
                self._print(f"  {summary.verdict.value:13} {summary.rule_id:7} {catalog[summary.rule_id].statement}")
                for message, cases in summary.causes.values():
                    self._print(f"  {'':13} {'':7} {message} — in {_cases(cases)}")
        if refused:
            self._print(
                f"  {Verdict.NOT_JUDGED.value:13} {len(refused)} rule(s) whose every case was refused at the upgrade (the ERROR below): {', '.join(refused)}"
            )
        errors: dict[str, tuple[str, list[str]]] = {}
        for record in event.records:
            if record.status is Status.ERROR and record.error:
                errors.setdefault(cause_of(record.error), (record.error, []))[1].append(record.id)
        for message, cases in errors.values():
            self._print(f"  {'ERROR':13} {len(cases)} case(s) could not run: {message} — in {_cases(cases)}")
        self._print(harness_summary(event.records).describe())
        if self.traces_written and self.trace_dir:
            self._print(f"traces of the scenarios with findings: {self.trace_dir}")
        if self.reports:
            self._print(f"reports: {', '.join(self.reports)}")
        self._print(self._totals(event))

    def _rule_table(self, summaries: list[RuleSummary]) -> None:
        catalog = load_catalog()
        self._print(f"{'rule':9} {'level':6} {'verdict':13} {'cases':>5}  statement")
        for summary in summaries:
            self._print(
                f"{summary.rule_id:9} {summary.level:6} {summary.verdict.value:13} {len(summary.cases):5}  {catalog[summary.rule_id].statement}"
            )
        self._print()

    @staticmethod
    def _totals(event: RunFinished) -> str:
        records = event.records
        counts = Counter(r.status for r in records)
        warned = sum(1 for r in records if r.status is Status.SUCCESS and r.worst is Verdict.NON_STRICT)
        unimplemented = sum(1 for r in records if any(x.verdict is Verdict.UNIMPLEMENTED for x in r.results))
        unjudged = sum(
            1 for r in records if any(x.verdict is Verdict.NOT_JUDGED and x.rule_id in r.rules for x in r.results)
        )
        parts = [
            f"{counts[Status.SUCCESS] - warned} passed",
            f"{warned} non-strict",
            f"{counts[Status.FAILURE]} failed",
            f"{counts[Status.ERROR]} error(s)",
            f"{counts[Status.SKIP]} skipped",
        ]
        if counts[Status.XFAIL] or counts[Status.XPASS]:
            parts += [f"{counts[Status.XFAIL]} expected failure(s)", f"{counts[Status.XPASS]} unexpected pass(es)"]
        if counts[Status.INTERRUPTED]:
            parts.append(f"{counts[Status.INTERRUPTED]} cut short")
        extra = f"; {unimplemented} with an unimplemented feature, {unjudged} with rules not judged"
        stopped = f"interrupted by {event.interrupted}: " if event.interrupted else ""
        return f"{stopped}{len(records)} scenario(s): {', '.join(parts)}{extra} in {event.duration:.1f}s; exit {event.exit_code}"

    def shutdown(self) -> None:
        """Nothing to release."""
