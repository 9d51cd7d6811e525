"""Checks on the stream's lifecycle: KeepAlive, Finalize, CloseStream, Metadata, multichannel.

A flush owes finals for the speech sent: finals must reach the end of the last speech before the
Finalize or CloseStream (``trace.speech``); where a final's window ends in trailing silence is the
segmentation's business (RES-3), not a lost word.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from conformance.checks import NOT_APPLICABLE, CheckContext, check
from conformance.checks.encodings import read_as_linear16
from conformance.checks.ending import REPLY, ending, reply_window
from conformance.checks.facts import CHANNEL, RESPONSE, TIME, Facts, ResultRow, facts, speech_end, unreadable_since
from conformance.checks.violations import NotJudged, RuleViolation
from conformance.engine.trace import RECEIVED, SENT, Trace, WireEntry
from conformance.protocol.messages import TRANSCRIPTION_TYPES
from conformance.scenario.model import Scenario

__all__ = [
    "closestream_flushes_then_metadata",
    "metadata_is_last",
    "closestream_close_code",
    "metadata_matches_audio",
    "finalize_covers_buffered_audio",
    "finalize_marks_from_finalize",
    "finalize_channel_only",
    "finalize_keeps_stream",
    "keepalive_not_answered",
    "multichannel_results",
]

# Seeds 000: from_finalize "typically occurs when there is a noticeable amount of audio buffered".
_NOTICEABLE_BUFFER_SECONDS = 0.5
_AUDIO_AFTER_FINALIZE_SECONDS = 1.0


def _absent(
    rule_id: str, message: str, found: Facts, frame: int | None = None, rests_on: tuple[str, ...] = ()
) -> Exception:
    """A finding that something never came; not judged when some Results could not be read."""
    if found.unreadable:
        return NotJudged(rule_id, f"{message}; but {found.unread_note()}")
    return RuleViolation(rule_id, message, frame, absence=True, rests_on=rests_on)


def _first_metadata(trace: Trace, after: int = -1) -> WireEntry | None:
    """The first Metadata recorded after entry index ``after``."""
    return next((e for e, _ in trace.messages("Metadata") if e.index > after), None)


def _covered(found: Facts, lane: int, *, before: float = math.inf) -> float:
    """Audio time covered by finals of ``lane`` recorded before entry index ``before``."""
    return max((r.end for r in found.results if r.final and r.lane == lane and r.entry.index < before), default=0.0)


def _silent_lanes(found: Facts, lanes: int) -> set[int]:
    """Channels without a single result while others have some: MC-1's finding, not each flush's."""
    have = {r.lane for r in found.results}
    return set(range(lanes)) - have if have else set()


def _no_metadata(rule_id: str, trace: Trace, scenario: Scenario) -> object:
    """A scenario about Metadata got none to judge: say so (its absence is CS-1's or TO-4's finding)."""
    if rule_id in scenario.rules and trace.handshake.status == 101:
        raise NotJudged(rule_id, f"no summary Metadata arrived to judge (CS-1, TO-4); {_close_text(trace)}")
    return NOT_APPLICABLE


def _close_text(trace: Trace) -> str:
    return trace.close.describe() if trace.close else "the connection was still open when the scenario ended"


@check("CS-1")
def closestream_flushes_then_metadata(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """CS-1 (MUST): after CloseStream, finals cover the speech sent, then Metadata, then the server closes."""
    sent = next(trace.sent_controls("CloseStream"), None)
    if sent is None:
        return NOT_APPLICABLE
    entry, _ = sent
    metadata = _first_metadata(trace, after=entry.index)
    if metadata is None:
        unread = unreadable_since(trace, entry.index)
        if unread is not None:
            raise NotJudged(
                "CS-1", f"no Metadata could be read after CloseStream (#{entry.index} at {entry.t:.3f}s): {unread}"
            )
        raise RuleViolation(
            "CS-1",
            f"no Metadata after CloseStream (#{entry.index} at {entry.t:.3f}s); {_close_text(trace)}",
            absence=True,
        )
    found = facts(trace)
    speech = speech_end(trace, entry.audio_seconds)
    silent = _silent_lanes(found, trace.lanes)
    for lane in range(trace.lanes):
        covered = _covered(found, lane, before=metadata.index)
        if lane not in silent and speech - covered > ctx.coverage_slack:
            raise _absent(
                "CS-1",
                f"before Metadata, finals on channel {lane} end at {covered:.3f}s but the speech sent runs "
                f"to {speech:.3f}s ({entry.audio_seconds:.3f}s of audio sent): the flush lost it",
                found,
                metadata.index,
            )
    close = trace.close
    if close is None or close.by == "client":
        raise RuleViolation(
            "CS-1", f"the server did not close after Metadata; {_close_text(trace)}", metadata.index, absence=True
        )
    return None


@check("CS-2")
def metadata_is_last(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """CS-2 (MUST): nothing follows Metadata."""
    metadata = _first_metadata(trace)
    if metadata is None:
        return _no_metadata("CS-2", trace, scenario)
    later = [e for e in trace.entries if e.direction == RECEIVED and e.index > metadata.index]
    if later:
        raise RuleViolation(
            "CS-2",
            f"{len(later)} frame(s) followed Metadata #{metadata.index}, first {later[0].describe()}",
            later[0].index,
        )
    return None


@check("CS-3")
def closestream_close_code(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """CS-3 (SHOULD): the server's close after CloseStream is 1000."""
    sent = next(trace.sent_controls("CloseStream"), None)
    close = trace.close
    if sent is None or (close is not None and close.t < sent[0].t):
        return NOT_APPLICABLE
    if close is None or close.by == "client":
        if "CS-3" in scenario.rules:
            raise NotJudged("CS-3", f"the server did not close after CloseStream (see CS-1); {_close_text(trace)}")
        return NOT_APPLICABLE
    if close.code != 1000:
        raise RuleViolation("CS-3", f"after CloseStream the {close.describe()}; expected 1000")
    return None


def _summary_metadata(trace: Trace) -> WireEntry | None:
    """The Metadata that sums the stream up (contract.md §1.2: "once at session end, immediately
    before the close frame"): the last one, when it came after the client asked to end the stream,
    or as the last frame before the server's own close. A Metadata sent early is no summary."""
    metadata = [e for e, _ in trace.messages("Metadata")]
    if not metadata:
        return None
    ends = _flushing(trace, "CloseStream")
    if ends:
        return metadata[-1] if metadata[-1].index > min(ends) else None
    close, received = trace.close, list(trace.received())
    closed_by_server = close is not None and close.by != "client"
    return metadata[-1] if closed_by_server and received and received[-1] is metadata[-1] else None


@check("CS-4")
def metadata_matches_audio(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """CS-4 (SHOULD): the summary Metadata's duration equals the audio sent (± slack) and its channels
    the channels sent."""
    entry = _summary_metadata(trace)
    if entry is None:
        return _no_metadata("CS-4", trace, scenario)
    # After 1008 the audio was not decodable: what was "processed" is ERR-2's question.
    if entry.audio_seconds <= 0 or (trace.close is not None and trace.close.code == 1008):
        return NOT_APPLICABLE
    body = entry.message.body if entry.message is not None and entry.message.body is not None else {}
    duration, channels = body.get("duration"), body.get("channels")
    misread = read_as_linear16(trace, body, ctx.duration_slack)
    if misread is not None:
        raise NotJudged("CS-4", f"{misread[0]}'s finding, not a count of the audio: {misread[1]}")
    if (
        not isinstance(duration, (int, float))
        or isinstance(duration, bool)
        or abs(duration - entry.audio_seconds) > ctx.duration_slack
    ):
        raise RuleViolation(
            "CS-4", f"Metadata.duration is {duration!r} but {entry.audio_seconds:.3f}s of audio was sent", entry.index
        )
    if channels != trace.channels:
        raise RuleViolation(
            "CS-4", f"Metadata.channels is {channels!r} but the stream has {trace.channels} channel(s)", entry.index
        )
    return None


@dataclass(frozen=True)
class _Finalize:
    entry: WireEntry
    lanes: tuple[int, ...]
    explicit: int | None
    until: int


def _flushing(trace: Trace, *kinds: str) -> list[int]:
    """Entry indexes of the client frames that flush the stream: empty binary frames and the
    control messages of ``kinds``."""
    found = [e.index for e in trace.entries if e.direction == SENT and e.kind == "binary" and e.size == 0]
    return found + [e.index for kind in kinds for e, _ in trace.sent_controls(kind)]


def _finalizes(trace: Trace) -> list[_Finalize]:
    """Each Finalize with its target lanes and the entry index before which its flush must have
    arrived: the next flushing frame we sent (Finalize, CloseStream, empty binary), else the end."""
    flushing = _flushing(trace, "Finalize", "CloseStream")
    found = []
    for entry, body in trace.sent_controls("Finalize"):
        channel = body.get("channel")
        explicit = channel if isinstance(channel, int) and not isinstance(channel, bool) else None
        lanes = (explicit,) if explicit is not None else tuple(range(trace.lanes))
        until = min([i for i in flushing if i > entry.index] + [len(trace.entries)])
        found.append(_Finalize(entry, lanes, explicit, until))
    return found


def _flush_rows(found: Facts, fin: _Finalize) -> list[ResultRow]:
    return [r for r in found.results if fin.entry.index < r.entry.index < fin.until]


def _missing_flush(rule_id: str, message: str, found: Facts, fin: _Finalize) -> Exception:
    """No flush found; not judged when the results of the window are blamed on a clock or channel rule."""
    owners = sorted({o for r in _flush_rows(found, fin) if (o := found.claimed(r.entry, rule_id, (TIME, CHANNEL)))})
    if owners:
        return NotJudged(rule_id, f"{message}; but the Results after it are blamed on {', '.join(owners)}")
    return _absent(rule_id, message, found, fin.entry.index)


@check("FIN-1")
def finalize_covers_buffered_audio(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """FIN-1 (MUST): after Finalize, finals arrive that reach the end of the speech sent before it:
    a final ending where the audio ended, or one marked from_finalize."""
    finalizes = _finalizes(trace)
    if not finalizes:
        return NOT_APPLICABLE
    found = facts(trace)
    silent = _silent_lanes(found, trace.lanes)
    for fin in finalizes:
        audio = fin.entry.audio_seconds
        need = speech_end(trace, audio)
        for lane in (lane for lane in fin.lanes if lane not in silent):
            if need - _covered(found, lane, before=fin.entry.index) <= ctx.coverage_slack:
                continue
            flushed = [
                r
                for r in _flush_rows(found, fin)
                if r.lane == lane
                and r.final
                and r.end >= need - ctx.coverage_slack
                and (r.end <= audio + ctx.coverage_slack or r.body.get("from_finalize") is True)
            ]
            if not flushed:
                last = _covered(found, lane, before=fin.until)
                raise _missing_flush(
                    "FIN-1",
                    f"after Finalize #{fin.entry.index} at {fin.entry.t:.3f}s no final on channel {lane} "
                    f"reached the end of the speech sent ({need:.3f}s of {audio:.3f}s of audio); the finals before the next flush end at {last:.3f}s",
                    found,
                    fin,
                )
    return None


@check("FIN-2")
def finalize_marks_from_finalize(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """FIN-2 (SHOULD): with noticeable buffered audio, a Results with from_finalize true arrives."""
    judged = False
    found = facts(trace)
    for fin in _finalizes(trace):
        buffered = max(
            (fin.entry.audio_seconds - _covered(found, lane, before=fin.entry.index) for lane in fin.lanes), default=0.0
        )
        if buffered < _NOTICEABLE_BUFFER_SECONDS:
            continue
        judged = True
        if not any(r.body.get("from_finalize") is True and r.lane in fin.lanes for r in _flush_rows(found, fin)):
            raise _missing_flush(
                "FIN-2",
                f"no Results with from_finalize: true after Finalize #{fin.entry.index} with {buffered:.3f}s of audio buffered",
                found,
                fin,
            )
    return None if judged else NOT_APPLICABLE


@check("FIN-3")
def finalize_channel_only(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """FIN-3 (MUST): Finalize with channel n flushes channel n only: every from_finalize result has channel_index[0] == n."""
    targeted = [fin for fin in _finalizes(trace) if fin.explicit is not None]
    if not targeted:
        return NOT_APPLICABLE
    found = facts(trace)
    for fin in targeted:
        for row in _flush_rows(found, fin):
            if (
                row.body.get("from_finalize") is True
                and row.lane != fin.explicit
                and not found.claimed(row.entry, "FIN-3", (CHANNEL,))
            ):
                raise RuleViolation(
                    "FIN-3",
                    f"Finalize #{fin.entry.index} named channel {fin.explicit} but from_finalize Results "
                    f"#{row.entry.index} has channel_index {row.body.get('channel_index')}",
                    row.entry.index,
                )
    return None


@check("FIN-4")
def finalize_keeps_stream(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """FIN-4 (MUST): Finalize does not end the stream (a close or a dropped connection answering
    it), and audio sent afterwards is transcribed."""
    finalizes = _finalizes(trace)
    if not finalizes:
        return NOT_APPLICABLE
    end = ending(trace, scenario.feature, scenario.rules)
    if end.kind == REPLY and end.rule == "FIN-4":
        raise RuleViolation("FIN-4", f"{end.describe()}: Finalize must not end the stream")
    found = facts(trace)
    for fin in finalizes:
        sent_after = [e for e in trace.entries[fin.entry.index + 1 : fin.until] if e.direction == SENT]
        more_audio = (sent_after[-1].audio_seconds if sent_after else fin.entry.audio_seconds) - fin.entry.audio_seconds
        if more_audio < _AUDIO_AFTER_FINALIZE_SECONDS:
            continue
        later = [
            r
            for r in found.results
            if r.entry.index > fin.entry.index and r.end > fin.entry.audio_seconds + ctx.time_slack
        ]
        if not later:
            # Nothing came before the CloseStream that followed: only its flush could have shown
            # the audio transcribed, and a flush that lost it is CS-1's finding, not a second one.
            closing = fin.until in {e.index for e, _ in trace.sent_controls("CloseStream")}
            raise _absent(
                "FIN-4",
                f"{more_audio:.3f}s of audio sent after Finalize #{fin.entry.index} drew no Results beyond {fin.entry.audio_seconds:.3f}s",
                found,
                fin.entry.index,
                rests_on=("CS-1",) if closing else (),
            )
    return None


@check("KA-1")
def keepalive_not_answered(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """KA-1 (MUST): a text KeepAlive draws no reply: no text message but transcription or Metadata
    arrives after a KeepAlive, before the client's next frame or within the reply window if audio
    followed at once (the next text frame would be answered itself). The replies are KA-1's alone."""
    keepalives = {e.index for e, _ in trace.sent_controls("KeepAlive")}
    if not keepalives:
        return NOT_APPLICABLE
    found, window = facts(trace), reply_window(trace)
    replies: list[tuple[WireEntry, WireEntry]] = []
    last_keepalive: WireEntry | None = None
    nothing_sent_since = True
    for entry in trace.entries:
        if entry.direction == SENT:
            if entry.kind == "text":
                last_keepalive = entry if entry.index in keepalives else None
            nothing_sent_since = entry.kind == "text"
            continue
        if last_keepalive is None or (not nothing_sent_since and entry.t - last_keepalive.t > window):
            continue
        if entry.kind == "binary":
            continue  # no server binary frame is allowed at all: each is MSG-2's finding, not a reply
        if entry.message is None or entry.message.type not in (*TRANSCRIPTION_TYPES, "Metadata"):
            found.claim(entry, "KA-1", RESPONSE)
            replies.append((entry, last_keepalive))
    if replies:
        entry, keepalive = replies[0]
        more = f" (and {len(replies) - 1} more)" if len(replies) > 1 else ""
        raise RuleViolation(
            "KA-1",
            f"{entry.describe()} arrived {entry.t - keepalive.t:.3f}s after KeepAlive #{keepalive.index}{more}",
            entry.index,
        )
    return None


@check("MC-1")
def multichannel_results(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """MC-1 (MUST): multichannel=true with n channels yields results for each channel separately.
    Results that count fewer channels than the stream has (multichannel ignored) are MC-1's."""
    if trace.lanes < 2 or trace.audio_seconds < 1.0 or trace.close is None:
        return NOT_APPLICABLE
    found = facts(trace)
    if not found.results:
        raise NotJudged(
            "MC-1",
            "no readable Results arrived on any channel" + (f"; {found.unread_note()}" if found.unreadable else ""),
        )
    merged = [r for r in found.results if _total(r) is not None and _total(r) < trace.lanes]  # type: ignore[operator]
    for row in merged:
        found.claim(row.entry, "MC-1", CHANNEL)
    if len(merged) == len(found.results):
        row = merged[0]
        raise RuleViolation(
            "MC-1",
            f"every Results counts fewer channels than the {trace.lanes} sent (e.g. #{row.entry.index} "
            f"channel_index {row.body.get('channel_index')}): multichannel=true is ignored",
            row.entry.index,
        )
    lanes = {r.lane for r in found.results}
    missing = [lane for lane in range(trace.lanes) if lane not in lanes]
    if missing:
        raise _absent(
            "MC-1",
            f"no Results for channel(s) {missing} of {trace.lanes} after {trace.audio_seconds:.3f}s of audio",
            found,
        )
    return None


def _total(row: ResultRow) -> int | None:
    pair = row.body.get("channel_index")
    total = pair[1] if isinstance(pair, list) and len(pair) == 2 else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None
