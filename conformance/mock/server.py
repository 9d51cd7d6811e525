"""The bundled reference server: accepts connections (:mod:`conformance.mock.connection`) on one
port, counts streams against ``max_streams`` (across processes, :mod:`conformance.mock.streams`),
closes idle streams and, for a modelled deployment, releases results as their audio is processed.
The handshake policy is :mod:`conformance.mock.handshake`. Connections are capped below the
descriptor limit, so the mock stays reachable.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Callable

from websockets.http11 import Request

from conformance.mock.capacity import process
from conformance.mock.config import HANDSHAKE_TIMEOUT_SECONDS, MockConfig
from conformance.mock.connection import Connection, StreamObserver
from conformance.mock.handshake import check_request, presented_credentials
from conformance.mock.streams import StreamCount
from conformance.protocol.messages import LISTEN_PATH
from conformance.protocol.params import StreamFormat

__all__ = [
    "MockConfig",
    "MockServer",
    "StreamObserver",
    "presented_credentials",
    "LISTEN_PATH",
    "HANDSHAKE_TIMEOUT_SECONDS",
]

_SWEEP_SECONDS = 0.1
# How often a modelled deployment (--capacity) releases the results whose audio it has processed.
_PROCESS_SECONDS = 0.02
# Descriptors kept free for the listening socket, logs and files: at the limit asyncio cannot
# even accept, and every client is locked out.
_SPARE_DESCRIPTORS = 64
# Connections the kernel queues until the mock accepts them (capped by net.core.somaxconn).
# asyncio's default of 100 overflows when a load test opens a few hundred streams at once while
# the loop is busy: the kernel then drops SYNs, and the client's retry a second later shows up as
# a slow server. The caps that matter are the mock's own (--max-connections, --max-streams).
_LISTEN_BACKLOG = 4096
logger = logging.getLogger("conformance.mock")


class MockServer:
    """Serve /v1/listen on ``config.host:config.port`` until :meth:`stop`.

    Args:
        config: How the mock behaves.
        observe: Record-and-judge mode: called once per TCP connection for an observer that
            sees everything the client sends and the mock answers.
    """

    def __init__(
        self,
        config: MockConfig = MockConfig(),
        observe: Callable[[], StreamObserver] | None = None,
        count: StreamCount | None = None,
    ) -> None:
        self.config = config
        self.observe = observe
        self.count = count or StreamCount()
        self._server: asyncio.Server | None = None
        self._streams: set[Connection] = set()
        self._connections: set[Connection] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._processor: asyncio.Task[None] | None = None
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
        """Streams accepted and not yet closed (across the mock's processes)."""
        return self.count.value

    async def start(self, *, reuse_port: bool = False) -> MockServer:
        """Bind and start accepting connections (``reuse_port``: beside the mock's other processes)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Connection(self),
            self.config.host,
            self.config.port,
            ssl=self.config.ssl_context(),
            reuse_port=reuse_port or None,
            backlog=_LISTEN_BACKLOG,
        )
        self._sweeper = asyncio.create_task(self._sweep_idle())
        if self.config.capacity is not None:
            self._processor = asyncio.create_task(self._process())
        return self

    async def stop(self) -> None:
        """Stop accepting and drop open streams."""
        for task in (self._sweeper, self._processor):
            if task is not None:
                task.cancel()
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

    def connect(self, stream: Connection) -> bool:
        """Count a TCP connection; False when the mock holds as many as it can."""
        if len(self._connections) >= self.max_connections:
            return False
        self._connections.add(stream)
        return True

    def admit(self, stream: Connection) -> None:
        """Count an accepted stream."""
        self._streams.add(stream)

    def forget(self, stream: Connection) -> None:
        """Drop a finished stream."""
        self._streams.discard(stream)
        self._connections.discard(stream)

    def check(self, request: Request) -> StreamFormat:
        """Judge an upgrade request: the stream format, or raise :class:`Rejection` (the stream
        limit is the stream count's to enforce, when the upgrade is accepted)."""
        return check_request(request, self.config.api_key, self.config.faults)

    async def _process(self) -> None:
        """A modelled deployment: each tick, this process's share of the capacity processes the
        audio waiting on its streams, and the results whose audio is processed are sent."""
        loop = asyncio.get_running_loop()
        capacity = self.config.capacity
        assert capacity is not None
        last = loop.time()
        while True:
            await asyncio.sleep(_PROCESS_SECONDS)
            now = loop.time()
            held = [(stream, stream.backlog) for stream in self._streams if stream.backlog is not None]
            # Processes of one mock split the capacity by the streams each holds.
            share = len(held) / max(self.count.value, len(held), 1)
            process((backlog for _, backlog in held), capacity * share * (now - last))
            last = now
            for stream, backlog in held:
                if backlog.waiting:
                    try:
                        stream.emit(backlog.release())
                    except Exception as exc:  # as in the sweeper: one stream's failure stays its own
                        logger.warning("mock: sending processed results failed: %s: %s", type(exc).__name__, exc)
                        stream._fail()

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
