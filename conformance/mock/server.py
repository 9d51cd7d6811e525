"""The bundled reference server: an asyncio protocol around websockets' sans-I/O
``ServerProtocol`` and our sans-I/O :class:`ServerSession`.

websockets parses and writes frames, answers pings and runs the closing handshake; the session
decides what to say. Driving the sans-I/O protocol straight from ``data_received`` (no task, no
message queue per stream) is what lets one process hold many hundreds of real-time streams.
The handshake policy is :mod:`conformance.mock.handshake`. Nothing one connection sends can touch
another: an internal error closes that connection alone, upgrades time out, and connections are
capped below the descriptor limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import ssl
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from websockets.exceptions import InvalidState
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import CLOSED, CONNECTING, OPEN, State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from conformance.mock.handshake import DeepgramServerProtocol, Rejection, check_request, presented_credentials, rejection_response
from conformance.mock.session import Behaviour, CloseConnection, Hold, Output, SendBinary, SendText, ServerSession
from conformance.protocol.messages import LISTEN_PATH, STATUS_PATH
from conformance.protocol.params import StreamFormat

__all__ = ["MockConfig", "MockServer", "StreamObserver", "presented_credentials", "LISTEN_PATH", "HANDSHAKE_TIMEOUT_SECONDS"]

DEFAULT_IDLE_TIMEOUT = 10.0
# Above Deepgram's recommended 250 ms frames by far, yet bounded so a hostile frame cannot exhaust memory.
MAX_FRAME_BYTES = 4 * 2**20
_SWEEP_SECONDS = 0.1
_CLOSE_TIMEOUT_SECONDS = 5.0
# A connection that has not completed its upgrade by then is dropped (slowloris, silent sockets).
HANDSHAKE_TIMEOUT_SECONDS = 10.0
# Descriptors kept free for the listening socket, logs and files: at the limit asyncio cannot
# even accept, and every client is locked out.
_SPARE_DESCRIPTORS = 64
logger = logging.getLogger("conformance.mock")


@dataclass(frozen=True)
class MockConfig:
    """How the mock behaves.

    Args:
        host: Interface to bind.
        port: TCP port; 0 picks a free one.
        api_key: Required key (``Authorization: Token KEY`` or the ``token`` subprotocol); None: no auth.
        time_scale: Multiplies the idle timeout, so tests can run ten times faster.
        idle_timeout: Seconds before the NET-0001 close, before scaling.
        faults: Fault names to inject (see :mod:`conformance.mock.faults`).
        max_streams: Concurrent streams allowed; the next upgrade gets 429 (None: unlimited).
        tls_cert: Serve wss:// with this PEM certificate (chain); None: plain ws://.
        tls_key: Its private key, when not inside ``tls_cert``.
        tls_client_ca: Require client certificates signed by this CA (mutual TLS).
        behaviour: Provocations of client scenarios (slow Metadata, a server-side 1011 close).
        handshake_timeout: Seconds a connection may take to complete its upgrade (not scaled).
        max_connections: TCP connections held at once; more are dropped on arrival (None: the
            descriptor limit less a reserve).
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_key: str | None = None
    time_scale: float = 1.0
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    faults: frozenset[str] = frozenset()
    max_streams: int | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    behaviour: Behaviour = Behaviour()
    handshake_timeout: float = HANDSHAKE_TIMEOUT_SECONDS
    max_connections: int | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server-side TLS context, or None for plain ws://.

        Raises:
            OSError, ssl.SSLError: a certificate or key file is unusable.
        """
        if self.tls_cert is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.tls_cert, self.tls_key)
        if self.tls_client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.tls_client_ca)
        return context


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
    length = bytes([size]) if size < 126 else bytes([126]) + size.to_bytes(2, "big") if size < 2**16 else bytes([127]) + size.to_bytes(8, "big")
    return bytes([0x80 | 0x40 | Opcode.TEXT.value]) + length + payload


class _Stream(asyncio.Protocol):
    """One TCP connection: the upgrade, then frames in and out of a :class:`ServerSession`."""

    def __init__(self, server: MockServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.protocol = DeepgramServerProtocol(select_subprotocol=_select_subprotocol, max_size=MAX_FRAME_BYTES, logger=logger)
        self.transport: asyncio.Transport | None = None
        self.session: ServerSession | None = None
        self.fragments: list[bytes] = []
        self.fragment_opcode: Opcode | None = None
        self.abort_handle: asyncio.TimerHandle | None = None
        self.observer = server.observe() if server.observe is not None else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.server.connect(self):
            transport.abort()  # over the connection cap: refusing now keeps the mock reachable for others
            return
        self.handshake_timer: asyncio.TimerHandle | None = self.loop.call_later(self.server.config.handshake_timeout, self._handshake_expired)

    def _handshake_expired(self) -> None:
        if self.protocol.state is CONNECTING and self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        try:
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if isinstance(event, Request):
                    self._upgrade(event)
                elif isinstance(event, Frame):
                    self._frame(event)
            if self.protocol.handshake_exc is not None and not self.protocol.answered:
                self._unreadable_request(self.protocol.handshake_exc)
            self._flush()
        except Exception as exc:  # whatever one client sent, it must not reach another connection
            logger.warning("mock: dropped a connection after an internal error: %s: %s", type(exc).__name__, exc)
            self._fail()

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
        try:
            fmt = self.server.check(request)
        except Rejection as rejection:
            response = rejection_response(self.protocol, request_id, rejection)
            self.protocol.send_response(response)
            if self.observer is not None:
                self.observer.upgraded(request, response, self.loop.time())
            return
        response = self.protocol.accept(request)
        if response.status_code == 101:
            if "no-request-id-header" not in self.server.config.faults:
                response.headers["dg-request-id"] = request_id
            idle = self.server.config.idle_timeout * self.server.config.time_scale
            self.session = ServerSession(fmt, request_id, idle, self.loop.time(), self.server.config.faults, self.server.config.behaviour)
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
        body = json.dumps({"system_health": "Healthy", "active_requests": self.server.active_streams})
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
            self.observer.closed("client", close.code if close else None, close.reason if close else "", self.loop.time())
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
        now = self.loop.time()
        if self.fragment_opcode is Opcode.TEXT:
            try:
                text = payload.decode()
            except UnicodeDecodeError:
                if self.observer is not None:
                    self.observer.client_frame(payload.decode(errors="replace"), now)
                self.protocol.fail(1007, "invalid UTF-8 in a text frame")
                return
            if self.observer is not None:
                self.observer.client_frame(text, now)
            self.emit(self.session.receive_text(text, now))
        else:
            if self.observer is not None:
                self.observer.client_frame(payload, now)
            self.emit(self.session.receive_binary(payload, now))

    def emit(self, outputs: list[Output]) -> None:
        """Send what the session decided (no-op once the connection is no longer open)."""
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
        if b"" in chunks:
            self.transport.close()  # websockets' SEND_EOF: the server ends the TCP connection
        if self.protocol.close_expected() and self.abort_handle is None:
            self.abort_handle = self.loop.call_later(_CLOSE_TIMEOUT_SECONDS, self.transport.abort)

    @property
    def state(self) -> State:
        """The WebSocket state of the connection."""
        return self.protocol.state


class MockServer:
    """Serve /v1/listen on ``config.host:config.port`` until :meth:`stop`.

    Args:
        config: How the mock behaves.
        observe: Record-and-judge mode: called once per TCP connection for an observer that
            sees everything the client sends and the mock answers.
    """

    def __init__(self, config: MockConfig = MockConfig(), observe: Callable[[], StreamObserver] | None = None) -> None:
        self.config = config
        self.observe = observe
        self._server: asyncio.Server | None = None
        self._streams: set[_Stream] = set()
        self._connections: set[_Stream] = set()
        self._sweeper: asyncio.Task[None] | None = None
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        by_descriptors = max(16, soft - _SPARE_DESCRIPTORS) if soft != resource.RLIM_INFINITY else 1_000_000
        self.max_connections = config.max_connections or by_descriptors

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        assert self._server is not None, "start() the mock first"
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """``ws://host:port/v1/listen`` of the running mock."""
        scheme = "wss" if self.config.tls_cert else "ws"
        return f"{scheme}://{self.config.host}:{self.port}{LISTEN_PATH}"

    @property
    def active_streams(self) -> int:
        """Streams accepted and not yet closed."""
        return sum(1 for stream in self._streams if stream.state is not CLOSED)

    async def start(self) -> MockServer:
        """Bind and start accepting connections."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Stream(self), self.config.host, self.config.port, ssl=self.config.ssl_context())
        self._sweeper = asyncio.create_task(self._sweep_idle())
        return self

    async def stop(self) -> None:
        """Stop accepting and drop open streams."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
            for stream in list(self._connections):
                if stream.transport is not None:
                    stream.transport.abort()
            await self._server.wait_closed()

    async def __aenter__(self) -> MockServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def connect(self, stream: _Stream) -> bool:
        """Count a TCP connection; False when the mock holds as many as it can."""
        if len(self._connections) >= self.max_connections:
            return False
        self._connections.add(stream)
        return True

    def admit(self, stream: _Stream) -> None:
        """Count an accepted stream."""
        self._streams.add(stream)

    def forget(self, stream: _Stream) -> None:
        """Drop a finished stream."""
        self._streams.discard(stream)
        self._connections.discard(stream)

    def check(self, request: Request) -> StreamFormat:
        """Judge an upgrade request: the stream format, or raise :class:`Rejection`."""
        full = self.config.max_streams is not None and self.active_streams >= self.config.max_streams
        return check_request(request, self.config.api_key, self.config.faults, full)

    async def _sweep_idle(self) -> None:
        """Close idle streams. One timer for all streams is far cheaper than one per stream;
        its period bounds how late an idle close can be."""
        loop = asyncio.get_running_loop()
        period = min(_SWEEP_SECONDS, self.config.idle_timeout * self.config.time_scale / 20)
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            for stream in list(self._streams):
                if stream.session is not None and now >= stream.session.deadline:
                    try:
                        stream.emit(stream.session.tick(now))
                    except Exception as exc:  # the sweeper serves every stream: one failing must not stop it
                        logger.warning("mock: an idle close failed: %s: %s", type(exc).__name__, exc)
                        stream._fail()
