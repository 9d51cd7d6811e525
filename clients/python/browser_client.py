"""A browser page's stream, without the browser: what MediaRecorder sends to /v1/listen. WebM with
one Opus track at 48 kHz, encoded as the audio is captured and handed over every 250 ms (the
`timeslice` of `recorder.start(250)`): the first slice carries the EBML header and the track,
the later ones Clusters. No encoding or sample_rate in the query string: the container says it.
The WebM is written by FFmpeg's live muxer through PyAV, a block as soon as it is encoded, as
Chrome writes it with libwebm; a headless Chrome is not needed to produce the same bytes.

    conformance client -- python clients/python/browser_client.py
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlencode

import av
from job import Audio, Job, parse_job, read_audio
from websockets.asyncio.client import ClientConnection
from websockets_client import pause, run_stream

TIMESLICE_SECONDS = 0.25
OPUS_RATE, OPUS_FRAME = 48_000, 960


class _Slices:
    """The muxer's output since the last timeslice (MediaRecorder's pending Blob)."""

    def __init__(self) -> None:
        self.pending = bytearray()

    def write(self, data: bytes) -> int:
        self.pending += data
        return len(data)

    def take(self) -> bytes:
        data, self.pending = bytes(self.pending), bytearray()
        return data


def _frames(audio: Audio) -> list[av.AudioFrame]:
    """The WAV as 20 ms frames at 48 kHz, as the capture graph delivers them."""
    frame = av.AudioFrame(
        format="s16",
        layout="mono" if audio.channels == 1 else "stereo",
        samples=len(audio.data) // (2 * audio.channels),
    )
    frame.planes[0].update(audio.data)
    frame.sample_rate = audio.rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=OPUS_RATE, frame_size=OPUS_FRAME)
    return [*resampler.resample(frame), *resampler.resample(None)]


async def record(ws: ClientConnection, job: Job, audio: Audio) -> None:
    """Encode in real time and send a slice every 250 ms; a KeepAlive-only pause halfway."""
    slices = _Slices()
    container = av.open(slices, "w", format="webm", options={"live": "1", "cluster_time_limit": "20"})
    stream = container.add_stream("libopus", rate=OPUS_RATE, layout="mono")
    frames = _frames(audio)
    per_slice = round(TIMESLICE_SECONDS * OPUS_RATE / OPUS_FRAME)
    start = time.monotonic()
    for index, frame in enumerate(frames):
        if job.pause and index == len(frames) // 2:
            await send(ws, slices.take())
            await pause(ws, job)
            # The page's KeepAlive timer runs until the recorder hands over data again.
            await ws.send(json.dumps({"type": "KeepAlive"}))
            start += job.pause
        frame.pts = index * OPUS_FRAME
        for packet in stream.encode(frame):
            container.mux(packet)
        if (index + 1) % per_slice == 0:
            await asyncio.sleep(max(0.0, start + (index + 1) * OPUS_FRAME / OPUS_RATE - time.monotonic()))
            await send(ws, slices.take())
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    await send(ws, slices.take())


async def send(ws: ClientConnection, data: bytes) -> None:
    """A slice, unless it is empty: MediaRecorder fires no dataavailable with an empty Blob
    worth sending, and an empty frame is the deprecated close signal."""
    if data:
        await ws.send(data)


async def main() -> int:
    job, _ = parse_job(__doc__ or "")
    audio = read_audio(job)
    query = urlencode({"model": "nova-3", **job.params})
    return await run_stream(f"{job.url}{'&' if '?' in job.url else '?'}{query}", job, lambda ws: record(ws, job, audio))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
