"""A bounded fuzzer of the mock: hypothesis draws what a hostile client sends (an upgrade request
with odd targets and headers, then frames legal and not), a raw socket plays it, and the mock must
answer every sequence (an HTTP response, a close frame or an orderly end) within a bound and stay
healthy for the next client. Used by tests/test_mock_fuzz.py (a short run) and
benchmarks/fuzz_mock.py (a long one)."""

from __future__ import annotations

import json
import socket
import struct
import time
from dataclasses import dataclass

from hypothesis import strategies as st

from hostile.peers import frame

__all__ = ["Attack", "attacks", "play", "Answer"]

_QUERY_VALUES = st.sampled_from(
    ["linear16", "16000", "1", "0", "-5", "true", "2", "32", "65536", "", "%0d%0aX-A: b", "%E2%82%AC", "%ff", "a" * 300]
)
_QUERY_NAMES = st.sampled_from(
    [
        "encoding",
        "sample_rate",
        "channels",
        "multichannel",
        "interim_results",
        "model",
        "utterance_end_ms",
        "endpointing",
        "x",
    ]
)
_TARGETS = st.one_of(
    st.just("/v1/listen"),
    st.just("//[::1/v1/listen"),
    st.just("/v1/status"),
    st.just("/"),
    st.just("/v1/listen/../x"),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40).map(lambda t: "/" + t),
)
_HEADERS = st.lists(
    st.sampled_from(
        [
            "Authorization: Token {key}",
            "Authorization: Token wrong",
            "Authorization: Bearer {key}",
            "Sec-WebSocket-Protocol: token, {key}",
            "Sec-WebSocket-Protocol: token",
            "Sec-WebSocket-Extensions: permessage-deflate",
            "Content-Length: 5",
            "Transfer-Encoding: chunked",
            "X-Long: " + "a" * 9000,
            "Sec-WebSocket-Version: 8",
            "Origin: null",
        ]
    ),
    max_size=4,
)
_JSON_TEXT = st.one_of(
    st.sampled_from(
        [
            '{"type":"KeepAlive"}',
            '{"type":"Finalize"}',
            '{"type":"Finalize","channel":7}',
            '{"type":"CloseStream"}',
            '{"type":"Configure","features":{"x":1}}',
            '{"type":"Configure","keyterms":' + json.dumps(["k"] * 600) + "}",
            '{"type":"KeepAlive","n":NaN}',
            "[" * 5000 + "]" * 5000,
            '{"type":',
            "null",
            '{"type":"Unknown"}',
        ]
    ),
    st.recursive(
        st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
        max_leaves=20,
    ).map(json.dumps),
)


@dataclass(frozen=True)
class Frame:
    """One client frame as bytes on the wire (masked unless ``unmasked``)."""

    opcode: int
    payload: bytes
    fin: bool = True
    rsv: int = 0
    unmasked: bool = False
    lie_length: int | None = None

    def encode(self) -> bytes:
        return frame(
            self.opcode, self.payload, fin=self.fin, rsv=self.rsv, mask=not self.unmasked, length=self.lie_length
        )


_FRAMES = st.one_of(
    st.builds(Frame, st.just(0x1), _JSON_TEXT.map(str.encode)),
    st.builds(
        Frame,
        st.just(0x2),
        st.sampled_from([b"", b"\0" * 640, b"\0" * 3, b"RIFF" + b"\0" * 40, b'{"type":"KeepAlive"}', b"\x7f" * 4000]),
    ),
    st.builds(
        Frame,
        st.just(0x1),
        st.just(b"\xff\xfe"),
    ),
    st.builds(Frame, st.sampled_from([0x0, 0x3, 0x7, 0xB, 0xF]), st.binary(max_size=20)),
    st.builds(Frame, st.just(0x9), st.binary(max_size=130), fin=st.booleans()),
    st.builds(Frame, st.just(0x1), st.just(b'{"type":"KeepAlive"}'), rsv=st.integers(1, 7)),
    st.builds(Frame, st.just(0x2), st.just(b"\0" * 64), unmasked=st.just(True)),
    st.builds(Frame, st.just(0x2), st.just(b""), lie_length=st.sampled_from([2**63, 2**40, 70000])),
    st.builds(
        Frame,
        st.just(0x8),
        st.sampled_from(
            [
                b"",
                b"\x03",
                struct.pack("!H", 999),
                struct.pack("!H", 1005),
                struct.pack("!H", 1000) + b"\xff",
                struct.pack("!H", 4000),
            ]
        ),
    ),
    st.builds(Frame, st.just(0x1), st.just(b'{"type":'), fin=st.just(False)),
)


@dataclass(frozen=True)
class Attack:
    """What one hostile client does: its upgrade, then its frames."""

    target: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[str, ...]
    frames: tuple[Frame, ...]

    def request(self, key: str) -> bytes:
        query = "&".join(f"{name}={value}" for name, value in self.query)
        lines = [
            f"GET {self.target}{'?' + query if query else ''} HTTP/1.1",
            "Host: 127.0.0.1",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
            *(h.format(key=key) for h in self.headers),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def attacks() -> st.SearchStrategy[Attack]:
    """Sequences biased towards valid upgrades, so the frames reach the stream."""
    valid_query = st.just((("encoding", "linear16"), ("sample_rate", "16000")))
    query = st.one_of(valid_query, valid_query, st.lists(st.tuples(_QUERY_NAMES, _QUERY_VALUES), max_size=5).map(tuple))
    target = st.one_of(st.just("/v1/listen"), st.just("/v1/listen"), _TARGETS)
    headers = st.one_of(st.just(("Authorization: Token {key}",)), _HEADERS.map(tuple))
    return st.builds(Attack, target, query, headers, st.lists(_FRAMES, max_size=8).map(tuple))


@dataclass(frozen=True)
class Answer:
    """What the mock did: ``kind`` is http (with status), close (a close frame), eof or silent."""

    kind: str
    status: int | None
    seconds: float


def play(host: str, port: int, key: str, attack: Attack, wait: float) -> Answer:
    """Play ``attack`` and read until the mock answers or ``wait`` passes (then ``silent``)."""
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=wait) as sock:
        sock.sendall(attack.request(key))
        head, rest = _read_head(sock, wait)
        if not head.startswith(b"HTTP/1.1 "):
            return Answer("eof", None, time.monotonic() - started)
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            return Answer("http", status, time.monotonic() - started)
        try:
            for frame in attack.frames:
                sock.sendall(frame.encode())
            sock.sendall(Frame(0x8, struct.pack("!H", 1000)).encode())
        except OSError:
            pass  # the mock closed on an earlier frame: what it said before is read below
        return _until_closed(sock, wait, started, rest)


def _read_head(sock: socket.socket, wait: float) -> tuple[bytes, bytes]:
    """The HTTP response head, and the bytes that came after it in the same reads (frames)."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        return b"", b""
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _until_closed(sock: socket.socket, wait: float, started: float, received: bytes) -> Answer:
    """Read until the mock ends the TCP connection (it must, after our close frame); ``close``
    when a close frame came before the end, ``eof`` when the connection was just dropped."""
    sock.settimeout(wait)
    try:
        while chunk := sock.recv(65536):
            received += chunk
            if time.monotonic() - started > wait:
                return Answer("silent", 101, time.monotonic() - started)
    except TimeoutError:
        return Answer("silent", 101, time.monotonic() - started)
    except OSError:
        pass
    return Answer("close" if _has_close_frame(received) else "eof", 101, time.monotonic() - started)


def _has_close_frame(data: bytes) -> bool:
    """Whether the server's (unmasked) frames in ``data`` include a close frame."""
    position = 0
    while position + 2 <= len(data):
        opcode, size = data[position] & 0x0F, data[position + 1] & 0x7F
        position += 2
        if size == 126:
            size, position = struct.unpack("!H", data[position : position + 2])[0], position + 2
        elif size == 127:
            size, position = struct.unpack("!Q", data[position : position + 8])[0], position + 8
        if opcode == 0x8:
            return True
        position += size
    return False
