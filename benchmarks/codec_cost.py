"""What each audio format costs: the mock's CPU per stream to decode and transcribe it, and the
suite's one-time cost to encode a source into it.

Each format's 26 s speech clip is fed to one mock stream (:class:`ServerSession`, no sockets) in
the frames its real clients send (20 ms of raw audio, Ogg pages of one 20 ms packet, 250 ms WebM
timeslices, FLAC frames), then CloseStream. Reported per format: CPU milliseconds per second of
audio (min of ``--repeat`` runs) and the real-time streams one core could hold on that cost alone
(the frame layer's cost, measured by benchmarks/mock_capacity.py, comes on top).

    python benchmarks/codec_cost.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

from conformance.audio.encode import encoded_container, encoded_raw
from conformance.audio.formats import format_for
from conformance.audio.source import load_source
from conformance.mock.session import ServerSession
from conformance.protocol.params import parse_stream_params

FORMATS = [
    ("linear16", 16000, "linear16"),
    ("linear16", 48000, "linear16"),
    ("linear32", 16000, "linear32"),
    ("mulaw", 8000, "mulaw"),
    ("alaw", 8000, "alaw"),
    ("flac", 16000, "flac"),
    ("ogg-opus", 16000, "ogg-opus"),
    ("ogg-opus", 48000, None),
    ("webm-opus", 48000, None),
]


def _frames(name: str, rate: int, encoding: str | None) -> tuple[list[bytes], float, float]:
    """(frames, audio seconds, seconds it took to encode them)."""
    fmt = format_for(name, rate, 1, encoding)
    seconds = load_source("speech", rate, 1).seconds
    started = time.process_time()
    if fmt.raw:
        pcm = encoded_raw("speech", fmt)
        step = rate // 50
        frames = [pcm.slice_frames(i, step) for i in range(0, pcm.frames, step)]
    else:
        frames = [u.data for u in encoded_container("speech", fmt, round(seconds * rate))]
    return frames, seconds, time.process_time() - started


def _stream(frames: list[bytes], query: dict[str, list[str]]) -> float:
    session = ServerSession(parse_stream_params(query), "bench", 10.0, 0.0)
    started = time.process_time()
    for index, frame in enumerate(frames):
        session.receive_binary(frame, index * 0.02)
    session.receive_text('{"type":"CloseStream"}', len(frames) * 0.02)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'format':<31} {'frames':>6} {'encode once':>12} {'mock CPU per audio s':>21} {'streams/core (decode+transcribe only)':>38}"
    )
    for name, rate, encoding in FORMATS:
        frames, seconds, encode = _frames(name, rate, encoding)
        query = {"encoding": [encoding], "sample_rate": [str(rate)]} if encoding else {}
        cost = min(_stream(frames, query) for _ in range(args.repeat)) / seconds
        label = f"{name} {rate // 1000} kHz" + ("" if encoding else " (no encoding)")
        print(f"{label:<31} {len(frames):>6} {encode:>10.2f} s {1000 * cost:>18.2f} ms {1 / cost:>38.0f}", flush=True)


if __name__ == "__main__":
    main()
