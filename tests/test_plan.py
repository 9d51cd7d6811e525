"""The sans-I/O player under a fake clock and a scripted peer: no sockets, no sleeping."""

from __future__ import annotations

import json

import pytest

from conformance.engine.plan import CloseSocket, Done, Player, Send, Wait, build_plan
from conformance.engine.trace import Handshake, Trace
from conformance.scenario import Timing, parse_duration
from conformance.scenario import model as m

TIMING = Timing(idle_timeout=10, scale=1)


def player_for(
    *steps: m.Step, connect: m.Connect = m.Connect(params={"sample_rate": 16000}), timing: Timing = TIMING
) -> Player:
    scenario = m.Scenario(id="t.1", title="t", rules=("CS-1",), steps=steps, connect=connect)
    plan = build_plan(scenario, timing)
    trace = Trace("t.1", timing, plan.channels, plan.lanes, plan.sample_rate, Handshake("ws://x/v1/listen"))
    player = Player(plan, trace)
    player.handshake_accepted(101, {"dg-request-id": "r"}, None, 0.0)
    return player


def drain_sends(player: Player, now: float) -> list[Send]:
    """Perform every send due at ``now``."""
    sent = []
    while isinstance(action := player.next_action(now), Send):
        player.frame_sent(action, now)
        sent.append(action)
    return sent


def test_stream_sends_on_absolute_schedule() -> None:
    """100 ms of audio in 20 ms chunks: five frames due at 0, 20, 40, 60, 80 ms, each 640 bytes."""
    player = player_for(m.Stream(seconds=0.1, chunk=parse_duration("20ms")))
    dues = []
    now = 0.0
    while not isinstance(action := player.next_action(now), Done):
        if isinstance(action, Wait):
            now = action.until
            continue
        assert isinstance(action, Send) and isinstance(action.payload, bytes)
        assert len(action.payload) == 640
        dues.append(action.due)
        player.frame_sent(action, now + 0.005)
    assert dues == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08])
    assert player.trace.audio_seconds == pytest.approx(0.1)
    assert [round(e.lateness, 3) for e in player.trace.entries] == [0.005] * 5


def test_stream_catches_up_without_drifting() -> None:
    """A late driver sends every overdue frame at once; later frames keep their planned times."""
    player = player_for(m.Stream(seconds=0.1, chunk=parse_duration("20ms")))
    assert len(drain_sends(player, 0.0)) == 1
    assert [s.due for s in drain_sends(player, 0.05)] == pytest.approx([0.02, 0.04])
    assert player.next_action(0.05) == Wait(pytest.approx(0.06))


def test_keepalive_step_sends_text_every_interval() -> None:
    """KeepAlive every 4 s for 10 s: text frames at 4 s and 8 s, then the step ends at 10 s. Each
    carries its due time, so a KeepAlive the harness sent late is seen as the harness's lateness."""
    player = player_for(m.KeepAlive(parse_duration("4s"), parse_duration("10s"), rule="KA-2"))
    assert player.next_action(0.0) == Wait(4.0)
    assert drain_sends(player, 4.0) == [Send('{"type":"KeepAlive"}', due=4.0)]
    assert player.next_action(4.0) == Wait(8.0)
    assert drain_sends(player, 8.3) == [Send('{"type":"KeepAlive"}', due=8.0)]
    assert player.next_action(8.3) == Wait(10.0)
    assert player.next_action(10.0) == Done()
    assert [(o.rule, o.passed) for o in player.trace.outcomes] == [("KA-2", True)]


def test_hold_rule_fails_when_server_closes() -> None:
    """A close during a pause that carries a rule breaks that rule, with the time of the close."""
    player = player_for(m.Pause(parse_duration("1idle"), rule="KA-2"))
    player.next_action(0.0)
    player.connection_closed("server", 1011, "NET-0001", 7.5)
    assert player.next_action(7.5) == Done()
    outcome = player.trace.outcomes[0]
    assert not outcome.passed and "7.500s into the 10.000s pause" in outcome.observed


def test_expect_matches_type_and_schema_fragment() -> None:
    """Only a message of the type that satisfies the fragment fulfils an expect step."""
    match = {"properties": {"from_finalize": {"const": True}}, "required": ["from_finalize"]}
    player = player_for(m.Expect(("Results",), parse_duration("3s"), "FIN-2", match=match))
    assert player.next_action(0.0) == Wait(3.0)
    player.frame_received(json.dumps({"type": "Results", "from_finalize": False}), 0.5)
    assert player.next_action(0.5) == Wait(3.0)
    player.frame_received(json.dumps({"type": "Results", "from_finalize": True}), 0.7)
    assert player.next_action(0.7) == Done()
    outcome = player.trace.outcomes[0]
    assert outcome.passed and outcome.frame_index == 1


def test_expect_fails_at_deadline_with_what_was_seen() -> None:
    """A missed expectation says how many messages came and why the last one did not match."""
    match = {"properties": {"from_finalize": {"const": True}}}
    player = player_for(m.Expect(("Results",), parse_duration("3s"), "FIN-2", match=match))
    player.next_action(0.0)
    player.frame_received(json.dumps({"type": "Results", "from_finalize": False}), 1.0)
    assert player.next_action(3.0) == Done()
    outcome = player.trace.outcomes[0]
    assert not outcome.passed
    assert "1 of type Results" in outcome.observed and "$.from_finalize" in outcome.observed


def test_expect_fails_at_once_when_closed() -> None:
    """An expectation does not wait out its deadline on a closed connection."""
    player = player_for(m.Expect(("Metadata",), parse_duration("1idle"), "TO-4"))
    player.next_action(0.0)
    player.connection_closed("server", 1011, "", 2.0)
    assert player.next_action(2.0) == Done()
    assert not player.trace.outcomes[0].passed


def test_expect_since_previous_sees_earlier_frames() -> None:
    """``since: previous`` counts messages that arrived during the step before."""
    player = player_for(
        m.Pause(parse_duration("1s")),
        m.Expect(("Results",), parse_duration("1s"), "KA-4", since_previous=True),
    )
    player.next_action(0.0)
    player.frame_received('{"type":"Results"}', 0.5)
    assert player.next_action(1.0) == Done()
    assert player.trace.outcomes[0].passed


def test_expect_none_flags_the_first_offender() -> None:
    """expect_none fails on the first matching message."""
    player = player_for(m.ExpectNone(parse_duration("2s"), "FIN-3", type="Results"))
    player.next_action(0.0)
    player.frame_received('{"type":"Metadata"}', 0.2)
    player.frame_received('{"type":"Results"}', 0.4)
    assert player.next_action(0.4) == Done()
    outcome = player.trace.outcomes[0]
    assert not outcome.passed and outcome.frame_index == 1


@pytest.mark.parametrize(
    ("close", "step", "passed"),
    [
        (
            ("server", 1011, "See https://dpgr.am/net0001"),
            m.ExpectClose(parse_duration("1s"), "TO-2", codes=(1011,), reason="NET-0001|dpgr\\.am/net0001"),
            True,
        ),
        (
            ("server", 1011, "timeout"),
            m.ExpectClose(parse_duration("1s"), "TO-2", codes=(1011,), reason="NET-0001"),
            False,
        ),
        (("server", 1000, ""), m.ExpectClose(parse_duration("1s"), "CS-3", codes=(1011,)), False),
        (("client", 1000, ""), m.ExpectClose(parse_duration("1s"), "CS-1"), False),
    ],
)
def test_expect_close_judges_code_reason_and_side(
    close: tuple[str, int, str], step: m.ExpectClose, passed: bool
) -> None:
    """expect_close checks who closed, the code and the reason pattern."""
    player = player_for(step)
    player.next_action(0.0)
    player.connection_closed(*close, 0.5)
    assert player.next_action(0.5) == Done()
    assert player.trace.outcomes[0].passed is passed


def test_expect_close_times_out_when_never_closed() -> None:
    """A server that never closes fails the step at its deadline."""
    player = player_for(m.ExpectClose(parse_duration("2s"), "TO-1"))
    assert player.next_action(0.0) == Wait(2.0)
    assert player.next_action(2.0) == Done()
    assert player.trace.outcomes[0].observed == "still open when the window ended"


def test_sends_after_close_are_skipped() -> None:
    """Once closed, send steps do nothing and the plan still finishes."""
    player = player_for(m.SendJson({"type": "CloseStream"}), m.Close())
    player.connection_closed("server", 1000, "", 0.0)
    assert player.next_action(0.0) == Done()


def test_close_step_asks_driver_to_close() -> None:
    """A close step yields CloseSocket, then waits for the close to be reported."""
    player = player_for(m.Close(4000))
    assert player.next_action(0.0) == CloseSocket(4000)
    assert isinstance(player.next_action(0.0), Wait)
    player.connection_closed("client", 4000, "", 0.1)
    assert player.next_action(0.1) == Done()


def test_time_scale_shrinks_endpoint_durations() -> None:
    """With --time-scale 0.1 a 1.5idle KeepAlive period lasts 1.5 s."""
    player = player_for(m.KeepAlive(parse_duration("4s"), parse_duration("1.5idle")), timing=Timing(scale=0.1))
    assert player.next_action(0.0) == Wait(pytest.approx(0.4))


def _rejecting(expect: m.ExpectRejected | None) -> Player:
    connect = m.Connect(params={"encoding": "mp9"}, expect_rejected=expect)
    scenario = m.Scenario(id="t.2", title="t", rules=("HS-4",), steps=(), connect=connect)
    plan = build_plan(scenario, TIMING)
    return Player(plan, Trace("t.2", TIMING, 1, 1, 16000, Handshake("ws://x")))


def test_expected_rejection_checks_status_and_details() -> None:
    """A 400 with dg-error and a JSON body satisfies HS-4 and HS-2."""
    player = _rejecting(m.ExpectRejected((400,), "HS-4", "HS-2"))
    body = json.dumps({"err_code": "Bad Request", "err_msg": "Invalid", "request_id": "r"})
    player.handshake_rejected(400, {"dg-error": "Invalid"}, body, 0.1)
    assert [(o.rule, o.passed) for o in player.trace.outcomes] == [("HS-4", True), ("HS-2", True)]
    assert player.next_action(0.1) == Done()


def test_rejection_without_details_breaks_hs2() -> None:
    """A bare-text rejection fails the details rule and says what is missing."""
    player = _rejecting(m.ExpectRejected((400,), "HS-4", "HS-2"))
    player.handshake_rejected(400, {}, "nope", 0.1)
    assert [(o.rule, o.passed, o.observed) for o in player.trace.outcomes][1] == ("HS-2", False, "no dg-error header")


def test_unexpected_upgrade_breaks_the_rejection_rule() -> None:
    """A server that accepts what it should refuse breaks the scenario's rejection rule."""
    player = _rejecting(m.ExpectRejected((400,), "HS-4"))
    player.handshake_accepted(101, {}, None, 0.1)
    assert player.next_action(0.1) == Done()
    assert player.trace.outcomes[0].rule == "HS-4" and not player.trace.outcomes[0].passed


def test_steps_after_a_skipped_action_are_not_judged() -> None:
    """The server closed before CloseStream could be sent: the expectations on its answer record
    NOT JUDGED with what ended the stream, never a failure of CS-1."""
    player = player_for(
        m.Stream(seconds=0.04),
        m.SendJson({"type": "CloseStream"}),
        m.Expect(("Metadata",), parse_duration("5s"), "CS-1"),
        m.ExpectClose(parse_duration("2s"), "CS-1"),
    )
    drain_sends(player, 0.0)
    player.connection_closed("server", 4001, "refused", 0.01)
    assert player.next_action(0.02) == Done()
    states = [(o.rule, o.state) for o in player.trace.outcomes]
    assert states == [("CS-1", "not judged"), ("CS-1", "not judged")]
    assert "before step 1 (stream 0.04s of speech; 1 of 2 frames sent)" in player.trace.outcomes[0].observed


def test_expect_none_on_a_closed_stream_is_not_judged() -> None:
    """Silence on a stream that closed during the window proves nothing."""
    player = player_for(m.ExpectNone(parse_duration("1s"), "FIN-3", type="Results"))
    assert player.next_action(0.0) == Wait(1.0)
    player.connection_closed("server", 1000, "", 0.3)
    assert player.next_action(0.3) == Done()
    outcome = player.trace.outcomes[0]
    assert outcome.state == "not judged" and "ended 0.300s into the window" in outcome.observed


def test_a_window_from_the_last_client_frame_lends_no_time_to_the_next_step() -> None:
    """Two expectations anchored on the client's last frame share one deadline: a missing Metadata
    does not give the close another idle timeout."""
    player = player_for(
        m.Stream(seconds=0.02),
        m.Expect(("Metadata",), parse_duration("1idle+3s"), "TO-4", anchor="last_sent"),
        m.ExpectClose(parse_duration("1idle+3s"), "TO-1", anchor="last_sent"),
    )
    drain_sends(player, 0.0)
    assert player.next_action(0.0) == Wait(13.0)
    assert player.next_action(13.0) == Done()
    assert [(o.rule, o.state, o.observed) for o in player.trace.outcomes][1] == (
        "TO-1",
        "broken",
        "still open when the window ended",
    )


def test_a_control_step_is_recorded_as_one() -> None:
    player = player_for(m.ExpectClose(parse_duration("1s"), "KA-2", control=True))
    player.next_action(0.0)
    assert player.next_action(1.0) == Done()
    outcome = player.trace.outcomes[0]
    assert outcome.control and outcome.state == "broken"
