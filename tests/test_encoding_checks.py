"""ENC-1 and ENC-2 over hand-built traces: the case where each holds, where each breaks (an
undecodable close, bytes read as linear16), and where neither can be judged; and what their
breaking does to the rules that read the audio."""

from __future__ import annotations

from conformance.checks import CheckContext, judge
from conformance.scenario import model as m
from conformance.verdicts import Verdict

from test_checks import Script, metadata, results

CTX = CheckContext()
MULAW = "ws://x/v1/listen?encoding=mulaw&sample_rate=8000"
SCENARIO = m.Scenario(id="t.1", title="t", rules=("ENC-1", "ENC-2", "TR-1", "CS-1", "CS-4"), steps=())


def _mulaw(seconds: float, url: str = MULAW) -> Script:
    """A script whose stream declared ``url`` and sent ``seconds`` of 8 kHz mu-law (a byte each)."""
    script = Script()
    script.trace.handshake.url = url
    before = script.trace.audio_seconds
    script.trace.record_sent(
        "binary", b"\xff" * int(8000 * seconds), script.t, audio=True, due=None, step=None, seconds=seconds
    )
    script.trace.speech.append((before, script.trace.audio_seconds))
    return script


def _verdicts(script: Script) -> dict[str, tuple[Verdict, str]]:
    return {r.rule_id: (r.verdict, r.message) for r in judge(script.trace, SCENARIO, CTX)}


def test_decoded_audio_holds_enc1() -> None:
    script = (
        _mulaw(2.0)
        .at(1.0)
        .send({"type": "CloseStream"})
        .recv(results(0, 2.0, words=[(0.2, 0.6)]))
        .recv(metadata(2.0))
        .close()
    )
    verdicts = _verdicts(script)
    assert verdicts["ENC-1"][0] is Verdict.OK and verdicts["CS-4"][0] is Verdict.OK
    assert "ENC-2" not in verdicts or verdicts["ENC-2"][0] is not Verdict.FAILED


def test_an_undecodable_close_breaks_enc1_and_nothing_else() -> None:
    """1008 DATA-0000 after well-formed audio: ENC-1's, not TO-3's or CS-1's."""
    verdicts = _verdicts(_mulaw(1.0).at(0.2).close(code=1008, reason="DATA-0000"))
    assert verdicts["ENC-1"][0] is Verdict.FAILED and "1008" in verdicts["ENC-1"][1]
    assert not [rule for rule, (verdict, _) in verdicts.items() if verdict.broken and rule != "ENC-1"]


def test_bytes_read_as_linear16_break_enc1_and_cs4_yields() -> None:
    """2 s of mu-law is 16,000 bytes: 1 s as linear16 at 8 kHz. Metadata and the last final end
    there: the server did not decode mu-law; CS-4 and CS-1 do not blame the same cause."""
    script = (
        _mulaw(2.0)
        .at(1.0)
        .send({"type": "CloseStream"})
        .recv(results(0, 1.0, words=[(0.2, 0.6)]))
        .recv(metadata(1.0))
        .close()
    )
    verdicts = _verdicts(script)
    assert verdicts["ENC-1"][0] is Verdict.FAILED and "1s as linear16 at 8000 Hz" in verdicts["ENC-1"][1].replace(
        ".000s", "s"
    )
    assert verdicts["CS-4"][0] is Verdict.NOT_JUDGED and "ENC-1's finding" in verdicts["CS-4"][1]
    assert verdicts["CS-1"][0] in (Verdict.OK, Verdict.NOT_JUDGED)


def test_a_miscount_with_finals_on_the_audio_clock_stays_cs4s() -> None:
    """Metadata doubled while the finals end at the audio sent: a count, not a decoding, problem."""
    script = _mulaw(2.0, "ws://x/v1/listen?encoding=linear32&sample_rate=8000").at(1.0).send({"type": "CloseStream"})
    script.recv(results(0, 2.0, words=[(0.2, 0.6)])).recv(metadata(4.0)).close()
    verdicts = _verdicts(script)
    assert verdicts["ENC-1"][0] is Verdict.OK and verdicts["CS-4"][0] is Verdict.NON_STRICT


def test_enc1_is_not_judged_without_audio_or_evidence() -> None:
    nothing_sent = Script()
    nothing_sent.trace.handshake.url = MULAW
    nothing_sent.send({"type": "CloseStream"}).recv(metadata(0.0)).close()
    assert _verdicts(nothing_sent)["ENC-1"][0] is Verdict.NOT_JUDGED
    silent = _mulaw(1.0).at(1.0).close(by="client")
    verdict, message = _verdicts(silent)["ENC-1"]
    assert verdict is Verdict.NOT_JUDGED and "no final with words, no Metadata counting it" in message


def test_a_container_without_encoding_is_enc2s() -> None:
    """No encoding declared: a DATA-0000 close is ENC-2's (SHOULD), never ENC-1's."""
    verdicts = _verdicts(
        _mulaw(1.0, "ws://x/v1/listen").at(0.2).close(code=1008, reason="DATA-0000: see https://dpgr.am/data0000")
    )
    assert verdicts["ENC-2"][0] is Verdict.NON_STRICT and verdicts.get("ENC-1", (Verdict.OK,))[0] is not Verdict.FAILED


def test_a_probe_or_a_policy_close_is_no_decoding_finding() -> None:
    """Bytes the scenario sent undecodable on purpose explain the 1008; a 1008 that names another
    policy is no DATA-0000."""
    probe = _mulaw(0.5)
    probe.trace.probes.add(probe.trace.entries[-1].index)
    for script in (
        probe.at(0.2).close(code=1008, reason="DATA-0000"),
        _mulaw(0.5).at(0.2).close(code=1008, reason="token expired"),
    ):
        assert _verdicts(script)["ENC-1"][0] is not Verdict.FAILED
