"""One connection to the mock: an asyncio protocol around websockets' sans-I/O ``ServerProtocol``
and our sans-I/O :class:`ServerSession`.

websockets parses and writes frames, answers pings and runs the closing handshake; the session
decides what to say. Driving the sans-I/O protocol straight from ``data_received`` (no task, no
message queue per stream) is what lets one process hold many hundreds of real-time streams.
Nothing one connection sends can touch another: an internal error closes that connection alone
and upgrades time out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from websockets.exceptions import InvalidState
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import CLOSED, CONNECTING, OPEN, State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from conformance.mock.capacity import Backlog
from conformance.mock.frames import CONTROL, FrameReader
from conformance.mock.handshake import DeepgramServerProtocol, Rejection, rejection_response, too_many_requests
from conformance.mock.session import CloseConnection, Hold, Output, SendBinary, SendText, ServerSession
from conformance.protocol.messages import STATUS_PATH

if TYPE_CHECKING:
    from conformance.mock.server import MockServer

__all__ = ["Connection", "StreamObserver", "MAX_FRAME_BYTES"]

# Above Deepgram's recommended 250 ms frames by far, yet bounded so a hostile frame cannot exhaust memory.
MAX_FRAME_BYTES = 4 * 2**20
_CLOSE_TIMEOUT_SECONDS = 5.0
logger = logging.getLogger("conformance.mock")
_TEXT = 0x1


class StreamObserver(Protocol):
    """Sees one connection as the client made it (record-and-judge mode). Times are the event
    loop's clock, taken when the bytes arrived or left."""

    def upgraded(self, request: Request, response: Response, t: float) -> None:
        """The upgrade request and the mock's answer (101 or a rejection)."""

    def client_frame(self, payload: str | bytes, t: float) -> None:
        """A complete text (str) or binary (bytes) message from the client."""

    def server_frame(self, payload: str | bytes, t: float) -> None:
        """A message the mock sent."""

    def closed(self, by: str, code: int | None, reason: str, t: float) -> None:
        """A close frame from ``client`` or ``server``, or the TCP connection ending (``transport``)."""


def _target_path(target: str) -> str:
    try:
        return urlsplit(target).path
    except ValueError:  # judged (400) with the rest of the request in check_request
        return target


def _select_subprotocol(protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    # Browsers need the server to echo one offered subprotocol when they send `token, KEY`.
    for name in ("token", "bearer"):
        if name in offered:
            return Subprotocol(name)
    return None


def _rsv1_text_frame(payload: bytes) -> bytes:
    """An unmasked text frame with RSV1 set, which websockets refuses to build (a fault's frame)."""
    size = len(payload)
    length = (
        bytes([size])
        if size < 126
        else bytes([126]) + size.to_bytes(2, "big")
        if size < 2**16
        else bytes([127]) + size.to_bytes(8, "big")
    )
    return bytes([0x80 | 0x40 | Opcode.TEXT.value]) + length + payload


class Connection(asyncio.Protocol):
    """One TCP connection: the upgrade, then frames in and out of a :class:`ServerSession`."""

    def __init__(self, server: MockServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.protocol = DeepgramServerProtocol(
            select_subprotocol=_select_subprotocol, max_size=MAX_FRAME_BYTES, logger=logger
        )
        self.transport: asyncio.Transport | None = None
        self.session: ServerSession | None = None
        self.fragments: list[bytes] = []
        self.fragment_opcode: Opcode | None = None
        self.abort_handle: asyncio.TimerHandle | None = None
        self.observer = server.observe() if server.observe is not None else None
        self.backlog: Backlog[Output] | None = None
        self.counted = False
        # Simple frames of an open stream, read without websockets' parser (None: not yet open).
        self.frames: FrameReader | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.server.connect(self):
            # Over the connection cap: refusing now keeps the mock reachable for others.
            transport.abort()  # type: ignore[attr-defined]
            return
        self.handshake_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.server.config.handshake_timeout, self._handshake_expired
        )

    def _handshake_expired(self) -> None:
        if self.protocol.state is CONNECTING and self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        try:
            if self.frames is not None and not self.frames.done:
                rest = self._read_simple_frames(data)
                if rest is None:
                    return  # all taken by the fast path, which sent what they caused as it went
                data = rest
            if data:
                self._parse(data)
            self._flush()
        except Exception as exc:  # whatever one client sent, it must not reach another connection
            logger.warning("mock: dropped a connection after an internal error: %s: %s", type(exc).__name__, exc)
            self._fail()

    def _parse(self, data: bytes) -> None:
        """Bytes through websockets' parser: the upgrade, and frames the fast path leaves to it."""
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Request):
                self._upgrade(event)
            elif isinstance(event, Frame):
                self._frame(event)
        if protocol.handshake_exc is not None and not protocol.answered:
            self._unreadable_request(protocol.handshake_exc)
        # websockets' own buffer must be empty: the fast path starts at a frame boundary.
        if self.frames is None and self.session is not None and protocol.state is OPEN and not protocol.reader.buffer:
            self.frames = FrameReader(MAX_FRAME_BYTES)

    def _read_simple_frames(self, data: bytes) -> bytes | None:
        """The fast path (:mod:`conformance.mock.frames`): what websockets must parse from here on
        (perhaps nothing, but then a close may wait to be sent), or None when every frame was
        taken and answered (most audio frames: nothing to say, nothing to flush)."""
        reader = self.frames
        assert reader is not None
        while True:
            frames, rest = reader.feed(data)
            data = b""
            for opcode, payload in frames:
                if opcode == CONTROL:
                    self._parse(payload)
                    self._flush()
                else:
                    self._message(opcode == _TEXT, payload)
                if self.protocol.eof_sent:
                    # websockets failed the connection or took the client's close: from now on
                    # it discards what arrives, and so does this connection.
                    return reader.hand_over() + rest
            if rest:
                return rest
            if not frames or frames[-1][0] != CONTROL:
                return None

    def _fail(self) -> None:
        """Close this connection 1011 (or just drop it before the upgrade); its slot is freed."""
        if self.session is not None:
            self.session.closed = True
        try:
            if self.protocol.state is OPEN:
                self.protocol.send_close(1011, "internal error")
            self._flush()
        except Exception:
            pass
        if self.transport is not None and self.abort_handle is None:
            self.abort_handle = self.loop.call_later(_CLOSE_TIMEOUT_SECONDS, self.transport.abort)
        if self.protocol.state is not OPEN and self.transport is not None:
            self.transport.abort()

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.observer is not None:
            self.observer.closed("transport", None, "", self.loop.time())
        self.server.forget(self)
        self.uncount()
        if self.abort_handle is not None:
            self.abort_handle.cancel()
        timer = getattr(self, "handshake_timer", None)
        if timer is not None:
            timer.cancel()

    # -- handshake ---------------------------------------------------------------------------

    def _upgrade(self, request: Request) -> None:
        request_id = str(uuid.uuid4())
        if _target_path(request.path).rstrip("/") == STATUS_PATH:
            self.protocol.send_response(self._status(request_id))
            return
        config = self.server.config
        try:
            fmt = self.server.check(request)
            response = self.protocol.accept(request)
            if response.status_code == 101:
                self.counted = self.server.count.admit(config.max_streams)
                if not self.counted:
                    raise too_many_requests()
        except Rejection as rejection:
            response = rejection_response(self.protocol, request_id, rejection)
            self.protocol.send_response(response)
            if self.observer is not None:
                self.observer.upgraded(request, response, self.loop.time())
            return
        if response.status_code == 101:
            if "no-request-id-header" not in config.faults:
                response.headers["dg-request-id"] = request_id
            now = self.loop.time()
            self.session = ServerSession(
                fmt, request_id, config.idle_timeout * config.time_scale, now, config.faults, config.behaviour
            )
            self.backlog = Backlog() if config.capacity is not None else None
            self.server.admit(self)
        self.protocol.send_response(response)
        if self.observer is not None:
            self.observer.upgraded(request, response, self.loop.time())

    def _unreadable_request(self, problem: Exception) -> None:
        """websockets closes on bytes that are no HTTP request at all, without an answer: give one."""
        assert self.transport is not None
        rejection = Rejection(400, "Bad Request", f"Not an HTTP upgrade request: {problem}")
        response = rejection_response(self.protocol, str(uuid.uuid4()), rejection)
        self.protocol.answered = True
        self.transport.write(response.serialize())

    def _status(self, request_id: str) -> Response:
        """Self-hosted health (contract.md §7): ``GET /v1/status``, answered without an upgrade."""
        body = json.dumps({"system_health": "Healthy", "active_requests": self.server.count.value})
        response = self.protocol.reject(200, body)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        response.headers["dg-request-id"] = request_id
        return response

    # -- streaming ---------------------------------------------------------------------------

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.CLOSE and self.observer is not None:
            close = Close.parse(frame.data) if frame.data else None
            self.observer.closed(
                "client", close.code if close else None, close.reason if close else "", self.loop.time()
            )
        if self.session is None or opcode not in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            return  # pings, pongs and the closing handshake are the protocol's business
        if opcode is not Opcode.CONT:
            self.fragment_opcode, self.fragments = opcode, []
        if frame.fin and not self.fragments:
            payload = bytes(frame.data)  # the common case: an unfragmented message
        else:
            self.fragments.append(bytes(frame.data))
            if not frame.fin:
                return
            payload, self.fragments = b"".join(self.fragments), []
        self._message(self.fragment_opcode is Opcode.TEXT, payload)

    def _message(self, text_frame: bool, payload: bytes) -> None:
        """A whole text or binary message of an open stream, to the session."""
        assert self.session is not None
        now = self.loop.time()
        if text_frame:
            try:
                text = payload.decode()
            except UnicodeDecodeError:
                if self.observer is not None:
                    self.observer.client_frame(payload.decode(errors="replace"), now)
                self.protocol.fail(1007, "invalid UTF-8 in a text frame")
                return
            if self.observer is not None:
                self.observer.client_frame(text, now)
            self.answer(self.session.receive_text(text, now))
        else:
            if self.observer is not None:
                self.observer.client_frame(payload, now)
            if self.backlog is None:
                self.emit(self.session.receive_binary(payload, now))
            else:
                before = self.session.audio_seconds
                outputs = self.session.receive_binary(payload, now)
                self.emit(self.backlog.receive(self.session.audio_seconds - before, outputs))

    def answer(self, outputs: list[Output]) -> None:
        """Send the session's answer to a control message: at once, or once a modelled deployment
        has processed the audio before it."""
        self.emit(outputs if self.backlog is None else self.backlog.receive(0.0, outputs))

    def uncount(self) -> None:
        """Free this stream's slot (once): its WebSocket closed, or its connection did."""
        if self.counted:
            self.counted = False
            self.server.count.release()

    def emit(self, outputs: list[Output]) -> None:
        """Send what the session decided (no-op once the connection is no longer open)."""
        if not outputs:
            return  # most audio frames: nothing to say, nothing to flush
        for position, output in enumerate(outputs):
            if self.protocol.state is not OPEN:
                return
            if isinstance(output, Hold):
                self._flush()
                self.loop.call_later(output.seconds, self.emit, outputs[position + 1 :])
                return
            try:
                if isinstance(output, SendText) and output.reserved_bit:
                    self._flush()
                    self.transport.write(_rsv1_text_frame(output.encode().encode()))  # type: ignore[union-attr]
                elif isinstance(output, SendText):
                    self.protocol.send_text(output.encode().encode())
                elif isinstance(output, SendBinary):
                    self.protocol.send_binary(output.data)
                elif isinstance(output, CloseConnection):
                    self.protocol.send_close(output.code, output.reason)
            except InvalidState:
                return
            if self.observer is not None:
                self._observe_sent(output)
        self._flush()

    def _observe_sent(self, output: Output) -> None:
        assert self.observer is not None
        now = self.loop.time()
        if isinstance(output, SendText):
            self.observer.server_frame(output.encode(), now)
        elif isinstance(output, SendBinary):
            self.observer.server_frame(output.data, now)
        elif isinstance(output, CloseConnection):
            self.observer.closed("server", output.code, output.reason, now)

    def _flush(self) -> None:
        assert self.transport is not None, "data arrives only after connection_made"
        chunks = self.protocol.data_to_send()
        # An EOF may be queued before a response (pipelined requests): the answer goes out first.
        if any(chunks):
            self.transport.write(b"".join(chunks))
        if self.protocol.state is CLOSED:
            self.uncount()
        if b"" in chunks:
            self.transport.close()  # websockets' SEND_EOF: the server ends the TCP connection
        if self.protocol.close_expected() and self.abort_handle is None:
            self.abort_handle = self.loop.call_later(_CLOSE_TIMEOUT_SECONDS, self.transport.abort)

    @property
    def state(self) -> State:
        """The WebSocket state of the connection."""
        return self.protocol.state
