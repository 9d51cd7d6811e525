"""Many paced streams in one gevent process: the load generator's driver of
:class:`~conformance.engine.plan.Player`.

:mod:`conformance.transport.sync` gives each stream a loop that waits for its next due frame with
a socket timeout: a timer, a greenlet switch and an exception per frame, about 100 µs. Here one
:class:`Pacer` greenlet per process sends the due frames of every stream from a heap of due times,
waking at most once per ``quantum``; each stream's own greenlet only reads (a blocking ``recv``
that wakes when the server says something, timestamping frames as they arrive) and asks the pacer
to look at its player again after each delivery. When the player wants anything but sending and
waiting (closing the socket, being done), the stream is handed back to its greenlet, which
finishes exactly as the sync driver does. About 16-19 µs per frame, under half of it the kernel's
``write``: ~1,000 real-time streams of 20 ms frames per core (``benchmarks/loadgen_capacity.py``).

The sans-I/O pieces are the sync driver's (internal to this package): the handshake, frame
assembly, closing and finishing.
"""

from __future__ import annotations

import heapq
import itertools
import os
import random
import ssl
import time
from collections.abc import Callable, Sequence

import gevent
from gevent.event import Event
from gevent.lock import Semaphore
from websockets.exceptions import InvalidState
from websockets.protocol import OPEN

from conformance.engine.actions import Action
from conformance.engine.plan import CloseSocket, Done, Player, Send, Wait
from conformance.transport._common import Timeouts
from conformance.transport.framing import FrameEncoder
from conformance.transport.sync import _close, _Connection, _deliver, _drive, _finish, _handshake, _open

__all__ = ["Pacer", "run_paced", "shared_pacer"]

_READ_SIZE = 65536
# How long a pacer sleeps at most when no stream is due (new streams wake it anyway).
_IDLE_SLEEP = 1.0
_START_SPREAD = 0.02


class _HandBack(Exception):
    """Thrown into a stream's reader, only while it waits on its socket's read watcher (never
    ``gevent.kill``, which lands wherever the greenlet is next, and on a locust user's own
    greenlet makes locust lose track of the user): the pacer is done with its player."""


class _Stream:
    """One stream under the pacer: its connection, player and clock, and who holds it."""

    def __init__(self, connection: _Connection, player: Player, t0: float) -> None:
        self.connection, self.player, self.t0 = connection, player, t0
        self.deadline = player.plan.max_seconds()
        self.generation = 0
        self.handed_back: Action | _Flush | None = None
        self.released = Event()
        self.finished = False
        self.hub = gevent.get_hub()
        self.readable = self.hub.loop.io(connection.fd, 1)
        self.in_recv = False
        self.sending = Semaphore()
        # Bytes of a frame the socket did not take: the pacer never waits on one stream's socket,
        # so it hands the stream back and its own greenlet writes them.
        self.unsent = b""

    def now(self) -> float:
        return time.monotonic() - self.t0


class Pacer:
    """Sends the due frames of every registered stream from one greenlet.

    Args:
        quantum: Streams due within this many seconds of the wake-up are served together; it bounds
            the added lateness and the wake-ups per second.
    """

    def __init__(self, quantum: float = 0.001) -> None:
        self.quantum = quantum
        self._heap: list[tuple[float, int, int, _Stream, float]] = []
        self._order = itertools.count()
        self._wake = Event()
        self._next_wake = float("inf")
        self._serving = False
        self._greenlet: gevent.Greenlet | None = None

    def schedule(self, stream: _Stream, until: float | None = None) -> None:
        """Look at ``stream``'s player again at ``until`` on the stream's clock, or now (replacing
        earlier requests).

        The player is later asked at exactly ``until``: a time recomputed from the monotonic clock
        can round a hair below it, and the player would only ask to wait for it again."""
        at = self._push(stream, stream.now() if until is None else until)
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)
        elif at < self._next_wake:
            self._wake.set()

    def _push(self, stream: _Stream, until: float) -> float:
        """Queue ``stream`` for ``until``; returns the monotonic time it is due at."""
        at = stream.t0 + until
        stream.generation += 1
        heapq.heappush(self._heap, (at, next(self._order), stream.generation, stream, until))
        return at

    def serve_due(self) -> None:
        """Send every frame that is due now.

        gevent runs ready greenlets in turn, so a hundred streams that end together (locust spawns
        users in bursts) would each do their closing and judging before the pacer's turn comes,
        holding every other stream's audio back for 100 ms and more. Any greenlet about to spend
        CPU calls this first: the pacer's work comes first, whoever's turn it is.
        """
        if self._serving:
            return
        self._serving = True
        heap = self._heap
        try:
            horizon = time.monotonic() + self.quantum
            while heap and heap[0][0] <= horizon:
                _, _, generation, stream, until = heapq.heappop(heap)
                if generation == stream.generation and stream.handed_back is None and not stream.finished:
                    try:
                        self._advance(stream, until)
                    except Exception as exc:  # one stream's harness bug must not stop the others
                        stream.player.trace.error = f"internal error: {type(exc).__name__}: {exc}"
                        self._hand_back(stream, Done())
        finally:
            self._serving = False

    def _run(self) -> None:
        heap = self._heap
        while True:
            self.serve_due()
            self._next_wake = heap[0][0] if heap else time.monotonic() + _IDLE_SLEEP
            self._wake.clear()
            self._wake.wait(max(0.0, self._next_wake - time.monotonic()))

    def _advance(self, stream: _Stream, due: float) -> None:
        """Send what is due; stop at a wait (rescheduled) or anything else (handed back).

        A stream woken within the quantum before its due time counts as due, so it is served in
        this wake-up rather than rescheduled for a sub-millisecond wait.

        Called from :meth:`serve_due` only, which needs no wake-up for what it queues: the pacer
        sleeps until the earliest due time, and a stream served now is next due later.
        """
        player, now = stream.player, time.monotonic() - stream.t0
        if now > stream.deadline:
            player.trace.error = f"scenario exceeded its hard deadline of {player.plan.max_seconds():.0f}s"
            self._hand_back(stream, Done())
            return
        while True:
            action = player.next_action(max(now, due))
            if isinstance(action, Send):
                if not _send(stream, action):
                    self._hand_back(stream, action)
                    return
                if stream.unsent:
                    # The server is not reading as fast as we send: that stream's greenlet waits for it.
                    self._hand_back(stream, _Flush())
                    return
                if action.then is not None:
                    self._push(stream, action.then)
                    return
            elif isinstance(action, Wait):
                self._push(stream, action.until)
                return
            else:
                self._hand_back(stream, action)
                return

    @staticmethod
    def _hand_back(stream: _Stream, action: Action | _Flush) -> None:
        stream.handed_back = action
        stream.released.set()
        if stream.in_recv:
            # Thrown only if the reader is still waiting on this watcher when the hub runs it.
            stream.hub.cancel_wait(stream.readable, _HandBack())


class _Flush:
    """Handed back when a frame was only partly written: its stream's greenlet finishes it."""


def _send(stream: _Stream, action: Send) -> bool:
    """Send one frame; False once the connection can no longer carry it."""
    connection, protocol = stream.connection, stream.connection.protocol
    if protocol.state is not OPEN:
        return False
    sent_at = time.monotonic() - stream.t0
    payload = action.payload
    try:
        if isinstance(payload, str):
            protocol.send_text(payload.encode())
            data = b"".join(protocol.data_to_send())
        else:
            # No extension is ever offered, so a binary message is one plain masked frame.
            data = _FRAMES.binary(payload)
        stream.unsent = _write(connection, data, stream.sending)
    except (OSError, InvalidState):
        return False
    stream.player.frame_sent(action, sent_at)
    return True


def _write(connection: _Connection, data: bytes, sending: Semaphore) -> bytes:
    """Write what the socket takes at once (one system call, no gevent wrapper, no lock: nothing
    can come between); the rest, if any, is returned for the stream's own greenlet to write, as
    is the whole frame while the reader writes pongs (``sending``). TLS records cannot be cut at
    a byte: over TLS the frame is written through the cooperative socket, as before."""
    if not data or sending.locked():
        return data
    if connection.tls:
        with sending:
            connection.flush_one(data)
        return b""
    try:
        written = os.write(connection.fd, data)
    except BlockingIOError:
        written = 0
    return data[written:]


_FRAMES = FrameEncoder()
_PACER: Pacer | None = None


def shared_pacer() -> Pacer:
    """The process's pacer (one per gevent hub is all a load generator needs)."""
    global _PACER
    if _PACER is None:
        _PACER = Pacer()
    return _PACER


def _read(stream: _Stream) -> list[object]:
    """Block until the server sends something (or the pacer hands the stream back)."""
    connection = stream.connection
    if connection.eof:
        return []
    if not (connection.tls and connection.sock.pending()):  # type: ignore[attr-defined]
        stream.in_recv = True
        try:
            stream.hub.wait(stream.readable)
        finally:
            stream.in_recv = False
    connection.sock.settimeout(None)
    try:
        data = connection.sock.recv(_READ_SIZE)
    except (OSError, ssl.SSLError):
        data = b""
    if data:
        connection.protocol.receive_data(data)
    else:
        connection.eof = True
        connection.protocol.receive_eof()
    try:
        with stream.sending:
            # Pongs and the close: a server that stops reading cannot hold them past the deadline.
            connection.sock.settimeout(max(0.001, stream.deadline - stream.now()))
            connection.flush()
    except TimeoutError:
        stream.player.trace.error = f"scenario exceeded its hard deadline of {stream.player.plan.max_seconds():.0f}s: the server stopped reading"
        connection.eof = True
    except OSError:
        pass
    return connection.protocol.events_received()  # type: ignore[return-value]


def run_paced(
    player: Player,
    url: str,
    *,
    headers: dict[str, str],
    subprotocols: Sequence[str] = (),
    ssl_context: ssl.SSLContext | None = None,
    timeouts: Timeouts = Timeouts(),
    on_open: Callable[[], None] | None = None,
    pacer: Pacer | None = None,
) -> None:
    """Like :func:`conformance.transport.sync.run_player`, with the paced part of the plan sent by
    ``pacer`` (default: the process's). Call it from a gevent greenlet; it returns when the plan is
    done. Between its own bursts of work it lets the pacer send what is due (:meth:`Pacer.serve_due`).

    Raises:
        ConnectError: the target could not be reached (refused, DNS, TLS, handshake timeout).
    """
    t0 = time.monotonic()

    def now() -> float:
        return time.monotonic() - t0

    pace = pacer or shared_pacer()
    pace.serve_due()
    connection = _open(url, ssl_context, timeouts, subprotocols)
    try:
        pace.serve_due()
        early = _handshake(connection, player, url, headers, now, timeouts)
        if early is None:
            return
        if on_open is not None:
            on_open()
        _deliver(connection, player, early, now)
        stream = _Stream(connection, player, t0)
        # A random start within one usual frame interval: locust spawns users at a steady rate, and
        # at 100 users/s with 20 ms frames every stream would fall due in one of two phases, the
        # pacer sending hundreds of frames per wake-up and the last of them late.
        pace.schedule(stream, stream.now() + random.uniform(0.0, _START_SPREAD))
        _read_until_handed_back(stream, pace, now)
        pace.serve_due()
        action = stream.handed_back
        if isinstance(action, _Flush):
            _flush_unsent(stream, player, now)
        elif isinstance(action, CloseSocket):
            _close(connection, player, action.code, "", now, 5.0)
        elif isinstance(action, Send):
            _deliver(connection, player, [], now)
            if player.trace.close is None:
                player.connection_closed("transport", None, "", now())
        if player.trace.error is None:
            _drive(connection, player, now)
        _finish(connection, player, now, timeouts)
    finally:
        connection.sock.close()
        pace.serve_due()


def _flush_unsent(stream: _Stream, player: Player, now: Callable[[], float]) -> None:
    """Write the rest of a frame the socket did not take, by the plan's hard deadline; the sync
    driver then plays the rest of the plan from this greenlet."""
    connection = stream.connection
    connection.sock.settimeout(max(0.001, stream.deadline - now()))
    try:
        with stream.sending:
            connection.flush_one(stream.unsent)
    except TimeoutError:
        player.trace.error = (
            f"scenario exceeded its hard deadline of {player.plan.max_seconds():.0f}s: the server stopped reading"
        )
    except OSError:
        _deliver(connection, player, [], now)
        if player.trace.close is None:
            player.connection_closed("transport", None, "", now())
    stream.unsent = b""


def _read_until_handed_back(stream: _Stream, pacer: Pacer, now: Callable[[], float]) -> None:
    """Deliver what the server sends until the pacer hands the stream back (it also enforces the
    plan's hard deadline, so this loop always ends)."""
    try:
        while stream.handed_back is None:
            events = _read(stream)
            _deliver(stream.connection, stream.player, events, now)
            if stream.handed_back is None:
                pacer.schedule(stream)
            if stream.connection.eof:
                # Nothing more to read: the pacer's next look at the player ends the stream.
                stream.released.wait()
    except _HandBack:
        pass
    finally:
        stream.finished = True
        stream.readable.close()
