"""The client rules judged from synthetic recordings (pure: no sockets, no processes)."""

from __future__ import annotations

import json

import pytest

from conformance.client.evidence import ClientConnection, ClientRun
from conformance.client.judge import judge_client
from conformance.client.scenario import ClientScenario, Job
from conformance.engine.trace import Handshake, Trace
from conformance.mock.session import NET_0001_REASON
from conformance.protocol.params import parse_stream_params
from conformance.scenario.durations import Duration, Timing
from conformance.verdicts import Verdict

RATE = 16000
CHUNK = b"\x01\x00" * 800  # 50 ms of 16 kHz linear16 mono


class Recording:
    """Builds one accepted connection frame by frame, on its own clock."""

    def __init__(self, channels: int = 1) -> None:
        self.trace = Trace("t", Timing(), channels, channels, RATE, Handshake("/v1/listen", status=101, t=0.0))
        fmt = parse_stream_params({"encoding": ["linear16"], "sample_rate": [str(RATE)], "channels": [str(channels)]})
        self.connection = ClientConnection(
            self.trace, fmt, ["Authorization: Token"], True, None, 0.0, 2.0 * RATE * channels
        )
        self.t = 0.0

    def audio(self, seconds: float, chunk: bytes = CHUNK) -> Recording:
        for _ in range(round(seconds / 0.05)):
            self.t += 0.05
            entry = self.trace.record_sent("binary", chunk, self.t, audio=False, due=None, step=None)
            self.trace.audio_seconds += len(chunk) / (2.0 * RATE)
            entry.audio_seconds = self.trace.audio_seconds
        return self

    def text(self, message: object, after: float = 0.01) -> Recording:
        self.t += after
        self.trace.record_sent(
            "text",
            message if isinstance(message, str) else json.dumps(message),
            self.t,
            audio=False,
            due=None,
            step=None,
        )
        return self

    def binary(self, payload: bytes, after: float = 0.01) -> Recording:
        self.t += after
        entry = self.trace.record_sent("binary", payload, self.t, audio=False, due=None, step=None)
        if payload.startswith(b"{"):
            entry.text = payload.decode()
        return self

    def server(self, message: dict, after: float = 0.01) -> Recording:  # type: ignore[type-arg]
        self.t += after
        self.trace.record_received(json.dumps(message), self.t, step=None)
        return self

    def close(self, by: str, code: int | None = 1000, reason: str = "", after: float = 0.01) -> Recording:
        self.t += after
        self.trace.record_close(by, code, reason, self.t)
        return self

    def clean_end(self) -> Recording:
        return self.text({"type": "CloseStream"}).server({"type": "Metadata"}).close("server")


def _verdicts(
    *connections: ClientConnection, exit_status: int | None = 0, pause: float = 0.0, output: str = ""
) -> dict[str, tuple[Verdict, str]]:
    scenario = ClientScenario("client.t", "t", ("C-CS-1",), job=Job(2.0, Duration(seconds=pause)))
    run = ClientRun(scenario, Timing(), list(connections), exit_status, output)
    return {r.rule_id: (r.verdict, r.message) for r in judge_client(run)}


def test_a_clean_client_holds_every_rule_it_exercised() -> None:
    recording = Recording().audio(2).text({"type": "Finalize"}).clean_end()
    verdicts = _verdicts(recording.connection)
    assert {rule for rule, (verdict, _) in verdicts.items() if verdict is Verdict.OK} >= {
        "C-AUTH-1",
        "C-CTL-1",
        "C-CTL-2",
        "C-CTL-3",
        "C-KA-1",
        "C-CS-1",
        "C-CS-2",
        "C-CS-3",
        "C-AUD-1",
        "C-AUD-3",
        "C-EMPTY-1",
    }
    assert verdicts["C-AUD-2"] == (
        Verdict.INFORMATIONAL,
        "as described: 40 frames of 50 ms (median), fastest pace 1.00x real time",
    )
    assert "C-KA-2" not in verdicts and "C-ERR-1" not in verdicts


def test_keepalive_cadence_is_judged_in_pauses_only() -> None:
    steady = Recording().audio(1)
    for _ in range(3):
        steady.text({"type": "KeepAlive"}, after=4.0)
    steady.audio(1).clean_end()
    assert _verdicts(steady.connection)["C-KA-2"][0] is Verdict.OK
    sparse = Recording().audio(1).text({"type": "KeepAlive"}, after=7.0).audio(1).clean_end()
    verdict, message = _verdicts(sparse.connection)["C-KA-2"]
    assert verdict is Verdict.NON_STRICT and "no KeepAlive for 7.00s" in message


def test_the_idle_close_is_a_broken_must_rule() -> None:
    recording = Recording().audio(1).close("server", 1011, NET_0001_REASON, after=10.05)
    verdict, message = _verdicts(recording.connection)["C-KA-1"]
    assert verdict is Verdict.FAILED and "NET-0001" in message


def test_a_pause_the_client_never_made_is_unimplemented() -> None:
    recording = Recording().audio(2).clean_end()
    verdict, message = _verdicts(recording.connection, pause=12.0)["C-KA-2"]
    assert verdict is Verdict.UNIMPLEMENTED and "CONFORMANCE_PAUSE" in message


@pytest.mark.parametrize(
    ("build", "rule", "verdict", "words"),
    [
        (
            lambda r: r.audio(1).binary(b'{"type": "KeepAlive"}').clean_end(),
            "C-CTL-1",
            Verdict.FAILED,
            "KeepAlive sent as a binary frame",
        ),
        (lambda r: r.audio(1).text("KeepAlive").clean_end(), "C-CTL-2", Verdict.FAILED, "not a JSON object"),
        (lambda r: r.audio(1).text({"type": "Flush"}).clean_end(), "C-CTL-3", Verdict.NON_STRICT, "'Flush'"),
        (lambda r: r.audio(1).text({"kind": "Flush"}).clean_end(), "C-CTL-2", Verdict.FAILED, "without a string type"),
        (
            lambda r: r.audio(1).text({"type": "Configure", "features": {"numerals": "yes"}}).clean_end(),
            "C-CTL-2",
            Verdict.FAILED,
            "Configure violates its schema at $.features.numerals",
        ),
        (
            lambda r: r.audio(1).text({"type": "Finalize", "channel": 1}).clean_end(),
            "C-CTL-2",
            Verdict.FAILED,
            "[0, 1)",
        ),
        (lambda r: r.audio(1).close("client"), "C-CS-1", Verdict.NON_STRICT, "no CloseStream"),
        (lambda r: r.audio(1).binary(b"").close("server"), "C-CS-1", Verdict.NON_STRICT, "empty binary frame"),
        (lambda r: r.audio(1).binary(b"").close("server"), "C-EMPTY-1", Verdict.NON_STRICT, "empty binary frame"),
        (
            lambda r: r.audio(1).text({"type": "CloseStream"}).audio(0.05).server({"type": "Metadata"}).close("server"),
            "C-CS-2",
            Verdict.FAILED,
            "after CloseStream",
        ),
        (
            lambda r: r.audio(1).text({"type": "CloseStream"}).close("client").server({"type": "Metadata"}),
            "C-CS-3",
            Verdict.NON_STRICT,
            "before the server sent Metadata",
        ),
        (
            lambda r: r.audio(1).text({"type": "CloseStream"}).close("transport", None),
            "C-CS-3",
            Verdict.NON_STRICT,
            "dropping the TCP connection",
        ),
        (
            lambda r: r.audio(1, CHUNK + b"\x00").clean_end(),
            "C-AUD-1",
            Verdict.NON_STRICT,
            "not whole linear16 frames of 2 B",
        ),
        (
            lambda r: r.audio(1, b"\x00" * 32000).clean_end(),
            "C-AUD-2",
            Verdict.INFORMATIONAL,
            "differs from the description",
        ),
    ],
)
def test_each_broken_rule_is_caught(build, rule: str, verdict: Verdict, words: str) -> None:  # type: ignore[no-untyped-def]
    recording = build(Recording())
    got, message = _verdicts(recording.connection)[rule]
    assert (got, words in message) == (verdict, True), message


def test_a_wav_header_under_a_raw_encoding_is_caught() -> None:
    recording = Recording().audio(1).clean_end()
    recording.connection.container = "WAV (RIFF)"
    verdict, message = _verdicts(recording.connection)["C-AUD-1"]
    assert verdict is Verdict.NON_STRICT and "WAV (RIFF) header" in message


def test_missing_or_wrong_credentials_break_c_auth_1() -> None:
    anonymous = Recording().audio(1).clean_end()
    anonymous.connection.credentials = []
    assert _verdicts(anonymous.connection)["C-AUTH-1"][0] is Verdict.FAILED
    wrong = Recording()
    wrong.trace.handshake.status, wrong.connection.upgraded_at, wrong.connection.credentials_match = 401, None, False
    verdict, message = _verdicts(wrong.connection)["C-AUTH-1"]
    assert verdict is Verdict.FAILED and "other than DEEPGRAM_API_KEY" in message and "401" in message


@pytest.mark.parametrize(
    ("exit_status", "output", "words"),
    [
        (1, "", "as described: ended with exit status 1 after the server's 1011 close"),
        # Judged by what the program did: a log line naming the close is no report to its caller.
        (0, "error: received 1011 (internal error)", "differs from the description: exited 0 without reconnecting"),
        (0, "", "differs from the description: exited 0 without reconnecting"),
        (
            None,
            "",
            "differs from the description: neither reconnected nor ended after the server's 1011 close: it hung",
        ),
    ],
)
def test_the_reaction_to_a_server_error_is_recorded(exit_status: int | None, output: str, words: str) -> None:
    failed = Recording().audio(1).close("server", 1011, "NET-0000")
    verdict, message = _verdicts(failed.connection, exit_status=exit_status, output=output)["C-ERR-1"]
    assert verdict is Verdict.INFORMATIONAL and message.startswith(words), message


def test_a_reconnect_after_a_server_error_is_recorded() -> None:
    failed = Recording().audio(1).close("server", 1011, "NET-0000")
    again = Recording().audio(1).clean_end()
    again.connection.origin = failed.t + 0.5
    verdict, message = _verdicts(failed.connection, again.connection)["C-ERR-1"]
    assert verdict is Verdict.INFORMATIONAL and "reconnected 0.50s after" in message


def test_headerless_audio_without_encoding_breaks_c_aud_3() -> None:
    """Raw PCM with no encoding declared is closed 1008 DATA-0000 on its first frame: a MUST."""
    recording = Recording().audio(0.05).close("server", 1008, "DATA-0000")
    recording.connection.fmt = parse_stream_params({})
    verdict, message = _verdicts(recording.connection)["C-AUD-3"]
    assert verdict is Verdict.FAILED and "no encoding declared" in message and "1008" in message


def test_encoding_without_sample_rate_breaks_c_aud_3() -> None:
    rejected = Recording()
    rejected.trace.handshake.url, rejected.trace.handshake.status, rejected.connection.upgraded_at = (
        "/v1/listen?encoding=linear16",
        400,
        None,
    )
    verdict, message = _verdicts(rejected.connection)["C-AUD-3"]
    assert verdict is Verdict.FAILED and "encoding=linear16 without sample_rate" in message


def test_a_wav_header_is_no_audio_frame_and_one_frame_of_lead_is_real_time() -> None:
    """A 44-byte header frame is not a 1 ms audio frame; 250 ms frames handed over a little early pace fine."""
    recording = Recording()
    recording.binary(b"RIFF" + b"\x00" * 40, after=0.0)
    recording.connection.header_bytes = 44
    for _ in range(8):
        recording.binary(b"\x01\x00" * 4000, after=0.25)  # 250 ms each
    recording.trace.entries[1].t = 0.001  # the first audio frame right behind the header
    verdict, message = _verdicts(recording.clean_end().connection)["C-AUD-2"]
    assert verdict is Verdict.INFORMATIONAL and message.startswith("as described: 8 frames of 250 ms"), message


def test_the_harness_stop_is_not_the_clients_fault() -> None:
    """A program stopped at its deadline with its stream open is not judged on C-CS-1."""
    hung = Recording().audio(2).close("transport", None, after=5.0)
    scenario = ClientScenario("client.t", "t", ("C-CS-1",), job=Job(2.0))
    run = ClientRun(scenario, Timing(), [hung.connection], exit_status=None, stopped_at=hung.t)
    verdicts = {r.rule_id: (r.verdict, r.message) for r in judge_client(run)}
    assert verdicts["C-CS-1"][0] is Verdict.NOT_JUDGED and "harness stopped the program" in verdicts["C-CS-1"][1]


def test_a_scenario_rule_the_client_never_reached_is_not_judged() -> None:
    """A client that streamed 50 ms of 2 s and quit: the rules of the job are NOT JUDGED, saying why."""
    quitter = Recording().audio(0.05).close("client")
    scenario = ClientScenario("client.t", "t", ("C-CS-3", "C-KA-2"), job=Job(2.0))
    run = ClientRun(scenario, Timing(), [quitter.connection], exit_status=1)
    verdicts = {r.rule_id: (r.verdict, r.message) for r in judge_client(run)}
    assert verdicts["C-CS-3"] == (
        Verdict.NOT_JUDGED,
        "not exercised: the program did not do its job (streamed 0.05s of the 2s of audio asked; never sent CloseStream)",
    )


def test_configure_as_the_sdk_sends_it_is_a_known_well_formed_control() -> None:
    """deepgram-sdk 7.17 send_configure: {"type":"Configure","features":{...}} holds C-CTL-2 and C-CTL-3."""
    recording = (
        Recording()
        .audio(1)
        .text({"type": "Configure", "features": {"numerals": True}, "keyterms": ["alpha"]})
        .audio(1)
        .clean_end()
    )
    verdicts = _verdicts(recording.connection)
    assert verdicts["C-CTL-2"][0] is Verdict.OK and verdicts["C-CTL-3"][0] is Verdict.OK
