"""How the mock behaves: :class:`MockConfig`."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from conformance.mock.session import Behaviour

__all__ = ["MockConfig", "DEFAULT_IDLE_TIMEOUT", "HANDSHAKE_TIMEOUT_SECONDS"]

DEFAULT_IDLE_TIMEOUT = 10.0
# A connection that has not completed its upgrade by then is dropped (slowloris, silent sockets).
HANDSHAKE_TIMEOUT_SECONDS = 10.0


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
        capacity: Model a deployment that processes this many real-time streams: beyond it,
            every stream's results fall behind its audio (see :mod:`conformance.mock.capacity`);
            None: results come as soon as the audio does.
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
    capacity: int | None = None

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
