"""How evidence becomes a verdict, over hand-built traces: one cause is one finding, a rule is OK
only where it was exercised, a refused feature is UNIMPLEMENTED, and a finding that something
never came gives way when the frames it looked for were malformed or another rule's."""

from __future__ import annotations

import json
from typing import Any

from conformance.checks import CheckContext, Item, grade, judge
from conformance.checks.ending import ending
from conformance.engine.trace import BROKEN, HELD, UNJUDGED
from conformance.scenario import model as m
from conformance.verdicts import Verdict

from test_checks import Script, metadata, results

CTX = CheckContext()


def _scenario(*rules: str, feature: str | None = None, **params: Any) -> m.Scenario:
    return m.Scenario(id="t.1", title="t", rules=rules, steps=(), connect=m.Connect(params=params), feature=feature)


def _verdicts(script: Script, scenario: m.Scenario) -> dict[str, tuple[Verdict, str]]:
    return {r.rule_id: (r.verdict, r.message) for r in judge(script.trace, scenario, CTX)}


def test_a_close_answering_finalize_is_fin4_alone() -> None:
    """Not TO-3 ("closed early") and not CS-1 (CloseStream was never sent)."""
    script = (
        Script()
        .audio(2)
        .at(2.0)
        .send({"type": "Finalize"})
        .at(2.01)
        .recv(results(0, 2, from_finalize=True))
        .close(code=1011, reason="boom")
    )
    verdicts = _verdicts(script, _scenario("FIN-4"))
    assert verdicts["FIN-4"][0] is Verdict.FAILED and "after the client's Finalize #1" in verdicts["FIN-4"][1]
    assert "TO-3" not in verdicts and "CS-1" not in verdicts


def test_a_socket_dropped_after_finalize_is_fin4_too() -> None:
    script = Script().audio(2).at(2.0).send({"type": "Finalize"}).at(2.05).close(by="transport", code=None)
    assert _verdicts(script, _scenario("FIN-4"))["FIN-4"][0] is Verdict.FAILED


def test_a_close_answering_malformed_text_is_err1_not_to3() -> None:
    script = (
        Script().audio(1).at(1.0).send({"not": "a control"}).at(1.001).close(code=1011, reason="Invalid frame sent")
    )
    verdicts = _verdicts(script, _scenario("ERR-1"))
    assert verdicts["ERR-1"][0] is Verdict.NON_STRICT and "TO-3" not in verdicts


def test_an_unprovoked_close_while_streaming_is_to3() -> None:
    script = Script().audio(1).at(1.5).close(code=1011, reason="internal")
    verdict, message = _verdicts(script, _scenario("TO-3"))["TO-3"]
    assert verdict is Verdict.FAILED and "1.500s after the client's last frame" in message


def test_an_error_and_a_4xxx_close_refusing_finalize_make_its_rules_unimplemented() -> None:
    error = {"type": "Error", "variant": "UnsupportedFeature", "description": "Finalize is not supported"}
    script = (
        Script().audio(3).at(3.0).send({"type": "Finalize"}).at(3.01).recv(error).close(code=4001, reason="no Finalize")
    )
    verdicts = _verdicts(script, _scenario("FIN-1", "FIN-2", "FIN-4"))
    assert {rule: v for rule, (v, _) in verdicts.items() if rule.startswith("FIN")} == {
        r: Verdict.UNIMPLEMENTED for r in ("FIN-1", "FIN-2", "FIN-4")
    }
    assert (
        "the endpoint refused Finalize #1: answered with #2" in verdicts["FIN-1"][1] and "4001" in verdicts["FIN-1"][1]
    )
    assert verdicts["MSG-1"][0] is Verdict.OK  # the Error is a message of the protocol, not a malformed one
    assert "TO-3" not in verdicts


def test_a_stream_refused_at_once_lacks_the_scenarios_feature() -> None:
    error = {"type": "Error", "description": "multichannel streams are not supported"}
    script = Script(channels=2, lanes=2).at(0.01).recv(error).close(code=4000)
    verdicts = _verdicts(script, _scenario("MC-1", "RES-1", feature="multichannel"))
    assert verdicts["MC-1"][0] is Verdict.UNIMPLEMENTED and verdicts["RES-1"][0] is Verdict.UNIMPLEMENTED
    plain = _verdicts(Script().at(0.01).recv(error).close(code=4000), _scenario("MSG-1"))
    assert plain["HS-1"][0] is Verdict.FAILED and "refused the stream at once" in plain["HS-1"][1]


def test_an_ignored_configure_is_unimplemented_an_answered_one_holds() -> None:
    ignored = Script().audio(1).at(1.0).send({"type": "Configure", "features": {"numerals": True}}).at(4.0).audio(1)
    assert _verdicts(ignored, _scenario("CFG-1"))["CFG-1"][0] is Verdict.UNIMPLEMENTED
    answered = (
        Script()
        .audio(1)
        .at(1.0)
        .send({"type": "Configure"})
        .at(1.01)
        .recv({"type": "ConfigureSuccess", "request_id": "r1"})
        .at(4.0)
        .audio(1)
    )
    verdicts = _verdicts(answered, _scenario("CFG-1"))
    assert (
        verdicts["CFG-1"][0] is Verdict.NOT_JUDGED and verdicts["MSG-1"][0] is Verdict.OK
    )  # judged by the scenario's step


def test_mono_results_with_a_malformed_channel_index_are_still_seen() -> None:
    """channel_index 0 is RES-1's finding; on a mono stream the interim is still an interim (IR-1),
    and MSG-1 does not blame the same defect twice."""
    interim = results(0, 0.5, final=False)
    interim["channel_index"] = 0
    script = Script().audio(2).recv(interim).recv(results(0, 1.0)).recv(results(1.0, 2.0))
    verdicts = _verdicts(script, _scenario("IR-1", interim_results=True))
    assert (
        verdicts["RES-1"][0] is Verdict.FAILED
        and verdicts["IR-1"][0] is Verdict.OK
        and verdicts["MSG-1"][0] is Verdict.OK
    )


def test_unreadable_results_make_a_finding_of_absence_not_judged() -> None:
    """With two channels a bare channel_index names no channel: "no interim arrived" would deny what came."""
    interim = results(0, 0.5, final=False, lanes=2)
    interim["channel_index"] = "zero"
    script = Script(channels=2, lanes=2).audio(2).recv(interim)
    verdict, message = _verdicts(script, _scenario("IR-1", interim_results=True, multichannel=True))["IR-1"]
    assert verdict is Verdict.NOT_JUDGED and "could not be read" in message and "see MSG-1" in message


def test_finals_owe_the_speech_not_the_trailing_silence() -> None:
    """CS-1 holds when every word was delivered although the last window stops before trailing silence."""
    script = Script().audio(2).audio(1, speech=False).at(3.0).send({"type": "CloseStream"})
    script.recv(results(0, 2.0)).recv(metadata(3.0)).close()
    assert _verdicts(script, _scenario("CS-1"))["CS-1"][0] is Verdict.OK
    lost = Script().audio(3).at(3.0).send({"type": "CloseStream"}).recv(results(0, 2.0)).recv(metadata(3.0)).close()
    assert _verdicts(lost, _scenario("CS-1"))["CS-1"][0] is Verdict.FAILED


def test_a_metadata_sent_early_is_no_summary() -> None:
    """CS-4 judges the Metadata at the end of the stream, not one sent after the upgrade."""
    early = Script().recv(metadata(0, channels=0)).audio(2).at(2.0).recv(results(0, 2.0)).at(5.0).close(code=4003)
    assert "CS-4" not in _verdicts(early, _scenario("CFG-1"))
    summary = (
        Script()
        .recv(metadata(0, channels=0))
        .audio(2)
        .send({"type": "CloseStream"})
        .recv(results(0, 2.0))
        .recv(metadata(2.0))
        .close()
    )
    verdicts = _verdicts(summary, _scenario("CS-4"))
    assert verdicts["CS-4"][0] is Verdict.OK and verdicts["CS-2"][0] is Verdict.FAILED


def test_the_idle_close_is_judged_where_it_happened() -> None:
    """TO-2/TO-4 judge the close after silence; without one they are not judged, never OK."""
    idle = Script().audio(1).at(11.0).recv(metadata(1.0)).close(code=1011, reason="NET-0001")
    verdicts = _verdicts(idle, _scenario("TO-2", "TO-3", "TO-4"))
    assert {r: v for r, (v, _) in verdicts.items() if r.startswith("TO")} == {
        "TO-2": Verdict.OK,
        "TO-3": Verdict.OK,
        "TO-4": Verdict.OK,
    }
    never = Script().audio(1).at(14.0).close(by="client", code=1000)
    verdicts = _verdicts(never, _scenario("TO-2", "TO-3", "TO-4"))
    assert {verdicts[r][0] for r in ("TO-2", "TO-3", "TO-4")} == {Verdict.NOT_JUDGED}


def test_a_reply_to_keepalive_is_ka1s_alone() -> None:
    script = Script().audio(1).at(4.0).send({"type": "KeepAlive"}).at(4.01).recv({"type": "KeepAliveAck"})
    verdicts = _verdicts(script, _scenario("KA-1"))
    assert verdicts["KA-1"][0] is Verdict.FAILED and verdicts["MSG-1"][0] is Verdict.OK


def test_a_clock_ahead_all_along_is_res2s_finding_not_ka4s() -> None:
    ahead = (
        Script()
        .audio(1)
        .at(1.0)
        .recv(results(0, 2.0))
        .at(5.0)
        .send({"type": "KeepAlive"})
        .at(9.0)
        .audio(1)
        .at(9.5)
        .recv(results(2.0, 3.0))
    )
    verdicts = _verdicts(ahead, _scenario("KA-4"))
    assert verdicts["RES-2"][0] is Verdict.FAILED and verdicts["KA-4"][0] is Verdict.NOT_JUDGED
    pushed = (
        Script()
        .audio(1)
        .at(1.0)
        .recv(results(0, 1.0))
        .at(5.0)
        .send({"type": "KeepAlive"})
        .at(9.0)
        .audio(1)
        .at(9.5)
        .recv(results(1.0, 9.0))
    )
    verdicts = _verdicts(pushed, _scenario("KA-4"))
    assert verdicts["KA-4"][0] is Verdict.FAILED and verdicts["RES-2"][0] is Verdict.OK


def test_a_missing_flush_is_fin1s_and_the_missing_mark_is_not_judged() -> None:
    """No flush at all: FIN-1 fails; that no from_finalize came is the same cause (FIN-2 needs FIN-1)."""
    script = (
        Script()
        .audio(3)
        .at(3.0)
        .send({"type": "Finalize"})
        .at(3.5)
        .audio(1)
        .recv(results(0, 4.0))
        .send({"type": "CloseStream"})
        .recv(metadata(4.0))
        .close()
    )
    verdicts = _verdicts(script, _scenario("FIN-1", "FIN-2"))
    assert verdicts["FIN-1"][0] is Verdict.FAILED
    assert verdicts["FIN-2"][0] is Verdict.NOT_JUDGED and "it needs FIN-1" in verdicts["FIN-2"][1]


def test_grading_controls_needs_and_blamed_frames() -> None:
    """A broken control leaves its rule NOT JUDGED (never OK); a held control adds nothing; an
    absence whose awaited frames another rule blamed is not judged."""
    held, control_broken = Item(HELD, "open"), Item(BROKEN, "never closed", control=True)
    assert [(r.verdict, r.message) for r in grade({"KA-2": [held, control_broken]})] == [
        (Verdict.NOT_JUDGED, "not exercised: never closed")
    ]
    assert grade({"KA-2": [held, Item(HELD, "closed", control=True)]})[0].verdict is Verdict.OK
    assert grade({"KA-2": [Item(HELD, "closed", control=True)]}) == []
    missed = Item(BROKEN, "no from_finalize [1, 2]", absence=True, seen=(7,))
    result = grade({"FIN-2": [missed]}, claims={7: "RES-1"})[0]
    assert result.verdict is Verdict.NOT_JUDGED and "blamed on RES-1" in result.message
    assert grade({"FIN-2": [Item(UNJUDGED, "stream ended")]})[0].verdict is Verdict.NOT_JUDGED


def test_the_reason_of_an_unexercised_rule_says_what_ended_the_stream() -> None:
    script = Script().audio(1).at(1.2).close(code=1011, reason="crash")
    verdict, message = _verdicts(script, _scenario("FIN-1"))["FIN-1"]
    assert verdict is Verdict.NOT_JUDGED and message.startswith(
        "not exercised: the stream ended first (server closed 1011 'crash'"
    )
    assert ending(script.trace).rule == "TO-3"


def test_a_json_report_of_verdicts_is_stable() -> None:
    """Verdict values are what reports and expectation files spell."""
    assert (
        json.dumps([v.value for v in Verdict])
        == '["NOT JUDGED", "OK", "INFORMATIONAL", "UNIMPLEMENTED", "NON-STRICT", "FAILED"]'
    )


def test_a_close_after_the_suites_own_late_keepalive_is_not_the_servers_fault() -> None:
    """A loaded runner sent nothing for 7 s in a period planned at one KeepAlive every 4 s: a close
    then blames neither KA-2 nor TO-3."""
    script = Script().audio(1).at(1.0)
    script.trace.keepalive_periods.append((1.0, 16.0, 4.0))
    script.at(5.0).send({"type": "KeepAlive"}).at(12.0).close(code=1011, reason="NET-0001")
    verdicts = _verdicts(script, _scenario("KA-2"))
    assert "KA-2" in verdicts and verdicts["KA-2"][0] is Verdict.NOT_JUDGED and "TO-3" not in verdicts
    on_time = Script().audio(1).at(1.0)
    on_time.trace.keepalive_periods.append((1.0, 16.0, 4.0))
    on_time.at(5.0).send({"type": "KeepAlive"}).at(9.0).send({"type": "KeepAlive"}).at(11.0).close(
        code=1011, reason="NET-0001"
    )
    assert _verdicts(on_time, _scenario("KA-2"))["KA-2"][0] is Verdict.FAILED


def test_a_403_names_the_form_the_key_was_presented_in() -> None:
    """A 403 may be the auth form (e.g. the subprotocol), not only a key without access."""
    from conformance.engine.record import Status
    from conformance.run.case import conclude, new_record

    script = Script()
    script.trace.handshake.status, script.trace.handshake.headers = 403, {"dg-error": "Forbidden"}
    script.trace.handshake.credentials = "Sec-WebSocket-Protocol: token, KEY"
    record = new_record(_scenario("CS-1"))
    conclude(record, script.trace, _scenario("CS-1"))
    assert record.status is Status.ERROR
    assert (
        "lacks access to what this scenario asks for (model, feature), or the endpoint does not take "
        "credentials presented as Sec-WebSocket-Protocol: token, KEY (--auth-scheme)" in (record.error or "")
    )


def test_closestream_rules_say_what_was_missing_when_the_server_stays_silent() -> None:
    """A server that takes CloseStream and then does nothing: CS-1 fails; CS-3 and CS-5, which
    need a close and two request ids, are not judged, and say why (never OK)."""
    script = (
        Script()
        .audio(1)
        .at(1.0)
        .send({"type": "CloseStream"})
        .at(7.0)
        .close(by="client", code=1000, reason="scenario finished")
    )
    script.trace.handshake.headers = {}
    verdicts = _verdicts(script, _scenario("CS-1", "CS-3", "CS-5"))
    assert verdicts["CS-1"][0] is Verdict.FAILED and "no Metadata after CloseStream" in verdicts["CS-1"][1]
    assert verdicts["CS-3"] == (
        Verdict.NOT_JUDGED,
        "the server did not close after CloseStream (see CS-1); client closed 1000 'scenario finished' at 7.000s",
    )
    assert verdicts["CS-5"] == (Verdict.NOT_JUDGED, "fewer than two request ids to compare (none)")
