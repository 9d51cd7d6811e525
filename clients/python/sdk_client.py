"""The canonical client job through Deepgram's official Python SDK (deepgram-sdk): stream a WAV in
real time, pause with KeepAlive, Finalize, CloseStream, then wait for Metadata and the server's
close; with --configure, also a mid-stream Configure (send_configure, deepgram-sdk 7.17). Prints
one JSON line per SDK event; exits 0 after Metadata, 1 otherwise. Also an independent judge of the
mock: every message must arrive as the SDK's event of its type.

    conformance client -- python clients/python/sdk_client.py
"""

from __future__ import annotations

import sys
import threading
import time

from deepgram import DeepgramClient, DeepgramClientEnvironment
from deepgram.core.events import EventType
from deepgram.listen.v1.types import ListenV1Configure
from job import CHUNK_SECONDS, listen_url, parse_job, read_audio, report

WAIT_FOR_METADATA_SECONDS = 10.0


def main() -> int:
    job, args = parse_job(__doc__ or "")
    audio = read_audio(job)
    base = job.url.removesuffix("/v1/listen")
    http = base.replace("ws://", "http://").replace("wss://", "https://")
    # The SDK has no URL setting of its own for /v1/listen: its "production" environment is the socket base.
    environment = DeepgramClientEnvironment(base=http, production=base, agent=base, agent_rest=http)
    client = DeepgramClient(api_key=job.api_key, environment=environment)
    query = dict(item.split("=", 1) for item in listen_url(job, audio).split("?", 1)[1].split("&"))
    done, closed = threading.Event(), threading.Event()
    metadata = False

    with client.listen.v1.connect(**query) as connection:

        def on_message(message: object) -> None:
            nonlocal metadata
            if isinstance(message, bytes):
                report(event="bytes", size=len(message))
                return
            kind = getattr(message, "type", None)
            report(event=type(message).__name__, type=kind)
            if kind == "Metadata":
                metadata = True
                done.set()

        def on_close(_: object) -> None:
            report(event="close")
            closed.set()
            done.set()

        connection.on(EventType.MESSAGE, on_message)
        connection.on(EventType.ERROR, lambda error: report(event="error", error=str(error)))
        connection.on(EventType.CLOSE, on_close)
        listener = threading.Thread(target=connection.start_listening, daemon=True)
        listener.start()
        chunks, start = audio.chunks(), time.monotonic()
        for index, chunk in enumerate(chunks):
            if closed.is_set():
                break
            if job.pause and index == len(chunks) // 2:
                pause_end = time.monotonic() + job.pause
                while time.monotonic() + job.keepalive_every < pause_end:
                    time.sleep(job.keepalive_every)
                    connection.send_keep_alive()
                time.sleep(max(0.0, pause_end - time.monotonic()))
                start += job.pause
            time.sleep(max(0.0, start + index * CHUNK_SECONDS - time.monotonic()))
            connection.send_media(chunk)
            if args.configure and index == len(chunks) // 4:
                connection.send_configure(ListenV1Configure(features={"numerals": True}))
        if not closed.is_set():
            connection.send_finalize()
            connection.send_close_stream()
        # CloseStream asks the server to flush and close; closing first would lose the final results.
        done.wait(WAIT_FOR_METADATA_SECONDS)
        closed.wait(WAIT_FOR_METADATA_SECONDS)
        listener.join(5)
    if not metadata:
        print("error: the stream ended without Metadata", file=sys.stderr)
    report(event="finished", metadata_received=metadata)
    return 0 if metadata else 1


if __name__ == "__main__":
    sys.exit(main())
