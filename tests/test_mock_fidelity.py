"""An independent judge of the mock: every message it sends validates against Deepgram's official
AsyncAPI schemas (skipped cleanly when ../shared/reference/ is absent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from conformance.audio import load_source
from conformance.mock.session import SendText, ServerSession
from conformance.protocol.params import parse_stream_params

ASYNCAPI = Path(__file__).resolve().parents[2] / "shared" / "reference" / "deepgram-asyncapi.yml"
BASE = "urn:deepgram-asyncapi"


@pytest.fixture(scope="module")
def official() -> dict[str, jsonschema.protocols.Validator]:
    if not ASYNCAPI.is_file():
        pytest.skip(f"the AsyncAPI reference is absent ({ASYNCAPI})")
    document = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    registry: Registry = Registry().with_resource(BASE, Resource.from_contents(document, default_specification=DRAFT7))
    return {
        kind: jsonschema.Draft7Validator(
            {"$ref": f"{BASE}#/components/schemas/ListenV1_ListenV1{kind}"}, registry=registry
        )
        for kind in ("Results", "Metadata", "UtteranceEnd", "SpeechStarted")
    }


def _messages(query: dict[str, str], script: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    params = {"encoding": "linear16", "sample_rate": "16000", **query}
    session = ServerSession(
        parse_stream_params({k: [v] for k, v in params.items()}), "f0e1d2c3-0000-4000-8000-000000000001", 10.0, 0.0
    )
    channels = int(params.get("channels", "1"))
    speech, silence = load_source("speech", 16000, channels), load_source("silence", 16000, channels)
    outputs: list[Any] = []
    now, offsets = 0.0, {"speech": 0, "silence": 0}
    for action, value in script:
        if action in ("speech", "silence"):
            pcm = speech if action == "speech" else silence
            frames = int(value * 16000)
            data = pcm.slice_frames(offsets[action], frames)
            offsets[action] += frames
            for i in range(0, len(data), 640 * channels):
                outputs += session.receive_binary(data[i : i + 640 * channels], now)
        elif action == "wait":
            now += value
            outputs += session.tick(now)
        else:
            outputs += session.receive_text(value, now)
    return [o.message for o in outputs if isinstance(o, SendText)]


SESSIONS = {
    "interim+utterance-end+vad": (
        {"interim_results": "true", "utterance_end_ms": "1000", "vad_events": "true"},
        [("silence", 0.5), ("speech", 4), ("silence", 1.5), ("speech", 2), ("text", '{"type":"CloseStream"}')],
    ),
    "multichannel+finalize": (
        {"channels": "2", "multichannel": "true"},
        [
            ("speech", 3),
            ("text", '{"type":"Finalize","channel":1}'),
            ("speech", 2),
            ("text", '{"type":"Finalize"}'),
            ("text", '{"type":"CloseStream"}'),
        ],
    ),
    "pause": (
        {},
        [
            ("speech", 3),
            ("wait", 4),
            ("text", '{"type":"KeepAlive"}'),
            ("wait", 4),
            ("speech", 3),
            ("text", '{"type":"CloseStream"}'),
        ],
    ),
    "idle-close": ({}, [("speech", 2), ("wait", 11)]),
    "empty": ({}, [("text", '{"type":"CloseStream"}')]),
}


@pytest.mark.parametrize("name", sorted(SESSIONS))
def test_mock_messages_validate_against_official_asyncapi(
    official: dict[str, jsonschema.protocols.Validator], name: str
) -> None:
    """Every message of the session validates against the AsyncAPI schema of its type."""
    query, script = SESSIONS[name]
    messages = _messages(query, script)
    assert messages and messages[-1]["type"] == "Metadata"
    for message in messages:
        errors = [e.message for e in official[message["type"]].iter_errors(message)]
        assert not errors, f"{message['type']}: {errors}"


def test_official_schema_is_a_real_judge(official: dict[str, jsonschema.protocols.Validator]) -> None:
    """The official schema rejects a Results without its metadata, so the check above can fail."""
    message = _messages({}, [("speech", 6), ("text", '{"type":"CloseStream"}')])[0]
    del message["metadata"]
    assert not official["Results"].is_valid(message)


def test_sessions_cover_every_server_message_type() -> None:
    """The sessions above exercise all four server message types, so each schema is used."""
    kinds = {m["type"] for query, script in SESSIONS.values() for m in _messages(query, script)}
    assert kinds == {"Results", "Metadata", "UtteranceEnd", "SpeechStarted"}


@pytest.mark.parametrize(
    ("configure", "kind"),
    [
        ({"type": "Configure", "features": {"numerals": True}}, "ConfigureSuccess"),
        ({"type": "Configure", "keyterms": ["alpha bravo", "charlie"]}, "ConfigureSuccess"),
        ({"type": "Configure", "keyterms": ["term"] * 501}, "ConfigureFailure"),
        ({"type": "Configure", "features": {"numerals": "yes"}}, "Error"),
    ],
)
def test_mock_answers_configure_as_the_official_sdk_models_it(configure: dict[str, Any], kind: str) -> None:
    """deepgram-sdk 7.17 is the newest source for Configure on /v1/listen (the AsyncAPI predates
    it): its pydantic models, validating, accept every answer of the mock."""
    types = pytest.importorskip("deepgram.listen.v1.types")
    models = {
        "ConfigureSuccess": types.ListenV1ConfigureSuccess,
        "ConfigureFailure": types.ListenV1ConfigureFailure,
        "Error": types.ListenV1Error,
    }
    (answer,) = [m for m in _messages({}, [("speech", 1), ("text", json.dumps(configure))]) if m["type"] != "Results"]
    assert answer["type"] == kind
    models[kind].model_validate(answer)
    if kind == "ConfigureSuccess" and "keyterms" in configure:
        assert answer["keyterms"] == configure["keyterms"]
