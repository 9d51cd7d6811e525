"""What one stream measured, from its trace: latencies and a classified failure (pure).

Every sample becomes one locust request event (``request_type="WS"``); failures are named so
that they are counted apart: rate_limited, handshake_rejected, idle_timeout, closed_unexpectedly,
protocol_violation (a frame that breaks RFC 6455), schema_violation, rule_violation. Times are real: nothing is ever reported as 0 ms by default.

The server's speed is measured per result: ``final_latency``, ``interim_latency`` and
``speech_final_latency`` are the arrival of a Results minus the moment the audio up to its end
(``start + duration``, in decoded audio time) had been sent. ``first_result`` and ``first_final``
count from the first audio frame, so they mostly say where the clip's first words end.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from conformance.engine.record import CaseRecord
from conformance.engine.trace import SENT, Trace, WireEntry
from conformance.verdicts import Verdict

__all__ = [
    "Sample",
    "measure",
    "stream_samples",
    "interrupted_samples",
    "ends_by_server",
    "FAILURE_NAMES",
    "RESULT_LATENCIES",
    "MEASURED",
]

FAILURE_NAMES = (
    "rate_limited",
    "handshake_rejected",
    "idle_timeout",
    "closed_unexpectedly",
    "protocol_violation",
    "schema_violation",
    "rule_violation",
)
RESULT_LATENCIES = ("final_latency", "interim_latency", "speech_final_latency")
# Every entry a stream reports besides its failures: what an SLO may name.
MEASURED = (
    "connect",
    "stream",
    *RESULT_LATENCIES,
    "first_result",
    "first_final",
    "finalize_ack",
    "close_metadata",
    "send_lateness",
    "stream_interrupted",
)
# Servers round start and duration (Deepgram to the millisecond): a result ending within this of
# the audio sent answers that audio.
_ROUNDING_SECONDS = 0.0015
_NET_0001 = re.compile(r"NET-0001|dpgr\.am/net0001", re.IGNORECASE)


@dataclass(frozen=True)
class Sample:
    """One measurement: ``name``, milliseconds, and a failure message when it failed."""

    name: str
    ms: float
    failure: str | None = None


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _first(entries: Iterator[WireEntry]) -> WireEntry | None:
    return next(entries, None)


def _handshake_samples(trace: Trace) -> Iterator[Sample]:
    hs = trace.handshake
    elapsed = _ms(hs.t or 0.0)
    if hs.status == 101:
        yield Sample("connect", elapsed)
        return
    detail = hs.headers.get("dg-error") or (hs.body[:80] if hs.body else "")
    reason = f"HTTP {hs.status}" + (f" {detail}" if detail else "")
    kind = "rate_limited" if hs.status == 429 else "handshake_rejected"
    yield Sample("connect", elapsed, reason)
    yield Sample(kind, elapsed, reason)


def _sent_audio(trace: Trace) -> tuple[list[float], list[float]]:
    """Audio seconds sent by the end of each audio frame, and when that frame went out."""
    ends: list[float] = []
    times: list[float] = []
    for entry in trace.entries:
        if entry.direction == SENT and entry.kind == "binary" and entry.audio_seconds > (ends[-1] if ends else 0.0):
            ends.append(entry.audio_seconds)
            times.append(entry.t)
    return ends, times


def _number(value: object) -> float | None:
    return (
        float(value)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        else None
    )


def _result_samples(trace: Trace) -> list[Sample]:
    """One latency per Results message, against the moment its audio had all been sent.

    A result whose end lies beyond the audio sent when it arrived answers no audio of ours and
    has no latency; nor does one without a numeric ``start`` and ``duration`` (MSG-1's finding).
    """
    ends, times = _sent_audio(trace)
    samples: list[Sample] = []
    if not ends:
        return samples
    for entry, body in trace.messages("Results"):
        start, duration = _number(body.get("start")), _number(body.get("duration"))
        if start is None or duration is None:
            continue
        frame = bisect_left(ends, start + duration - _ROUNDING_SECONDS)
        if frame == len(ends) or times[frame] > entry.t:
            continue
        latency = _ms(entry.t - times[frame])
        if body.get("is_final") is True:
            samples.append(Sample("final_latency", latency))
            if body.get("speech_final") is True:
                samples.append(Sample("speech_final_latency", latency))
        else:
            samples.append(Sample("interim_latency", latency))
    return samples


def _latency_samples(trace: Trace) -> Iterator[Sample]:
    first_audio = _first(e for e in trace.entries if e.direction == SENT and e.kind == "binary")
    results = [(e, body) for e, body in trace.messages("Results")]
    if first_audio is not None:
        # A Results before any audio answers nothing we sent: it is no latency (it would be negative).
        first = next((e for e, _ in results if e.t >= first_audio.t), None)
        final = next((e for e, body in results if body.get("is_final") is True and e.t >= first_audio.t), None)
        if first is not None:
            yield Sample("first_result", _ms(first.t - first_audio.t))
        if final is not None:
            yield Sample("first_final", _ms(final.t - first_audio.t))
    for finalize, _ in trace.sent_controls("Finalize"):
        ack = next((e for e, body in results if e.index > finalize.index and body.get("from_finalize") is True), None)
        if ack is not None:
            yield Sample("finalize_ack", _ms(ack.t - finalize.t))
    close_stream = next(trace.sent_controls("CloseStream"), None)
    if close_stream is not None:
        metadata = _first(e for e, _ in trace.messages("Metadata") if e.index > close_stream[0].index)
        if metadata is not None:
            yield Sample("close_metadata", _ms(metadata.t - close_stream[0].t))
    paced = sorted(e.lateness for e in trace.entries if e.due is not None)
    if paced:
        # The stream's p99: one slow frame in a long stream should not hide how the rest went.
        yield Sample("send_lateness", _ms(paced[int(0.99 * (len(paced) - 1))]))


def _stream_failure(trace: Trace) -> str | None:
    close = trace.close
    if trace.error:
        return f"closed_unexpectedly: {trace.error}"
    if close is not None and close.violation is not None:
        return f"protocol_violation: {close.violation}"
    if close is None or close.by != "server":
        return None
    if any(True for _ in trace.sent_controls("CloseStream")):
        return None
    if close.code == 1011 and _NET_0001.search(close.reason or ""):
        return f"idle_timeout: {close.code} NET-0001"
    return f"closed_unexpectedly: {close.code} {close.reason}".rstrip()


def measure(trace: Trace, per_result: bool = True) -> list[Sample]:
    """The latencies of a stream that was admitted: per result (unless not ``per_result``), first
    result and final, the answers to Finalize and CloseStream, and its send lateness. Call it
    before the trace is judged: judging keeps only the head and tail of a long trace."""
    return [*_latency_samples(trace), *(_result_samples(trace) if per_result else ())]


def interrupted_samples(trace: Trace, t: float, per_result: bool = True) -> list[Sample]:
    """Samples of a stream the end of the run cut at ``t``: what it measured until then, and
    ``stream_interrupted`` (no failure: the server did nothing wrong, and the verdicts of a cut
    trace would blame it for what it had no time to send)."""
    if trace.handshake.status is None:
        return []
    samples = list(_handshake_samples(trace))
    if trace.handshake.status == 101:
        samples.extend(measure(trace, per_result))
        samples.append(Sample("stream_interrupted", _ms(t - (trace.handshake.t or 0.0))))
    return samples


def ends_by_server(samples: list[Sample]) -> bool:
    """Whether the stream ended in a server-side close or could not be played: a user then backs
    off before the next stream, as after a rejected handshake, instead of reconnecting at once."""
    return any(
        s.name in ("closed_unexpectedly", "idle_timeout", "protocol_violation", "handshake_rejected", "rate_limited")
        for s in samples
    )


def stream_samples(trace: Trace, record: CaseRecord, measured: Sequence[Sample]) -> list[Sample]:
    """Samples of one finished stream: ``measured`` (:func:`measure`, taken before judging),
    and its failures by the verdicts in ``record``. The ``stream`` sample fails when anything
    did, so failed streams per attempt are the failures of ``connect`` and ``stream``."""
    samples = list(_handshake_samples(trace))
    if trace.handshake.status != 101:
        return samples
    samples.extend(measured)
    duration = _ms(
        (trace.close.t if trace.close else trace.entries[-1].t if trace.entries else 0.0) - (trace.handshake.t or 0.0)
    )
    failures: list[Sample] = []
    ended_badly = _stream_failure(trace)
    if ended_badly is not None:
        kind, _, detail = ended_badly.partition(": ")
        failures.append(Sample(kind, duration, detail))
    broken = [r for r in record.results if r.verdict is Verdict.FAILED]
    if any(r.rule_id == "MSG-1" for r in broken):
        failures.append(Sample("schema_violation", duration, "MSG-1"))
    others = sorted({r.rule_id for r in broken if r.rule_id != "MSG-1"})
    if others:
        failures.append(Sample("rule_violation", duration, ", ".join(others)))
    samples.append(
        Sample("stream", duration, ended_badly or (f"{failures[0].name}: {failures[0].failure}" if failures else None))
    )
    return samples + failures
