"""The message schemas in ``schemas/messages``: loading, and validation that reports every problem.

``SchemaProblem.from_error`` adapts a ``jsonschema.ValidationError`` into a one-line description
(JSON path, failing keyword, truncated instance) for verdicts and reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

from conformance._resources import data_path
from conformance.errors import SchemaLoadError

__all__ = ["SchemaProblem", "MessageSchemas", "load_message_schemas", "SCHEMA_FILES"]

SCHEMA_FILES = {
    "Results": "results.json",
    "Metadata": "metadata.json",
    "UtteranceEnd": "utterance_end.json",
    "SpeechStarted": "speech_started.json",
    "ConfigureSuccess": "configure_success.json",
    "ConfigureFailure": "configure_failure.json",
    "Error": "error.json",
    "KeepAlive": "keep_alive.json",
    "Finalize": "finalize.json",
    "CloseStream": "close_stream.json",
    "Configure": "configure.json",
}
_INSTANCE_PREVIEW = 80


@dataclass(frozen=True)
class SchemaProblem:
    """One reason a message fails its schema."""

    path: str
    keyword: str
    message: str

    @classmethod
    def from_error(cls, error: jsonschema.ValidationError) -> SchemaProblem:
        """Adapt a jsonschema error, truncating the offending instance."""
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        message = error.message
        if len(message) > _INSTANCE_PREVIEW * 2:
            message = message[: _INSTANCE_PREVIEW * 2] + "…"
        return cls(path, str(error.validator), message)

    def __str__(self) -> str:
        return f"{self.path}: {self.message} ({self.keyword})"


class MessageSchemas:
    """Validators for every message type, sharing one registry so ``$ref`` between files resolves."""

    def __init__(self, schemas: dict[str, dict[str, Any]]) -> None:
        registry: Registry = Registry().with_resources(
            (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
        )
        self._validators = {
            kind: jsonschema.Draft202012Validator(schemas[file], registry=registry)
            for kind, file in SCHEMA_FILES.items()
        }

    def knows(self, kind: str) -> bool:
        """Whether ``kind`` is a message type with a schema."""
        return kind in self._validators

    def problems(self, kind: str, message: Any) -> list[SchemaProblem]:
        """Every schema problem of ``message`` as a ``kind`` message (empty when valid)."""
        errors = sorted(self._validators[kind].iter_errors(message), key=lambda e: list(e.absolute_path))
        return [SchemaProblem.from_error(e) for e in errors]


@cache
def load_message_schemas(folder: Path | None = None) -> MessageSchemas:
    """Load and check every schema in ``schemas/messages``.

    Raises:
        SchemaLoadError: a file is missing, not JSON, lacks ``$id`` or is not a valid 2020-12 schema.
    """
    folder = folder or data_path("schemas", "messages")
    schemas: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
        except (OSError, ValueError, jsonschema.SchemaError) as exc:
            raise SchemaLoadError(f"{path}: unusable message schema: {exc}") from exc
        if "$id" not in schema:
            raise SchemaLoadError(f"{path}: message schema has no $id")
        schemas[path.name] = schema
    missing = set(SCHEMA_FILES.values()) - set(schemas)
    if missing:
        raise SchemaLoadError(f"{folder}: missing message schemas: {', '.join(sorted(missing))}")
    return MessageSchemas(schemas)
