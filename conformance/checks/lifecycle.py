"""Checks on the stream's lifecycle: KeepAlive, Finalize, CloseStream, Metadata, multichannel."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from conformance.checks import NOT_APPLICABLE, CheckContext, check
from conformance.checks.timing import results
from conformance.checks.violations import RuleViolation
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


def _first_metadata(trace: Trace, after: int = -1) -> WireEntry | None:
    """The first Metadata recorded after entry index ``after``."""
    return next((e for e, _ in trace.messages("Metadata") if e.index > after), None)


def _covered(trace: Trace, lane: int, *, before: float = math.inf) -> float:
    """Audio time covered by finals of ``lane`` recorded before entry index ``before``."""
    ends = [end for e, _, ln, _, end in results(trace, final_only=True) if ln == lane and e.index < before]
    return max(ends, default=0.0)


def _close_text(trace: Trace) -> str:
    return trace.close.describe() if trace.close else "the connection was still open when the scenario ended"


@check("CS-1")
def closestream_flushes_then_metadata(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """CS-1 (MUST): after CloseStream, finals cover all audio sent, then Metadata, then the server closes."""
    sent = next(trace.sent_controls("CloseStream"), None)
    if sent is None:
        return NOT_APPLICABLE
    entry, _ = sent
    metadata = _first_metadata(trace, after=entry.index)
    if metadata is None:
        raise RuleViolation("CS-1", f"no Metadata after CloseStream (#{entry.index} at {entry.t:.3f}s); {_close_text(trace)}")
    audio = entry.audio_seconds
    for lane in range(trace.lanes):
        covered = _covered(trace, lane, before=metadata.index)
        if audio > 0 and covered < audio - ctx.coverage_slack:
            raise RuleViolation("CS-1", f"before Metadata, finals on channel {lane} cover only {covered:.3f}s of the {audio:.3f}s of audio sent", metadata.index)
    close = trace.close
    if close is None or close.by != "server":
        raise RuleViolation("CS-1", f"the server did not close after Metadata; {_close_text(trace)}", metadata.index)
    return None


@check("CS-2")
def metadata_is_last(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """CS-2 (MUST): nothing follows Metadata."""
    metadata = _first_metadata(trace)
    if metadata is None:
        return NOT_APPLICABLE
    later = [e for e in trace.entries if e.direction == RECEIVED and e.index > metadata.index]
    if later:
        raise RuleViolation("CS-2", f"{len(later)} frame(s) followed Metadata #{metadata.index}, first {later[0].describe()}", later[0].index)
    return None


@check("CS-3")
def closestream_close_code(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """CS-3 (SHOULD): the server's close after CloseStream is 1000."""
    sent = next(trace.sent_controls("CloseStream"), None)
    close = trace.close
    if sent is None or close is None or close.by != "server":
        return NOT_APPLICABLE
    if close.code != 1000:
        raise RuleViolation("CS-3", f"after CloseStream the {close.describe()}; expected 1000")
    return None


@check("CS-4")
def metadata_matches_audio(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """CS-4 (SHOULD): Metadata.duration equals the audio sent (± slack) and channels the channels sent."""
    found = next(trace.messages("Metadata"), None)
    # After 1008 the audio was not decodable: what was "processed" is ERR-2's question.
    if found is None or found[0].audio_seconds <= 0 or (trace.close is not None and trace.close.code == 1008):
        return NOT_APPLICABLE
    entry, body = found
    duration, channels = body.get("duration"), body.get("channels")
    if not isinstance(duration, (int, float)) or abs(duration - entry.audio_seconds) > ctx.duration_slack:
        raise RuleViolation("CS-4", f"Metadata.duration is {duration!r} but {entry.audio_seconds:.3f}s of audio was sent", entry.index)
    if channels != trace.channels:
        raise RuleViolation("CS-4", f"Metadata.channels is {channels!r} but the stream has {trace.channels} channel(s)", entry.index)
    return None


@dataclass(frozen=True)
class _Finalize:
    entry: WireEntry
    lanes: tuple[int, ...]
    explicit: int | None
    until: int


def _finalizes(trace: Trace) -> list[_Finalize]:
    """Each Finalize with its target lanes and the entry index before which its flush must have
    arrived: the next flushing frame we sent (Finalize, CloseStream, empty binary), else the end."""
    flushing = [e.index for e in trace.entries if e.direction == SENT and e.kind == "binary" and e.size == 0]
    flushing += [e.index for kind in ("Finalize", "CloseStream") for e, _ in trace.sent_controls(kind)]
    found = []
    for entry, body in trace.sent_controls("Finalize"):
        channel = body.get("channel")
        explicit = channel if isinstance(channel, int) and not isinstance(channel, bool) else None
        lanes = (explicit,) if explicit is not None else tuple(range(trace.lanes))
        until = min([i for i in flushing if i > entry.index] + [len(trace.entries)])
        found.append(_Finalize(entry, lanes, explicit, until))
    return found


def _flush_results(trace: Trace, fin: _Finalize) -> list[tuple[WireEntry, dict[str, Any], int, float, float]]:
    return [r for r in results(trace) if fin.entry.index < r[0].index < fin.until]


@check("FIN-1")
def finalize_covers_buffered_audio(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """FIN-1 (MUST): after Finalize, finals covering all buffered audio arrive (ending at the audio
    sent before the Finalize, or marked from_finalize)."""
    finalizes = _finalizes(trace)
    if not finalizes:
        return NOT_APPLICABLE
    for fin in finalizes:
        audio = fin.entry.audio_seconds
        for lane in fin.lanes:
            if audio - _covered(trace, lane, before=fin.entry.index) <= ctx.coverage_slack:
                continue
            flushed = [
                r for r in _flush_results(trace, fin)
                if r[2] == lane and r[1].get("is_final") is True
                and (abs(r[4] - audio) <= ctx.coverage_slack or (r[1].get("from_finalize") is True and r[4] >= audio - ctx.coverage_slack))
            ]
            if not flushed:
                raise RuleViolation("FIN-1", f"after Finalize #{fin.entry.index} at {fin.entry.t:.3f}s no final on channel {lane} covered the {audio:.3f}s of audio sent (last final ended at {_covered(trace, lane, before=fin.until):.3f}s)", fin.entry.index)
    return None


@check("FIN-2")
def finalize_marks_from_finalize(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """FIN-2 (SHOULD): with noticeable buffered audio, a Results with from_finalize true arrives."""
    judged = False
    for fin in _finalizes(trace):
        buffered = max((fin.entry.audio_seconds - _covered(trace, lane, before=fin.entry.index) for lane in fin.lanes), default=0.0)
        if buffered < _NOTICEABLE_BUFFER_SECONDS:
            continue
        judged = True
        if not any(r[1].get("from_finalize") is True and r[2] in fin.lanes for r in _flush_results(trace, fin)):
            raise RuleViolation("FIN-2", f"no Results with from_finalize: true after Finalize #{fin.entry.index} with {buffered:.3f}s of audio buffered", fin.entry.index)
    return None if judged else NOT_APPLICABLE


@check("FIN-3")
def finalize_channel_only(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """FIN-3 (MUST): Finalize with channel n flushes channel n only: every from_finalize result has channel_index[0] == n."""
    targeted = [fin for fin in _finalizes(trace) if fin.explicit is not None]
    if not targeted:
        return NOT_APPLICABLE
    for fin in targeted:
        for entry, body, lane, _, _ in _flush_results(trace, fin):
            if body.get("from_finalize") is True and lane != fin.explicit:
                raise RuleViolation("FIN-3", f"Finalize #{fin.entry.index} named channel {fin.explicit} but from_finalize Results #{entry.index} has channel_index {body.get('channel_index')}", entry.index)
    return None


@check("FIN-4")
def finalize_keeps_stream(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """FIN-4 (MUST): Finalize does not close the stream, and audio sent afterwards is transcribed."""
    finalizes = _finalizes(trace)
    if not finalizes:
        return NOT_APPLICABLE
    close = trace.close
    for fin in finalizes:
        if close is not None and close.by == "server" and fin.until == len(trace.entries) and close.code != 1011:
            raise RuleViolation("FIN-4", f"the {close.describe()} after Finalize #{fin.entry.index}, with no CloseStream sent", fin.entry.index)
        sent_after = [e for e in trace.entries[fin.entry.index + 1 : fin.until] if e.direction == SENT]
        more_audio = (sent_after[-1].audio_seconds if sent_after else fin.entry.audio_seconds) - fin.entry.audio_seconds
        if more_audio < _AUDIO_AFTER_FINALIZE_SECONDS:
            continue
        later = [r for r in results(trace) if r[0].index > fin.entry.index and r[4] > fin.entry.audio_seconds + ctx.time_slack]
        if not later:
            raise RuleViolation("FIN-4", f"{more_audio:.3f}s of audio sent after Finalize #{fin.entry.index} drew no Results beyond {fin.entry.audio_seconds:.3f}s", fin.entry.index)
    return None


@check("KA-1")
def keepalive_not_answered(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """KA-1 (MUST): a text KeepAlive draws no reply: nothing but transcription or Metadata arrives
    between a KeepAlive and the client's next other frame."""
    keepalives = [e for e, _ in trace.sent_controls("KeepAlive")]
    if not keepalives:
        return NOT_APPLICABLE
    keepalive_indexes = {e.index for e in keepalives}
    last_keepalive: WireEntry | None = None
    for entry in trace.entries:
        if entry.direction == SENT:
            last_keepalive = entry if entry.index in keepalive_indexes else None
        elif last_keepalive is not None and (entry.message is None or entry.message.type not in (*TRANSCRIPTION_TYPES, "Metadata")):
            raise RuleViolation("KA-1", f"{entry.describe()} arrived {entry.t - last_keepalive.t:.3f}s after KeepAlive #{last_keepalive.index}", entry.index)
    return None


@check("MC-1")
def multichannel_results(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """MC-1 (MUST): multichannel=true with n channels yields results for each channel separately."""
    if trace.lanes < 2 or trace.audio_seconds < 1.0 or trace.close is None:
        return NOT_APPLICABLE
    lanes = {lane for _, _, lane, _, _ in results(trace)}
    missing = [lane for lane in range(trace.lanes) if lane not in lanes]
    if missing:
        raise RuleViolation("MC-1", f"no Results for channel(s) {missing} of {trace.lanes} after {trace.audio_seconds:.3f}s of audio")
    return None
