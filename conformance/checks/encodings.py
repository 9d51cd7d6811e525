"""Whether the server decodes the audio formats it is documented to take.

A close with 1008 DATA-0000 after audio the suite sent well-formed in the declared format is the
server's failure to decode it (ENC-1; ENC-2 for a container sent without ``encoding``), never an
"early close" (TO-3) or a missing Metadata (CS-1): :mod:`~conformance.checks.ending` gives the
close to these rules. They hold only on evidence that the audio was decoded: words in a final, or
a Metadata that counts the audio's duration.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from conformance.checks import NOT_APPLICABLE, CheckContext, check
from conformance.checks.ending import UNPROVOKED, ending
from conformance.checks.facts import SCHEMA, facts, number
from conformance.checks.transcripts import transcript
from conformance.checks.violations import NotJudged, RuleViolation
from conformance.engine.trace import Trace
from conformance.scenario.model import Scenario

__all__ = ["audio_is_decoded"]

_BREACH = {
    "ENC-1": "audio in a documented encoding, as declared, must be decoded, not closed as undecodable",
    "ENC-2": "a documented container sent without encoding must be decoded, not closed as undecodable",
}
# Metadata that counts at least this share of the audio sent shows the audio was decoded.
_DECODED_SHARE = 0.5


def _judge(rule_id: str, trace: Trace, scenario: Scenario) -> object:
    end = ending(trace, scenario.feature, scenario.rules)
    if end.kind == UNPROVOKED and end.rule == rule_id:
        raise RuleViolation(rule_id, f"{end.describe()}: {_BREACH[rule_id]}")
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
    raise NotJudged(rule_id, f"nothing shows the {trace.audio_seconds:.2f}s of audio sent was decoded or refused: no final with words, no Metadata counting it")


@check("ENC-1")
def audio_is_decoded(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """ENC-1 (MUST): audio in the declared encoding is decoded, not closed 1008 DATA-0000."""
    return _judge("ENC-1", trace, scenario)


@check("ENC-2")
def container_is_decoded(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """ENC-2 (SHOULD): a container sent without ``encoding`` is decoded, not closed 1008 DATA-0000."""
    return _judge("ENC-2", trace, scenario)
