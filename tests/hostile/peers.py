"""Hostile servers for the runner and the load users: a raw TCP server on 127.0.0.1 that answers
the upgrade by hand and then writes whatever bytes a behaviour asks for, legal or not.

websockets would refuse to produce most of this (a reserved opcode, a masked server frame, a 2^63
length, invalid UTF-8, close code 1005 on the wire), so frames are built here byte by byte. Every
behaviour is bounded: it ends by itself, and the server stops all connections on exit.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Peer", "HostileServer", "Behaviour", "frame", "GUID"]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = False, length: int | None = None
) -> bytes:
    """A server frame; ``length`` lies about the payload size when given."""
    size = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    flag = 0x80 if mask else 0
    if size < 126:
        head += bytes([flag | size])
    elif size < 2**16:
        head += bytes([flag | 126]) + struct.pack("!H", size)
    else:
        head += bytes([flag | 127]) + struct.pack("!Q", size)
    if mask:
        key = b"\x01\x02\x03\x04"
        payload = key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + payload


@dataclass
class Peer:
    """One accepted TCP connection and the request it sent."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    target: str
    headers: dict[str, str]
    received: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def credentials(self) -> str:
        """What the client presented: the Authorization value or the offered subprotocols."""
        return self.headers.get("authorization") or self.headers.get("sec-websocket-protocol", "")

    @property
    def key(self) -> str:
        """The bare API key the client presented (after ``Token ``/``Bearer `` or ``token, ``)."""
        value = self.credentials
        for prefix in ("Token ", "Bearer ", "token, "):
            if value.startswith(prefix):
                return value[len(prefix) :]
        return value

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def accept(self, *, extra: str = "", accept: str | None = None, subprotocol: str | None = None) -> None:
        """Answer 101 (``accept`` overrides the computed Sec-WebSocket-Accept)."""
        digest = base64.b64encode(
            hashlib.sha1((self.headers.get("sec-websocket-key", "") + GUID).encode()).digest()
        ).decode()
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept or digest}",
        ]
        if "dg-request-id" not in extra.lower():
            lines.append("dg-request-id: 00000000-0000-4000-8000-000000000000")
        if subprotocol:
            lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
        await self.send(("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode())

    async def reject(self, status: int, body: bytes = b"", headers: str = "") -> None:
        """An HTTP answer other than 101, then EOF."""
        head = f"HTTP/1.1 {status} Nope\r\nContent-Length: {len(body)}\r\nConnection: close\r\n{headers}\r\n"
        await self.send(head.encode("latin-1") + body)
        self.writer.close()

    async def text(self, value: str | dict) -> None:
        payload = value if isinstance(value, str) else json.dumps(value)
        await self.send(frame(TEXT, payload.encode()))

    async def close(self, code: int | None = 1000, reason: str = "") -> None:
        payload = b"" if code is None else struct.pack("!H", code) + reason.encode()
        await self.send(frame(CLOSE, payload))

    async def next_frame(self, timeout: float = 30.0) -> tuple[int, bytes] | None:
        """The client's next frame, unmasked (None at EOF or after ``timeout``)."""
        try:
            async with asyncio.timeout(timeout):
                first, second = await self.reader.readexactly(2)
                size = second & 0x7F
                if size == 126:
                    (size,) = struct.unpack("!H", await self.reader.readexactly(2))
                elif size == 127:
                    (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
                key = await self.reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
                data = await self.reader.readexactly(size)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            return None
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(data)) if size < 4096 else data
        self.received.append((first & 0x0F, payload))
        return first & 0x0F, payload

    async def until_control(self, kind: str, timeout: float = 30.0) -> bool:
        """Read (and ignore) frames until the client sends the control message ``kind``."""
        while (item := await self.next_frame(timeout)) is not None:
            opcode, payload = item
            if opcode == CLOSE:
                return False
            if opcode == TEXT and f'"{kind}"'.encode() in payload:
                return True
        return False


Behaviour = Callable[[Peer], Awaitable[None]]


class HostileServer:
    """Serves ``behaviour`` to every connection from a background event loop (usable from sync
    tests and from ``asyncio.run`` in the CLI alike). ``url`` is ``ws://127.0.0.1:PORT``."""

    def __init__(self, behaviour: Behaviour, *, lifetime: float = 120.0) -> None:
        self.behaviour = behaviour
        self.lifetime = lifetime
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, limit=2**20), self.loop
        ).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            async with asyncio.timeout(self.lifetime):
                head = await reader.readuntil(b"\r\n\r\n")
                request, *lines = head.decode("latin-1").split("\r\n")
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in lines if line)
                }
                await self.behaviour(Peer(reader, writer, request.split(" ")[1], headers))
        except (
            TimeoutError,
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            asyncio.CancelledError,
        ):
            pass
        finally:
            writer.transport.abort()
