"""The Deepgram /v1/listen wire protocol, sans-I/O: messages, schemas, query parameters."""

from conformance.protocol.messages import CLIENT_TYPES, SERVER_TYPES, ServerMessage, decode_text_frame
from conformance.protocol.schemas import MessageSchemas, SchemaProblem, load_message_schemas

__all__ = [
    "CLIENT_TYPES",
    "SERVER_TYPES",
    "ServerMessage",
    "decode_text_frame",
    "MessageSchemas",
    "SchemaProblem",
    "load_message_schemas",
]
