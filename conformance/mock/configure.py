"""The mock's answer to ``Configure`` (deepgram-sdk 7.17 ``ListenV1Configure``): ConfigureSuccess,
ConfigureFailure when the keyterms exceed the 500-token limit, or an Error of variant SchemaError
when the fields are malformed (pure)."""

from __future__ import annotations

from typing import Any

__all__ = ["configure_reply", "KEYTERM_TOKEN_LIMIT"]

# deepgram-sdk 7.17 ListenV1Configure: "The 500-token keyterm limit ... also applies to each update".
KEYTERM_TOKEN_LIMIT = 500


def configure_reply(message: dict[str, Any], text: str, request_id: str) -> dict[str, Any]:
    """The message that answers ``message`` (whose raw ``text`` an Error quotes)."""
    keyterms, features = message.get("keyterms"), message.get("features")
    keyterms_ok = keyterms is None or (isinstance(keyterms, list) and all(isinstance(k, str) for k in keyterms))
    features_ok = features is None or (
        isinstance(features, dict) and all(isinstance(v, bool) for v in features.values())
    )
    if not (keyterms_ok and features_ok):
        description = "Configure: keyterms must be a list of strings and features an object of booleans"
        return {"type": "Error", "variant": "SchemaError", "description": description, "message": text[:1024]}
    if keyterms is not None and sum(len(k.split()) for k in keyterms) > KEYTERM_TOKEN_LIMIT:
        description = f"the keyterms exceed the {KEYTERM_TOKEN_LIMIT}-token limit"
        return {
            "type": "ConfigureFailure",
            "request_id": request_id,
            "code": "CONFIGURE_KEYTERM_LIMIT_EXCEEDED",
            "description": description,
        }
    reply: dict[str, Any] = {"type": "ConfigureSuccess", "request_id": request_id}
    if keyterms is not None:
        reply["keyterms"] = keyterms
    return reply
