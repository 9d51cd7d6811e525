"""Query parameters of /v1/listen (contract.md §5): validation and the stream format they declare."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "ENCODINGS",
    "StreamFormat",
    "ParamError",
    "parse_stream_params",
    "MAX_CHANNELS",
    "MIN_SAMPLE_RATE",
    "MAX_SAMPLE_RATE",
]

ENCODINGS = ("linear16", "linear32", "flac", "alaw", "mulaw", "amr-nb", "amr-wb", "opus", "ogg-opus", "speex", "g729")
# Bytes per sample of the raw encodings whose duration follows from the byte count.
RAW_SAMPLE_BYTES = {"linear16": 2, "linear32": 4, "alaw": 1, "mulaw": 1}
_BOOLEANS = (
    "multichannel",
    "interim_results",
    "vad_events",
    "punctuate",
    "smart_format",
    "profanity_filter",
    "numerals",
    "dictation",
    "diarize",
    "detect_entities",
    "filler_words",
    "mip_opt_out",
    "no_delay",
)
MAX_CHANNELS = 32
# Telephony's 8 kHz up to studio rates. Below it a stream claims more audio seconds per byte than
# any real one (sample_rate=1 made one 1 MiB frame 6 days of audio for the mock to transcribe).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 384_000


class ParamError(ValueError):
    """A query parameter is invalid; ``str()`` is the dg-error text."""


@dataclass(frozen=True)
class StreamFormat:
    """What the client declared about its stream in the query string."""

    encoding: str | None
    sample_rate: int | None
    channels: int
    multichannel: bool
    interim_results: bool
    vad_events: bool
    endpointing_ms: int | None
    utterance_end_ms: int | None
    model: str


def _one(query: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _integer(query: Mapping[str, Sequence[str]], name: str, minimum: int, maximum: int | None = None) -> int | None:
    value = _one(query, name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ParamError(f"Invalid '{name}' value of '{value}'.") from None
    if number < minimum or (maximum is not None and number > maximum):
        raise ParamError(f"Invalid '{name}' value of '{value}'.")
    return number


def _flag(query: Mapping[str, Sequence[str]], name: str) -> bool:
    value = _one(query, name)
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise ParamError(f"Invalid '{name}' value of '{value}'.")
    return value.lower() == "true"


def _endpointing(query: Mapping[str, Sequence[str]]) -> int | None:
    value = _one(query, "endpointing")
    if value is not None and value.lower() == "false":
        return None
    if value is not None and value.lower() == "true":
        return 10
    parsed = _integer(query, "endpointing", 0)
    return 10 if parsed is None else parsed


def parse_stream_params(query: Mapping[str, Sequence[str]]) -> StreamFormat:
    """Validate the query string of a /v1/listen upgrade.

    Unknown parameters are accepted, as Deepgram does.

    Raises:
        ParamError: a known parameter has an invalid value.
    """
    encoding = _one(query, "encoding")
    if encoding is not None and encoding not in ENCODINGS:
        raise ParamError(f"Invalid 'encoding' value of '{encoding}'.")
    for name in _BOOLEANS:
        _flag(query, name)
    sample_rate = _integer(query, "sample_rate", MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)
    if encoding is not None and sample_rate is None:
        raise ParamError("The 'sample_rate' parameter is required when 'encoding' is set.")
    return StreamFormat(
        encoding=encoding,
        sample_rate=sample_rate,
        channels=_integer(query, "channels", 1, MAX_CHANNELS) or 1,
        multichannel=_flag(query, "multichannel"),
        interim_results=_flag(query, "interim_results"),
        vad_events=_flag(query, "vad_events"),
        endpointing_ms=_endpointing(query),
        utterance_end_ms=_integer(query, "utterance_end_ms", 1),
        model=_one(query, "model") or "base-general",
    )
