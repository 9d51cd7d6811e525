"""The canonical client job over the raw `websockets` library (asyncio): stream a WAV in real time,
pause with KeepAlive, Finalize, CloseStream, then wait for Metadata and the server's close.
Prints one JSON line per event; exits 0 after Metadata and a 1000 close, 1 otherwise.
``--telephony`` streams what a contact-centre bridge does: mu-law at 8 kHz in 20 ms frames.

    conformance client -- python clients/python/websockets_client.py [--telephony]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable

from job import Audio, Job, listen_url, parse_job, read_audio, report, telephony
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

WAIT_FOR_METADATA_SECONDS = 10.0


async def receive(ws: ClientConnection) -> bool:
    """Report every message until the server closes; True when Metadata came."""
    metadata = False
    try:
        async for message in ws:
            kind = json.loads(message).get("type") if isinstance(message, str) else "binary"
            report(event="message", type=kind)
            metadata = metadata or kind == "Metadata"
    except ConnectionClosed:
        pass
    return metadata


async def pause(ws: ClientConnection, job: Job) -> None:
    """A silence with a text KeepAlive every few seconds."""
    end = time.monotonic() + job.pause
    while time.monotonic() + job.keepalive_every < end:
        await asyncio.sleep(job.keepalive_every)
        await ws.send(json.dumps({"type": "KeepAlive"}))
    await asyncio.sleep(max(0.0, end - time.monotonic()))


async def send_audio(ws: ClientConnection, job: Job, audio: Audio) -> None:
    """Real time on an absolute schedule, so slow sends do not accumulate drift."""
    chunks = audio.chunks()
    start = time.monotonic()
    for index, chunk in enumerate(chunks):
        if job.pause and index == len(chunks) // 2:
            await pause(ws, job)
            start += job.pause
        await asyncio.sleep(max(0.0, start + index * audio.chunk_seconds - time.monotonic()))
        await ws.send(chunk)


async def run_stream(url: str, job: Job, play: Callable[[ClientConnection], Awaitable[None]]) -> int:
    """Connect, ``play`` the audio, Finalize, CloseStream, then wait for Metadata and the close;
    the exit status (0 after Metadata and a 1000 close)."""
    headers = {"Authorization": f"Token {job.api_key}"}
    async with connect(url, additional_headers=headers, open_timeout=10, close_timeout=10) as ws:
        receiver = asyncio.create_task(receive(ws))
        try:
            await play(ws)
            await ws.send(json.dumps({"type": "Finalize"}))
            await ws.send(json.dumps({"type": "CloseStream"}))
        except ConnectionClosed:
            pass
        # CloseStream asks the server to flush and close; closing first would lose the final results.
        done, _ = await asyncio.wait([receiver], timeout=WAIT_FOR_METADATA_SECONDS)
        metadata = receiver.result() if done else False
    report(event="close", code=ws.close_code, reason=ws.close_reason)
    if ws.close_code != 1000:
        print(f"error: the server closed the stream {ws.close_code} {ws.close_reason}", file=sys.stderr)
    report(event="finished", metadata_received=metadata)
    return 0 if metadata and ws.close_code == 1000 else 1


async def main() -> int:
    job, args = parse_job(__doc__ or "")
    audio = telephony(read_audio(job)) if args.telephony else read_audio(job)
    return await run_stream(listen_url(job, audio), job, lambda ws: send_audio(ws, job, audio))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
