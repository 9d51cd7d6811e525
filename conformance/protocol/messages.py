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
    "ServerMessage",
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


def decode_text_frame(text: str) -> ServerMessage:
    """Decode a server text frame without raising."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        return ServerMessage(None, f"not JSON: {exc}")
    if not isinstance(body, dict):
        return ServerMessage(None, f"JSON {type(body).__name__}, not an object")
    return ServerMessage(body)


def control(kind: str, **fields: Any) -> str:
    """Serialise a client control message, e.g. ``control("Finalize", channel=1)``."""
    assert kind in CLIENT_TYPES, f"unknown control message {kind}"
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))
