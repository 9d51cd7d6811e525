"""The bundled reference server: a ``websockets.asyncio`` shell around :class:`ServerSession`.

One asyncio process serves many streams. The handshake follows contract.md §4: ``dg-request-id``
on every response, 401/400/404 with ``dg-error`` and a JSON body ``{err_code, err_msg, request_id}``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit
from weakref import WeakKeyDictionary

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from conformance.mock.session import CloseConnection, Output, SendBinary, SendText, ServerSession
from conformance.protocol.params import RAW_SAMPLE_BYTES, ParamError, StreamFormat, parse_stream_params

__all__ = ["MockConfig", "MockServer", "LISTEN_PATH"]

LISTEN_PATH = "/v1/listen"
DEFAULT_IDLE_TIMEOUT = 10.0
# Above Deepgram's recommended 250 ms frames by far, yet bounded so a hostile frame cannot exhaust memory.
MAX_FRAME_BYTES = 4 * 2**20
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
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_key: str | None = None
    time_scale: float = 1.0
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    faults: frozenset[str] = frozenset()
    max_streams: int | None = None


@dataclass(frozen=True)
class _Accepted:
    fmt: StreamFormat
    request_id: str


class _Rejection(Exception):
    def __init__(self, status: int, err_code: str, err_msg: str) -> None:
        super().__init__(err_msg)
        self.status, self.err_code, self.err_msg = status, err_code, err_msg


def _credentials_ok(request: Request, api_key: str) -> bool:
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() in ("token", "bearer") and hmac.compare_digest(value.strip(), api_key):
        return True
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    for scheme_name in ("token", "bearer"):
        if scheme_name in offered and offered.index(scheme_name) + 1 < len(offered):
            if hmac.compare_digest(offered[offered.index(scheme_name) + 1], api_key):
                return True
    return False


class MockServer:
    """Serve /v1/listen on ``config.host:config.port`` until :meth:`stop`."""

    def __init__(self, config: MockConfig = MockConfig()) -> None:
        self.config = config
        self._server: Server | None = None
        # Weak keys: a connection whose handshake dies after process_request frees its slot.
        self._streams: WeakKeyDictionary[ServerConnection, _Accepted] = WeakKeyDictionary()

    @property
    def active_streams(self) -> int:
        """Streams accepted and not yet finished."""
        return len(self._streams)

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        assert self._server is not None, "start() the mock first"
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """``ws://host:port/v1/listen`` of the running mock."""
        return f"ws://{self.config.host}:{self.port}{LISTEN_PATH}"

    async def start(self) -> "MockServer":
        """Bind and start accepting connections."""
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            process_response=self._process_response,
            select_subprotocol=self._select_subprotocol,
            compression=None,
            ping_interval=None,
            max_size=MAX_FRAME_BYTES,
            logger=logger,
        )
        return self

    async def stop(self) -> None:
        """Stop accepting and close open streams."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> "MockServer":
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- handshake ---------------------------------------------------------------------------

    def _check(self, request: Request) -> StreamFormat:
        url = urlsplit(request.path)
        if url.path.rstrip("/") != LISTEN_PATH:
            raise _Rejection(404, "NOT_FOUND", f"No such endpoint: {url.path}")
        faults = self.config.faults
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

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        request_id = str(uuid.uuid4())
        try:
            fmt = self._check(request)
        except _Rejection as rejection:
            return self._reject(connection, request_id, rejection)
        self._streams[connection] = _Accepted(fmt, request_id)
        return None

    def _reject(self, connection: ServerConnection, request_id: str, rejection: _Rejection) -> Response:
        body = json.dumps({"err_code": rejection.err_code, "err_msg": rejection.err_msg, "request_id": request_id})
        response = connection.respond(rejection.status, body)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        response.headers["dg-error"] = rejection.err_msg
        response.headers["dg-request-id"] = request_id
        if rejection.status == 401:
            response.headers["WWW-Authenticate"] = 'Token realm="Deepgram"'
        if rejection.status == 429:
            response.headers["Retry-After"] = "1"
        return response

    def _process_response(self, connection: ServerConnection, request: Request, response: Response) -> None:
        accepted = self._streams.get(connection)
        if accepted is not None and response.status_code == 101 and "no-request-id-header" not in self.config.faults:
            response.headers["dg-request-id"] = accepted.request_id

    @staticmethod
    def _select_subprotocol(connection: ServerConnection, offered: Any) -> Subprotocol | None:
        for name in ("token", "bearer"):
            if name in offered:
                return Subprotocol(name)
        return None

    # -- streaming ---------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        accepted = self._streams[ws]
        loop = asyncio.get_running_loop()
        idle = self.config.idle_timeout * self.config.time_scale
        session = ServerSession(accepted.fmt, accepted.request_id, idle, loop.time(), self.config.faults)
        try:
            while not session.closed:
                outputs = await self._next_outputs(ws, session, loop)
                await self._emit(ws, outputs)
        except ConnectionClosed:
            pass
        finally:
            self._streams.pop(ws, None)

    @staticmethod
    async def _next_outputs(ws: ServerConnection, session: ServerSession, loop: asyncio.AbstractEventLoop) -> list[Output]:
        try:
            async with asyncio.timeout_at(session.deadline):
                message = await ws.recv()
        except TimeoutError:
            return session.tick(loop.time())
        if isinstance(message, str):
            return session.receive_text(message, loop.time())
        return session.receive_binary(message, loop.time())

    @staticmethod
    async def _emit(ws: ServerConnection, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, SendText):
                await ws.send(output.encode())
            elif isinstance(output, SendBinary):
                await ws.send(output.data)
            elif isinstance(output, CloseConnection):
                await ws.close(output.code, output.reason)


