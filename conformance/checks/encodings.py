"""Whether the server decodes the audio formats it is documented to take.

A close with 1008 DATA-0000 after audio the suite sent well-formed in the declared format is the
server's failure to decode it (ENC-1; ENC-2 for a container sent without ``encoding``), never an
"early close" (TO-3) or a missing Metadata (CS-1): :mod:`~conformance.checks.ending` gives the
close to these rules, and so is a Metadata whose duration shows the bytes were read as linear16
(a server that does not know the encoding transcribes noise and passes every other rule). They
hold only on evidence that the audio was decoded: words in a final, or a Metadata that counts
the audio's duration.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from conformance.checks import NOT_APPLICABLE, CheckContext, check
from conformance.checks.ending import UNPROVOKED, ending
from conformance.checks.facts import SCHEMA, facts, number
from conformance.checks.transcripts import transcript
from conformance.checks.violations import NotJudged, RuleViolation
from conformance.engine.trace import SENT, Trace
from conformance.scenario.model import Scenario

__all__ = ["audio_is_decoded", "read_as_linear16"]

_BREACH = {
    "ENC-1": "audio in a documented encoding, as declared, must be decoded, not closed as undecodable",
    "ENC-2": "a documented container sent without encoding must be decoded, not closed as undecodable",
}
# Metadata that counts at least this share of the audio sent shows the audio was decoded.
_DECODED_SHARE = 0.5
# Rates a server that ignores a container may assume for the bytes when none is declared.
_ASSUMED_RATES = (8000, 16000, 24000, 44100, 48000)


def read_as_linear16(trace: Trace, metadata: dict, slack: float) -> tuple[str, str] | None:
    """(ENC-1 or ENC-2, why) when the server read audio declared in another encoding, or a
    container, as linear16: ``metadata``'s duration, and the end of the last final, are what the
    bytes sent last as linear16 at the declared rate (without one, at a common rate), not the
    audio's decoded duration. None when they are not, or when linear16 was declared."""
    query = parse_qs(urlsplit(trace.handshake.url).query)
    encoding, rate = query.get("encoding", [None])[-1], query.get("sample_rate", [""])[-1]
    duration = number(metadata.get("duration"))
    if encoding == "linear16" or duration is None or abs(duration - trace.audio_seconds) <= slack:
        return None
    rates = (
        (int(rate),)
        if encoding is not None and rate.isdigit() and int(rate) > 0
        else ()
        if encoding is not None
        else _ASSUMED_RATES
    )
    sent = sum(e.size for e in trace.entries if e.direction == SENT and e.kind == "binary")
    # The finals must end there too: a duration alone could be a miscount of decoded audio.
    ends = [
        start + length
        for _, body in trace.messages("Results")
        if body.get("is_final") is True
        for start, length in [(number(body.get("start")), number(body.get("duration")))]
        if start is not None and length is not None
    ]
    for assumed in rates:
        as_linear16 = sent / (2 * trace.channels * assumed)
        if abs(duration - as_linear16) <= slack and ends and abs(max(ends) - as_linear16) <= slack:
            declared = f"the {encoding} declared" if encoding else "the container's audio"
            return (
                "ENC-1" if encoding else "ENC-2",
                f"Metadata.duration is {duration:g}s: the {sent} bytes sent last {as_linear16:.3f}s as linear16 at {assumed} Hz, "
                f"but {trace.audio_seconds:.3f}s as {declared}: the server did not decode {encoding or 'the container'}",
            )
    return None


def _judge(rule_id: str, trace: Trace, scenario: Scenario, slack: float) -> object:
    end = ending(trace, scenario.feature, scenario.rules)
    if end.kind == UNPROVOKED and end.rule == rule_id:
        raise RuleViolation(rule_id, f"{end.describe()}: {_BREACH[rule_id]}")
    for entry, body in trace.messages("Metadata"):
        misread = read_as_linear16(trace, body, slack)
        if misread is not None and misread[0] == rule_id:
            raise RuleViolation(rule_id, misread[1], entry.index)
    declared = "encoding" in parse_qs(urlsplit(trace.handshake.url).query)
    if rule_id not in scenario.rules or declared != (rule_id == "ENC-1") or trace.handshake.status != 101:
        return NOT_APPLICABLE
    if trace.audio_seconds <= 0:
        raise NotJudged(rule_id, "not exercised: no audio was sent")
    if any(transcript(r.body) for r in facts(trace).rows(rule_id, (SCHEMA,), final_only=True)):
        return None
    counted = [number(body.get("duration")) for _, body in trace.messages("Metadata")]
    if any(d is not None and d >= _DECODED_SHARE * trace.audio_seconds for d in counted):
        return None
    raise NotJudged(
        rule_id,
        f"nothing shows the {trace.audio_seconds:.2f}s of audio sent was decoded or refused: no final with words, no Metadata counting it",
    )


@check("ENC-1")
def audio_is_decoded(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """ENC-1 (MUST): audio in the declared encoding is decoded, not closed 1008 DATA-0000 and not
    read as another encoding."""
    return _judge("ENC-1", trace, scenario, ctx.duration_slack)


@check("ENC-2")
def container_is_decoded(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """ENC-2 (SHOULD): a container sent without ``encoding`` is decoded, not closed 1008 DATA-0000."""
    return _judge("ENC-2", trace, scenario, ctx.duration_slack)
