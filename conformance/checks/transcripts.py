"""Whether the server transcribes at all: finals over speech that never carry a word pass every
structural rule, so a server that returns only empty transcripts needs a rule of its own."""

from __future__ import annotations

from typing import Any

from conformance.checks import NOT_APPLICABLE, CheckContext, check
from conformance.checks.facts import SCHEMA, ResultRow, facts
from conformance.checks.violations import RuleViolation
from conformance.engine.trace import Trace
from conformance.scenario.model import Scenario

__all__ = ["speech_is_transcribed", "transcript"]

# A final counts as one over speech when this much of its window is speech we sent (audio seconds):
# enough for a word, so a final that only grazes a word's edge is not asked to name it.
_SPEECH_OVERLAP_SECONDS = 0.3


def transcript(body: dict[str, Any]) -> str:
    channel = body.get("channel")
    alternatives = channel.get("alternatives") if isinstance(channel, dict) else None
    first = (
        alternatives[0] if isinstance(alternatives, list) and alternatives and isinstance(alternatives[0], dict) else {}
    )
    text = first.get("transcript")
    return text.strip() if isinstance(text, str) else ""


def _speech_in(row: ResultRow, speech: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(end, row.end) - max(start, row.start)) for start, end in speech)


@check("TR-1")
def speech_is_transcribed(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """TR-1 (MUST): of the finals whose window holds speech we sent, at least one has words.
    Without such finals (none came, or the audio was silence) there is nothing to judge: a missing
    flush is CS-1's or FIN-1's finding."""
    over_speech = [
        r
        for r in facts(trace).rows("TR-1", (SCHEMA,), final_only=True)
        if _speech_in(r, trace.speech) >= _SPEECH_OVERLAP_SECONDS
    ]
    if not over_speech:
        return NOT_APPLICABLE
    if any(transcript(r.body) for r in over_speech):
        return None
    speech = sum(_speech_in(r, trace.speech) for r in over_speech)
    first = over_speech[0]
    raise RuleViolation(
        "TR-1",
        f"{len(over_speech)} final(s) over {speech:.1f}s of the speech sent all have an empty transcript "
        f"(first: #{first.entry.index}, {first.start:.3f}–{first.end:.3f}s): the server transcribed nothing",
        first.entry.index,
    )
