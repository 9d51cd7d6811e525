"""Our lateness is never the server's failure: a timing window the suite itself overran is NOT
JUDGED, naming how late the suite was, and the reports say how late it was at worst."""

from __future__ import annotations

import asyncio
import time

import pytest

from conformance.checks import judge
from conformance.checks.harness import case_tolerance, overran_window, worst_lateness
from conformance.engine import plan as plan_module
from conformance.engine.trace import BROKEN, Outcome
from conformance.mock import MockConfig, MockServer
from conformance.run.runner import Runner, RunOptions
from conformance.scenario import Timing, load_scenarios
from conformance.scenario import model as m
from conformance.verdicts import HARNESS_LATE, Verdict

from conftest import TIME_SCALE
from test_checks import Script, metadata, results

IDLE = next(s for s in load_scenarios() if s.id == "timeout.idle.1")


async def _play_idle(stall: float | None) -> dict[str, object]:
    """The idle scenario against the clean mock sharing this loop; with ``stall``, the loop is
    blocked that long from 0.5 s into the idle window, across both the mock's idle close (1 s)
    and the window's end (1.3 s)."""
    timing = Timing(scale=TIME_SCALE)
    async with MockServer(MockConfig(time_scale=TIME_SCALE)) as mock:
        record = await Runner([IDLE], mock.url, RunOptions(timing=timing, audio_speed=2.0)).play(IDLE)
    return {"record": record, "verdicts": {r.rule_id: r for r in record.results}}


def _stall_in_the_idle_window(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    original = plan_module.expectation_runner

    def runner_that_stalls(label: str, step: m.Step, ctx: object, now: float) -> object:
        if isinstance(step, m.ExpectClose):
            asyncio.get_running_loop().call_later(0.5, time.sleep, seconds)
        return original(label, step, ctx, now)  # type: ignore[arg-type]

    monkeypatch.setattr(plan_module, "expectation_runner", runner_that_stalls)


def test_a_window_the_suite_overran_is_not_judged_and_says_how_late_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop that runs both the suite and the mock is blocked across the idle close and the end
    of TO-1's window: TO-1 is NOT JUDGED naming the suite's lateness, nothing is FAILED or
    NON-STRICT, and the case records how late the suite was."""
    _stall_in_the_idle_window(monkeypatch, 1.2)
    played = asyncio.run(_play_idle(stall=1.2))
    verdicts, record = played["verdicts"], played["record"]
    assert verdicts["TO-1"].verdict is Verdict.NOT_JUDGED, verdicts["TO-1"]  # type: ignore[index]
    assert verdicts["TO-1"].message.startswith(HARNESS_LATE)  # type: ignore[index]
    assert not [r for r in record.results if r.verdict.broken], record.results  # type: ignore[attr-defined]
    assert record.harness_lateness is not None and record.harness_lateness[0] >= 1.0  # type: ignore[attr-defined]
    assert "event loop" in record.harness_lateness[1]  # type: ignore[attr-defined]


def test_the_same_window_is_judged_when_the_suite_keeps_time() -> None:
    """Control: without the stall the same case judges TO-1 (OK), and the suite was never late
    by as much as the case's tolerance."""
    played = asyncio.run(_play_idle(stall=None))
    verdicts, record = played["verdicts"], played["record"]
    assert verdicts["TO-1"].verdict is Verdict.OK  # type: ignore[index]
    assert record.harness_lateness is None or record.harness_lateness[0] < 1.0  # type: ignore[attr-defined]


def _broken_window(t: float, deadline: float, opened: float = 1.0) -> Outcome:
    return Outcome(
        "2",
        "TO-1",
        BROKEN,
        "server closes within 1.300s",
        "still open when the window ended",
        t,
        absence=True,
        deadline=deadline,
        opened=opened,
    )


def test_a_broken_window_is_the_servers_only_when_the_suite_was_on_time_in_it() -> None:
    """Judged on time with the loop running: the server's finding. Judged 200 ms late, or with the
    loop stalled in the window (a server on the same loop got the frame it answers that late; a
    frame that came was read that late), and a frame read within that much after the window's
    end: not judged, saying so. A stall before the window opened, or nothing read for long
    after: the lateness hid nothing, the finding stands."""
    trace = (
        Script(scale=TIME_SCALE).audio(1).at(2.4).recv(results(0, 1)).at(2.52).close(code=1011, reason="NET-0001").trace
    )
    assert overran_window(trace, _broken_window(2.301, 2.3)) is None
    assert "lost 200 ms in the window (1.000s to 2.300s), and what it read right after (at 2.520s)" in (
        overran_window(trace, _broken_window(2.5, 2.3)) or ""
    )
    trace.harness_stalls = [(2.25, 2.49)]
    assert "lost 240 ms in the window" in (overran_window(trace, _broken_window(2.301, 2.3)) or "")
    trace.harness_stalls = [(1.1, 1.4)]
    assert "lost 300 ms in the window" in (overran_window(trace, _broken_window(2.301, 2.3)) or "")
    assert overran_window(trace, _broken_window(2.301, 2.3, opened=1.6)) is None, "the stall came before the window"
    trace.harness_stalls = [(2.28, 2.32)]
    assert overran_window(trace, _broken_window(2.301, 2.3)) is None, "nothing was read until 200 ms after the stall"
    trace.harness_stalls = [(2.25, 2.49)]
    waiting = Outcome(
        "3",
        "UE-1",
        BROKEN,
        "UtteranceEnd within 0.300s",
        "none",
        2.301,
        absence=True,
        deadline=2.3,
        opened=2.0,
        awaited=("UtteranceEnd",),
    )
    assert overran_window(trace, waiting) is None, (
        "a Results read right after is not the UtteranceEnd the step waited for"
    )


def test_judging_leaves_any_rules_window_to_the_suite_when_it_overran_it() -> None:
    """CS-1 reads no wall clock of its own, but its step waits for Metadata in a window: with the
    suite's loop stalled across that window's end the rule is NOT JUDGED, whatever held before."""

    def closing(stalls: list[tuple[float, float]]) -> dict[str, object]:
        script = Script(scale=TIME_SCALE).audio(1).at(1.1).recv(results(0, 1)).send({"type": "CloseStream"})
        script.trace.outcomes.append(
            Outcome(
                "2",
                "CS-1",
                BROKEN,
                "Metadata within 0.500s",
                "0 message(s) in the window",
                1.605,
                absence=True,
                deadline=1.6,
            )
        )
        script.trace.harness_stalls = stalls
        return {
            r.rule_id: r
            for r in judge(
                script.at(1.69).recv(metadata(1)).close().trace,
                m.Scenario(id="t.1", title="t", rules=("CS-1",), steps=()),
            )
        }

    assert closing([])["CS-1"].verdict is Verdict.FAILED  # type: ignore[attr-defined]
    excused = closing([(1.55, 1.7)])["CS-1"]
    assert excused.verdict is Verdict.NOT_JUDGED and excused.message.startswith(HARNESS_LATE), excused  # type: ignore[attr-defined]


def test_a_timed_rule_is_not_judged_after_the_suite_sent_late() -> None:
    """An idle close 0.3 s after the client's last frame at time scale 0.1 (idle timeout 1 s) is an
    early close (TO-3) when the suite kept time; when that audio frame left 400 ms after its due
    time, the close may answer the silence the suite made, and TO-3 is NOT JUDGED naming the send."""

    def session(late: float) -> Script:
        script = Script(scale=TIME_SCALE).audio(1).at(0.9).recv(results(0, 1))
        script.trace.record_audio(b"\x00\x00" * 1600, 1.0 + late, 1.0, "1", 0.1)
        return script.at(1.3 + late).recv(metadata(1.1)).close(code=1011, reason="NET-0001")

    scenario = m.Scenario(id="t.1", title="t", rules=("TO-3",), steps=())
    on_time = {r.rule_id: r for r in judge(session(0.0).trace, scenario)}
    assert on_time["TO-3"].verdict is Verdict.FAILED
    late_trace = session(0.4).trace
    assert case_tolerance(late_trace) == pytest.approx(0.05)
    late = {r.rule_id: r for r in judge(late_trace, scenario)}
    assert late["TO-3"].verdict is Verdict.NOT_JUDGED
    assert late["TO-3"].message.startswith(HARNESS_LATE) and "send of frame #2 400 ms late" in late["TO-3"].message
    assert worst_lateness(late_trace) == (pytest.approx(0.4), 1.0, "send of frame #2")


def test_only_lateness_that_could_have_decided_a_finding_excuses_it() -> None:
    """A KeepAlive at 0.935 s answered (KA-1) at 1.0 s: a 109 ms stall at the start of the case
    could not have made that reply (seen on a busy CI run, it hid a real fault); a stall between
    the KeepAlive and the reply could have (the reply may have come before the KeepAlive left)."""

    def answered(stalls: list[tuple[float, float]]) -> Verdict:
        script = Script(scale=0.2).at(0.935).send({"type": "KeepAlive"}).at(1.0).recv({"type": "KeepAlive"})
        script.trace.harness_stalls = stalls
        return {
            r.rule_id: r.verdict
            for r in judge(script.trace, m.Scenario(id="t.1", title="t", rules=("KA-1",), steps=()))
        }["KA-1"]

    assert answered([]) is Verdict.FAILED
    assert answered([(0.006, 0.115)]) is Verdict.FAILED
    assert answered([(0.88, 1.0)]) is Verdict.NOT_JUDGED
