"""Linear16 sources encoded into the format a stream sends (pure; FFmpeg's codecs through PyAV).

Headerless formats are encoded once per source and sliced per frame like the linear16 source
itself, so a load generator pays nothing per frame. A container is encoded once per plan as
one continuous stream, the way a recorder writes it: FFmpeg's muxer writes into a sink that
cannot seek (a live stream: WebM without sizes to patch, FLAC without a total), and each write
becomes a :class:`Unit` carrying the audio it completes, measured by decoding the stream as a
server would. Stream steps then group units into frames (see :mod:`conformance.engine.steps`).
"""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass
from functools import lru_cache

import av

from conformance.audio.decode import open_decoder
from conformance.audio.formats import AudioFormat
from conformance.audio.source import Pcm, load_source
from conformance.errors import AudioError

__all__ = ["Unit", "encoded_raw", "encoded_container", "wav_header"]

_RAW_CODECS = {"linear32": ("pcm_f32le", 4), "mulaw": ("pcm_mulaw", 1), "alaw": ("pcm_alaw", 1)}
# (muxer, codec, muxer options, codec options). Ogg: a page per 20 ms Opus packet, as streaming
# encoders flush; WebM: a live stream with a Cluster per 250 ms MediaRecorder timeslice; speech
# bitrates for Opus.
_CONTAINERS = {
    "ogg-opus": ("ogg", "libopus", {"page_duration": "20000"}, {"application": "voip"}),
    "webm-opus": ("webm", "libopus", {"live": "1", "cluster_time_limit": "250"}, {"application": "voip"}),
    "flac": ("flac", "flac", {}, {}),
}
_OPUS_BITRATE = 32_000
_OPUS_FRAME = 0.02


@dataclass(frozen=True)
class Unit:
    """Bytes a container stream writes at once, and the decoded audio seconds they complete."""

    data: bytes
    seconds: float


def wav_header(fmt: AudioFormat) -> bytes:
    """A streaming WAV header (RIFF and data sizes unknown, written as their maximum)."""
    block = 2 * fmt.channels
    fmt_chunk = b"fmt " + (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + fmt.channels.to_bytes(2, "little")
    fmt_chunk += (
        fmt.sample_rate.to_bytes(4, "little")
        + (fmt.sample_rate * block).to_bytes(4, "little")
        + block.to_bytes(2, "little")
        + (16).to_bytes(2, "little")
    )
    return b"RIFF" + b"\xff\xff\xff\xff" + b"WAVE" + fmt_chunk + b"data" + b"\xff\xff\xff\xff"


def _layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


def _frame(pcm: Pcm, data: bytes) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout=_layout(pcm.channels), samples=len(data) // pcm.frame_bytes)
    frame.planes[0].update(data)
    frame.sample_rate = pcm.sample_rate
    return frame


@lru_cache(maxsize=32)
def encoded_raw(source: str, fmt: AudioFormat) -> Pcm:
    """``source`` in headerless ``fmt`` (linear16 itself for linear16 and WAV), sliceable by frame."""
    pcm = load_source(source, fmt.sample_rate, fmt.channels)
    if fmt.name in ("linear16", "wav"):
        return pcm
    codec, width = _RAW_CODECS[fmt.name]
    if fmt.name == "linear32":
        # Deepgram's linear32 is 32-bit float (the encoding page); FFmpeg's float encoder takes floats.
        samples = array("h", pcm.data)
        if sys.byteorder == "big":
            samples.byteswap()
        floats = array("f", (s / 32768.0 for s in samples))
        if sys.byteorder == "big":
            floats.byteswap()
        return Pcm(floats.tobytes(), pcm.sample_rate, pcm.channels, sample_width=width)
    context = av.CodecContext.create(codec, "w")
    context.sample_rate, context.layout, context.format = pcm.sample_rate, _layout(pcm.channels), "s16"
    if pcm.channels > 2:
        raise AudioError(f"{fmt.name} is encoded here with at most 2 channels, not {pcm.channels}")
    out = b"".join(bytes(packet) for packet in context.encode(_frame(pcm, pcm.data)))
    return Pcm(out, pcm.sample_rate, pcm.channels, sample_width=width)


class _Sink:
    """A write-only file: FFmpeg's muxers see a live stream that cannot seek back."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.writes.append(bytes(data))
        return len(data)


@lru_cache(maxsize=32)
def encoded_container(source: str, fmt: AudioFormat, frames: int) -> tuple[Unit, ...]:
    """The first ``frames`` sample frames of ``source`` (wrapping round) as one ``fmt`` stream.

    Raises:
        AudioError: the codec refuses the format.
    """
    pcm = load_source(source, fmt.sample_rate, fmt.channels)
    muxer, codec, options, codec_options = _CONTAINERS[fmt.name]
    sink = _Sink()
    try:
        container = av.open(sink, "w", format=muxer, options=dict(options))
        stream = container.add_stream(codec, rate=fmt.sample_rate, layout=_layout(fmt.channels))
        if codec == "libopus":
            stream.codec_context.bit_rate = _OPUS_BITRATE
        stream.codec_context.options = dict(codec_options)
        step = round(_OPUS_FRAME * fmt.sample_rate)
        for start in range(0, frames, step):
            frame = _frame(pcm, pcm.slice_frames(start, min(step, frames - start)))
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        container.close()
    except (av.FFmpegError, ValueError) as exc:
        raise AudioError(f"cannot encode {fmt.describe()}: {exc}") from None
    return _units(sink.writes, fmt)


def _units(writes: list[bytes], fmt: AudioFormat) -> tuple[Unit, ...]:
    """Each write with the audio seconds a server decodes from it."""
    decoder = open_decoder(fmt.encoding, fmt.sample_rate, fmt.channels, writes[0])
    units: list[Unit] = []
    for index, data in enumerate(writes):
        samples = len(decoder.feed(data))
        if index == len(writes) - 1:
            samples += len(decoder.finish())
        units.append(Unit(data, samples / (decoder.channels * decoder.sample_rate) if decoder.ready else 0.0))
    return tuple(units)
