"""The audio formats the suite and the load users stream, and what each declares (pure).

A format is what goes on the wire: headerless audio under an ``encoding`` (linear16, linear32,
mulaw, alaw), or a container sent as real clients send it, with or without ``encoding`` (WAV,
FLAC, Ogg/Opus, WebM/Opus). Every impossible combination is an :class:`AudioError` whose
message is one line, raised before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.errors import AudioError
from conformance.protocol.params import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

__all__ = [
    "AudioFormat",
    "FORMATS",
    "RAW_FORMATS",
    "OPUS_RATES",
    "FORMAT_OF_ENCODING",
    "DEFAULT_CHUNK_SECONDS",
    "format_for",
    "declared_format",
]

RAW_FORMATS = ("linear16", "linear32", "mulaw", "alaw")
CONTAINER_FORMATS = ("wav", "flac", "ogg-opus", "webm-opus")
FORMATS = RAW_FORMATS + CONTAINER_FORMATS
# The rates libopus encodes (RFC 6716 §2); Opus decodes at 48 kHz whatever it was fed.
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
# The format an `encoding` value streams when the scenario names none.
FORMAT_OF_ENCODING = {
    **{name: name for name in RAW_FORMATS},
    "flac": "flac",
    "ogg-opus": "ogg-opus",
    "opus": "ogg-opus",
}
_STREAMS_OF_ENCODING = {
    **{name: (name,) for name in RAW_FORMATS},
    "flac": ("flac",),
    "ogg-opus": ("ogg-opus",),
    "opus": ("ogg-opus", "webm-opus"),
}
# How each format's real clients cut it into frames, when a scenario or load user says nothing:
# telephony bridges send 20 ms of G.711, MediaRecorder a 250 ms timeslice.
DEFAULT_CHUNK_SECONDS = {"webm-opus": 0.25, "flac": 0.1}


@dataclass(frozen=True)
class AudioFormat:
    """What a stream's binary frames carry: ``name`` (one of :data:`FORMATS`) at ``sample_rate``
    with ``channels``, declared with ``encoding`` (None: a container sent without one)."""

    name: str
    sample_rate: int
    channels: int
    encoding: str | None

    @property
    def raw(self) -> bool:
        """Headerless samples: their duration follows from their byte count."""
        return self.name in RAW_FORMATS

    @property
    def contradicts(self) -> bool:
        """The bytes are not what the declaration promises: headerless audio without
        ``encoding``, or another format than ``encoding`` names (a negative scenario's mistake)."""
        if self.encoding is None:
            return self.raw
        return self.name not in _STREAMS_OF_ENCODING.get(self.encoding, ())

    def describe(self) -> str:
        declared = f"encoding={self.encoding}" if self.encoding else "no encoding"
        return f"{self.name} {self.sample_rate} Hz × {self.channels} ({declared})"


def format_for(name: str, sample_rate: int, channels: int, encoding: str | None) -> AudioFormat:
    """A checked :class:`AudioFormat`.

    Raises:
        AudioError: the format is unknown, or cannot carry that rate or channel count.
    """
    if name not in FORMATS:
        raise AudioError(f"unknown audio format {name!r}; the suite streams {', '.join(FORMATS)}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{name} at {sample_rate} Hz: sample rates run from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError(f"{name} with {channels} channels: a stream has 1 to {MAX_CHANNELS}")
    if name.endswith("opus") and sample_rate not in OPUS_RATES:
        raise AudioError(f"Opus does not encode at {sample_rate} Hz; it takes {', '.join(map(str, OPUS_RATES))} Hz")
    if name.endswith("opus") and channels > 2:
        raise AudioError(f"Opus streams here carry 1 or 2 channels, not {channels}")
    if name == "flac" and channels > 8:
        raise AudioError(f"FLAC carries at most 8 channels, not {channels}")
    if name == "flac" and sample_rate > 655_350:
        raise AudioError(f"FLAC does not carry {sample_rate} Hz")
    return AudioFormat(name, sample_rate, channels, encoding)


def declared_format(params: Mapping[str, Any], audio: Mapping[str, Any] | None = None) -> AudioFormat:
    """The format a stream sends: ``audio`` (a scenario's ``audio`` block: ``format``,
    ``sample_rate``, ``channels``) over what the query string ``params`` declare.

    Raises:
        AudioError: the declaration names audio the suite cannot produce.
    """
    audio = audio or {}
    encoding = params.get("encoding")
    encoding = str(encoding) if encoding is not None else None
    name = audio.get("format") or FORMAT_OF_ENCODING.get(encoding or "linear16")
    if name is None:
        raise AudioError(f"the suite cannot produce encoding={encoding} audio; it streams {', '.join(FORMATS)}")
    rate = _integer(
        audio.get("sample_rate", params.get("sample_rate", 48000 if str(name).endswith("opus") else 16000)),
        "sample_rate",
    )
    channels = _integer(audio.get("channels", params.get("channels", 1)), "channels")
    return format_for(str(name), rate, channels, encoding)


def _integer(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AudioError(f"{name} {value!r} is not a whole number") from None
