"""What the hostile servers do, one function per attack; each names the issue point it proves."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable
from urllib.parse import parse_qs, unquote_plus, urlsplit

from hostile.peers import BINARY, CLOSE, PING, TEXT, Behaviour, Peer, frame

__all__ = [
    "echo_key",
    "stop_reading",
    "violation",
    "VIOLATIONS",
    "flood",
    "huge_frame",
    "deep_json",
    "nan_times",
    "ansi_body",
    "redirect",
    "broken_upgrade",
    "silent",
]


def _results(start: object = 0.0, duration: object = 1.0, transcript: str = "hello", **extra: object) -> dict:
    alternative = {"transcript": transcript, "confidence": 0.9, "words": []}
    body = {
        "type": "Results",
        "channel_index": [0, 1],
        "duration": duration,
        "start": start,
        "is_final": True,
        "speech_final": True,
        "from_finalize": False,
        "channel": {"alternatives": [alternative]},
        "metadata": {"request_id": "r", "model_info": {"name": "m", "version": "1", "arch": "a"}, "model_uuid": "u"},
    }
    body.update(extra)
    return body


def _metadata(request_id: str, duration: float = 1.0) -> dict:
    return {
        "type": "Metadata",
        "transaction_key": "deprecated",
        "request_id": request_id,
        "sha256": "0" * 64,
        "created": "2026-11-30T00:00:00.000Z",
        "duration": duration,
        "channels": 1,
        "models": ["u"],
        "model_info": {"u": {"name": "m", "version": "1", "arch": "a"}},
    }


def _u_escaped(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


async def echo_key(peer: Peer) -> None:
    """Point 1: echo the presented key in every place a server can put it."""
    key = peer.key
    if "encoding=" in peer.target and "encoding=linear16" not in peer.target or "sample_rate=fast" in peer.target:
        body = (
            json.dumps({"err_code": "Bad Request", "err_msg": f"bad key {key}", "request_id": key})[:-1]
            + f', "escaped": "{_u_escaped(key)}"}}'
        )
        await peer.reject(
            400,
            body.encode(),
            f"dg-error: rejected {peer.credentials}\r\ndg-request-id: {key}\r\nContent-Type: application/json\r\n",
        )
        return
    offered = peer.headers.get("sec-websocket-protocol")
    await peer.accept(
        extra=f"dg-request-id: {key}\r\nX-Echo: {peer.credentials}\r\n", subprotocol=key if offered else None
    )
    await peer.text(_results(start=f"Token {key}"))
    await peer.text({"type": key})
    await peer.text('{"type": "Results", "channel_index": "' + _u_escaped(key) + '"}')
    await peer.text(f"not json {key}")
    await peer.text(_results(metadata={"request_id": key}))
    if await peer.until_control("CloseStream"):
        await peer.text(_metadata(key))
    await peer.close(1011, key[:100])


async def stop_reading(peer: Peer) -> None:
    """Point 2: flood pings, then never read again, so the client's writes (pongs, audio, its
    close) cannot drain."""
    await peer.accept()
    ping = frame(PING, b"p" * 125)
    for _ in range(200):
        peer.writer.write(ping * 1000)
    await asyncio.sleep(3600)


VIOLATIONS: dict[str, bytes] = {
    "reserved opcode": frame(0x3, b"x"),
    "rsv bits": frame(TEXT, b"{}", rsv=0b100),
    "masked frame": frame(TEXT, b'{"type":"Metadata"}', mask=True),
    "invalid utf-8": frame(TEXT, b"\xff\xfe{}"),
    "2^63 length": frame(BINARY, b"", length=2**63),
    "fragmented ping": frame(PING, b"x", fin=False),
    "close code 999": frame(CLOSE, struct.pack("!H", 999)),
    "close code 1005": frame(CLOSE, struct.pack("!H", 1005)),
}


def violation(name: str | None = None) -> Behaviour:
    """Point 6: a normal start, then one frame that breaks RFC 6455: ``name``, or (None) the one
    the request names in its ``violation`` query parameter (one server for many scenarios)."""

    async def behave(peer: Peer) -> None:
        chosen = name or unquote_plus(parse_qs(urlsplit(peer.target).query)["violation"][0])
        await peer.accept()
        await peer.next_frame(5)
        await peer.send(VIOLATIONS[chosen])
        while (item := await peer.next_frame(10)) is not None and item[0] != CLOSE:
            pass

    return behave


def flood(count: int) -> Behaviour:
    """Point 8: ``count`` small frames, then the normal end."""

    async def behave(peer: Peer) -> None:
        await peer.accept()
        message = frame(TEXT, json.dumps(_results()).encode())
        for start in range(0, count, 1000):
            await peer.send(message * min(1000, count - start))
        if await peer.until_control("CloseStream"):
            await peer.text(_metadata("r"))
        await peer.close(1000)

    return behave


async def huge_frame(peer: Peer) -> None:
    """Point 8: one frame of 16 MiB (a JSON string padded with spaces)."""
    await peer.accept()
    body = json.dumps(_results()).encode()
    await peer.send(frame(TEXT, body[:-1] + b" " * (16 * 2**20 - len(body)) + b"}"))
    if await peer.until_control("CloseStream"):
        await peer.text(_metadata("r"))
    await peer.close(1000)


async def deep_json(peer: Peer) -> None:
    """Point 5: a frame nested 100,000 deep."""
    await peer.accept()
    await peer.text("[" * 100_000 + "]" * 100_000)
    await peer.text('{"type": "Results", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    if await peer.until_control("CloseStream"):
        await peer.text(_metadata("r"))
    await peer.close(1000)


async def nan_times(peer: Peer) -> None:
    """Point 5: times that are NaN and Infinity (Python's json writes them; JSON has no such thing)."""
    await peer.accept()
    await peer.text(json.dumps(_results(start=float("nan"), duration=float("inf"))))
    if await peer.until_control("CloseStream"):
        await peer.text(json.dumps(_metadata("r", duration=float("nan"))))
    await peer.close(1000)


ANSI = b"\x1b[2J\x1b[H\x1b]0;owned\x07\x1b[32mPASS everything\x1b[0m\x00\x01\x0b"


async def ansi_body(peer: Peer) -> None:
    """Point 7: a 500 whose body clears the screen, fakes a green PASS and holds C0 bytes."""
    await peer.reject(500, ANSI)


def redirect(location: Callable[[Peer], str]) -> Behaviour:
    """Point 10: a 302 to another origin."""

    async def behave(peer: Peer) -> None:
        await peer.reject(302, b"", f"Location: {location(peer)}\r\n")

    return behave


def broken_upgrade(kind: str) -> Behaviour:
    """Point 10: an upgrade the client must refuse (the server was reached: not exit 3)."""

    async def behave(peer: Peer) -> None:
        if kind == "bad accept":
            await peer.accept(accept="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        elif kind == "unoffered subprotocol":
            await peer.accept(subprotocol="chat")
        elif kind == "oversize header":
            await peer.accept(extra=f"X-Big: {'a' * 200_000}\r\n")
        await asyncio.sleep(0.5)

    return behave


async def silent(peer: Peer) -> None:
    """Accept, read everything, answer nothing, never close."""
    await peer.accept()
    while (item := await peer.next_frame(60)) is not None and item[0] != CLOSE:
        pass
