"""Case records as JSON-ready dicts: shared by the JSON report and the JSONL trace files."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conformance.engine.record import CaseRecord
from conformance.engine.trace import Trace

__all__ = ["record_to_json", "trace_lines", "close_to_json"]


def close_to_json(trace: Trace) -> dict[str, Any] | None:
    """How the connection ended, or None when it never opened."""
    close = trace.close
    if close is None:
        return None
    return {
        "by": close.by,
        "code": close.code,
        "reason": close.reason,
        "t": round(close.t, 6),
        "clean": close.code is not None,
        "violation": close.violation,
    }


def _handshake(trace: Trace) -> dict[str, Any]:
    hs = trace.handshake
    shown = {
        k: v
        for k, v in hs.headers.items()
        if k.startswith("dg-") or k in ("content-type", "retry-after", "www-authenticate")
    }
    shown.update({k: v for k, v in hs.headers.items() if k == "location"})
    return {
        "url": hs.url,
        "status": hs.status,
        "headers": shown,
        "body": hs.body or None,
        "subprotocol": hs.subprotocol,
        "invalid": hs.invalid,
        "redirected_to": hs.redirected_to,
    }


def record_to_json(record: CaseRecord, *, wirelog: bool = True) -> dict[str, Any]:
    """The full case record (Autobahn style): verdicts, close, handshake and optionally the wire log."""
    data: dict[str, Any] = {
        "id": record.id,
        "title": record.title,
        "description": record.description,
        "path": record.path,
        "expectation": list(record.rules),
        "status": record.status.value,
        "worst_verdict": record.worst.value,
        "duration_s": round(record.duration, 3),
        "error": record.error,
        "harness_lateness_ms": round(record.harness_lateness[0] * 1000, 1) if record.harness_lateness else 0.0,
        "verdicts": [
            {
                "rule": r.rule_id,
                "level": r.level.value,
                "verdict": r.verdict.value,
                "message": r.message,
                "frame": r.frame_index,
            }
            for r in record.results
        ],
    }
    trace = record.trace
    if trace is not None:
        data["handshake"] = _handshake(trace)
        data["close"] = close_to_json(trace)
        data["audio_sent_s"] = round(trace.audio_seconds, 6)
        data["outcomes"] = [vars(o) for o in trace.outcomes]
        if trace.omitted is not None:
            data["wirelog_omitted"] = {"entries": trace.omitted[0], "from_index": trace.omitted[1]}
        if wirelog:
            data["wirelog"] = [e.to_json() for e in trace.entries]
    return data


def trace_lines(record: CaseRecord) -> Iterator[dict[str, Any]]:
    """A trace file's lines: a header, one line per frame, then the close and the verdicts."""
    data = record_to_json(record, wirelog=False)
    trace = record.trace
    yield {"record": "case", **{k: v for k, v in data.items() if k not in ("verdicts", "outcomes", "close")}}
    if trace is not None:
        for entry in trace.entries:
            yield {"record": "frame", **entry.to_json()}
        yield {"record": "close", **(close_to_json(trace) or {"by": None})}
        for outcome in trace.outcomes:
            yield {"record": "outcome", **vars(outcome)}
    for verdict in data["verdicts"]:
        yield {"record": "verdict", **verdict}
