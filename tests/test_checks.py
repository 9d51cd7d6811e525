"""Checks as pure functions over hand-built traces."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.checks import NOT_APPLICABLE, CheckContext, closes, judge, lifecycle, messages, timing, transcripts
from conformance.checks.violations import NotJudged, RuleViolation
from conformance.engine.trace import Handshake, Trace
from conformance.scenario import Timing
from conformance.scenario import model as m
from conformance.verdicts import Verdict

CTX = CheckContext()
SCENARIO = m.Scenario(id="t.1", title="t", rules=("CS-1",), steps=())
SECOND = b"\x00\x00" * 16000


class Script:
    """Builds a trace frame by frame on a fake clock."""

    def __init__(self, channels: int = 1, lanes: int = 1, scale: float = 1.0) -> None:
        self.trace = Trace(
            "t.1",
            Timing(scale=scale),
            channels,
            lanes,
            16000,
            Handshake("ws://x/v1/listen", status=101, headers={"dg-request-id": "r1"}, t=0.0),
        )
        self.t = 0.0

    def at(self, t: float) -> Script:
        self.t = t
        return self

    def audio(self, seconds: float, *, speech: bool = True) -> Script:
        """Send ``seconds`` of audio; with ``speech`` the trace counts it as speech (a flush owes finals for it)."""
        before = self.trace.audio_seconds
        self.trace.record_sent(
            "binary",
            b"\x00\x00" * int(16000 * seconds * self.trace.channels),
            self.t,
            audio=True,
            due=None,
            step=None,
            seconds=seconds,
        )
        if speech:
            self.trace.speech.append((before, self.trace.audio_seconds))
        return self

    def send(self, message: dict[str, Any]) -> Script:
        self.trace.record_sent("text", json.dumps(message), self.t, audio=False, due=None, step=None)
        return self

    def recv(self, message: dict[str, Any] | str | bytes) -> Script:
        self.trace.record_received(message if isinstance(message, (str, bytes)) else json.dumps(message), self.t, None)
        return self

    def close(self, by: str = "server", code: int | None = 1000, reason: str = "") -> Script:
        self.trace.record_close(by, code, reason, self.t)
        return self


def results(
    start: float,
    end: float,
    *,
    lane: int = 0,
    lanes: int = 1,
    final: bool = True,
    from_finalize: bool = False,
    words: list[tuple[float, float]] = (),
) -> dict[str, Any]:
    return {
        "type": "Results",
        "channel_index": [lane, lanes],
        "start": start,
        "duration": round(end - start, 6),
        "is_final": final,
        "speech_final": False,
        "from_finalize": from_finalize,
        "channel": {
            "alternatives": [
                {
                    "transcript": " ".join("w" for _ in words),
                    "confidence": 0.9,
                    "words": [{"word": "w", "start": s, "end": e, "confidence": 0.9} for s, e in words],
                }
            ]
        },
        "metadata": {"request_id": "r1", "model_info": {"name": "n", "version": "v", "arch": "a"}, "model_uuid": "u"},
    }


def metadata(duration: float, channels: int = 1, request_id: str = "r1") -> dict[str, Any]:
    return {
        "type": "Metadata",
        "transaction_key": "deprecated",
        "request_id": request_id,
        "sha256": "x",
        "created": "2026-01-01T00:00:00.000Z",
        "duration": duration,
        "channels": channels,
    }


def clean_session() -> Script:
    return (
        Script()
        .audio(1.0)
        .at(0.5)
        .recv(results(0, 0.8, words=[(0.1, 0.5)]))
        .at(1.0)
        .audio(1.0)
        .at(1.5)
        .send({"type": "CloseStream"})
        .at(1.6)
        .recv(results(0.8, 2.0))
        .recv(metadata(2.0))
        .close()
    )


def test_clean_session_holds_every_applicable_rule() -> None:
    """A well-behaved session yields only OK verdicts."""
    verdicts = {r.rule_id: r.verdict for r in judge(clean_session().trace, SCENARIO, CTX)}
    assert set(verdicts.values()) == {Verdict.OK}
    assert {
        "MSG-1",
        "MSG-2",
        "RES-1",
        "RES-2",
        "RES-3",
        "RES-4",
        "CS-1",
        "CS-2",
        "CS-3",
        "CS-4",
        "CS-5",
        "HS-1",
        "HS-2",
    } <= set(verdicts)


def test_tr1_fails_a_server_whose_finals_over_speech_are_all_empty() -> None:
    """TR-1: finals that cover the speech sent but never carry a word: the server transcribed nothing."""
    empty = Script().audio(2.0).recv(results(0, 1.0)).recv(results(1.0, 2.0)).close().trace
    with pytest.raises(RuleViolation, match=r"2 final\(s\) over 2\.0s of the speech sent all have an empty transcript"):
        transcripts.speech_is_transcribed(CTX, empty, SCENARIO)
    one_word = Script().audio(2.0).recv(results(0, 1.0)).recv(results(1.0, 2.0, words=[(1.2, 1.5)])).close().trace
    assert transcripts.speech_is_transcribed(CTX, one_word, SCENARIO) is None


def test_tr1_is_not_judged_without_finals_over_speech() -> None:
    """Silence owes no words, and a stream without finals is CS-1's or FIN-1's finding, not TR-1's."""
    silence = Script().audio(2.0, speech=False).recv(results(0, 2.0)).close().trace
    no_finals = Script().audio(2.0).recv(results(0, 1.0, final=False)).close().trace
    for trace in (silence, no_finals):
        assert transcripts.speech_is_transcribed(CTX, trace, SCENARIO) is NOT_APPLICABLE


def test_msg1_reports_non_json_frame() -> None:
    """Garbage text is a MUST failure that shows the frame."""
    trace = Script().audio(1).recv("hello, not json").trace
    with pytest.raises(RuleViolation, match=r"is not JSON: .*'hello, not json'"):
        messages.server_messages_valid(CTX, trace, SCENARIO)


def test_msg1_reports_unknown_type_and_schema_path() -> None:
    """Unknown types and schema violations are both MSG-1."""
    with pytest.raises(RuleViolation, match="type 'Pong'"):
        messages.server_messages_valid(CTX, Script().recv({"type": "Pong"}).trace, SCENARIO)
    broken = results(0, 1)
    del broken["metadata"]
    with pytest.raises(RuleViolation, match=r"violates its schema at \$: 'metadata' is a required property"):
        messages.server_messages_valid(CTX, Script().recv(broken).trace, SCENARIO)


def test_msg2_flags_binary_from_server() -> None:
    with pytest.raises(RuleViolation, match="binary frame"):
        messages.no_binary_frames(CTX, Script().recv(b"\x00").trace, SCENARIO)


def test_res1_checks_total_against_lanes() -> None:
    """A mono stream must report channel_index [0, 1]."""
    with pytest.raises(RuleViolation, match=r"says 2 channel\(s\)"):
        messages.channel_index_consistent(CTX, Script().audio(1).recv(results(0, 1, lanes=2)).trace, SCENARIO)


def test_res2_flags_word_beyond_audio_sent() -> None:
    """A word timed after the audio sent (wall-clock timing) breaks RES-2."""
    trace = Script().audio(1.0).at(5.0).recv(results(0, 1.0, words=[(4.0, 4.5)])).trace
    with pytest.raises(RuleViolation, match=r"only 1\.000s of audio had been sent"):
        timing.times_on_audio_clock(CTX, trace, SCENARIO)


def test_res3_flags_gap_between_finals() -> None:
    trace = Script().audio(2).recv(results(0, 1.0)).recv(results(1.2, 2.0)).trace
    with pytest.raises(RuleViolation, match="leaves a gap"):
        timing.finals_contiguous(CTX, trace, SCENARIO)


def test_res4_flags_word_outside_result() -> None:
    trace = Script().audio(2).recv(results(0, 1.0, words=[(1.5, 1.8)])).trace
    with pytest.raises(RuleViolation, match="outside its result window"):
        timing.words_inside_result(CTX, trace, SCENARIO)


def test_to3_flags_close_before_idle_timeout() -> None:
    """A server close 3 s after the last frame is early when the timeout is 10 s."""
    trace = Script().audio(1).at(3.0).close(code=1011).trace
    with pytest.raises(
        RuleViolation,
        match=r"3\.000s after the client's last frame: an active stream must not be closed before the idle timeout \(10\.000s\)",
    ):
        closes.no_early_close(CTX, trace, SCENARIO)
    assert closes.no_early_close(CTX, Script().audio(1).at(10.5).close(code=1011).trace, SCENARIO) is None


def test_to3_uses_the_time_scale() -> None:
    """At scale 0.1 the timeout is 1 s, so a close after 1.1 s is on time."""
    assert closes.no_early_close(CTX, Script(scale=0.1).audio(1).at(1.1).close(code=1011).trace, SCENARIO) is None


def test_cs1_requires_metadata_after_closestream() -> None:
    trace = Script().audio(1).send({"type": "CloseStream"}).at(0.2).recv(results(0, 1)).close().trace
    with pytest.raises(RuleViolation, match="no Metadata after CloseStream"):
        lifecycle.closestream_flushes_then_metadata(CTX, trace, SCENARIO)


def test_cs1_requires_finals_for_buffered_audio() -> None:
    """Metadata without finals covering the audio breaks CS-1."""
    trace = Script().audio(2).send({"type": "CloseStream"}).recv(results(0, 1)).recv(metadata(2)).close().trace
    with pytest.raises(RuleViolation, match=r"finals on channel 0 end at 1\.000s but the speech sent runs to 2\.000s"):
        lifecycle.closestream_flushes_then_metadata(CTX, trace, SCENARIO)


def test_cs2_flags_frames_after_metadata() -> None:
    trace = Script().audio(1).recv(metadata(1)).recv(results(1, 1)).close().trace
    with pytest.raises(RuleViolation, match="1 frame.*followed Metadata"):
        lifecycle.metadata_is_last(CTX, trace, SCENARIO)


def test_cs3_and_cs4_and_cs5() -> None:
    """Wrong close code, wrong duration and disagreeing request ids are each flagged."""
    trace = (
        Script()
        .audio(1)
        .send({"type": "CloseStream"})
        .recv(results(0, 1))
        .recv(metadata(3, request_id="other"))
        .close(code=1011)
        .trace
    )
    with pytest.raises(RuleViolation, match="expected 1000"):
        lifecycle.closestream_close_code(CTX, trace, SCENARIO)
    with pytest.raises(RuleViolation, match="duration is 3"):
        lifecycle.metadata_matches_audio(CTX, trace, SCENARIO)
    with pytest.raises(RuleViolation, match="'other'"):
        messages.request_ids_agree(CTX, trace, SCENARIO)


def test_fin1_flags_ignored_finalize() -> None:
    """Finalize after 2 s of audio with no flush (only a later unrelated final) breaks FIN-1."""
    trace = Script().audio(2).send({"type": "Finalize"}).at(3).audio(2).recv(results(0, 3.5)).trace
    with pytest.raises(
        RuleViolation, match=r"no final on channel 0 reached the end of the speech sent \(2\.000s of 2\.000s"
    ):
        lifecycle.finalize_covers_buffered_audio(CTX, trace, SCENARIO)


def test_fin_checks_pass_on_a_proper_flush() -> None:
    trace = (
        Script()
        .audio(2)
        .send({"type": "Finalize"})
        .recv(results(0, 2.0, from_finalize=True))
        .at(1)
        .audio(2)
        .recv(results(2, 3.5))
        .trace
    )
    assert lifecycle.finalize_covers_buffered_audio(CTX, trace, SCENARIO) is None
    assert lifecycle.finalize_marks_from_finalize(CTX, trace, SCENARIO) is None
    assert lifecycle.finalize_keeps_stream(CTX, trace, SCENARIO) is None


def test_fin3_flags_the_wrong_channel() -> None:
    trace = (
        Script(channels=2, lanes=2)
        .audio(2)
        .send({"type": "Finalize", "channel": 1})
        .recv(results(0, 2, lane=0, lanes=2, from_finalize=True))
        .trace
    )
    with pytest.raises(RuleViolation, match=r"named channel 1 but .* channel_index \[0, 2\]"):
        lifecycle.finalize_channel_only(CTX, trace, SCENARIO)


def test_fin4_flags_close_after_finalize() -> None:
    trace = (
        Script()
        .audio(2)
        .send({"type": "Finalize"})
        .recv(results(0, 2, from_finalize=True))
        .recv(metadata(2))
        .close(code=1000)
        .trace
    )
    with pytest.raises(
        RuleViolation,
        match=r"server closed 1000 at 0\.000s, 0\.000s after the client's Finalize #1: Finalize must not end the stream",
    ):
        lifecycle.finalize_keeps_stream(CTX, trace, SCENARIO)


def test_ka1_flags_a_reply_to_keepalive() -> None:
    trace = Script().audio(1).at(4).send({"type": "KeepAlive"}).recv({"type": "KeepAlive"}).trace
    with pytest.raises(RuleViolation, match="after KeepAlive"):
        lifecycle.keepalive_not_answered(CTX, trace, SCENARIO)
    late_final = Script().audio(1).at(4).send({"type": "KeepAlive"}).recv(results(0, 1)).trace
    assert lifecycle.keepalive_not_answered(CTX, late_final, SCENARIO) is None


def test_ka1_leaves_a_binary_frame_to_msg2() -> None:
    """A binary frame right behind a KeepAlive is no reply: every server binary frame is MSG-2's,
    wherever it comes (one cause, one finding)."""
    trace = (
        Script()
        .audio(1)
        .at(4)
        .send({"type": "KeepAlive"})
        .recv(results(0, 1))
        .recv(b"\x00\x01")
        .at(8)
        .send({"type": "CloseStream"})
        .recv(metadata(1))
        .close()
        .trace
    )
    assert lifecycle.keepalive_not_answered(CTX, trace, SCENARIO) is None
    verdicts = {r.rule_id: r.verdict for r in judge(trace, SCENARIO, CTX)}
    assert verdicts["MSG-2"] is Verdict.FAILED and verdicts["KA-1"] is Verdict.OK


def test_ka4_flags_clock_advanced_by_pause() -> None:
    """After audio, KeepAlive-only time and more audio, results must stay on the audio clock; the
    clock was seen right before the pause, so the pause pushed it."""
    trace = (
        Script()
        .audio(1)
        .at(1.2)
        .recv(results(0, 1))
        .at(5)
        .send({"type": "KeepAlive"})
        .at(9)
        .audio(1)
        .at(9.5)
        .recv(results(1, 9.0))
        .trace
    )
    with pytest.raises(RuleViolation, match="the pause must not advance the clock"):
        timing.timings_continue_after_pause(CTX, trace, SCENARIO)


def test_ka4_is_not_judged_without_a_clock_seen_before_the_pause() -> None:
    """Results only after the pause, running ahead: the clock may have been ahead all along, so it
    is RES-2's finding (the times run past the audio sent) and KA-4 is NOT JUDGED, saying why."""
    trace = (
        Script()
        .audio(1)
        .at(5)
        .send({"type": "KeepAlive"})
        .at(9)
        .audio(1)
        .at(9.5)
        .recv(results(1, 3.0))
        .send({"type": "CloseStream"})
        .recv(results(3.0, 3.0))
        .recv(metadata(2))
        .close()
        .trace
    )
    with pytest.raises(NotJudged, match="no Results came before the pause"):
        timing.timings_continue_after_pause(CTX, trace, SCENARIO)
    verdicts = {
        r.rule_id: r for r in judge(trace, m.Scenario(id="t.1", title="t", rules=("KA-4", "RES-2"), steps=()), CTX)
    }
    assert verdicts["RES-2"].verdict is Verdict.FAILED
    assert (
        verdicts["KA-4"].verdict is Verdict.NOT_JUDGED
        and "no Results came before the pause" in verdicts["KA-4"].message
    )


def test_fin4_absence_rests_on_the_closestream_flush() -> None:
    """Audio after Finalize with nothing before the CloseStream that followed: only that flush
    could show it transcribed. A flush that lost it is CS-1's finding, and FIN-4 gives way to it;
    where results did come before the CloseStream, FIN-4 holds; with no CloseStream to blame,
    the absence is FIN-4's own."""
    lost = (
        Script()
        .audio(2)
        .send({"type": "Finalize"})
        .recv(results(0, 2, from_finalize=True))
        .audio(2)
        .send({"type": "CloseStream"})
        .recv(metadata(4))
        .close()
        .trace
    )
    verdicts = {r.rule_id: r for r in judge(lost, SCENARIO, CTX)}
    assert verdicts["CS-1"].verdict is Verdict.FAILED
    assert verdicts["FIN-4"].verdict is Verdict.NOT_JUDGED and "it needs CS-1" in verdicts["FIN-4"].message
    seen = (
        Script()
        .audio(2)
        .send({"type": "Finalize"})
        .recv(results(0, 2, from_finalize=True))
        .audio(2)
        .recv(results(2, 3.5))
    )
    held = seen.send({"type": "CloseStream"}).recv(results(3.5, 4)).recv(metadata(4)).close().trace
    assert {r.rule_id: r.verdict for r in judge(held, SCENARIO, CTX)}["FIN-4"] is Verdict.OK
    open_end = (
        Script()
        .audio(2)
        .send({"type": "Finalize"})
        .recv(results(0, 2, from_finalize=True))
        .audio(2)
        .at(9)
        .close(by="client")
        .trace
    )
    assert {r.rule_id: r.verdict for r in judge(open_end, SCENARIO, CTX)}["FIN-4"] is Verdict.FAILED


def test_mc1_needs_results_on_every_channel() -> None:
    trace = Script(channels=2, lanes=2).audio(2).recv(results(0, 2, lane=0, lanes=2)).close().trace
    with pytest.raises(RuleViolation, match=r"no Results for channel\(s\) \[1\]"):
        lifecycle.multichannel_results(CTX, trace, SCENARIO)


def test_checks_say_not_applicable_without_trigger() -> None:
    """Checks whose trigger is absent from the trace abstain instead of passing."""
    trace = Script().audio(1).trace
    assert lifecycle.finalize_covers_buffered_audio(CTX, trace, SCENARIO) is NOT_APPLICABLE
    assert lifecycle.closestream_flushes_then_metadata(CTX, trace, SCENARIO) is NOT_APPLICABLE
    assert lifecycle.keepalive_not_answered(CTX, trace, SCENARIO) is NOT_APPLICABLE


def test_judge_grades_by_level() -> None:
    """A broken SHOULD is NON-STRICT; a broken MUST is FAILED."""
    trace = (
        Script()
        .audio(1)
        .send({"type": "CloseStream"})
        .recv(results(0, 1))
        .recv(metadata(1))
        .recv(b"\x01")
        .close(code=1011)
        .trace
    )
    verdicts = {r.rule_id: r.verdict for r in judge(trace, SCENARIO, CTX)}
    assert verdicts["CS-3"] is Verdict.NON_STRICT
    assert verdicts["MSG-2"] is Verdict.FAILED
    assert verdicts["CS-2"] is Verdict.FAILED


def test_secrets_are_redacted_from_recorded_text() -> None:
    """A key echoed by the server never reaches the trace."""
    trace = Trace("t", Timing(), 1, 1, 16000, Handshake("ws://x"), secrets=["sekrit-key"])
    trace.record_received('{"type":"Error","description":"bad key sekrit-key"}', 0.1, None)
    trace.record_close("server", 1008, "key sekrit-key", 0.2)
    assert "sekrit-key" not in trace.entries[0].text and "sekrit-key" not in trace.close.reason
