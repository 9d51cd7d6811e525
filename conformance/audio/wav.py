"""The header of a PCM WAV file: what a client streams when it declares no ``encoding``."""

from __future__ import annotations

from conformance.protocol.params import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

__all__ = ["wav_format"]


def wav_format(header: bytes) -> tuple[int, int, int, int] | None:
    """(sample_rate, channels, sample_bytes, data_offset) of a PCM WAV header, or None (also for a
    header that declares no channels, no rate, or more of either than a stream may have)."""
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return None
    offset, fmt = 12, None
    while offset + 8 <= len(header):
        kind, size = header[offset : offset + 4], int.from_bytes(header[offset + 4 : offset + 8], "little")
        if kind == b"fmt " and size >= 16:
            body = header[offset + 8 : offset + 24]
            tag, channels, rate = int.from_bytes(body[0:2], "little"), int.from_bytes(body[2:4], "little"), int.from_bytes(body[4:8], "little")
            bits = int.from_bytes(body[14:16], "little")
            usable = tag in (1, 0xFFFE) and bits in (16, 32) and 1 <= channels <= MAX_CHANNELS and MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE
            fmt = (rate, channels, bits // 8) if usable else None
        elif kind == b"data":
            return (*fmt, offset + 8) if fmt else None
        offset += 8 + size + (size & 1)
    return None
