"""Drive a :class:`~conformance.engine.plan.Player` over ``websockets.asyncio.client``.

The loop is the websockets sans-I/O pattern: ask the player for an action, perform it, feed back
what arrived. A reader task timestamps every server frame on arrival, so a busy sender never
makes the server look slow.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from conformance.engine.plan import CloseSocket, Done, Player, Send, Wait
from conformance.engine.trace import Trace
from conformance.errors import ConnectError
from conformance.transport._common import (
    MAX_SERVER_FRAME,
    Timeouts,
    close_details,
    closestream_sent,
    describe_connect_error,
    response_headers,
)

__all__ = ["Timeouts", "run_player", "describe_connect_error"]


class _Unredirected(connect):
    """``connect`` that reports a redirect as the answer it is instead of following it: followed
    silently, the suite would judge another origin under this one's name."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


@dataclass(frozen=True)
class _Closed:
    """Marks the end of the server's frames in the reader queue."""


Clock = Callable[[], float]
_Queue = asyncio.Queue[tuple[float, "str | bytes | _Closed"]]


# Frames read ahead of the player at most: a flooding server then waits on TCP, not in our memory.
_READ_AHEAD = 1024


async def _read(ws: ClientConnection, queue: _Queue, now: Clock, trace: Trace) -> None:
    try:
        async for message in ws:
            if trace.overflow is None:  # past the trace's bounds frames are only drained
                await queue.put((now(), message))
    except ConnectionClosed:
        pass
    finally:
        await queue.put((now(), _Closed()))


async def run_player(
    player: Player,
    url: str,
    *,
    headers: dict[str, str],
    subprotocols: Sequence[str] = (),
    ssl_context: ssl.SSLContext | None = None,
    timeouts: Timeouts = Timeouts(),
    on_open: Callable[[], None] | None = None,
    follow_redirects: bool = False,
) -> None:
    """Connect to ``url`` and play until the plan is done, recording into ``player.trace``.

    A rejected upgrade (a redirect too, unless ``follow_redirects``) and an invalid answer to it
    are recorded in the trace, not raised. ``on_open`` is called once the upgrade succeeded (load
    users count open streams with it).

    Raises:
        ConnectError: the target could not be reached (refused, DNS, TLS).
    """
    loop = asyncio.get_running_loop()
    t0 = player.trace.origin = loop.time()

    def now() -> float:
        return loop.time() - t0

    opener = connect if follow_redirects else _Unredirected
    try:
        opening = opener(
            url,
            additional_headers=headers,
            subprotocols=[Subprotocol(p) for p in subprotocols] or None,
            ssl=ssl_context,
            compression=None,
            proxy=None,
            open_timeout=timeouts.open,
            close_timeout=timeouts.close,
            ping_interval=None,
            max_size=MAX_SERVER_FRAME,
        )
        ws = await opening
    except InvalidStatus as exc:
        response = exc.response
        player.handshake_rejected(
            response.status_code,
            response_headers(response),
            bytes(response.body or b"").decode("utf-8", "replace"),
            now(),
        )
        return
    except (OSError, InvalidURI) as exc:
        raise ConnectError(f"cannot connect to {player.trace.handshake.url}: {describe_connect_error(exc)}") from exc
    except InvalidMessage as exc:
        if isinstance(exc.__cause__, (OSError, EOFError)):
            # Dropped before any answer (a TLS peer refusing our certificate, a server gone): unreachable.
            raise ConnectError(
                f"cannot connect to {player.trace.handshake.url}: {describe_connect_error(exc.__cause__)}"
            ) from exc
        player.handshake_invalid(f"{exc}: {exc.__cause__}" if exc.__cause__ else str(exc), {}, now())
        return
    except (InvalidHandshake, TimeoutError) as exc:
        # The server was reached and answered (or stalled in) the upgrade: its fault, not the network's.
        protocol = getattr(getattr(opening, "connection", None), "protocol", None)
        response = getattr(protocol, "response", None)  # type: ignore[assignment]
        player.handshake_invalid(describe_connect_error(exc), response_headers(response), now())
        return
    if opening.uri != url:
        player.trace.handshake.redirected_to = player.trace.redact(opening.uri)
    player.handshake_accepted(101, response_headers(ws.response), ws.subprotocol, now())
    if on_open is not None:
        on_open()
    await _drive(player, ws, now, timeouts)


async def _drive(player: Player, ws: ClientConnection, now: Clock, timeouts: Timeouts) -> None:
    queue: _Queue = asyncio.Queue(_READ_AHEAD)
    reader = asyncio.create_task(_read(ws, queue, now, player.trace))
    closing: asyncio.Task[None] | None = None
    sending_since: float | None = None
    try:
        async with asyncio.timeout(player.plan.max_seconds()):
            while (action := player.next_action(now())) != Done():
                if isinstance(action, Send):
                    sent_at = sending_since = now()
                    try:
                        await ws.send(action.payload)
                    except ConnectionClosed:
                        await _deliver_next(player, ws, queue, now() + timeouts.close, now)
                        continue
                    finally:
                        sending_since = None
                    player.frame_sent(action, sent_at)
                elif isinstance(action, Wait):
                    await _deliver_next(player, ws, queue, action.until, now)
                elif isinstance(action, CloseSocket):
                    closing = asyncio.create_task(ws.close(action.code))
    except TimeoutError:
        stalled = (
            f": the server stopped reading (a frame waited {now() - sending_since:.1f}s to be sent)"
            if sending_since is not None
            else ""
        )
        player.trace.error = f"scenario exceeded its hard deadline of {player.plan.max_seconds():.0f}s{stalled}"
    finally:
        try:
            # Closing writes too: against a server that stopped reading it would wait forever.
            async with asyncio.timeout(2 * timeouts.close + 1):
                await _finish(player, ws, queue, now, timeouts)
                if closing is not None:
                    await closing
        except TimeoutError:
            _abort(player, ws, now, timeouts)
        reader.cancel()


def _abort(player: Player, ws: ClientConnection, now: Clock, timeouts: Timeouts) -> None:
    """Drop a connection whose closing handshake could not complete in time."""
    ws.transport.abort()
    if player.trace.close is None:
        player.connection_closed("client", None, "aborted: the closing handshake could not be sent", now())
    note = f"the connection could not be closed within {2 * timeouts.close + 1:.0f}s (the server stopped reading) and was aborted"
    player.trace.error = f"{player.trace.error}; {note}" if player.trace.error else note


async def _finish(player: Player, ws: ClientConnection, queue: _Queue, now: Clock, timeouts: Timeouts) -> None:
    """Close from our side if the server has not, recording frames that still arrive. After
    CloseStream the server closes by itself, so it gets the close timeout to do so first."""
    if player.trace.close is None and closestream_sent(player.trace):
        grace = now() + timeouts.close
        while player.trace.close is None and now() < grace:
            await _deliver_next(player, ws, queue, grace, now)
    if player.trace.close is None:
        await ws.close(1000, "scenario finished")
    deadline = now() + timeouts.close
    while player.trace.close is None and now() < deadline:
        await _deliver_next(player, ws, queue, deadline, now)


async def _deliver_next(player: Player, ws: ClientConnection, queue: _Queue, until: float, now: Clock) -> None:
    """Feed the next server frame (or the close) to the player, waiting at most until ``until``."""
    if queue.empty():
        remaining = until - now()
        if remaining <= 0:
            return
        try:
            t, item = await asyncio.wait_for(queue.get(), timeout=remaining)
        except TimeoutError:
            return
    else:
        t, item = queue.get_nowait()
    if isinstance(item, _Closed):
        by, code, reason, violation = close_details(ws.protocol)
        player.connection_closed(by, code, reason, t, violation)
    else:
        player.frame_received(item, t)
