"""Checks on the audio clock: result and word times, contiguity of finals, premature closes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conformance.checks import NOT_APPLICABLE, CheckContext, check
from conformance.checks.violations import RuleViolation
from conformance.engine.trace import SENT, Trace, WireEntry
from conformance.scenario.model import Scenario

__all__ = ["times_on_audio_clock", "finals_contiguous", "words_inside_result", "no_early_close", "timings_continue_after_pause", "interims_precede_finals", "results", "words"]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def results(trace: Trace, *, final_only: bool = False) -> Iterator[tuple[WireEntry, dict[str, Any], int, float, float]]:
    """Well-formed Results as (entry, body, lane, start, end); malformed ones are MSG-1's business."""
    for entry, body in trace.messages("Results"):
        start, duration = _number(body.get("start")), _number(body.get("duration"))
        pair = body.get("channel_index")
        if start is None or duration is None or not (isinstance(pair, list) and pair and isinstance(pair[0], int)):
            continue
        if final_only and body.get("is_final") is not True:
            continue
        yield entry, body, pair[0], start, start + duration


def words(body: dict[str, Any]) -> Iterator[tuple[str, float, float]]:
    """(word, start, end) of the first alternative's well-formed words."""
    alternatives = body.get("channel", {}).get("alternatives") if isinstance(body.get("channel"), dict) else None
    if not isinstance(alternatives, list) or not alternatives or not isinstance(alternatives[0], dict):
        return
    for word in alternatives[0].get("words") or []:
        if isinstance(word, dict):
            start, end = _number(word.get("start")), _number(word.get("end"))
            if start is not None and end is not None:
                yield str(word.get("word")), start, end


@check("RES-2")
def times_on_audio_clock(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """RES-2 (MUST): 0 <= start <= end <= audio sent when the message arrived (+ slack), for results,
    words, SpeechStarted.timestamp and UtteranceEnd.last_word_end."""
    problems: list[tuple[int, str]] = []
    judged = False
    for entry, body in trace.messages():
        limit = entry.audio_seconds + ctx.time_slack
        spans: list[tuple[str, float, float]] = []
        if body.get("type") == "Results":
            start, duration = _number(body.get("start")), _number(body.get("duration"))
            if start is not None and duration is not None:
                spans.append(("result", start, start + duration))
            spans.extend((f"word {w!r}", s, e) for w, s, e in words(body))
        elif body.get("type") in ("SpeechStarted", "UtteranceEnd"):
            field = "timestamp" if body["type"] == "SpeechStarted" else "last_word_end"
            value = _number(body.get(field))
            if value is not None:
                spans.append((f"{body['type']}.{field}", value, value))
        for what, start, end in spans:
            judged = True
            if start < 0 or end < start - 1e-9 or end > limit:
                problems.append((entry.index, f"{what} spans {start:.3f}–{end:.3f}s in frame #{entry.index}, but only {entry.audio_seconds:.3f}s of audio had been sent (audio time, not wall time)"))
                break
    if not judged:
        return NOT_APPLICABLE
    if problems:
        index, message = problems[0]
        raise RuleViolation("RES-2", message + (f" (and {len(problems) - 1} more frame(s))" if len(problems) > 1 else ""), index)
    return None


@check("RES-3")
def finals_contiguous(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """RES-3 (SHOULD): finals of one channel are ordered and contiguous (next start == previous end)."""
    previous: dict[int, tuple[WireEntry, float]] = {}
    count = 0
    for entry, _, lane, start, end in results(trace, final_only=True):
        count += 1
        if lane in previous:
            before, before_end = previous[lane]
            if abs(start - before_end) > ctx.time_slack:
                kind = "overlaps" if start < before_end else "leaves a gap after"
                raise RuleViolation("RES-3", f"final #{entry.index} on channel {lane} starts at {start:.3f}s and {kind} final #{before.index} ending at {before_end:.3f}s", entry.index)
        previous[lane] = (entry, end)
    return None if count >= 2 else NOT_APPLICABLE


@check("RES-4")
def words_inside_result(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """RES-4 (SHOULD): each word lies inside its result's [start, start + duration]."""
    judged = False
    for entry, body, _, start, end in results(trace):
        for word, word_start, word_end in words(body):
            judged = True
            if word_start < start - ctx.time_slack or word_end > end + ctx.time_slack:
                raise RuleViolation("RES-4", f"word {word!r} at {word_start:.3f}–{word_end:.3f}s lies outside its result window {start:.3f}–{end:.3f}s (frame #{entry.index})", entry.index)
    return None if judged else NOT_APPLICABLE


def _last_client_frame_before(trace: Trace, t: float) -> WireEntry | None:
    sent = [e for e in trace.entries if e.direction == SENT and e.t <= t]
    return sent[-1] if sent else None


@check("TO-3")
def no_early_close(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """TO-3 (MUST): a server-initiated close without CloseStream comes no sooner than the idle timeout
    after the client's last frame (close 1008 for undecodable audio is ERR-2's business, a stream
    without audio KA-3's)."""
    close = trace.close
    # Without any audio, whether KeepAlive alone holds the stream is KA-3's open question.
    if close is None or close.by != "server" or close.code == 1008 or trace.audio_seconds == 0:
        return NOT_APPLICABLE
    if any(True for _ in trace.sent_controls("CloseStream")):
        return NOT_APPLICABLE
    if any(e.direction == SENT and e.kind == "binary" and e.size == 0 for e in trace.entries):
        return NOT_APPLICABLE
    last = _last_client_frame_before(trace, close.t)
    since = last.t if last else (trace.handshake.t or 0.0)
    gap = close.t - since
    # Real servers close at 10–12 s; anything under 90 % of the timeout is early, not jitter.
    if gap < 0.9 * trace.timing.idle_timeout * trace.timing.scale:
        raise RuleViolation("TO-3", f"{close.describe()}, only {gap:.3f}s after the client's last frame; the idle timeout is {trace.timing.idle_timeout * trace.timing.scale:.3f}s")
    return None


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


@check("KA-4")
def timings_continue_after_pause(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """KA-4 (MUST): after a KeepAlive-only pause, times continue from the audio already sent:
    no result or word received after the resume lies beyond the audio sent (+ slack)."""
    resume = _resume_after_pause(trace)
    if resume is None:
        return NOT_APPLICABLE
    for entry, body, _, start, end in results(trace):
        if entry.t < resume.t:
            continue
        latest = max([end, *(e for _, _, e in words(body))])
        if latest > entry.audio_seconds + ctx.time_slack:
            raise RuleViolation("KA-4", f"Results #{entry.index} after the pause reaches {latest:.3f}s but only {entry.audio_seconds:.3f}s of audio had been sent; the pause must not advance the clock", entry.index)
    return None


@check("IR-1")
def interims_precede_finals(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """IR-1 (SHOULD): with interim_results=true, interims arrive, and each shares the start of its
    segment (the end of the previous final on its channel)."""
    if str(scenario.connect.params.get("interim_results", "")).lower() != "true" or trace.audio_seconds < 1.5:
        return NOT_APPLICABLE
    segment_start: dict[int, float] = {}
    interims = 0
    for entry, body, lane, start, end in results(trace):
        if body.get("is_final") is True:
            segment_start[lane] = end
            continue
        interims += 1
        expected = segment_start.get(lane, 0.0)
        if abs(start - expected) > ctx.time_slack:
            raise RuleViolation("IR-1", f"interim #{entry.index} on channel {lane} starts at {start:.3f}s, not at its segment's start {expected:.3f}s", entry.index)
    if not interims:
        raise RuleViolation("IR-1", f"interim_results=true but no interim result arrived in {trace.audio_seconds:.3f}s of audio")
    return None
