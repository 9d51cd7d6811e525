"""Checks on the audio clock: result and word times, contiguity of finals, interims, pauses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conformance.checks import NOT_APPLICABLE, CheckContext, check
from conformance.checks.facts import TIME, ResultRow, facts, number
from conformance.checks.violations import NotJudged, RuleViolation
from conformance.engine.trace import SENT, Trace, WireEntry
from conformance.scenario.model import Scenario

__all__ = [
    "times_on_audio_clock",
    "finals_contiguous",
    "words_inside_result",
    "timings_continue_after_pause",
    "interims_precede_finals",
    "words",
]


def words(body: dict[str, Any]) -> Iterator[tuple[str, float, float]]:
    """(word, start, end) of the first alternative's well-formed words."""
    alternatives = body.get("channel", {}).get("alternatives") if isinstance(body.get("channel"), dict) else None
    if not isinstance(alternatives, list) or not alternatives or not isinstance(alternatives[0], dict):
        return
    for word in alternatives[0].get("words") or []:
        if isinstance(word, dict):
            start, end = number(word.get("start")), number(word.get("end"))
            if start is not None and end is not None:
                yield str(word.get("word")), start, end


def _spans(body: dict[str, Any]) -> list[tuple[str, float, float]]:
    """Everything in a message that is a time on the audio clock, as (what, start, end)."""
    kind = body.get("type")
    if kind == "Results":
        start, duration = number(body.get("start")), number(body.get("duration"))
        spans = [("result", start, start + duration)] if start is not None and duration is not None else []
        return spans + [(f"word {w!r}", s, e) for w, s, e in words(body)]
    if kind in ("SpeechStarted", "UtteranceEnd"):
        field = "timestamp" if kind == "SpeechStarted" else "last_word_end"
        value = number(body.get(field))
        return [(f"{kind}.{field}", value, value)] if value is not None else []
    return []


@check("RES-2")
def times_on_audio_clock(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """RES-2 (MUST): 0 <= start <= end <= audio sent when the message arrived (+ slack), for results,
    words, SpeechStarted.timestamp and UtteranceEnd.last_word_end."""
    found = facts(trace)
    problems: list[tuple[int, str]] = []
    judged = False
    for entry, body in trace.messages():
        if found.claimed(entry, "RES-2", (TIME,)):
            continue
        limit = entry.audio_seconds + ctx.time_slack
        for what, start, end in _spans(body):
            judged = True
            if start < 0 or end < start - 1e-9 or end > limit:
                found.claim(entry, "RES-2", TIME)
                problems.append(
                    (
                        entry.index,
                        f"{what} spans {start:.3f}–{end:.3f}s in frame #{entry.index}, but only "
                        f"{entry.audio_seconds:.3f}s of audio had been sent (audio time, not wall time)",
                    )
                )
                break
    if not judged:
        return NOT_APPLICABLE
    if problems:
        index, message = problems[0]
        raise RuleViolation(
            "RES-2", message + (f" (and {len(problems) - 1} more frame(s))" if len(problems) > 1 else ""), index
        )
    return None


@check("RES-3")
def finals_contiguous(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """RES-3 (SHOULD): finals of one channel are ordered and contiguous (next start == previous end).
    A gap where an unreadable Results sits is not judged: that final may be the missing piece."""
    found = facts(trace)
    unreadable = [e.index for e, _ in found.unreadable]
    previous: dict[int, tuple[WireEntry, float]] = {}
    count = 0
    for entry, _, lane, start, end in found.rows("RES-3", (TIME,), final_only=True):
        count += 1
        if lane in previous:
            before, before_end = previous[lane]
            hidden = any(before.index < i < entry.index for i in unreadable)
            if abs(start - before_end) > ctx.time_slack and not (hidden and start > before_end):
                kind = "overlaps" if start < before_end else "leaves a gap after"
                raise RuleViolation(
                    "RES-3",
                    f"final #{entry.index} on channel {lane} starts at {start:.3f}s and {kind} final #{before.index} ending at {before_end:.3f}s",
                    entry.index,
                )
        previous[lane] = (entry, end)
    if count >= 2:
        return None
    blamed = sorted({owner for r in found.results if r.final and (owner := found.claimed(r.entry, "RES-3", (TIME,)))})
    if blamed:
        raise NotJudged("RES-3", f"the finals that arrived are blamed on {', '.join(blamed)}")
    return NOT_APPLICABLE


@check("RES-4")
def words_inside_result(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """RES-4 (SHOULD): each word lies inside its result's [start, start + duration]."""
    judged = False
    for entry, body, _, start, end in facts(trace).results:
        for word, word_start, word_end in words(body):
            judged = True
            if word_start < start - ctx.time_slack or word_end > end + ctx.time_slack:
                raise RuleViolation(
                    "RES-4",
                    f"word {word!r} at {word_start:.3f}–{word_end:.3f}s lies outside its result window {start:.3f}–{end:.3f}s (frame #{entry.index})",
                    entry.index,
                )
    return None if judged else NOT_APPLICABLE


def _resume_after_pause(trace: Trace) -> WireEntry | None:
    """The first audio frame after a KeepAlive-only gap in the audio, if the trace has one."""
    saw_audio = keepalive_since_audio = False
    for entry in trace.entries:
        if entry.direction != SENT:
            continue
        if entry.kind == "binary" and entry.size > 0:
            if saw_audio and keepalive_since_audio:
                return entry
            saw_audio, keepalive_since_audio = True, False
        elif entry.kind == "text" and '"KeepAlive"' in (entry.text or ""):
            keepalive_since_audio = True
    return None


def _ahead(row: ResultRow) -> float:
    """How far a result's latest time runs past the audio sent when it arrived."""
    return max([row.end, *(e for _, _, e in words(row.body))]) - row.entry.audio_seconds


@check("KA-4")
def timings_continue_after_pause(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """KA-4 (MUST): after a KeepAlive-only pause, times continue from the audio already sent: no
    result received after the resume runs past the audio sent (+ slack). Only a clock seen right
    before the pause (a Results then, none ahead) can show the pause pushed it; one ahead all along
    is RES-2's finding."""
    resume = _resume_after_pause(trace)
    if resume is None:
        return NOT_APPLICABLE
    found = facts(trace)
    after = [r for r in found.results if r.entry.t >= resume.t]
    if not after:
        return NOT_APPLICABLE
    pushed = [r for r in after if _ahead(r) > ctx.time_slack]
    if not pushed:
        return None
    before = [r for r in found.results if r.entry.t < resume.t]
    early = next((r for r in before if _ahead(r) > ctx.time_slack), None)
    if early is not None:
        raise NotJudged(
            "KA-4",
            f"results ran ahead of the audio sent before the pause too (#{early.entry.index}, RES-2), so the pause cannot be told apart",
        )
    if not before:
        raise NotJudged(
            "KA-4",
            f"Results #{pushed[0].entry.index} after the pause runs ahead of the audio sent, but no Results "
            "came before the pause to show the clock was right then: a clock ahead all along (RES-2) cannot be told apart",
        )
    for row in pushed:
        found.claim(row.entry, "KA-4", TIME)
    row = pushed[0]
    latest = row.entry.audio_seconds + _ahead(row)
    raise RuleViolation(
        "KA-4",
        f"Results #{row.entry.index} after the pause reaches {latest:.3f}s but only "
        f"{row.entry.audio_seconds:.3f}s of audio had been sent; the pause must not advance the clock",
        row.entry.index,
    )


@check("IR-1")
def interims_precede_finals(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """IR-1 (SHOULD): with interim_results=true, interims arrive, and each shares the start of its
    segment (the end of the previous final on its channel)."""
    if str(scenario.connect.params.get("interim_results", "")).lower() != "true" or trace.audio_seconds < 1.5:
        return NOT_APPLICABLE
    found = facts(trace)
    segment_start: dict[int, float] = {}
    interims = 0
    for entry, body, lane, start, end in found.results:
        if body.get("is_final") is True:
            segment_start[lane] = end
            continue
        if found.claimed(entry, "IR-1", (TIME,)):
            continue
        interims += 1
        expected = segment_start.get(lane, 0.0)
        if abs(start - expected) > ctx.time_slack:
            raise RuleViolation(
                "IR-1",
                f"interim #{entry.index} on channel {lane} starts at {start:.3f}s, not at its segment's start {expected:.3f}s",
                entry.index,
            )
    if interims:
        return None
    blamed = sorted(
        {owner for r in found.results if not r.final and (owner := found.claimed(r.entry, "IR-1", (TIME,)))}
    )
    if blamed:
        raise NotJudged("IR-1", f"every interim that arrived is blamed on {', '.join(blamed)}")
    if found.unreadable:
        raise NotJudged("IR-1", f"no readable interim arrived; {found.unread_note()}")
    raise RuleViolation(
        "IR-1",
        f"interim_results=true but no interim result arrived in {trace.audio_seconds:.3f}s of audio",
        absence=True,
    )
