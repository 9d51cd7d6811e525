"""What the asyncio and sync drivers share: deadlines, error wording, close and header details."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from websockets.http11 import Response
from websockets.protocol import Protocol

from conformance.engine.trace import Trace

__all__ = ["Timeouts", "TlsOptions", "client_ssl_context", "MAX_SERVER_FRAME", "describe_connect_error", "close_details", "closestream_sent", "response_headers"]

# Server messages are small JSON; a bound keeps a hostile server from exhausting memory.
MAX_SERVER_FRAME = 16 * 2**20


@dataclass(frozen=True)
class Timeouts:
    """Deadlines of the transport itself (seconds, never scaled)."""

    open: float = 10.0
    close: float = 5.0


@dataclass(frozen=True)
class TlsOptions:
    """How to trust a wss:// endpoint and, for mTLS ingresses, which certificate to present.

    Args:
        cafile: PEM bundle of the CA(s) to trust instead of the system store (private CAs).
        insecure: Skip certificate and host name verification (reported loudly).
        client_cert: PEM client certificate (chain) for mutual TLS.
        client_key: Its private key, when not inside ``client_cert``.
    """

    cafile: str | None = None
    insecure: bool = False
    client_cert: str | None = None
    client_key: str | None = None


def client_ssl_context(tls: TlsOptions) -> ssl.SSLContext:
    """An SSL context for ``tls``: the system trust store unless a CA file is given.

    Raises:
        OSError: a file is missing or unreadable.
        ssl.SSLError: a file is not a usable PEM certificate or key.
    """
    context = ssl.create_default_context(cafile=tls.cafile)
    if tls.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.client_cert:
        context.load_cert_chain(tls.client_cert, tls.client_key)
    return context


def describe_connect_error(exc: BaseException) -> str:
    """One line saying why a connection could not be made."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "timed out during the opening handshake"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return str(exc) or type(exc).__name__


def close_details(protocol: Protocol) -> tuple[str, int | None, str]:
    """(who closed: server, client or transport; the server's code; its reason)."""
    received, sent = protocol.close_rcvd, protocol.close_sent
    if received is None:
        return "transport", None, ""
    by = "server" if sent is None or protocol.close_rcvd_then_sent else "client"
    return by, received.code, received.reason


def closestream_sent(trace: Trace) -> bool:
    """Whether the client asked the server to end the stream (so the server should close)."""
    return next(trace.sent_controls("CloseStream"), None) is not None


def response_headers(response: Response | None) -> dict[str, str]:
    """Handshake response headers with lower-cased names."""
    return {k.lower(): v for k, v in response.headers.raw_items()} if response is not None else {}
