"""Drive a :class:`~conformance.engine.plan.Player` over a plain socket and websockets' sans-I/O
``ClientProtocol`` — the synchronous twin of :mod:`conformance.transport.aio`, for callers such as
locust's gevent users (a monkey-patched socket makes it cooperative).

The websockets three-step loop with no threads or queues: feed bytes in, take frames out, write
what the protocol wants sent. Waiting for the player's next due time is one ``recv`` with a
timeout, so paced audio keeps its absolute schedule and frames are timestamped as they are read.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Sequence

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidState, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import OPEN
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from conformance.engine.plan import CloseSocket, Done, Player, Send, Wait
from conformance.errors import ConnectError
from conformance.transport._common import (
    MAX_SERVER_FRAME,
    Timeouts,
    close_details,
    closestream_sent,
    describe_connect_error,
    response_headers,
)

__all__ = ["Timeouts", "run_player"]

Clock = Callable[[], float]
_READ_SIZE = 65536


class _Connection:
    """A socket and its sans-I/O protocol; messages are assembled from frames here."""

    def __init__(self, sock: socket.socket, protocol: ClientProtocol) -> None:
        self.sock, self.protocol = sock, protocol
        self.fd = sock.fileno()
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.fragments: list[bytes] = []
        self.opcode: Opcode | None = None
        self.size = 0
        self.eof = False

    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            self.flush_one(data)

    def flush_one(self, data: bytes) -> None:
        """Send ``data``; empty means "end of the stream": shut down our side of the TCP connection."""
        if data:
            self.sock.sendall(data)
        else:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def read(self, timeout: float) -> list[object]:
        """Events from the next read, waiting at most ``timeout`` (none on timeout)."""
        if self.eof:
            return []
        self.sock.settimeout(max(timeout, 0.0) or 1e-6)
        try:
            data = self.sock.recv(_READ_SIZE)
        except (TimeoutError, BlockingIOError, ssl.SSLWantReadError):
            return []
        except OSError:
            data = b""
        if data:
            self.protocol.receive_data(data)
        else:
            self.eof = True
            self.protocol.receive_eof()
        try:
            self.flush()
        except OSError:
            pass
        return self.protocol.events_received()  # type: ignore[return-value]

    def message(self, frame: Frame) -> str | bytes | None:
        """The complete message a data frame finishes, if any. A message over MAX_SERVER_FRAME
        (in fragments) or text that is not UTF-8 fails the connection (1009, 1007), as the
        asyncio client does."""
        if frame.opcode is not Opcode.CONT:
            self.opcode, self.fragments, self.size = frame.opcode, [], 0
        self.fragments.append(bytes(frame.data))
        self.size += len(frame.data)
        if self.size > MAX_SERVER_FRAME:
            self.fragments = []
            self.protocol.fail(1009, f"message over {MAX_SERVER_FRAME} bytes")
            return None
        if not frame.fin:
            return None
        payload, self.fragments = b"".join(self.fragments), []
        if self.opcode is not Opcode.TEXT:
            return payload
        try:
            return payload.decode()
        except UnicodeDecodeError as exc:
            self.protocol.fail(1007, f"{exc.reason} at position {exc.start}")
            return None


def _open(url: str, ssl_context: ssl.SSLContext | None, timeouts: Timeouts, subprotocols: Sequence[str]) -> _Connection:
    try:
        uri = parse_uri(url)
    except InvalidURI as exc:
        raise ConnectError(f"cannot connect to {url}: {exc}") from exc
    try:
        sock = socket.create_connection((uri.host, uri.port), timeout=timeouts.open)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if uri.secure:
            sock = (ssl_context or ssl.create_default_context()).wrap_socket(sock, server_hostname=uri.host)
    except (OSError, TimeoutError) as exc:
        raise ConnectError(f"cannot connect to {url}: {describe_connect_error(exc)}") from exc
    protocol = ClientProtocol(uri, max_size=MAX_SERVER_FRAME)
    if subprotocols:
        protocol.available_subprotocols = [Subprotocol(p) for p in subprotocols]
    return _Connection(sock, protocol)


def run_player(
    player: Player,
    url: str,
    *,
    headers: dict[str, str],
    subprotocols: Sequence[str] = (),
    ssl_context: ssl.SSLContext | None = None,
    timeouts: Timeouts = Timeouts(),
    on_open: Callable[[], None] | None = None,
) -> None:
    """Connect to ``url`` and play until the plan is done, recording into ``player.trace``.

    A rejected upgrade is recorded in the trace, not raised. ``on_open`` is called once the
    upgrade succeeded (load users count open streams with it).

    Raises:
        ConnectError: the target could not be reached (refused, DNS, TLS, handshake timeout).
    """
    t0 = time.monotonic()

    def now() -> float:
        return time.monotonic() - t0

    connection = _open(url, ssl_context, timeouts, subprotocols)
    try:
        early = _handshake(connection, player, url, headers, now, timeouts)
        if early is None:
            return
        if on_open is not None:
            on_open()
        _deliver(connection, player, early, now)
        _drive(connection, player, now)
        _finish(connection, player, now, timeouts)
    finally:
        connection.sock.close()


def _handshake(
    connection: _Connection, player: Player, url: str, headers: dict[str, str], now: Clock, timeouts: Timeouts
) -> list[object] | None:
    """Send the upgrade and read the response: frames that came with it, or None when rejected."""
    protocol = connection.protocol
    request = protocol.connect()
    for name, value in headers.items():
        request.headers[name] = value
    protocol.send_request(request)
    try:
        connection.flush()
    except OSError as exc:
        raise ConnectError(f"cannot connect to {url}: {describe_connect_error(exc)}") from exc
    deadline = now() + timeouts.open
    while True:
        events = connection.read(deadline - now())
        response = next((e for e in events if isinstance(e, Response)), None)
        if response is not None:
            break
        if connection.eof or now() >= deadline:
            raise ConnectError(
                f"cannot connect to {url}: {'connection closed' if connection.eof else 'timed out'} during the opening handshake"
            )
    if response.status_code != 101:
        body = bytes(response.body or b"").decode("utf-8", "replace")
        player.handshake_rejected(response.status_code, response_headers(response), body, now())
        return None
    if protocol.handshake_exc is not None:
        raise ConnectError(f"cannot connect to {url}: {protocol.handshake_exc}")
    player.handshake_accepted(101, response_headers(response), protocol.subprotocol, now())
    return [e for e in events if isinstance(e, Frame)]


def _deliver(connection: _Connection, player: Player, events: list[object], now: Clock) -> None:
    """Hand messages to the player; report the close once a close frame or EOF arrived."""
    for event in events:
        if isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            message = connection.message(event)
            if message is not None:
                player.frame_received(message, now())
    if player.trace.close is None and (connection.protocol.close_rcvd is not None or connection.eof):
        by, code, reason, violation = close_details(connection.protocol)
        player.connection_closed(by, code, reason, now(), violation)


def _send(connection: _Connection, player: Player, action: Send, now: Clock, budget: float) -> None:
    """Send one frame, waiting at most ``budget`` seconds for a server that does not read."""
    protocol = connection.protocol
    if protocol.state is not OPEN:
        return
    sent_at = now()
    try:
        if isinstance(action.payload, str):
            protocol.send_text(action.payload.encode())
        else:
            protocol.send_binary(action.payload)
        connection.sock.settimeout(max(budget, 0.001))
        connection.flush()
    except TimeoutError:
        player.trace.error = (
            f"scenario exceeded its hard deadline of {player.plan.max_seconds():.0f}s: the server stopped reading"
        )
        return
    except (OSError, InvalidState):
        _deliver(connection, player, connection.read(0.0), now)
        if player.trace.close is None:
            player.connection_closed("transport", None, "", now())
        return
    player.frame_sent(action, sent_at)


def _drive(connection: _Connection, player: Player, now: Clock) -> None:
    deadline = now() + player.plan.max_seconds()
    while (action := player.next_action(now())) != Done():
        if now() > deadline:
            player.trace.error = f"scenario exceeded its hard deadline of {player.plan.max_seconds():.0f}s"
            return
        if isinstance(action, Send):
            _send(connection, player, action, now, deadline - now())
            if player.trace.error is not None:
                return
        elif isinstance(action, Wait):
            _deliver(connection, player, connection.read(action.until - now()), now)
        elif isinstance(action, CloseSocket):
            _close(connection, player, action.code, "", now, 5.0)


def _close(connection: _Connection, player: Player, code: int, reason: str, now: Clock, timeout: float) -> None:
    """Start the closing handshake and read until the server's close frame or EOF."""
    if connection.protocol.state is OPEN:
        connection.protocol.send_close(code, reason)
        try:
            connection.sock.settimeout(timeout)  # a server that stopped reading cannot hold the close
            connection.flush()
        except OSError:
            pass
    deadline = now() + timeout
    while player.trace.close is None and now() < deadline:
        _deliver(connection, player, connection.read(deadline - now()), now)


def _finish(connection: _Connection, player: Player, now: Clock, timeouts: Timeouts) -> None:
    """Close from our side if the server has not, recording frames that still arrive. After
    CloseStream the server closes by itself, so it gets the close timeout to do so first."""
    if closestream_sent(player.trace):
        grace = now() + timeouts.close
        while player.trace.close is None and now() < grace:
            _deliver(connection, player, connection.read(grace - now()), now)
    _close(connection, player, 1000, "scenario finished", now, timeouts.close)
