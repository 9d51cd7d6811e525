"""Audio sources as linear16 PCM at the rate and channel count a scenario declares.

Sources: ``speech`` (the bundled espeak-ng clip, see ``audio/generate.sh``), ``silence``,
``tone`` (440 Hz), or a path to a 16-bit PCM WAV file. Conversion covers sample rate
(FFmpeg's resampler) and channel count (mono is copied to every channel; several channels
are mixed down to mono first).
"""

from __future__ import annotations

import math
import sys
import wave
from array import array
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import av

from conformance._resources import data_path
from conformance.audio.speech import find_speech
from conformance.errors import AudioError

__all__ = ["Pcm", "load_source", "check_wav", "SAMPLE_WIDTH"]

SAMPLE_WIDTH = 2
_GENERATED_SECONDS = 60.0
_TONE_HZ = 440.0
_TONE_AMPLITUDE = 8000


@dataclass(frozen=True)
class Pcm:
    """Interleaved little-endian audio: linear16, or headerless samples ``sample_width`` bytes
    wide encoded from it (:func:`conformance.audio.encode.encoded_raw`)."""

    data: bytes
    sample_rate: int
    channels: int
    sample_width: int = SAMPLE_WIDTH

    @cached_property
    def frame_bytes(self) -> int:
        """Bytes of one sample on every channel."""
        return self.sample_width * self.channels

    @cached_property
    def frames(self) -> int:
        """Number of sample frames."""
        return len(self.data) // self.frame_bytes

    @property
    def seconds(self) -> float:
        """Length in audio seconds."""
        return self.frames / self.sample_rate

    @cached_property
    def speech(self) -> tuple[tuple[int, int], ...]:
        """Speech runs as (first frame, end frame); see :mod:`conformance.audio.speech` (linear16 only)."""
        return find_speech(self.data, self.sample_rate, self.channels)

    def speech_between(self, start: int, count: int) -> list[tuple[float, float]]:
        """Speech in the ``count`` frames from frame ``start`` (wrapping like :meth:`slice_frames`),
        as (start, end) seconds from the first of them."""
        spans: list[tuple[float, float]] = []
        position, done = start % self.frames, 0
        while done < count:
            take = min(count - done, self.frames - position)
            for first, end in self.speech:
                lo, hi = max(first, position), min(end, position + take)
                if lo < hi:
                    spans.append(((lo - position + done) / self.sample_rate, (hi - position + done) / self.sample_rate))
            done += take
            position = 0
        return spans

    def slice_frames(self, start: int, count: int) -> bytes:
        """``count`` frames from frame ``start``, wrapping round to the beginning at the end."""
        position = start % self.frames
        if position + count <= self.frames:  # the common case: one slice, one copy
            return self.data[position * self.frame_bytes : (position + count) * self.frame_bytes]
        out = bytearray()
        while count > 0:
            take = min(count, self.frames - position)
            out += self.data[position * self.frame_bytes : (position + take) * self.frame_bytes]
            count -= take
            position = 0
        return bytes(out)


def _read_wav(path: Path, *, header_only: bool = False) -> tuple[array, int, int]:
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() != SAMPLE_WIDTH or wav.getcomptype() != "NONE":
                raise AudioError(
                    f"{path}: only 16-bit PCM WAV is supported (got {wav.getsampwidth() * 8}-bit {wav.getcomptype()})"
                )
            samples = array("h", b"" if header_only else wav.readframes(wav.getnframes()))
            return samples, wav.getframerate(), wav.getnchannels()
    except (OSError, EOFError, wave.Error) as exc:
        raise AudioError(f"{path}: not a readable 16-bit PCM WAV file: {exc}") from exc


def check_wav(path: str) -> None:
    """Raise :class:`AudioError` (one line) unless ``path`` is a 16-bit PCM WAV file; reads the header only."""
    _read_wav(Path(path), header_only=True)


def _to_mono(samples: array, channels: int) -> array:
    if channels == 1:
        return samples
    mixed = array("h", bytes(2 * (len(samples) // channels)))
    for i in range(len(mixed)):
        mixed[i] = sum(samples[i * channels : (i + 1) * channels]) // channels
    return mixed


def _resample(samples: array, rate: int, target: int) -> array:
    """``samples`` at ``target`` Hz through FFmpeg's resampler (band-limited, unlike
    interpolation: 16 kHz speech taken to 8 kHz keeps no alias above 4 kHz)."""
    if rate == target or not samples:
        return samples
    count = int(len(samples) * target / rate)
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(samples))
    frame.planes[0].update(samples.tobytes() if sys.byteorder == "little" else _swapped(samples))
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=target)
    out = array("h")
    for converted in (*resampler.resample(frame), *resampler.resample(None)):
        out.frombytes(bytes(converted.planes[0])[: 2 * converted.samples])
    if sys.byteorder == "big":
        out.byteswap()
    del out[count:]
    if len(out) < count:
        out.extend(array("h", bytes(2 * (count - len(out)))))
    return out


def _swapped(samples: array) -> bytes:
    swapped = array("h", samples)
    swapped.byteswap()
    return swapped.tobytes()


def _spread(mono: array, channels: int) -> bytes:
    if channels == 1:
        return mono.tobytes()
    out = array("h", bytes(2 * len(mono) * channels))
    for c in range(channels):
        out[c::channels] = mono
    return out.tobytes()


def _generated(name: str, rate: int) -> array:
    count = int(_GENERATED_SECONDS * rate)
    if name == "silence":
        return array("h", bytes(2 * count))
    omega = 2 * math.pi * _TONE_HZ / rate
    return array("h", (int(_TONE_AMPLITUDE * math.sin(omega * i)) for i in range(count)))


@lru_cache(maxsize=32)
def load_source(name: str, sample_rate: int, channels: int) -> Pcm:
    """Return source ``name`` as linear16 at ``sample_rate`` Hz with ``channels`` channels.

    Raises:
        AudioError: the file is missing, not 16-bit PCM WAV, or the format requested is impossible.
    """
    if sample_rate <= 0 or channels <= 0:
        raise AudioError(f"cannot produce audio at {sample_rate} Hz with {channels} channel(s)")
    if name in ("silence", "tone"):
        mono = _generated(name, sample_rate)
    else:
        path = data_path("audio", "speech_en.wav") if name == "speech" else Path(name)
        samples, rate, source_channels = _read_wav(path)
        mono = _resample(_to_mono(samples, source_channels), rate, sample_rate)
    if not mono:
        raise AudioError(f"audio source {name!r} is empty")
    return Pcm(_spread(mono, channels), sample_rate, channels)
