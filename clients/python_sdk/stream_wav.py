"""Stream a WAV file through Deepgram's official Python SDK (deepgram-sdk) and print what the SDK
delivered, one JSON line per event.

The canonical client job: real-time audio, an optional KeepAlive-only pause, Finalize, CloseStream,
then wait for Metadata and the server's close. Used as an independent judge of the mock (the SDK
must classify every message as the right event type) and as a client under test.

    python stream_wav.py --url ws://127.0.0.1:8080 --wav speech.wav [--seconds 3] [--pause 0] [--param interim_results=true]

The URL also comes from DEEPGRAM_URL, the key from DEEPGRAM_API_KEY.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import wave

from deepgram import DeepgramClient, DeepgramClientEnvironment
from deepgram.core.events import EventType

CHUNK_SECONDS = 0.05
KEEPALIVE_EVERY = 4.0


def _report(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=os.environ.get("DEEPGRAM_URL", "ws://127.0.0.1:8080"))
    parser.add_argument("--wav", required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--pause", type=float, default=0.0, help="KeepAlive-only pause after half the audio")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="extra query parameter, e.g. interim_results=true")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.param)
    base = args.url.removesuffix("/v1/listen")
    http = base.replace("ws://", "http://").replace("wss://", "https://")
    environment = DeepgramClientEnvironment(base=http, production=base, agent=base, agent_rest=http)
    client = DeepgramClient(api_key=os.environ.get("DEEPGRAM_API_KEY", "unused-by-the-mock"), environment=environment)

    with wave.open(args.wav, "rb") as wav:
        rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
        audio = wav.readframes(int(args.seconds * rate))
    chunk = int(CHUNK_SECONDS * rate) * width * channels
    done = threading.Event()

    with client.listen.v1.connect(model="nova-3", encoding="linear16", sample_rate=str(rate), channels=str(channels), **extra) as connection:
        def on_message(message: object) -> None:
            if isinstance(message, bytes):
                _report(event="bytes", size=len(message))
                return
            _report(event=type(message).__name__, type=getattr(message, "type", None))
            if getattr(message, "type", None) == "Metadata":
                done.set()

        connection.on(EventType.MESSAGE, on_message)
        connection.on(EventType.ERROR, lambda error: _report(event="error", error=str(error)))
        connection.on(EventType.CLOSE, lambda _: (_report(event="close"), done.set()))
        listener = threading.Thread(target=connection.start_listening, daemon=True)
        listener.start()
        start = time.monotonic()
        for index, offset in enumerate(range(0, len(audio), chunk)):
            if args.pause and offset >= len(audio) // 2 > offset - chunk:
                pause_end = time.monotonic() + args.pause
                while time.monotonic() + KEEPALIVE_EVERY < pause_end:
                    time.sleep(KEEPALIVE_EVERY)
                    connection.send_keep_alive()
                time.sleep(max(0.0, pause_end - time.monotonic()))
                start += args.pause
            time.sleep(max(0.0, start + index * CHUNK_SECONDS - time.monotonic()))
            connection.send_media(audio[offset : offset + chunk])
        connection.send_finalize()
        connection.send_close_stream()
        finished = done.wait(10)
        listener.join(5)
    _report(event="finished", metadata_received=finished)
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
