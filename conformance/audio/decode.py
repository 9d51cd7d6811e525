"""Decoding a stream's audio as it arrives, to linear16 at the stream's own rate (pure).

One decoder per stream takes each binary frame as the client sent it and returns the samples it
completes, interleaved; what a frame cannot complete (half a sample, a packet cut in two) waits
for the next. The codecs are FFmpeg's, through PyAV (its wheels carry FFmpeg with libopus, so a
fresh machine needs no system package); the containers are read by :mod:`~.containers`.
:func:`open_decoder` picks the decoder the way Deepgram does: the declared ``encoding`` says how
to read headerless audio, and without one (or with flac, ogg-opus, opus) the stream's first bytes
must be that container. Anything else raises :class:`DecodeError`, which a server answers with
1008 DATA-0000.
"""

from __future__ import annotations

import sys
from array import array

import av

from conformance.audio.containers import ContainerError, FlacReader, OggReader, WebmReader, sniff
from conformance.audio.wav import wav_format

__all__ = ["DecodeError", "Decoder", "open_decoder", "DECODED_ENCODINGS", "OPUS_RATE"]

# Encodings the decoders read; the others of the enum (amr-nb, amr-wb, speex, g729) are not.
DECODED_ENCODINGS = ("linear16", "linear32", "mulaw", "alaw", "flac", "opus", "ogg-opus")
_RAW_CODECS = {
    "linear16": ("pcm_s16le", 2),
    "linear32": ("pcm_f32le", 4),
    "mulaw": ("pcm_mulaw", 1),
    "alaw": ("pcm_alaw", 1),
    "pcm32": ("pcm_s32le", 4),
}
# Opus always decodes at 48 kHz, whatever rate the encoder was fed.
OPUS_RATE = 48_000
_WAV_HEADER_LIMIT = 64 * 1024


class DecodeError(ValueError):
    """The bytes are not audio in the format declared (or, without one, in any container)."""


class Decoder:
    """One stream's decoder: ``feed`` each frame, ``finish`` at the end. ``sample_rate`` and
    ``channels`` describe the samples returned; they are known once ``ready``."""

    sample_rate = 0
    channels = 0

    @property
    def ready(self) -> bool:
        return self.sample_rate > 0

    def feed(self, data: bytes) -> array:
        raise NotImplementedError

    def finish(self) -> array:
        return array("h")


def _layout(channels: int) -> av.AudioLayout:
    return av.AudioLayout({1: "mono", 2: "stereo"}.get(channels, f"{channels}c"))


class _Frames:
    """FFmpeg frames of any sample format to interleaved linear16 at their own rate."""

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None

    def convert(self, frames: list[av.AudioFrame], out: array) -> None:
        for frame in frames:
            if frame.format.name != "s16":
                if self._resampler is None:
                    self._resampler = av.AudioResampler(format="s16", layout=frame.layout, rate=frame.sample_rate)
                converted = self._resampler.resample(frame)
            else:
                converted = [frame]
            for plain in converted:
                count = plain.samples * len(plain.layout.channels)
                samples = array("h", bytes(plain.planes[0])[: 2 * count])
                if sys.byteorder == "big":
                    samples.byteswap()
                out.extend(samples)


class _Raw(Decoder):
    """Headerless PCM or G.711: whole sample frames, the rest kept for the next frame."""

    def __init__(self, encoding: str, sample_rate: int, channels: int) -> None:
        codec, width = _RAW_CODECS[encoding]
        self.sample_rate, self.channels = sample_rate, channels
        self._frame_bytes = width * channels
        self._partial = b""
        self._context: av.CodecContext | None = None
        if encoding != "linear16":
            self._context = av.CodecContext.create(codec, "r")
            self._context.sample_rate = sample_rate
            self._context.layout = _layout(channels)
            self._frames = _Frames()

    def feed(self, data: bytes) -> array:
        # Whole sample frames with nothing held back (every frame of a real-time stream) are
        # used as they are, without a copy.
        if self._partial or len(data) % self._frame_bytes:
            data = self._partial + data
            usable = len(data) - len(data) % self._frame_bytes
            data, self._partial = data[:usable], data[usable:]
        out = array("h")
        if not data:
            return out
        if self._context is None:
            out.frombytes(data)
            if sys.byteorder == "big":
                out.byteswap()
            return out
        self._frames.convert(self._context.decode(av.Packet(data)), out)
        return out


class _Wav(Decoder):
    """A RIFF/WAVE header (which may span frames), then its PCM data as headerless audio."""

    def __init__(self) -> None:
        self._header = b""
        self._raw: _Raw | None = None

    def feed(self, data: bytes) -> array:
        if self._raw is not None:
            return self._raw.feed(data)
        self._header += data
        found = wav_format(self._header)
        if found is None:
            if len(self._header) > _WAV_HEADER_LIMIT or b"data" in self._header[12:]:
                raise DecodeError("a RIFF/WAVE header without a usable PCM 'fmt ' and 'data' chunk")
            return array("h")
        rate, channels, encoding, offset = found
        self._raw = _Raw(encoding, rate, channels)
        self.sample_rate, self.channels = rate, channels
        return self._raw.feed(self._header[offset:])


class _Opus(Decoder):
    """Opus packets from Ogg pages or a WebM track, decoded at 48 kHz, pre-skip dropped."""

    def __init__(self, container: str) -> None:
        self._reader: OggReader | WebmReader = OggReader() if container == "ogg" else WebmReader()
        self._context: av.CodecContext | None = None
        self._skip = 0
        self._frames = _Frames()
        self._headers = 0

    def feed(self, data: bytes) -> array:
        out = array("h")
        try:
            packets = self._reader.feed(data)
        except ContainerError as exc:
            raise DecodeError(str(exc)) from None
        for packet in packets:
            if self._context is None and not self._open(packet):
                continue
            assert self._context is not None
            try:
                self._frames.convert(self._context.decode(av.Packet(packet)), out)
            except av.FFmpegError as exc:
                raise DecodeError(f"an Opus packet of {len(packet)} bytes does not decode: {exc}") from None
        if self._skip and out:
            dropped = min(self._skip, len(out) // max(1, self.channels))
            del out[: dropped * self.channels]
            self._skip -= dropped
        return out

    def _open(self, packet: bytes) -> bool:
        """Set up from the stream's OpusHead; False while the packet is a header, not audio."""
        reader = self._reader
        if isinstance(reader, OggReader):
            self._headers += 1
            if self._headers == 1:
                self._head = packet
                return False
            if self._headers == 2:
                return False
            head = self._head
        else:
            if reader.codec_id != "A_OPUS":
                raise DecodeError(f"the WebM audio track's codec is {reader.codec_id}, not Opus (A_OPUS)")
            head = reader.codec_private
        if len(head) < 19 or head[:8] != b"OpusHead" or not 1 <= head[9] <= 8:
            raise DecodeError(f"the stream's first packet is not an OpusHead ({head[:8]!r})")
        self.channels, self.sample_rate = head[9], OPUS_RATE
        self._skip = int.from_bytes(head[10:12], "little")
        self._context = av.CodecContext.create("opus", "r")
        self._context.extradata = head
        return True


class _Flac(Decoder):
    def __init__(self) -> None:
        self._reader = FlacReader()
        self._context: av.CodecContext | None = None
        self._frames = _Frames()

    def feed(self, data: bytes) -> array:
        try:
            return self._decode(self._reader.feed(data))
        except ContainerError as exc:
            raise DecodeError(str(exc)) from None

    def finish(self) -> array:
        return self._decode(self._reader.finish())

    def _decode(self, frames: list[bytes]) -> array:
        out = array("h")
        if self._context is None and self._reader.streaminfo is not None:
            self._context = av.CodecContext.create("flac", "r")
            self._context.extradata = self._reader.streaminfo
            self.sample_rate, self.channels = self._reader.sample_rate, self._reader.channels
        for frame in frames:
            try:
                self._frames.convert(self._context.decode(av.Packet(frame)), out)
            except av.FFmpegError as exc:
                raise DecodeError(f"a FLAC frame of {len(frame)} bytes does not decode: {exc}") from None
        return out


_ENCODING_CONTAINERS = {"flac": ("flac",), "ogg-opus": ("ogg",), "opus": ("ogg", "webm")}
_SIGNATURE_BYTES = 4


class _Sniffing(Decoder):
    """Holds a container stream's first bytes until its signature can be read (a client may cut
    even those into several frames), then hands everything to the decoder it names."""

    def __init__(self, encoding: str | None, sample_rate: int | None, channels: int) -> None:
        self._args = (encoding, sample_rate, channels)
        self._head = b""
        self._inner: Decoder | None = None

    @property
    def ready(self) -> bool:
        return self._inner is not None and self._inner.ready

    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        return self._inner.sample_rate if self._inner is not None else 0

    @property
    def channels(self) -> int:  # type: ignore[override]
        return self._inner.channels if self._inner is not None else 0

    def feed(self, data: bytes) -> array:
        if self._inner is not None:
            return self._inner.feed(data)
        self._head += data
        if len(self._head) < _SIGNATURE_BYTES:
            return array("h")
        self._inner = open_decoder(*self._args, self._head)
        return self._inner.feed(self._head)

    def finish(self) -> array:
        return self._inner.finish() if self._inner is not None else array("h")


def open_decoder(encoding: str | None, sample_rate: int | None, channels: int, head: bytes) -> Decoder:
    """The decoder for a stream that declared ``encoding`` (None: containerised) and whose first
    binary frame is ``head``.

    Raises:
        DecodeError: the first bytes contradict the declaration, or declare nothing decodable.
    """
    if encoding not in _RAW_CODECS and len(head) < _SIGNATURE_BYTES:
        return _Sniffing(encoding, sample_rate, channels)
    container = sniff(head)
    if encoding is None:
        if container == "wav":
            return _Wav()
        if container in ("ogg", "webm"):
            return _Opus(container)
        if container == "flac":
            return _Flac()
        raise DecodeError(
            f"no encoding was declared, and the stream starts with no known container header ({bytes(head[:8]).hex()})"
        )
    if encoding in _RAW_CODECS:
        # Raw is raw: a header sent anyway decodes as a click of noise. Deepgram's own streaming
        # test suite sends WAV files under encoding=linear16 (contract.md §8.1), so it is no error.
        return _Raw(encoding, sample_rate or 0, channels)
    expected = _ENCODING_CONTAINERS.get(encoding)
    if expected is None:
        raise DecodeError(f"encoding={encoding} is not decoded here")
    if container not in expected:
        found = (
            f"a {container.upper()} header"
            if container
            else f"no {' or '.join(c.upper() for c in expected)} header ({bytes(head[:8]).hex()})"
        )
        raise DecodeError(f"encoding={encoding} declared, but the stream starts with {found}")
    return _Flac() if container == "flac" else _Opus(container)
