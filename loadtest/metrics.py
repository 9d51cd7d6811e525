"""What one stream measured, from its trace: latencies and a classified failure (pure).

Every sample becomes one locust request event (``request_type="WS"``); failures are named so
that they are counted apart: rate_limited, handshake_rejected, idle_timeout, closed_unexpectedly,
protocol_violation (a frame that breaks RFC 6455), schema_violation, rule_violation. Times are real: nothing is ever reported as 0 ms by default.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from conformance.engine.record import CaseRecord
from conformance.engine.trace import SENT, Trace, WireEntry
from conformance.verdicts import Verdict

__all__ = ["Sample", "stream_samples", "interrupted_samples", "ends_by_server", "FAILURE_NAMES"]

FAILURE_NAMES = ("rate_limited", "handshake_rejected", "idle_timeout", "closed_unexpectedly", "protocol_violation", "schema_violation", "rule_violation")
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


def interrupted_samples(trace: Trace, t: float) -> list[Sample]:
    """Samples of a stream the end of the run cut at ``t``: what it measured until then, and
    ``stream_interrupted`` (no failure: the server did nothing wrong, and the verdicts of a cut
    trace would blame it for what it had no time to send)."""
    if trace.handshake.status is None:
        return []
    samples = list(_handshake_samples(trace))
    if trace.handshake.status == 101:
        samples.extend(_latency_samples(trace))
        samples.append(Sample("stream_interrupted", _ms(t - (trace.handshake.t or 0.0))))
    return samples


def ends_by_server(samples: list[Sample]) -> bool:
    """Whether the stream ended in a server-side close or could not be played: a user then backs
    off before the next stream, as after a rejected handshake, instead of reconnecting at once."""
    return any(s.name in ("closed_unexpectedly", "idle_timeout", "protocol_violation", "handshake_rejected", "rate_limited") for s in samples)


def stream_samples(trace: Trace, record: CaseRecord) -> list[Sample]:
    """Samples of one finished stream (``record`` holds the verdicts of the same trace)."""
    samples = list(_handshake_samples(trace))
    if trace.handshake.status != 101:
        return samples
    samples.extend(_latency_samples(trace))
    duration = _ms((trace.close.t if trace.close else trace.entries[-1].t if trace.entries else 0.0) - (trace.handshake.t or 0.0))
    failure = _stream_failure(trace)
    samples.append(Sample("stream", duration, failure))
    if failure is not None:
        kind, _, detail = failure.partition(": ")
        samples.append(Sample(kind, duration, detail))
    broken = [r for r in record.results if r.verdict is Verdict.FAILED]
    if any(r.rule_id == "MSG-1" for r in broken):
        samples.append(Sample("schema_violation", duration, "MSG-1"))
    others = sorted({r.rule_id for r in broken if r.rule_id != "MSG-1"})
    if others:
        samples.append(Sample("rule_violation", duration, ", ".join(others)))
    return samples
