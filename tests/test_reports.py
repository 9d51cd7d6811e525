"""The console, JUnit and trace reports over hand-built records: one cause is one line, nothing a
finding says is cut, every verdict is counted, and the evidence of every finding is kept."""

from __future__ import annotations

import io
import json
from pathlib import Path

from conformance.catalog import Level
from conformance.engine.events import RunFinished, RunStarted, ScenarioFinished
from conformance.engine.record import CaseRecord, Status
from conformance.engine.trace import Handshake, Trace
from conformance.report.console import ConsoleHandler, cause_of
from conformance.report.traces import TraceHandler
from conformance.scenario import Timing
from conformance.verdicts import RuleResult, Verdict

LONG = "the 101 response has no dg-request-id header; " + "and what was seen goes on " * 20 + "to the very end"


def _record(case_id: str, *results: tuple[str, Level, Verdict, str], rules: tuple[str, ...] = ("CS-1",)) -> CaseRecord:
    record = CaseRecord(case_id, f"title of {case_id}", "", rules, Status.SUCCESS)
    record.results = [RuleResult(rule, level, verdict, message) for rule, level, verdict, message in results]
    record.status = Status.FAILURE if any(r.verdict is Verdict.FAILED for r in record.results) else Status.SUCCESS
    record.trace = Trace(case_id, Timing(), 1, 1, 16000, Handshake("ws://x/v1/listen", status=101))
    return record


def _console(records: list[CaseRecord]) -> str:
    out = io.StringIO()
    console = ConsoleHandler(out)
    console.handle_event(RunStarted(target="ws://x", scenario_count=len(records), timing=Timing(), jobs=1))
    for record in records:
        console.handle_event(ScenarioFinished(record=record))
    console.handle_event(RunFinished(records=tuple(records), exit_code=1, duration=1.0))
    return out.getvalue()


def test_one_cause_in_many_cases_is_printed_in_full_once() -> None:
    """A finding seen in 15 cases: its message once per case list and once in the summary, uncut."""
    records = [_record(f"case.{n:02}", ("HS-2", Level.SHOULD, Verdict.NON_STRICT, LONG)) for n in range(15)]
    out = _console(records)
    assert out.count(LONG) == 2, out  # the first case's lines and the summary's cause
    assert out.count("HS-2 NON-STRICT as in case.00") == 14
    assert "— in 15 scenarios: case.00, case.01" in out


def test_causes_differing_only_in_numbers_are_one_cause() -> None:
    assert cause_of("closed 1011 at 3.204s, 0.002s after Finalize #150") == cause_of(
        "closed 1011 at 9.1s, 0.5s after Finalize #7"
    )
    assert cause_of("no Metadata after CloseStream") != cause_of("no Results after CloseStream")


def test_totals_count_unimplemented_and_not_judged_beside_non_strict() -> None:
    """A case whose worst verdict is NON-STRICT but which also lacks a feature counts as both."""
    record = _record(
        "configure.1",
        ("HS-2", Level.SHOULD, Verdict.NON_STRICT, "no dg-request-id"),
        ("CFG-1", Level.SHOULD, Verdict.UNIMPLEMENTED, "the endpoint ignored Configure #3"),
        rules=("CFG-1",),
    )
    unjudged = _record(
        "keepalive.idle.1", ("KA-2", Level.MUST, Verdict.NOT_JUDGED, "not exercised: no idle close"), rules=("KA-2",)
    )
    out = _console([record, unjudged])
    assert (
        "2 scenario(s): 1 passed, 1 non-strict, 0 failed, 0 error(s), 0 skipped; 1 with an unimplemented feature, 1 with rules not judged"
        in out
    )
    assert "N/J   keepalive.idle.1" in out and "NOT JUDGED    KA-2: not exercised: no idle close" in out
    assert "rules: 1 NON-STRICT, 1 UNIMPLEMENTED, 1 NOT JUDGED" in out


def test_traces_are_kept_for_non_strict_and_unimplemented_cases(tmp_path: Path) -> None:
    handler = TraceHandler(tmp_path)
    warned = _record("warned.1", ("HS-2", Level.SHOULD, Verdict.NON_STRICT, "no dg-request-id"))
    refused = _record("refused.1", ("CFG-1", Level.SHOULD, Verdict.UNIMPLEMENTED, "refused"))
    clean = _record("clean.1", ("CS-1", Level.MUST, Verdict.OK, "held"))
    for record in (warned, refused, clean):
        handler.handle_event(ScenarioFinished(record=record))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refused.1.jsonl", "warned.1.jsonl"]
    lines = [json.loads(line) for line in (tmp_path / "warned.1.jsonl").read_text().splitlines()]
    assert lines[-1] == {
        "record": "verdict",
        "rule": "HS-2",
        "level": "SHOULD",
        "verdict": "NON-STRICT",
        "message": "no dg-request-id",
        "frame": None,
    }


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_case_labels_are_coloured_on_a_terminal_only(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """On a terminal the label that opens a case's line is coloured (green PASS, red FAIL); with
    NO_COLOR, or into a file or pipe, the line is plain. Text from a peer is never coloured."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("CI", "1")  # no status line redraws: only the colours differ
    passed = CaseRecord("a.1", "t \x1b[31mred", "", (), Status.SUCCESS)
    failed = CaseRecord("b.1", "t", "", (), Status.FAILURE, [RuleResult("CS-1", Level.MUST, Verdict.FAILED, "x")])
    outputs = {}
    for name, stream, colour in (
        ("tty", _Terminal(), True),
        ("file", io.StringIO(), False),
        ("no_color", _Terminal(), False),
    ):
        if name == "no_color":
            monkeypatch.setenv("NO_COLOR", "1")
        console = ConsoleHandler(stream)
        for record in (passed, failed):
            console.handle_event(ScenarioFinished(record=record))
        outputs[name] = stream.getvalue()
        assert ("\x1b[32mPASS " in outputs[name] and "\x1b[31mFAIL " in outputs[name]) is colour, outputs[name]
    assert "\x1b[31mred" not in outputs["tty"] and "\\x1b[31mred" in outputs["tty"]
