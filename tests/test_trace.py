"""The trace keeps wire order and every audio detail while recording audio frames compactly."""

from __future__ import annotations

import json
import zlib

from conformance.engine.trace import RECEIVED, SENT, Handshake, Trace
from conformance.scenario import Timing

FRAME = bytes(range(256)) * 2 + bytes(128)  # 640 bytes: 20 ms of 16 kHz mono linear16
RESULT = '{"type":"Results","note":"sekrit"}'


def _trace() -> Trace:
    return Trace("t", Timing(), 1, 1, 16000, Handshake("ws://x"), secrets=["sekrit"])


def _record(trace: Trace, read_midway: bool) -> None:
    trace.record_audio(FRAME, 0.10, 0.1, "1", 0.02)
    trace.record_audio(FRAME, 0.12, 0.12, "1", 0.02)
    if read_midway:
        assert [e.index for e in trace.entries] == [0, 1]
    trace.record_received(RESULT, 0.125, "1")
    trace.record_audio(FRAME, 0.15, 0.14, "1", 0.02)
    trace.record_sent("binary", b"\x00", 0.16, audio=False, due=None, step="2")
    trace.record_audio(FRAME[:320], 0.17, None, "3", 0.01)
    trace.record_sent("text", '{"type":"CloseStream"}', 0.18, audio=False, due=None, step="4")


def test_entries_come_out_in_wire_order_with_every_audio_detail() -> None:
    trace = _trace()
    _record(trace, read_midway=False)
    entries = trace.entries
    assert [(e.index, e.direction, e.kind, e.step) for e in entries] == [
        (0, SENT, "binary", "1"),
        (1, SENT, "binary", "1"),
        (2, RECEIVED, "text", "1"),
        (3, SENT, "binary", "1"),
        (4, SENT, "binary", "2"),
        (5, SENT, "binary", "3"),
        (6, SENT, "text", "4"),
    ]
    assert [e.size for e in entries] == [640, 640, len(RESULT), 640, 1, 320, 22]
    assert [round(e.audio_seconds, 6) for e in entries] == [0.02, 0.04, 0.04, 0.06, 0.06, 0.07, 0.07]
    assert [e.due for e in entries[:2]] == [0.1, 0.12] and entries[5].due is None
    assert round(entries[3].lateness, 6) == 0.01 and entries[5].lateness == 0.0
    assert entries[0].crc32 == zlib.crc32(FRAME) and entries[5].crc32 == zlib.crc32(FRAME[:320])
    assert (
        entries[2].message is not None
        and entries[2].message.type == "Results"
        and "sekrit" not in (entries[2].text or "")
    )
    assert json.loads(json.dumps(entries[0].to_json()))["crc32"] == f"{zlib.crc32(FRAME):08x}"


def test_reading_the_entries_midway_changes_nothing() -> None:
    once, twice = _trace(), _trace()
    _record(once, read_midway=False)
    _record(twice, read_midway=True)
    assert [e.to_json() for e in twice.entries] == [e.to_json() for e in once.entries]


def test_record_sent_of_audio_returns_its_entry() -> None:
    trace = _trace()
    entry = trace.record_sent("binary", FRAME, 0.2, audio=True, due=0.2, step="1", seconds=0.02)
    assert (entry.index, entry.size, entry.due, round(entry.audio_seconds, 6)) == (0, 640, 0.2, 0.02)
