"""Drive a :class:`~conformance.engine.plan.Player` over ``websockets.sync.client`` — the twin of
:mod:`conformance.transport.aio` for synchronous callers such as locust's gevent users.

One thread does everything: ``recv(timeout=...)`` waits exactly until the player's next due time,
so paced audio keeps its absolute schedule and frames are timestamped as they are read.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Sequence

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from conformance.engine.plan import CloseSocket, Done, Player, Send, Wait
from conformance.errors import ConnectError
from conformance.transport._common import MAX_SERVER_FRAME, Timeouts, close_details, describe_connect_error, response_headers

__all__ = ["Timeouts", "run_player"]

Clock = Callable[[], float]


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

    try:
        ws = connect(
            url,
            additional_headers=headers,
            subprotocols=[Subprotocol(p) for p in subprotocols] or None,
            ssl=ssl_context,
            compression=None,
            proxy=None,
            open_timeout=timeouts.open,
            close_timeout=timeouts.close,
            max_size=MAX_SERVER_FRAME,
        )
    except InvalidStatus as exc:
        response = exc.response
        player.handshake_rejected(response.status_code, response_headers(response), bytes(response.body or b"").decode("utf-8", "replace"), now())
        return
    except (OSError, TimeoutError, InvalidURI, InvalidHandshake) as exc:
        raise ConnectError(f"cannot connect to {player.trace.handshake.url}: {describe_connect_error(exc)}") from exc

    player.handshake_accepted(101, response_headers(ws.response), ws.subprotocol, now())
    if on_open is not None:
        on_open()
    try:
        _drive(player, ws, now)
    finally:
        _finish(player, ws, now, timeouts)


def _drive(player: Player, ws: ClientConnection, now: Clock) -> None:
    deadline = now() + player.plan.max_seconds()
    while (action := player.next_action(now())) != Done():
        if now() > deadline:
            player.trace.error = f"scenario exceeded its hard deadline of {player.plan.max_seconds():.0f}s"
            return
        if isinstance(action, Send):
            sent_at = now()
            try:
                ws.send(action.payload)
            except ConnectionClosed:
                _deliver_next(player, ws, now, 0.0)
                continue
            player.frame_sent(action, sent_at)
        elif isinstance(action, Wait):
            _deliver_next(player, ws, now, action.until - now())
        elif isinstance(action, CloseSocket):
            ws.close(action.code)
            _deliver_next(player, ws, now, 0.0)


def _finish(player: Player, ws: ClientConnection, now: Clock, timeouts: Timeouts) -> None:
    """Close from our side if the server has not, recording frames that still arrive."""
    if player.trace.close is None:
        ws.close(1000, "scenario finished")
    deadline = now() + timeouts.close
    while player.trace.close is None and now() < deadline:
        _deliver_next(player, ws, now, deadline - now())


def _deliver_next(player: Player, ws: ClientConnection, now: Clock, timeout: float) -> None:
    """Feed the next server frame (or the close) to the player, waiting at most ``timeout``."""
    try:
        message = ws.recv(timeout=max(0.0, timeout))
    except TimeoutError:
        return
    except ConnectionClosed:
        by, code, reason = close_details(ws.protocol)
        player.connection_closed(by, code, reason, now())
        return
    player.frame_received(message, now())
