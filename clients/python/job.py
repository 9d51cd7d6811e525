"""The canonical client job, as every driver in clients/ reads it: where to connect and what to
send, from the environment `conformance client` sets (flags override it).

    DEEPGRAM_URL            ws://127.0.0.1:PORT/v1/listen
    DEEPGRAM_API_KEY        the key the mock expects
    CONFORMANCE_AUDIO       a WAV file (PCM 16-bit)
    CONFORMANCE_SECONDS     seconds of it to stream in real time (default 3)
    CONFORMANCE_PAUSE       a KeepAlive-only pause after half the audio, in seconds (default 0)
    CONFORMANCE_TIME_SCALE  multiplies the client's own timers (the KeepAlive interval) (default 1)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import wave
from array import array
from dataclasses import dataclass, field
from urllib.parse import urlencode

CHUNK_SECONDS = 0.05
# seeds 003: "send KeepAlive messages every 3-5 seconds"
KEEPALIVE_EVERY = 4.0
# A telephony bridge: G.711 mu-law at 8 kHz, 160-byte frames every 20 ms.
TELEPHONY_RATE, TELEPHONY_CHUNK_SECONDS = 8000, 0.02


@dataclass
class Job:
    url: str
    api_key: str
    wav: str
    seconds: float
    pause: float
    time_scale: float
    params: dict[str, str] = field(default_factory=dict)

    @property
    def keepalive_every(self) -> float:
        return KEEPALIVE_EVERY * self.time_scale


@dataclass
class Audio:
    rate: int
    channels: int
    width: int
    data: bytes
    encoding: str = "linear16"
    chunk_seconds: float = CHUNK_SECONDS

    @property
    def chunk_bytes(self) -> int:
        return int(self.chunk_seconds * self.rate) * self.width * self.channels

    def chunks(self) -> list[bytes]:
        step = self.chunk_bytes
        return [self.data[offset : offset + step] for offset in range(0, len(self.data), step)]


def parse_job(description: str) -> tuple[Job, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=description)
    env = os.environ.get
    parser.add_argument("--url", default=env("DEEPGRAM_URL", "ws://127.0.0.1:8080/v1/listen"))
    parser.add_argument("--wav", default=env("CONFORMANCE_AUDIO"))
    parser.add_argument("--seconds", type=float, default=float(env("CONFORMANCE_SECONDS", "3")))
    parser.add_argument(
        "--pause",
        type=float,
        default=float(env("CONFORMANCE_PAUSE", "0")),
        help="KeepAlive-only pause after half the audio",
    )
    parser.add_argument("--time-scale", type=float, default=float(env("CONFORMANCE_TIME_SCALE", "1")))
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra query parameter, e.g. interim_results=true",
    )
    parser.add_argument("--fault", help=argparse.SUPPRESS)
    parser.add_argument(
        "--configure", action="store_true", help="send a Configure mid-stream (drivers whose SDK has one)"
    )
    parser.add_argument(
        "--telephony", action="store_true", help="stream mu-law at 8 kHz in 20 ms frames, as a telephony bridge does"
    )
    args = parser.parse_args()
    if not args.wav:
        parser.error("no audio: pass --wav or set CONFORMANCE_AUDIO")
    job = Job(
        args.url,
        env("DEEPGRAM_API_KEY", ""),
        args.wav,
        args.seconds,
        args.pause,
        args.time_scale,
        dict(p.split("=", 1) for p in args.param),
    )
    return job, args


def read_audio(job: Job) -> Audio:
    with wave.open(job.wav, "rb") as wav:
        rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
        return Audio(rate, channels, width, wav.readframes(int(job.seconds * rate)))


def _mulaw(sample: int) -> int:
    """ITU-T G.711 mu-law of one 16-bit sample (the classic reference algorithm, bias 0x84)."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = magnitude.bit_length() - 8
    return ~(sign | (exponent << 4) | ((magnitude >> (exponent + 3)) & 0x0F)) & 0xFF


def telephony(audio: Audio) -> Audio:
    """The audio as a telephony bridge sends it: mono, 8 kHz (averaging each run of input
    samples, a crude low-pass that is enough for speech), mu-law, 20 ms frames."""
    samples = array("h", audio.data)
    if sys.byteorder == "big":
        samples.byteswap()
    mono = samples[:: audio.channels]
    step = audio.rate / TELEPHONY_RATE
    count = int(len(mono) / step)
    narrow = [
        sum(mono[int(i * step) : max(int(i * step) + 1, int((i + 1) * step))])
        // max(1, int((i + 1) * step) - int(i * step))
        for i in range(count)
    ]
    return Audio(TELEPHONY_RATE, 1, 1, bytes(_mulaw(s) for s in narrow), "mulaw", TELEPHONY_CHUNK_SECONDS)


def listen_url(job: Job, audio: Audio) -> str:
    query = {
        "model": "nova-3",
        "encoding": audio.encoding,
        "sample_rate": str(audio.rate),
        "channels": str(audio.channels),
        **job.params,
    }
    return f"{job.url}{'&' if '?' in job.url else '?'}{urlencode(query)}"


def report(**fields: object) -> None:
    print(json.dumps(fields), flush=True)
