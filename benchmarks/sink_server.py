"""A WebSocket sink for measuring the load generator alone: it accepts any /v1/listen upgrade,
discards every frame, and answers the client's close frame. Parsing only frame headers, it takes
tens of thousands of frames per second without becoming the bottleneck the full mock would be
(the mock transcribes every frame).

On loopback a sender's ``write`` also runs the receiver's side of TCP and, when the receiver is
asleep, wakes it with an inter-processor interrupt (in a virtual machine, a VM exit). With 800
streams against the sleeping sink, ``perf`` put 15 % of the locust core in that wake-up alone, a
cost a real server's network card and CPUs bear instead. ``--busy-poll`` keeps the sink awake on
its own core (the wake-up fell to 3 %); the receiver's side of TCP still runs on the sender's core
(19 %), so the measurement still charges the sender more than a network would.

``--results`` answers like a transcriber would, so the generator's per-result work is measured
too: for every second of 16 kHz linear16 audio an interim Results, and every third second a final
(``speech_final``), each a ~700-byte message with five words, timed on the audio received.

    python benchmarks/sink_server.py --port 18767 [--busy-poll] [--results]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
from collections.abc import Coroutine
from typing import Any

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_CLOSE_1000 = b"\x88\x02\x03\xe8"
_BYTES_PER_SECOND = 32000
_RESULTS = False


def _results_frame(start: float, duration: float, final: bool) -> bytes:
    words = [
        {
            "word": w,
            "start": round(start + i * duration / 5, 3),
            "end": round(start + (i + 1) * duration / 5, 3),
            "confidence": 0.98,
            "punctuated_word": w,
        }
        for i, w in enumerate(("one", "two", "three", "four", "five"))
    ]
    body = json.dumps(
        {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": round(duration, 3),
            "start": round(start, 3),
            "is_final": final,
            "speech_final": final,
            "from_finalize": False,
            "channel": {
                "alternatives": [{"transcript": "one two three four five", "confidence": 0.98, "words": words}]
            },
            "metadata": {
                "request_id": "sink",
                "model_info": {"name": "sink", "version": "0", "arch": "sink"},
                "model_uuid": "sink",
            },
        }
    ).encode()
    length = len(body)
    header = bytes([0x81, length]) if length < 126 else bytes([0x81, 126]) + length.to_bytes(2, "big")
    return header + body


class _Sink(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.skip = 0
        self.audio = 0
        self.final_from = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.upgraded:
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            headers = {
                line.split(b":", 1)[0].strip().lower(): line.split(b":", 1)[1].strip()
                for line in bytes(self.buffer[:end]).split(b"\r\n")[1:]
                if b":" in line
            }
            accept = base64.b64encode(hashlib.sha1(headers.get(b"sec-websocket-key", b"") + _GUID).digest())
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
                + accept
                + b"\r\ndg-request-id: sink\r\n\r\n"
            )
            self.upgraded = True
            data, self.buffer = bytes(self.buffer[end + 4 :]), bytearray()
        self._frames(data)

    def _frames(self, data: bytes) -> None:
        """Skip payloads; only the opcode and length of each header matter."""
        assert self.transport is not None
        view = self.buffer + data if self.buffer else data
        position = min(self.skip, len(view))
        self.skip -= position
        while position < len(view):
            if len(view) - position < 2:
                break
            opcode, length = view[position] & 0x0F, view[position + 1] & 0x7F
            header = 2
            if length == 126:
                if len(view) - position < 4:
                    break
                length, header = int.from_bytes(view[position + 2 : position + 4], "big"), 4
            elif length == 127:
                if len(view) - position < 10:
                    break
                length, header = int.from_bytes(view[position + 2 : position + 10], "big"), 10
            header += 4  # client frames are masked
            if len(view) - position < header:
                break
            if opcode == 0x2 and _RESULTS:
                self._answer(length)
            if opcode == 0x8:
                self.transport.write(_CLOSE_1000)
                self.transport.close()
                return
            position += header + length
            if position > len(view):
                self.skip = position - len(view)
                position = len(view)
        self.buffer = bytearray(view[position:])

    def _answer(self, length: int) -> None:
        """An interim for every second of audio received, a final for every third."""
        assert self.transport is not None
        before, self.audio = self.audio, self.audio + length
        second = self.audio // _BYTES_PER_SECOND
        if second > before // _BYTES_PER_SECOND:
            final = second % 3 == 0
            start = self.final_from
            self.transport.write(_results_frame(start, second - start, final))
            if final:
                self.final_from = float(second)


async def _busy_poll() -> None:
    while True:
        await asyncio.sleep(0)


async def _serve(port: int, busy_poll: bool) -> None:
    loop = asyncio.get_running_loop()
    # A backlog like the mock's: at asyncio's default of 100, a ramp of hundreds of streams
    # overflowed it, and connects retried a second later were charged to the generator's run.
    server = await loop.create_server(_Sink, "127.0.0.1", port, backlog=4096)
    if busy_poll:
        spinner = loop.create_task(_busy_poll())  # noqa: F841  (held: the loop keeps only weak references)
    print(f"sink listening on ws://127.0.0.1:{port}/v1/listen", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18767)
    parser.add_argument(
        "--busy-poll", action="store_true", help="never sleep: poll the sockets in a loop, using the whole core"
    )
    parser.add_argument(
        "--results", action="store_true", help="send an interim Results per second of audio and a final every third"
    )
    args = parser.parse_args()
    global _RESULTS
    _RESULTS = args.results
    run_until_interrupted(_serve(args.port, args.busy_poll))


def run_until_interrupted(main: Coroutine[Any, Any, None]) -> None:
    """Run a benchmark server on uvloop when installed, until SIGINT (how the benchmarks stop it)."""
    try:
        import uvloop
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    try:
        run(main)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
