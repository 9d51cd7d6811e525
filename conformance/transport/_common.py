"""What the asyncio and sync drivers share: deadlines, error wording, close and header details."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass

from websockets.exceptions import PayloadTooBig
from websockets.http11 import Response
from websockets.protocol import Protocol

from conformance.engine.trace import Trace
from conformance.protocol.messages import OVERSIZE_FRAME

__all__ = [
    "Timeouts",
    "TlsOptions",
    "client_ssl_context",
    "MAX_SERVER_FRAME",
    "describe_connect_error",
    "close_details",
    "describe_violation",
    "closestream_sent",
    "response_headers",
]

# Server messages are small JSON (a long final is tens of kB); a bound keeps a hostile server from
# exhausting memory with a few huge frames.
MAX_SERVER_FRAME = 2**20


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
    if isinstance(exc, EOFError):
        return "the connection was closed before the server answered the upgrade"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return str(exc) or type(exc).__name__


# Codes this client only sends when it fails the connection for what the server sent (websockets
# decodes text, and counts fragments, outside its frame parser, so parser_exc does not say).
_FAILING_CODES = {
    1002: "a frame that breaks the protocol ({})",
    1007: "a text frame that is not valid UTF-8 ({})",
    1009: "a message too big to read ({})",
}


def close_details(protocol: Protocol) -> tuple[str, int | None, str, str | None]:
    """(who closed: server, client or transport; the code; the reason; the server's violation of
    RFC 6455 or of the frame size bound that made the client close, if that is what happened)."""
    received, sent = protocol.close_rcvd, protocol.close_sent
    # An EOF before the close frame is the transport ending, not a frame breaking the protocol.
    problem = None if isinstance(protocol.parser_exc, EOFError) else protocol.parser_exc
    if received is None and sent is not None and (problem is not None or sent.code in _FAILING_CODES):
        return (
            "client",
            sent.code,
            "",
            describe_violation(problem) if problem is not None else _FAILING_CODES[sent.code].format(sent.reason),
        )
    if received is None:
        return "transport", None, "", None
    by = "server" if sent is None or protocol.close_rcvd_then_sent else "client"
    return by, received.code, received.reason, None


def describe_violation(problem: BaseException) -> str:
    """What was wrong with the server's frame, e.g. ``reserved bits must be 0``."""
    if isinstance(problem, PayloadTooBig):
        size = re.search(r"\d+", str(problem))
        if size is not None and int(size.group()) >= 2**63:
            return f"a frame length of {size.group()} bytes (the top bit of a 64-bit length must be 0)"
        return f"{OVERSIZE_FRAME} ({MAX_SERVER_FRAME} B): {problem}"
    if isinstance(problem, UnicodeDecodeError):
        return f"a text frame that is not valid UTF-8 ({problem.reason} at byte {problem.start})"
    if str(problem) == "invalid status code":
        return "a close frame with a code that must not be sent (RFC 6455 §7.4)"
    return f"a frame that breaks the protocol ({problem or type(problem).__name__})"


def closestream_sent(trace: Trace) -> bool:
    """Whether the client asked the server to end the stream (so the server should close)."""
    return next(trace.sent_controls("CloseStream"), None) is not None


def response_headers(response: Response | None) -> dict[str, str]:
    """Handshake response headers with lower-cased names."""
    return {k.lower(): v for k, v in response.headers.raw_items()} if response is not None else {}
