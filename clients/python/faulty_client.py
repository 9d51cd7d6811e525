"""Deliberately broken clients: the canonical job over raw `websockets`, with one client rule
broken, so the tests can prove `conformance client` fails each on the right rule.

    conformance client --scenario stream -- python clients/python/faulty_client.py --fault binary-keepalive

Faults (and the rule each breaks):
    binary-keepalive         KeepAlive sent as a binary frame                     C-CTL-1
    no-keepalive             a silent pause of 1.5x the idle timeout               C-KA-1
    close-after-closestream  the socket closed right after CloseStream             C-CS-3
    audio-after-closestream  one more audio frame after CloseStream                C-CS-2
    empty-frame              an empty binary frame instead of CloseStream          C-EMPTY-1
    wav-header               the WAV file's header streamed as linear16 audio      C-AUD-1
    unknown-control          a {"type":"Flush"} control message before CloseStream C-CTL-3
    no-encoding              headerless PCM with no encoding declared              C-AUD-3
    never-streams            a start-up REST call fails: exit 1, no stream opened  (ERROR: the job not done)
    hang-after-error         after the server's 1011 it logs the code and hangs    C-ERR-1
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from job import listen_url, parse_job, read_audio, report
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets_client import WAIT_FOR_METADATA_SECONDS, receive, send_audio

FAULTS = (
    "binary-keepalive",
    "no-keepalive",
    "close-after-closestream",
    "audio-after-closestream",
    "empty-frame",
    "wav-header",
    "unknown-control",
    "no-encoding",
    "never-streams",
    "hang-after-error",
)
IDLE_TIMEOUT = 10.0


async def main() -> int:
    job, args = parse_job(__doc__ or "")
    if args.fault not in FAULTS:
        print(f"--fault must be one of {', '.join(FAULTS)}", file=sys.stderr)
        return 2
    audio = read_audio(job)
    fault = args.fault
    if fault == "never-streams":
        return start_up_fails(job.url)
    if fault == "wav-header":
        with open(job.wav, "rb") as wav:
            audio.data = wav.read(44 + len(audio.data))[: len(audio.data)]
    if fault == "no-keepalive":
        job.pause = 1.5 * IDLE_TIMEOUT * job.time_scale
        job.time_scale = 1e9  # no KeepAlive fits in the pause
    headers = {"Authorization": f"Token {job.api_key}"}
    url = listen_url(job, audio)
    if fault == "no-encoding":
        url = url.replace("encoding=linear16&", "").replace(f"sample_rate={audio.rate}&", "")
    async with connect(url, additional_headers=headers, open_timeout=10, close_timeout=1) as ws:
        receiver = asyncio.create_task(receive(ws))
        try:
            await send_audio(ws, job, audio)
            if fault == "binary-keepalive":
                await ws.send(json.dumps({"type": "KeepAlive"}).encode())
            if fault == "unknown-control":
                await ws.send(json.dumps({"type": "Flush"}))
            if fault == "empty-frame":
                await ws.send(b"")
            else:
                await ws.send(json.dumps({"type": "CloseStream"}))
            if fault == "audio-after-closestream":
                await ws.send(audio.chunks()[0])
            if fault == "close-after-closestream":
                await ws.close()
        except ConnectionClosed:
            if fault == "hang-after-error":
                print(f"error: the stream closed {ws.close_code}", flush=True)
                await asyncio.Event().wait()  # neither reconnects nor ends: the application never learns
        done, _ = await asyncio.wait([receiver], timeout=WAIT_FOR_METADATA_SECONDS)
    report(event="finished", fault=fault, close=ws.close_code)
    return 0


def start_up_fails(url: str) -> int:
    """A CLI whose start-up REST call (a project lookup) fails before it opens any stream."""
    parts = urlsplit(url)
    scheme = "https" if parts.scheme == "wss" else "http"
    try:
        urllib.request.urlopen(f"{scheme}://{parts.netloc}/v1/projects", timeout=5)
    except (urllib.error.URLError, OSError) as exc:
        print(f"error: cannot look up the project: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
