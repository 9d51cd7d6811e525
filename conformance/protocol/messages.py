"""Message vocabulary of /v1/listen and the parsing of server text frames.

Server messages (contract.md §1): Results, Metadata, UtteranceEnd, SpeechStarted; and, as the
official SDKs model /v1/listen today (deepgram-sdk 7.17 ``V1SocketClientResponse``, generated from
Deepgram's API definition, newer than the July 2026 AsyncAPI): ConfigureSuccess, ConfigureFailure
and Error. Client control messages (contract.md §2): KeepAlive, Finalize (optional ``channel``),
CloseStream, and Configure (deepgram-sdk 7.17 ``send_configure``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LISTEN_PATH",
    "STATUS_PATH",
    "SERVER_TYPES",
    "CLIENT_TYPES",
    "TRANSCRIPTION_TYPES",
    "OVERSIZE_FRAME",
    "ServerMessage",
    "parse_json",
    "MAX_JSON_DEPTH",
    "decode_text_frame",
    "control",
]

LISTEN_PATH = "/v1/listen"
# Self-hosted deployments answer health checks here (contract.md §7).
STATUS_PATH = "/v1/status"
SERVER_TYPES = ("Results", "Metadata", "UtteranceEnd", "SpeechStarted", "ConfigureSuccess", "ConfigureFailure", "Error")
CLIENT_TYPES = ("KeepAlive", "Finalize", "CloseStream", "Configure")
# Messages that carry transcription of audio already sent, as opposed to replies to a control message.
TRANSCRIPTION_TYPES = ("Results", "UtteranceEnd", "SpeechStarted")
# How a transport names a server frame it refused to read for its size (the suite's bound, not a rule).
OVERSIZE_FRAME = "a frame larger than the suite reads"


@dataclass(frozen=True)
class ServerMessage:
    """A decoded server text frame: ``body`` when it is a JSON object, else ``error`` says why not."""

    body: dict[str, Any] | None
    error: str | None = None

    @property
    def type(self) -> str | None:
        """The ``type`` discriminator, when present and a string."""
        kind = self.body.get("type") if self.body else None
        return kind if isinstance(kind, str) else None


# Deepgram's messages nest about six levels; deeper input only costs the reader (and schema
# validation recurses).
MAX_JSON_DEPTH = 32


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (RFC 8259 has no NaN or Infinity)")


def _too_deep(text: str | bytes, value: Any) -> bool:
    if isinstance(text, str):
        brackets = text.count("[") + text.count("{")
    else:
        brackets = text.count(b"[") + text.count(b"{")
    if brackets <= MAX_JSON_DEPTH:
        return False  # cannot nest deeper than it has brackets (the common case: no walk at all)
    level, depth = [value] if isinstance(value, (dict, list)) else [], 1
    while level:
        if depth > MAX_JSON_DEPTH:
            return True
        level = [
            c
            for item in level
            for c in (item.values() if isinstance(item, dict) else item)
            if isinstance(c, (dict, list))
        ]
        depth += 1
    return False


def parse_json(text: str | bytes) -> tuple[Any, str | None]:
    """(value, None) for strict JSON a peer sent, else (None, why not); never raises. Rejects what
    Python's reader would let through: NaN and Infinity, and nesting deeper than MAX_JSON_DEPTH
    (which would otherwise end in a RecursionError)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        return None, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError as exc:
        return None, f"not JSON: {exc}"
    if _too_deep(text, value):
        return None, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    return value, None


def decode_text_frame(text: str) -> ServerMessage:
    """Decode a server text frame without raising."""
    body, error = parse_json(text)
    if error is not None:
        return ServerMessage(None, error)
    if not isinstance(body, dict):
        return ServerMessage(None, f"JSON {type(body).__name__}, not an object")
    return ServerMessage(body)


def control(kind: str, **fields: Any) -> str:
    """Serialise a client control message, e.g. ``control("Finalize", channel=1)``."""
    assert kind in CLIENT_TYPES, f"unknown control message {kind}"
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))
