"""The mock's server session and transcriber without sockets: frames and clock ticks in, outputs out."""

from __future__ import annotations

import io
import json
import sys
import wave
from array import array
from typing import Any

from conformance.audio import load_source
from conformance.audio.loudness import PEAK_TO_PEAK_THRESHOLD, is_loud
from conformance.audio.speech import find_speech
from conformance.mock.session import NET_0001_REASON, CloseConnection, SendBinary, SendText, ServerSession
from conformance.mock.transcriber import ChannelTranscriber, Segment
from conformance.protocol.params import parse_stream_params
from conformance.protocol.schemas import load_message_schemas

SPEECH = load_source("speech", 16000, 1)


def session(faults: frozenset[str] = frozenset(), **query: str) -> ServerSession:
    params = {"encoding": "linear16", "sample_rate": "16000", **query}
    return ServerSession(
        parse_stream_params({k: [v] for k, v in params.items()}), "req-1", idle_timeout=10.0, now=0.0, faults=faults
    )


def feed(s: ServerSession, seconds: float, start: float = 0.0, now: float = 0.0, pcm=SPEECH) -> list[Any]:  # type: ignore[no-untyped-def]
    begin = int(start * pcm.sample_rate) * pcm.frame_bytes
    data = pcm.data[begin : begin + int(seconds * pcm.sample_rate) * pcm.frame_bytes]
    out = []
    for i in range(0, len(data), 640):
        out += s.receive_binary(data[i : i + 640], now)
    return out


def bodies(outputs: list[Any]) -> list[dict[str, Any]]:
    return [o.message for o in outputs if isinstance(o, SendText)]


def test_server_closestream_flushes_then_metadata_then_1000() -> None:
    """CloseStream: finals up to the audio received, Metadata, close 1000."""
    s = session()
    feed(s, 3.0)
    outputs = s.receive_text('{"type":"CloseStream"}', 3.0)
    messages = bodies(outputs)
    assert messages[-1]["type"] == "Metadata" and messages[-1]["duration"] == 3.0 and messages[-1]["channels"] == 1
    assert messages[-2]["type"] == "Results" and messages[-2]["is_final"]
    assert messages[-2]["start"] + messages[-2]["duration"] >= 2.99
    assert outputs[-1] == CloseConnection(1000, "")
    assert s.receive_text('{"type":"KeepAlive"}', 3.1) == []


def test_server_every_message_validates() -> None:
    """Everything the mock sends, with interims, VAD and utterance ends, validates against our schemas."""
    s = session(interim_results="true", vad_events="true", utterance_end_ms="1000")
    silence = load_source("silence", 16000, 1)
    outputs = feed(s, 6.0) + feed(s, 1.5, pcm=silence) + feed(s, 3.0, start=6.0)
    outputs += s.receive_text('{"type":"Finalize"}', 12.0) + s.receive_text('{"type":"CloseStream"}', 12.0)
    schemas = load_message_schemas()
    kinds = set()
    for message in bodies(outputs):
        kinds.add(message["type"])
        assert schemas.problems(message["type"], message) == [], message
    assert kinds == {"Results", "Metadata", "SpeechStarted", "UtteranceEnd"}


def test_server_words_follow_audio_time_across_a_pause() -> None:
    """Audio, 25 s of wall-clock silence (KeepAlive), audio: word times continue from 5 s."""
    s = session()
    feed(s, 5.0, now=0.0)
    for t in (4.0, 8.0, 12.0, 16.0, 20.0):
        assert s.receive_text('{"type":"KeepAlive"}', t) == []
        assert s.tick(t + 1) == []
    after = bodies(feed(s, 5.0, start=5.0, now=25.0) + s.receive_text('{"type":"CloseStream"}', 25.0))
    starts = [w["start"] for m in after if m["type"] == "Results" for w in m["channel"]["alternatives"][0]["words"]]
    assert starts and min(starts) >= 3.0 and max(starts) <= 10.0


def test_server_idle_timeout_sends_metadata_and_net0001() -> None:
    """No frame for the idle timeout: Metadata, then 1011 with the NET-0001 sentence."""
    s = session()
    feed(s, 1.0, now=0.0)
    assert s.tick(9.9) == []
    outputs = s.tick(10.0)
    assert bodies(outputs)[-1]["type"] == "Metadata"
    assert outputs[-1] == CloseConnection(1011, NET_0001_REASON)


def test_server_keepalive_resets_timer_and_gets_no_reply() -> None:
    s = session()
    feed(s, 1.0)
    assert s.receive_text('{"type":"KeepAlive"}', 8.0) == []
    assert s.tick(17.0) == [] and s.deadline == 18.0


def test_server_finalize_one_channel() -> None:
    """Finalize with channel 1 of a multichannel stream flushes only channel 1."""
    stereo = load_source("speech", 16000, 2)
    s = session(channels="2", multichannel="true")
    feed(s, 3.0, pcm=stereo)
    flushed = bodies(s.receive_text('{"type":"Finalize","channel":1}', 3.0))
    assert [(m["channel_index"], m["from_finalize"]) for m in flushed] == [([1, 2], True)]


def test_server_ignores_malformed_input() -> None:
    """Non-JSON text, unknown types, odd byte counts and bad Finalize channels are survived."""
    s = session()
    assert s.receive_text("not json", 0.1) == []
    assert s.receive_text('{"type":"Dance"}', 0.1) == []
    assert s.receive_text('{"type":"Finalize","channel":"x"}', 0.1) == []
    assert s.receive_binary(b"\x01\x02\x03", 0.2) == []
    assert s.receive_binary(b"\x04", 0.3) == [] and s.audio_seconds == 2 / 16000
    assert not s.closed


def test_server_empty_binary_is_legacy_close() -> None:
    s = session()
    feed(s, 1.0)
    outputs = s.receive_binary(b"", 1.0)
    assert outputs[-1] == CloseConnection(1000, "")


def _wav_bytes(seconds: float) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(SPEECH.data[: int(seconds * 16000) * 2])
    return buffer.getvalue()


def test_server_reads_wav_container_without_encoding() -> None:
    """Without encoding the first frame must be a WAV header; its format drives the timing."""
    s = ServerSession(parse_stream_params({}), "r", 10.0, 0.0)
    s.receive_binary(_wav_bytes(2.0), 0.0)
    assert s.audio_seconds == 2.0


def test_server_closes_1008_on_undecodable_container() -> None:
    s = ServerSession(parse_stream_params({}), "r", 10.0, 0.0)
    outputs = s.receive_binary(b"OggS" + bytes(100), 0.0)
    assert isinstance(outputs[-1], CloseConnection) and outputs[-1].code == 1008


def test_fault_binary_frame_and_wall_clock() -> None:
    """Faults act inside the session: a binary frame appears; times follow the wall clock."""
    s = session(frozenset({"binary-frame"}))
    assert any(isinstance(o, SendBinary) for o in feed(s, 6.0))
    s = session(frozenset({"wall-clock-timestamps"}))
    feed(s, 2.0, now=0.0)
    s.receive_text('{"type":"KeepAlive"}', 10.0)
    late = bodies(feed(s, 2.0, start=2.0, now=20.0) + s.receive_text('{"type":"CloseStream"}', 20.0))
    assert max(m["start"] + m["duration"] for m in late if m["type"] == "Results") > 10
    # A gap without KeepAlive (a client waiting for a flush) is no KeepAlive-only pause: the fault
    # breaks KA-4 alone, not RES-2 in every scenario that waits between its streams.
    s = session(frozenset({"wall-clock-timestamps"}))
    feed(s, 2.0, now=0.0)
    quiet = bodies(feed(s, 2.0, start=2.0, now=20.0) + s.receive_text('{"type":"CloseStream"}', 20.0))
    assert max(m["start"] + m["duration"] for m in quiet if m["type"] == "Results") <= 4.0 + 1e-6


def test_results_carry_request_id_and_json_encoding() -> None:
    s = session()
    outputs = feed(s, 6.0)
    first = next(o for o in outputs if isinstance(o, SendText))
    assert json.loads(first.encode())["metadata"]["request_id"] == "req-1"


def _window(peak_to_peak: int, at: int = 0, size: int = 320) -> array:
    """A quiet window with one pair of samples at ``at`` spanning ``peak_to_peak``."""
    samples = array("h", [0] * size)
    samples[at], samples[at + 1] = peak_to_peak // 2, -(peak_to_peak - peak_to_peak // 2)
    return samples


def test_a_window_is_speech_by_its_peak_to_peak_over_every_sample() -> None:
    threshold = PEAK_TO_PEAK_THRESHOLD
    assert is_loud(_window(threshold)) and not is_loud(_window(threshold - 1))
    # A swing between two samples the old strided test skipped (it read every eighth) counts.
    assert is_loud(_window(threshold, at=3)) and is_loud(_window(threshold, at=318))
    assert not is_loud(array("h")) and not is_loud(b"")
    # DC offset is not speech: only the swing counts.
    assert not is_loud(array("h", [30000] * 320))
    loud = _window(5000, at=101)
    assert is_loud(loud.tobytes()) and is_loud(memoryview(loud)[100:103])


def test_the_transcriber_hears_the_same_words_whatever_the_frame_size() -> None:
    samples = array("h", SPEECH.data)
    if sys.byteorder == "big":
        samples.byteswap()

    def events(frame: int) -> list[Any]:
        transcriber = ChannelTranscriber(16000, interim_results=True, utterance_end_ms=1000, vad_events=True)
        out: list[Any] = []
        for i in range(0, len(samples), frame):
            out += transcriber.feed(samples[i : i + frame])
        return out

    whole_windows = events(320)
    words = [w for e in whole_windows if isinstance(e, Segment) and e.is_final for w in e.words]
    assert len(words) >= 10
    for frame in (1, 7, 160, 333, 480, 4000):
        assert events(frame) == whole_windows, frame
    # The checks' speech finder uses the same window test: every word lies in a run it found.
    runs = [(a / 16000, b / 16000) for a, b in find_speech(SPEECH.data, 16000, 1)]
    assert all(any(a - 1e-6 <= w.start and w.end <= b + 0.1 for a, b in runs) for w in words)
