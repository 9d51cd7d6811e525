"""One /v1/listen stream on the server side, sans-I/O: frames and clock ticks in, outputs out.

Implements the documented contract (contract.md §0–§3):

- audio (binary) is transcribed per channel (``multichannel=true``) or mixed down;
- ``KeepAlive`` resets the idle timer and draws no reply (seeds 003: "You will not receive a
  response back from the server");
- ``Finalize`` (all channels, or ``channel: n``) flushes buffered audio with ``from_finalize: true``;
- ``Configure`` (deepgram-sdk 7.17 ``ListenV1Configure``) is answered with ``ConfigureSuccess``, or
  ``ConfigureFailure`` when its keyterms exceed the 500-token limit, or an ``Error`` of variant
  ``SchemaError`` when its fields are malformed; the stream goes on;
- ``CloseStream`` or a legacy empty binary frame: flush, ``Metadata``, close 1000;
- no frame for the idle timeout: flush, ``Metadata``, close 1011 with the NET-0001 sentence;
- malformed or unknown control text is ignored (ERR-1 allows "SchemaError or ignored");
- audio is decoded for real (:mod:`conformance.audio.decode`): headerless under a raw
  ``encoding`` (a header sent anyway is decoded as noise, as Deepgram does), a container (WAV,
  FLAC, Ogg/Opus, WebM/Opus) without one or under flac/ogg-opus/opus; bytes that are not the
  container declared, or do not decode, close 1008 DATA-0000.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from conformance.audio.containers import sniff
from conformance.audio.decode import DecodeError, Decoder, open_decoder
from conformance.mock.configure import configure_reply
from conformance.mock.transcriber import ChannelTranscriber, Event, Segment, SpeechStarted, UtteranceEnd
from conformance.protocol.messages import parse_json
from conformance.protocol.params import StreamFormat

__all__ = [
    "SendText",
    "SendBinary",
    "CloseConnection",
    "Hold",
    "Output",
    "Behaviour",
    "ServerSession",
    "MOCK_MODEL",
    "NET_0001_REASON",
    "NET_0000_REASON",
    "DATA_0000_REASON",
]

# A KeepAlive-only gap between audio frames longer than this counts as a pause for the wall-clock fault.
_GAP_SECONDS = 0.5
_FAULT_AHEAD_SECONDS = 1.0
_FAULT_WORD_SHIFT_SECONDS = 0.3
_FAULT_OVERLAP_SECONDS = 0.2
_EARLY_IDLE_FRACTION = 0.7
NET_0001_REASON = (
    "Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001"
)
NET_0000_REASON = "Deepgram did not provide a response message within the timeout window. See https://dpgr.am/net0000"
DATA_0000_REASON = "DATA-0000: the audio could not be decoded. See https://dpgr.am/data0000"
MOCK_MODEL = {
    "uuid": "00000000-0000-4000-8000-00000000beef",
    "name": "conformance-mock",
    "version": "2026-11-23.0",
    "arch": "mock",
}


@dataclass(frozen=True)
class SendText:
    """Send ``message`` as a JSON text frame (``reserved_bit``: with RSV1 set, only ever by the
    ``reserved-bit-set`` fault)."""

    message: dict[str, Any]
    reserved_bit: bool = False

    def encode(self) -> str:
        """The frame's text."""
        return json.dumps(self.message, separators=(",", ":"))


@dataclass(frozen=True)
class SendBinary:
    """Send ``data`` as a binary frame (only ever by the ``binary-frame`` fault)."""

    data: bytes


@dataclass(frozen=True)
class CloseConnection:
    """Close the WebSocket with ``code`` and ``reason``."""

    code: int
    reason: str = ""


@dataclass(frozen=True)
class Hold:
    """Send the outputs that follow ``seconds`` later."""

    seconds: float


Output = SendText | SendBinary | CloseConnection | Hold


@dataclass(frozen=True)
class Behaviour:
    """Server-side provocations for client scenarios: legal behaviour a client must cope with
    (unlike faults, which break the contract).

    Args:
        flush_delay: Seconds between CloseStream (or an empty frame) and the results that flush it:
            a client that closes the socket right after CloseStream then loses them every time,
            not only when it happens to be faster than the mock.
        metadata_delay: Seconds between the results that flush a CloseStream and the Metadata.
        error_after_audio: Close the stream 1011 NET-0000 (the server's own failure) once this many
            seconds of audio have arrived; None: never.
    """

    flush_delay: float = 0.0
    metadata_delay: float = 0.0
    error_after_audio: float | None = None


class ServerSession:
    """The server side of one stream.

    Args:
        fmt: What the client declared in the query string.
        request_id: Echoed in every Results and in Metadata.
        idle_timeout: Seconds without any client frame before the NET-0001 close (already scaled).
        now: The clock at the upgrade.
        faults: Names from :data:`conformance.mock.faults.FAULTS` to inject.
        behaviour: Provocations of client scenarios.
    """

    def __init__(
        self,
        fmt: StreamFormat,
        request_id: str,
        idle_timeout: float,
        now: float,
        faults: frozenset[str] = frozenset(),
        behaviour: Behaviour = Behaviour(),
    ) -> None:
        self.fmt = fmt
        self.request_id = request_id
        self.idle_timeout = idle_timeout
        self.faults = faults
        self.behaviour = behaviour
        self.closed = False
        self._last_activity = now
        self._last_audio: float | None = None
        self._paused = 0.0
        # A KeepAlive came since the last audio: the gap is a KeepAlive-only pause, the one a
        # wall-clock server (the wall-clock-timestamps fault) lets push its clock. A gap without
        # one (a client waiting for a flush) is a plain silence of the client's.
        self._kept_alive = False
        self._sent_binary = False
        self._sha = hashlib.sha256()
        self._frames = 0
        self._rate = fmt.sample_rate or 0
        self._channels = fmt.channels
        self._decoder: Decoder | None = None
        self._transcribers: list[ChannelTranscriber] = []

    @property
    def deadline(self) -> float:
        """When :meth:`tick` must next be called (the idle deadline)."""
        if "idle-never-closed" in self.faults:
            return self._last_activity + 3600.0
        if "idle-closed-early" in self.faults:
            # Early (under 90 %), yet beyond the 3-5 s KeepAlive cadence: only idle streams close.
            return self._last_activity + self.idle_timeout * _EARLY_IDLE_FRACTION
        return self._last_activity + self.idle_timeout

    @property
    def audio_seconds(self) -> float:
        """Audio received so far, in seconds per channel."""
        return self._frames / self._rate if self._rate else 0.0

    def _start_transcribers(self) -> None:
        lanes = self._channels if self.fmt.multichannel and "multichannel-merged" not in self.faults else 1
        self._transcribers = [
            ChannelTranscriber(
                self._rate,
                endpointing_ms=self.fmt.endpointing_ms,
                interim_results=self.fmt.interim_results and "no-interim-results" not in self.faults,
                utterance_end_ms=None if "no-utterance-end" in self.faults else self.fmt.utterance_end_ms,
                vad_events=self.fmt.vad_events and "no-speech-started" not in self.faults,
            )
            for _ in range(lanes)
        ]

    # -- input -------------------------------------------------------------------------------

    def receive_binary(self, data: bytes, now: float) -> list[Output]:
        """Audio from the client (an empty frame is the legacy close signal)."""
        if self.closed:
            return []
        self._last_activity = now
        if self._last_audio is not None and self._kept_alive and now - self._last_audio > _GAP_SECONDS:
            self._paused += now - self._last_audio
        self._last_audio, self._kept_alive = now, False
        if not data:
            return self._finish(1000, "")
        self._sha.update(data)
        try:
            if self._decoder is None:
                self._decoder = open_decoder(self.fmt.encoding, self.fmt.sample_rate, self.fmt.channels, data)
                self._refuse_by_fault(data)
            samples = self._decoder.feed(data)
        except DecodeError:
            if "undecodable-audio-accepted" not in self.faults:
                return self._finish(1008, DATA_0000_REASON)
            self._decoder = open_decoder("linear16", 16000, 1, b"")
            samples = self._decoder.feed(data)
        return self._audio(samples)

    def _refuse_by_fault(self, head: bytes) -> None:
        encoding = self.fmt.encoding
        if "codec-refused" in self.faults and encoding not in (None, "linear16"):
            raise DecodeError(f"fault codec-refused: {encoding}")
        if "container-refused" in self.faults and encoding is None and sniff(head) != "wav":
            raise DecodeError("fault container-refused")

    def receive_text(self, text: str, now: float) -> list[Output]:
        """A control message from the client."""
        if self.closed:
            return []
        message, _ = parse_json(text)
        kind = message.get("type") if isinstance(message, dict) else None
        if kind not in ("KeepAlive", "Finalize", "CloseStream", "Configure") and "malformed-json-closes" in self.faults:
            self.closed = True
            return [CloseConnection(1011, "Invalid frame sent")]
        if not (kind == "KeepAlive" and "keepalive-ignored" in self.faults):
            self._last_activity = now
        if kind == "CloseStream":
            return self._finish(1000, "")
        if kind == "Finalize":
            return self._on_finalize(message.get("channel"))
        if kind == "Configure":
            return self._on_configure(message, text)
        if kind == "KeepAlive":
            self._kept_alive = True
        if kind == "KeepAlive" and "keepalive-answered" in self.faults:
            return [SendText({"type": "KeepAlive"})]
        return []

    def tick(self, now: float) -> list[Output]:
        """Advance the clock: closes the stream once the idle deadline has passed."""
        if self.closed or now < self.deadline:
            return []
        return self._finish(1011, "idle timeout" if "idle-close-without-net0001" in self.faults else NET_0001_REASON)

    # -- behaviour ---------------------------------------------------------------------------

    def _audio(self, samples: array) -> list[Output]:
        decoder = self._decoder
        if decoder is None or not decoder.ready or not samples:
            return []
        if not self._transcribers:
            self._rate, self._channels = decoder.sample_rate, decoder.channels
            self._start_transcribers()
        frames = len(samples) // self._channels
        self._frames += frames
        if self._channels == 1:
            events = self._transcribers[0].feed(samples)
            outputs: list[Output] = [self._render(0, event) for event in events] if events else []
        else:
            outputs = []
            for index, (transcriber, lane) in enumerate(
                zip(self._transcribers, self._lanes(samples, frames), strict=False)
            ):
                events = transcriber.feed(lane)
                if events:
                    outputs.extend(self._render(index, event) for event in events)
        if outputs and "binary-frame" in self.faults and not self._sent_binary:
            self._sent_binary = True
            outputs.append(SendBinary(b"\x00\x01"))
        if outputs and "reserved-bit-set" in self.faults and isinstance(outputs[0], SendText):
            outputs[0] = SendText(outputs[0].message, reserved_bit=True)
        failing_at = self.behaviour.error_after_audio
        if failing_at is not None and self.audio_seconds >= failing_at:
            self.closed = True
            outputs.append(CloseConnection(1011, NET_0000_REASON))
        return outputs

    def _lanes(self, samples: array, frames: int) -> list[Any]:
        n = self._channels
        if n == 1:
            return [samples]
        if self.fmt.multichannel:
            return [samples[c::n] for c in range(n)]
        return [array("h", (sum(samples[i * n : (i + 1) * n]) // n for i in range(frames)))]

    def _drain(self) -> list[Output]:
        """What the decoder held for the end of the stream (FLAC's last frame)."""
        try:
            return self._audio(self._decoder.finish()) if self._decoder is not None else []
        except DecodeError:
            return []

    def _on_finalize(self, channel: Any) -> list[Output]:
        if "finalize-ignored" in self.faults:
            return []
        outputs = self._finalize(channel)
        if "finalize-closes-stream" in self.faults:
            outputs += self._finish(1000, "")
        return outputs

    def _on_configure(self, message: dict[str, Any], text: str) -> list[Output]:
        if "configure-closes-stream" in self.faults:
            self.closed = True
            return [CloseConnection(1011, "")]
        return [SendText(configure_reply(message, text, self.request_id))]

    def _finalize(self, channel: Any) -> list[Output]:
        if isinstance(channel, bool) or not isinstance(channel, (int, type(None))):
            return []
        if channel is not None and "finalize-wrong-channel" in self.faults:
            channel = (channel + 1) % max(1, len(self._transcribers))
        targets = range(len(self._transcribers)) if channel is None else [channel]
        outputs: list[Output] = []
        for index in targets:
            if 0 <= index < len(self._transcribers):
                segment = self._transcribers[index].flush(from_finalize=True)
                if segment:
                    outputs.append(self._render(index, segment))
        return outputs

    def _finish(self, code: int, reason: str) -> list[Output]:
        requested = code == 1000
        outputs: list[Output] = self._drain() if requested else []
        if requested and self.behaviour.flush_delay > 0:
            outputs.append(Hold(self.behaviour.flush_delay))
        if not (requested and "closestream-drops-audio" in self.faults):
            for index, transcriber in enumerate(self._transcribers):
                segment = transcriber.flush(from_finalize=False)
                if segment:
                    outputs.append(self._render(index, segment))
        self.closed = True
        skip_metadata = ("no-metadata-on-closestream" if requested else "idle-close-without-metadata") in self.faults
        if requested and self.behaviour.metadata_delay > 0:
            outputs.append(Hold(self.behaviour.metadata_delay))
        if not skip_metadata:
            outputs.append(SendText(self._metadata()))
        if "message-after-metadata" in self.faults:
            outputs.append(SendText(self._results(0, Segment(self.audio_seconds, self.audio_seconds, (), True))))
        if requested and "closestream-wrong-code" in self.faults:
            code = 1011
        return [*outputs, CloseConnection(code, reason)]

    # -- messages ----------------------------------------------------------------------------

    def _pair(self, index: int) -> list[int]:
        total = max(1, len(self._transcribers))
        return [index, total + 1 if "channel-index-wrong" in self.faults else total]

    def _render(self, index: int, event: Event) -> SendText:
        if isinstance(event, SpeechStarted):
            return SendText({"type": "SpeechStarted", "channel": self._pair(index), "timestamp": event.timestamp})
        if isinstance(event, UtteranceEnd):
            return SendText(
                {"type": "UtteranceEnd", "channel": self._pair(index), "last_word_end": event.last_word_end}
            )
        return SendText(self._results(index, event))

    def _timing_faults(self, segment: Segment) -> tuple[float, float, float]:
        """(shift of everything, extra shift of words, how far a final's start moves back)."""
        faults = self.faults
        # wall-clock: time without audio (KeepAlive pauses) advances the clock.
        shift = self._paused if "wall-clock-timestamps" in faults else 0.0
        shift += _FAULT_AHEAD_SECONDS if "results-ahead-of-audio" in faults else 0.0
        word_shift = -_FAULT_WORD_SHIFT_SECONDS if "words-outside-result" in faults else 0.0
        back = min(segment.start, _FAULT_OVERLAP_SECONDS) if "finals-overlap" in faults and segment.is_final else 0.0
        return shift, word_shift, back

    def _results(self, index: int, segment: Segment) -> dict[str, Any]:
        shift, word_shift, back = self._timing_faults(segment)
        words = [
            {
                "word": w.text,
                "start": round(max(0.0, w.start + shift + word_shift), 6),
                "end": round(max(0.0, w.end + shift + word_shift), 6),
                "confidence": w.confidence,
                "punctuated_word": w.text.capitalize(),
            }
            for w in segment.words
            if "never-transcribes" not in self.faults
        ]
        results = {
            "type": "Results",
            "channel_index": self._pair(index),
            "duration": round(segment.end - segment.start + back, 6),
            "start": round(segment.start + shift - back, 6),
            "is_final": segment.is_final,
            "speech_final": segment.speech_final,
            "channel": {
                "alternatives": [
                    {
                        "transcript": " ".join(w["word"] for w in words),  # type: ignore[misc]
                        "confidence": round(sum(w["confidence"] for w in words) / len(words), 4) if words else 0.0,  # type: ignore[misc]
                        "words": words,
                    }
                ]
            },
            "metadata": {
                "request_id": self.request_id,
                "model_info": {k: MOCK_MODEL[k] for k in ("name", "version", "arch")},
                "model_uuid": MOCK_MODEL["uuid"],
            },
            "from_finalize": segment.from_finalize and "no-from-finalize" not in self.faults,
        }
        if "results-schema-violation" in self.faults:
            del results["metadata"]["model_uuid"]  # type: ignore[attr-defined]
        return results

    def _metadata(self) -> dict[str, Any]:
        created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        metadata: dict[str, Any] = {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": "00000000-0000-0000-0000-000000000000"
            if "request-id-mismatch" in self.faults
            else self.request_id,
            "sha256": self._sha.hexdigest(),
            "created": created,
            "duration": round(self.audio_seconds * (2 if "metadata-duration-wrong" in self.faults else 1), 6),
            "channels": self._channels if self._frames else 0,
        }
        if self._frames:
            metadata["models"] = [MOCK_MODEL["uuid"]]
            metadata["model_info"] = {MOCK_MODEL["uuid"]: {k: MOCK_MODEL[k] for k in ("name", "version", "arch")}}
        return metadata
