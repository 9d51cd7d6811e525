"""The bundled reference server: an asyncio protocol around websockets' sans-I/O
``ServerProtocol`` and our sans-I/O :class:`ServerSession`.

websockets parses and writes frames, answers pings and runs the closing handshake; the session
decides what to say. Driving the sans-I/O protocol straight from ``data_received`` (no task, no
message queue per stream) is what lets one process hold many hundreds of real-time streams.
The handshake follows contract.md §4: ``dg-request-id`` on every response, 400/401/404/429 with
``dg-error`` and a JSON body ``{err_code, err_msg, request_id}``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import ssl
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import InvalidState
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import CLOSED, OPEN, State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from conformance.mock.session import Behaviour, CloseConnection, Hold, Output, SendBinary, SendText, ServerSession
from conformance.protocol.messages import LISTEN_PATH, STATUS_PATH
from conformance.protocol.params import RAW_SAMPLE_BYTES, ParamError, StreamFormat, parse_stream_params

__all__ = ["MockConfig", "MockServer", "StreamObserver", "presented_credentials", "LISTEN_PATH"]

DEFAULT_IDLE_TIMEOUT = 10.0
# Above Deepgram's recommended 250 ms frames by far, yet bounded so a hostile frame cannot exhaust memory.
MAX_FRAME_BYTES = 4 * 2**20
_SWEEP_SECONDS = 0.1
_CLOSE_TIMEOUT_SECONDS = 5.0
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


class _Rejection(Exception):
    def __init__(self, status: int, err_code: str, err_msg: str) -> None:
        super().__init__(err_msg)
        self.status, self.err_code, self.err_msg = status, err_code, err_msg


def presented_credentials(request: Request) -> list[tuple[str, str]]:
    """Every (how, value) credential of an upgrade (contract.md §4.1): ``Authorization: Token|Bearer``
    and the ``token``/``bearer`` subprotocol followed by the key, as browsers send it."""
    found = []
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        found.append((f"Authorization: {scheme.capitalize()}", value.strip()))
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    for name in ("token", "bearer"):
        if name in offered and offered.index(name) + 1 < len(offered):
            found.append((f"subprotocol {name}", offered[offered.index(name) + 1]))
    return found


def _credentials_ok(request: Request, api_key: str) -> bool:
    return any(hmac.compare_digest(value.encode(), api_key.encode()) for _, value in presented_credentials(request))


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
        self.protocol = ServerProtocol(select_subprotocol=_select_subprotocol, max_size=MAX_FRAME_BYTES, logger=logger)
        self.transport: asyncio.Transport | None = None
        self.session: ServerSession | None = None
        self.fragments: list[bytes] = []
        self.fragment_opcode: Opcode | None = None
        self.abort_handle: asyncio.TimerHandle | None = None
        self.observer = server.observe() if server.observe is not None else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Request):
                self._upgrade(event)
            elif isinstance(event, Frame):
                self._frame(event)
        self._flush()

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

    # -- handshake ---------------------------------------------------------------------------

    def _upgrade(self, request: Request) -> None:
        request_id = str(uuid.uuid4())
        if urlsplit(request.path).path.rstrip("/") == STATUS_PATH:
            self.protocol.send_response(self._status(request_id))
            return
        try:
            fmt = self.server.check(request)
        except _Rejection as rejection:
            response = self._reject(request_id, rejection)
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

    def _status(self, request_id: str) -> Response:
        """Self-hosted health (contract.md §7): ``GET /v1/status``, answered without an upgrade."""
        body = json.dumps({"system_health": "Healthy", "active_requests": self.server.active_streams})
        response = self.protocol.reject(200, body)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        response.headers["dg-request-id"] = request_id
        return response

    def _reject(self, request_id: str, rejection: _Rejection) -> Response:
        body = json.dumps({"err_code": rejection.err_code, "err_msg": rejection.err_msg, "request_id": request_id})
        response = self.protocol.reject(rejection.status, body)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        response.headers["dg-error"] = rejection.err_msg
        response.headers["dg-request-id"] = request_id
        if rejection.status == 401:
            response.headers["WWW-Authenticate"] = 'Token realm="Deepgram"'
        if rejection.status == 429:
            response.headers["Retry-After"] = "1"
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
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            else:
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
        self._sweeper: asyncio.Task[None] | None = None

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
            for stream in list(self._streams):
                if stream.transport is not None:
                    stream.transport.abort()
            await self._server.wait_closed()

    async def __aenter__(self) -> MockServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def admit(self, stream: _Stream) -> None:
        """Count an accepted stream."""
        self._streams.add(stream)

    def forget(self, stream: _Stream) -> None:
        """Drop a finished stream."""
        self._streams.discard(stream)

    def check(self, request: Request) -> StreamFormat:
        """Judge an upgrade request: the stream format, or a rejection."""
        url = urlsplit(request.path)
        faults = self.config.faults
        if url.path.rstrip("/") != LISTEN_PATH:
            raise _Rejection(404, "NOT_FOUND", f"No such endpoint: {url.path}")
        if self.config.api_key is not None and "accept-any-key" not in faults and not _credentials_ok(request, self.config.api_key):
            raise _Rejection(401, "INVALID_AUTH", "Invalid credentials.")
        try:
            fmt = parse_stream_params(parse_qs(url.query, keep_blank_values=True))
        except ParamError as exc:
            if "accept-invalid-params" not in faults:
                raise _Rejection(400, "Bad Request", str(exc)) from None
            fmt = parse_stream_params({"encoding": ["linear16"], "sample_rate": ["16000"]})
        if fmt.encoding is not None and fmt.encoding not in RAW_SAMPLE_BYTES:
            raise _Rejection(400, "Bad Request", f"The mock decodes only {', '.join(RAW_SAMPLE_BYTES)} (or WAV without 'encoding'); got '{fmt.encoding}'.")
        if "reject-429" in faults or (self.config.max_streams is not None and self.active_streams >= self.config.max_streams):
            raise _Rejection(429, "TOO_MANY_REQUESTS", "Too many requests. Please try again later")
        return fmt

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
                    stream.emit(stream.session.tick(now))
