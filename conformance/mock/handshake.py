"""The mock's handshake policy (contract.md §4): who may stream and what every HTTP answer carries.

Every response has ``dg-request-id``; every rejection ``dg-error`` and a JSON body ``{err_code,
err_msg, request_id}`` — also those websockets builds itself for a request it cannot parse (400,
405, 426, 505, 414, 431), through :class:`DeepgramServerProtocol`. Header values are made of
printable ASCII only, whatever the client put in the request they quote: a CR/LF in a query value
split the response (response splitting) with websockets 14-16, and non-Latin-1 text aborted it.
"""

from __future__ import annotations

import hmac
import json
import re
import uuid
from urllib.parse import parse_qs, urlsplit

from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from conformance.audio.decode import DECODED_ENCODINGS
from conformance.protocol.messages import LISTEN_PATH
from conformance.protocol.params import ParamError, StreamFormat, parse_stream_params

__all__ = [
    "Rejection",
    "DeepgramServerProtocol",
    "presented_credentials",
    "credentials_ok",
    "check_request",
    "rejection_response",
    "too_many_requests",
    "header_value",
]

_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")
_MAX_HEADER_VALUE = 200
_ERR_CODES = {
    400: "Bad Request",
    401: "INVALID_AUTH",
    404: "NOT_FOUND",
    405: "Method Not Allowed",
    414: "URI Too Long",
    426: "Upgrade Required",
    429: "TOO_MANY_REQUESTS",
    431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
}


class Rejection(Exception):
    """An upgrade the mock refuses: HTTP ``status`` with Deepgram's error fields."""

    def __init__(self, status: int, err_code: str, err_msg: str) -> None:
        super().__init__(err_msg)
        self.status, self.err_code, self.err_msg = status, err_code, err_msg


def header_value(text: str) -> str:
    """``text`` as a header value: printable ASCII (anything else shown as ``?``), bounded."""
    return _NOT_PRINTABLE.sub("?", text)[:_MAX_HEADER_VALUE]


def presented_credentials(request: Request) -> list[tuple[str, str]]:
    """Every (how, value) credential of an upgrade (contract.md §4.1): ``Authorization: Token|Bearer``
    and the ``token``/``bearer`` subprotocol followed by the key, as browsers send it. Repeated
    headers are all read (a client may send two), never a reason to fail."""
    found = []
    for header in request.headers.get_all("Authorization"):
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip():
            found.append((f"Authorization: {scheme.capitalize()}", value.strip()))
    offered = [p.strip() for header in request.headers.get_all("Sec-WebSocket-Protocol") for p in header.split(",")]
    for name in ("token", "bearer"):
        if name in offered and offered.index(name) + 1 < len(offered):
            found.append((f"subprotocol {name}", offered[offered.index(name) + 1]))
    return found


def credentials_ok(request: Request, api_key: str) -> bool:
    """Whether any credential presented is ``api_key`` (compared in constant time)."""
    return any(hmac.compare_digest(value.encode(), api_key.encode()) for _, value in presented_credentials(request))


def too_many_requests() -> Rejection:
    """Deepgram's answer to a stream over the limit."""
    return Rejection(429, "TOO_MANY_REQUESTS", "Too many requests. Please try again later")


def check_request(request: Request, api_key: str | None, faults: frozenset[str]) -> StreamFormat:
    """Judge an upgrade request: the stream format, or raise :class:`Rejection` (the stream limit
    is counted by the server when it accepts)."""
    try:
        url = urlsplit(request.path)
        query = parse_qs(url.query, keep_blank_values=True)
    except ValueError as exc:  # e.g. "//[::1/…": an unterminated IPv6 host in the target
        raise Rejection(400, "Bad Request", f"Unreadable request target: {exc}") from None
    if url.path.rstrip("/") != LISTEN_PATH:
        raise Rejection(404, "NOT_FOUND", f"No such endpoint: {url.path}")
    if api_key is not None and "accept-any-key" not in faults and not credentials_ok(request, api_key):
        raise Rejection(401, "INVALID_AUTH", "Invalid credentials.")
    try:
        fmt = parse_stream_params(query)
    except ParamError as exc:
        if "accept-invalid-params" not in faults:
            raise Rejection(400, "Bad Request", str(exc)) from None
        fmt = parse_stream_params({"encoding": ["linear16"], "sample_rate": ["16000"]})
    if fmt.encoding is not None and fmt.encoding not in DECODED_ENCODINGS:
        raise Rejection(
            400,
            "Bad Request",
            f"The mock decodes only {', '.join(DECODED_ENCODINGS)} (or a WAV, FLAC, Ogg or WebM container without 'encoding'); got '{fmt.encoding}'.",
        )
    if "reject-429" in faults:
        raise too_many_requests()
    return fmt


def _deepgram_fields(response: Response, request_id: str, err_code: str, err_msg: str) -> None:
    """Give a rejection Deepgram's headers and JSON body (in place)."""
    response.body = json.dumps({"err_code": err_code, "err_msg": err_msg, "request_id": request_id}).encode()
    for name in ("Content-Type", "Content-Length", "dg-error", "dg-request-id"):
        while name in response.headers:
            del response.headers[name]
    response.headers["Content-Type"] = "application/json"
    response.headers["Content-Length"] = str(len(response.body))
    response.headers["dg-error"] = header_value(err_msg)
    response.headers["dg-request-id"] = request_id


def rejection_response(protocol: ServerProtocol, request_id: str, rejection: Rejection) -> Response:
    """The HTTP answer to a refused upgrade."""
    response = protocol.reject(rejection.status, "")
    _deepgram_fields(response, request_id, rejection.err_code, rejection.err_msg)
    if rejection.status == 401:
        response.headers["WWW-Authenticate"] = 'Token realm="Deepgram"'
    if rejection.status == 429:
        response.headers["Retry-After"] = "1"
    return response


class DeepgramServerProtocol(ServerProtocol):
    """websockets' server protocol, whose own rejections (a request it could not parse, a missing
    Upgrade header, ...) carry Deepgram's fields like the mock's."""

    answered = False

    def send_response(self, response: Response) -> None:
        self.answered = True
        if response.status_code != 101 and "dg-request-id" not in response.headers:
            message = response.body.decode(errors="replace").strip() or response.reason_phrase
            _deepgram_fields(
                response, str(uuid.uuid4()), _ERR_CODES.get(response.status_code, response.reason_phrase), message
            )
        super().send_response(response)
