"""Message schemas: the documented examples validate, broken variants do not, and the fields
agree with Deepgram's AsyncAPI file when it is available."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from conformance.protocol.schemas import SCHEMA_FILES, load_message_schemas

# contract.md §1.1, a verbatim capture (nova-2-phonecall, 2026).
RESULTS = {
    "type": "Results",
    "channel_index": [0, 1],
    "duration": 1.0799375,
    "start": 0.0,
    "is_final": False,
    "speech_final": False,
    "channel": {"alternatives": [{"transcript": "", "confidence": 0.0, "words": []}]},
    "metadata": {
        "request_id": "01a03ac3-92a1-79f0-ad85-2cee59754422",
        "model_info": {"name": "2-phonecall-nova", "version": "2024-02-07.20824", "arch": "nova-2"},
        "model_uuid": "7e3b5bdf-85ed-4fd2-9f7a-7721bbcad97b",
    },
    "from_finalize": False,
}
WORD = {"word": "hello", "start": 0.08, "end": 0.32, "confidence": 0.99, "punctuated_word": "Hello."}
# seeds 000, Close Stream page.
METADATA = {
    "type": "Metadata",
    "transaction_key": "deprecated",
    "request_id": "8c8ebea9-dbec-45fa-a035-e4632cb05b5f",
    "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "created": "2024-08-29T22:37:55.202Z",
    "duration": 0.0,
    "channels": 0,
}
EXAMPLES: dict[str, dict[str, Any]] = {
    "Results": RESULTS,
    "Metadata": METADATA,
    "UtteranceEnd": {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": 2.395},
    "SpeechStarted": {"type": "SpeechStarted", "channel": [0, 1], "timestamp": 9.54},
    "KeepAlive": {"type": "KeepAlive"},
    "Finalize": {"type": "Finalize", "channel": 0},
    "CloseStream": {"type": "CloseStream"},
}
ASYNCAPI = Path(__file__).resolve().parents[2] / "shared" / "reference" / "deepgram-asyncapi.yml"


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_schema_accepts_documented_example(kind: str) -> None:
    """Each documented example validates against its schema."""
    assert load_message_schemas().problems(kind, EXAMPLES[kind]) == []


def test_schema_accepts_words_and_extra_fields() -> None:
    """Words with optional fields and unknown extra fields are allowed."""
    message = copy.deepcopy(RESULTS)
    message["channel"]["alternatives"][0]["words"] = [WORD]
    message["something_new"] = {"x": 1}
    assert load_message_schemas().problems("Results", message) == []


def _broken(kind: str, path: list[Any], value: Any) -> dict[str, Any]:
    message = copy.deepcopy(EXAMPLES[kind])
    target = message
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return message


@pytest.mark.parametrize(
    ("kind", "path", "value", "where"),
    [
        ("Results", ["channel_index"], [0, 1, 2], "$.channel_index"),
        ("Results", ["channel_index"], [0], "$.channel_index"),
        ("Results", ["channel_index"], ["0", "1"], "$.channel_index[0]"),
        ("Results", ["metadata"], KeyError, "$"),
        ("Results", ["metadata", "model_uuid"], KeyError, "$.metadata"),
        ("Results", ["channel", "alternatives", 0, "transcript"], 3, "$.channel.alternatives[0].transcript"),
        ("Results", ["duration"], "1.0", "$.duration"),
        ("Metadata", ["duration"], -1, "$.duration"),
        ("Metadata", ["channels"], 1.5, "$.channels"),
        ("Metadata", ["request_id"], KeyError, "$"),
        ("UtteranceEnd", ["channel"], [0, 1, 1], "$.channel"),
        ("SpeechStarted", ["timestamp"], KeyError, "$"),
        ("Finalize", ["channel"], -1, "$.channel"),
        ("Finalize", ["channel"], "1", "$.channel"),
        ("KeepAlive", ["type"], "Keepalive", "$.type"),
    ],
)
def test_schema_rejects_broken_variant(kind: str, path: list[Any], value: Any, where: str) -> None:
    """A broken field is reported with its JSON path."""
    problems = load_message_schemas().problems(kind, _broken(kind, path, value))
    assert problems and problems[0].path == where


def test_every_schema_has_an_id() -> None:
    """Every shipped schema carries $id and the 2020-12 dialect."""
    from conformance._resources import data_path

    for path in data_path("schemas").rglob("*.json"):
        schema = json.loads(path.read_text())
        assert schema["$id"].startswith("https://"), path
        assert schema["$schema"].endswith("2020-12/schema"), path


def _asyncapi_schemas() -> dict[str, Any]:
    if not ASYNCAPI.is_file():
        pytest.skip(f"the AsyncAPI reference is absent ({ASYNCAPI})")
    import yaml

    return yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))["components"]["schemas"]


@pytest.mark.parametrize("kind", ["Results", "Metadata", "UtteranceEnd", "SpeechStarted"])
def test_schema_matches_asyncapi_fields(kind: str) -> None:
    """Our schema requires what the AsyncAPI requires and knows every property it lists."""
    official = _asyncapi_schemas()[f"ListenV1_ListenV1{kind}"]
    ours = _ours(kind)
    assert set(official.get("required", [])) <= set(ours["required"])
    assert set(official["properties"]) <= set(ours["properties"])


def _ours(kind: str) -> dict[str, Any]:
    from conformance._resources import data_path

    return json.loads(data_path("schemas", "messages", SCHEMA_FILES[kind]).read_text())


def test_asyncapi_finalize_lacks_channel_which_we_allow() -> None:
    """The documented Finalize.channel (seeds 000) is a known gap of the AsyncAPI file."""
    official = _asyncapi_schemas()["ListenV1_ListenV1Finalize"]
    assert "channel" not in official.get("properties", {})
    assert "channel" in _ours("Finalize")["properties"]


SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def _seed_examples() -> list[tuple[str, dict[str, Any]]]:
    """Every JSON object in a ```json block of the seed documents that names a known message type."""
    import re

    found = []
    for path in sorted(SEEDS.glob("*.txt")):
        for block in re.findall(r"```json[^\n]*\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL):
            try:
                message = json.loads(block)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("type") in SCHEMA_FILES:
                found.append((path.name, message))
    return found


def test_seed_document_examples_validate() -> None:
    """The message examples printed in the source documents validate against our schemas."""
    if not SEEDS.is_dir():
        pytest.skip(f"the seed documents are absent ({SEEDS})")
    examples = _seed_examples()
    assert {m["type"] for _, m in examples} >= {"Results", "Metadata", "KeepAlive", "Finalize", "CloseStream"}
    schemas = load_message_schemas()
    for name, message in examples:
        assert schemas.problems(message["type"], message) == [], f"{name}: {message}"
