"""The header of a WAV file: what a client streams when it declares no ``encoding``."""

from __future__ import annotations

from conformance.protocol.params import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, RAW_SAMPLE_BYTES

__all__ = ["wav_format", "SAMPLE_BYTES"]

# (format tag, bits per sample) to the encoding of the samples that follow; "pcm32" is integer
# PCM, which no `encoding` value names (Deepgram's linear32 is float).
_ENCODINGS = {(1, 16): "linear16", (1, 32): "pcm32", (3, 32): "linear32", (6, 8): "alaw", (7, 8): "mulaw"}
SAMPLE_BYTES = {**RAW_SAMPLE_BYTES, "pcm32": 4}
_EXTENSIBLE = 0xFFFE


def wav_format(header: bytes) -> tuple[int, int, str, int] | None:
    """(sample_rate, channels, encoding, data_offset) of a WAV header, or None: not WAV, not whole
    yet, or samples no decoder here reads (also a header that declares no channels, no rate, or
    more of either than a stream may have)."""
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return None
    offset, fmt = 12, None
    while offset + 8 <= len(header):
        kind, size = header[offset : offset + 4], int.from_bytes(header[offset + 4 : offset + 8], "little")
        if kind == b"fmt " and size >= 16:
            body = header[offset + 8 : offset + 8 + size]
            tag, channels, rate = (
                int.from_bytes(body[0:2], "little"),
                int.from_bytes(body[2:4], "little"),
                int.from_bytes(body[4:8], "little"),
            )
            bits = int.from_bytes(body[14:16], "little")
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = int.from_bytes(body[24:26], "little")
            encoding = _ENCODINGS.get((tag, bits))
            usable = (
                encoding is not None and 1 <= channels <= MAX_CHANNELS and MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE
            )
            fmt = (rate, channels, encoding) if usable else None
        elif kind == b"data":
            return (*fmt, offset + 8) if fmt else None  # type: ignore[return-value]
        offset += 8 + size + (size & 1)
    return None
