"""Load ``scenarios/*.yaml``: parse, validate against ``scenario.schema.json``, build the model.

Every problem is a :class:`~conformance.errors.ScenarioError` naming the file, the JSON path in it
and what is wrong, with a "did you mean" where a name is close to a known one.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from conformance._resources import data_path
from conformance.audio.formats import declared_format
from conformance.audio.source import check_wav
from conformance.catalog import load_catalog
from conformance.errors import AudioError, ScenarioError, SchemaLoadError
from conformance.scenario import model as m
from conformance.scenario.durations import parse_duration

__all__ = [
    "load_scenario",
    "load_scenarios",
    "select_scenarios",
    "read_document",
    "validate_document",
    "scenario_files",
    "BUILTIN_SOURCES",
]

BUILTIN_SOURCES = ("speech", "silence", "tone")


@cache
def _validator(schema_name: str) -> jsonschema.protocols.Validator:
    path = data_path("schemas", schema_name)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
    except (OSError, ValueError, jsonschema.SchemaError) as exc:
        raise SchemaLoadError(f"{path}: unusable schema: {exc}") from exc
    return jsonschema.Draft202012Validator(schema)


def _json_path(parts: Iterable[Any]) -> str:
    text = "$"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _did_you_mean(error: jsonschema.ValidationError) -> str:
    """Suggest a known property for an unexpected one."""
    known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
    if error.validator not in ("additionalProperties", "maxProperties") or not isinstance(error.instance, dict):
        return ""
    hints = []
    for name in error.instance:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(
                f" Did you mean {close[0]!r} instead of {name!r}?"
                if close
                else f" Unknown key {name!r}; allowed: {', '.join(known)}."
            )
    return "".join(hints)


def validate_document(path: Path, document: Any, schema_name: str = "scenario.schema.json") -> None:
    """Validate a parsed scenario document against a bundled schema.

    Raises:
        ScenarioError: the most specific schema violation, with its JSON path and a "did you mean".
    """
    errors = list(_validator(schema_name).iter_errors(document))
    if not errors:
        return
    error = jsonschema.exceptions.best_match(errors)
    while error.context:  # a oneOf/anyOf: report the innermost, most specific cause
        error = jsonschema.exceptions.best_match(error.context)
    raise ScenarioError(str(path), _json_path(error.absolute_path), error.message + _did_you_mean(error))


def _codes(value: int | list[int] | None) -> tuple[int, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


class _Builder:
    """Turns a schema-valid document into the model, checking what the schema cannot."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.catalog = load_catalog()

    def fail(self, location: str, message: str) -> ScenarioError:
        return ScenarioError(str(self.path), location, message)

    def rule(self, rule_id: str, location: str) -> str:
        if rule_id not in self.catalog:
            raise self.fail(location, f"unknown rule {rule_id!r}.{self.catalog.suggest(rule_id)}")
        return rule_id

    def duration(self, text: str, location: str) -> m.Duration:
        try:
            return parse_duration(text)
        except ValueError as exc:
            raise self.fail(location, str(exc)) from exc

    def source(self, name: str, location: str) -> str:
        if name in BUILTIN_SOURCES:
            return name
        candidate = Path(name) if Path(name).is_absolute() else self.path.parent / name
        if not candidate.is_file():
            hint = difflib.get_close_matches(name, BUILTIN_SOURCES, n=1)
            extra = (
                f" Did you mean {hint[0]!r}?" if hint else f" Use one of {', '.join(BUILTIN_SOURCES)} or a WAV path."
            )
            raise self.fail(location, f"audio source {name!r} not found.{extra}")
        try:
            check_wav(str(candidate))
        except AudioError as exc:
            raise self.fail(location, str(exc)) from None
        return str(candidate.resolve())

    def steps(self, items: list[dict[str, Any]], location: str) -> tuple[m.Step, ...]:
        return tuple(self.step(item, f"{location}[{i}]") for i, item in enumerate(items))

    def step(self, item: dict[str, Any], location: str) -> m.Step:
        ((kind, body),) = item.items()
        at = f"{location}.{kind}"
        if kind == "stream":
            chunk = self.duration(body.get("chunk", "20ms"), f"{at}.chunk")
            if chunk.idle:
                raise self.fail(f"{at}.chunk", "a chunk is audio time; write it in ms or s")
            return m.Stream(
                source=self.source(body.get("source", "speech"), f"{at}.source"),
                seconds=body.get("seconds"),
                chunk=chunk,
                realtime=body.get("realtime", 1.0),
            )
        if kind == "send":
            return m.SendJson(dict(body))
        if kind == "send_raw":
            try:
                data = bytes.fromhex(body["data"]) if body.get("encoding") == "hex" else body["data"].encode()
            except ValueError as exc:
                raise self.fail(f"{at}.data", f"not hexadecimal: {exc}") from exc
            return m.SendRaw(body["opcode"], data)
        if kind == "keepalive":
            return m.KeepAlive(
                every=self.duration(body["every"], f"{at}.every"),
                duration=self.duration(body["for"], f"{at}.for"),
                rule=body.get("rule") and self.rule(body["rule"], f"{at}.rule"),
            )
        if kind == "pause":
            return m.Pause(
                self.duration(body["for"], f"{at}.for"),
                rule=body.get("rule") and self.rule(body["rule"], f"{at}.rule"),
            )
        if kind == "expect":
            types = body["type"]
            return m.Expect(
                types=tuple(types) if isinstance(types, list) else (types,),
                within=self.duration(body["within"], f"{at}.within"),
                rule=self.rule(body["rule"], f"{at}.rule"),
                match=self.fragment(body.get("match"), f"{at}.match"),
                description=body.get("description", ""),
                since_previous=body.get("since") == "previous",
                anchor=body.get("from", "step"),
                control=body.get("control", False),
            )
        if kind == "expect_none":
            return m.ExpectNone(
                duration=self.duration(body["for"], f"{at}.for"),
                rule=self.rule(body["rule"], f"{at}.rule"),
                type=body.get("type"),
                match=self.fragment(body.get("match"), f"{at}.match"),
                description=body.get("description", ""),
            )
        if kind == "expect_close":
            return m.ExpectClose(
                within=self.duration(body["within"], f"{at}.within"),
                rule=self.rule(body["rule"], f"{at}.rule"),
                codes=_codes(body.get("code")),
                reason=self.pattern(body.get("reason"), f"{at}.reason"),
                description=body.get("description", ""),
                anchor=body.get("from", "step"),
                control=body.get("control", False),
            )
        if kind == "close":
            return m.Close(body.get("code", 1000))
        assert kind == "repeat", f"schema admitted an unknown step {kind!r}"
        return m.Repeat(body["times"], self.steps(body["steps"], f"{at}.steps"))

    def fragment(self, schema: dict[str, Any] | None, location: str) -> dict[str, Any] | None:
        if schema is None:
            return None
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise self.fail(location, f"not a valid JSON Schema fragment: {exc.message}") from exc
        return schema

    def pattern(self, text: str | None, location: str) -> str | None:
        if text is None:
            return None
        try:
            re.compile(text)
        except re.error as exc:
            raise self.fail(location, f"not a regular expression: {exc}") from exc
        return text

    def connect(self, body: dict[str, Any]) -> m.Connect:
        rejected = body.get("expect_rejected")
        return m.Connect(
            params=dict(body.get("params", {})),
            auth=body.get("auth", "default"),
            expect_rejected=rejected
            and m.ExpectRejected(
                statuses=_codes(rejected["status"]),
                rule=self.rule(rejected["rule"], "$.connect.expect_rejected.rule"),
                error_details_rule=rejected.get("error_details_rule")
                and self.rule(rejected["error_details_rule"], "$.connect.expect_rejected.error_details_rule"),
            ),
        )

    def scenario(self, doc: dict[str, Any]) -> m.Scenario:
        rules = tuple(self.rule(r, f"$.rules[{i}]") for i, r in enumerate(doc["rules"]))
        connect = self.connect(doc.get("connect", {}))
        if connect.expect_rejected is None and not doc["steps"]:
            raise self.fail("$.steps", "a scenario that expects the handshake to succeed needs at least one step")
        audio = m.AudioSpec(**doc.get("audio", {}))
        if any("stream" in step for step in doc["steps"]):
            for name in ("sample_rate", "channels"):
                if not connect.integer_param_valid(name):
                    raise self.fail(
                        f"$.connect.params.{name}",
                        f"must be a positive integer in a scenario that streams audio (got {connect.params[name]!r})",
                    )
            try:
                declared_format(connect.params, audio.overrides())
            except AudioError as exc:
                raise self.fail("$.audio" if doc.get("audio") else "$.connect.params.encoding", str(exc)) from None
        return m.Scenario(
            id=doc["id"],
            title=doc["title"],
            rules=rules,
            steps=self.steps(doc["steps"], "$.steps"),
            connect=connect,
            audio=audio,
            description=doc.get("description", ""),
            tags=tuple(doc.get("tags", ())),
            requires=tuple(doc.get("requires", ())),
            feature=doc.get("feature"),
            path=self.path,
        )


def read_document(path: Path) -> Any:
    """Parse a YAML file.

    Raises:
        ScenarioError: unreadable file or YAML syntax error (with line and column).
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(str(path), "$", f"cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "$"
        raise ScenarioError(str(path), where, f"YAML syntax error: {getattr(exc, 'problem', exc)}") from exc
    return document


def load_scenario(path: Path) -> m.Scenario:
    """Load and validate one scenario file.

    Raises:
        ScenarioError: unreadable file, YAML syntax error, schema violation or unknown rule id.
    """
    document = read_document(path)
    validate_document(path, document)
    return _Builder(path).scenario(document)


def scenario_files(paths: Sequence[Path]) -> list[Path]:
    """The YAML files named by ``paths``: files as given, folders' ``*.yaml`` sorted.

    Raises:
        ScenarioError: a path does not exist.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.yaml")))
        elif path.exists():
            files.append(path)
        else:
            raise ScenarioError(str(path), "$", "no such file or folder")
    return files


def load_scenarios(paths: Sequence[Path] = ()) -> list[m.Scenario]:
    """Load scenario files and folders (default: the bundled suite), sorted by id.

    Raises:
        ScenarioError: any file is invalid, or two files share an id.
    """
    scenarios: dict[str, m.Scenario] = {}
    for file in scenario_files(paths or [data_path("scenarios")]):
        scenario = load_scenario(file)
        if scenario.id in scenarios:
            raise ScenarioError(
                str(file), "$.id", f"id {scenario.id!r} is already used by {scenarios[scenario.id].path}"
            )
        scenarios[scenario.id] = scenario
    return sorted(scenarios.values(), key=lambda s: s.id)


def select_scenarios(
    scenarios: Sequence[m.Scenario],
    patterns: Sequence[str] = (),
    tags: Sequence[str] = (),
    skip: Sequence[str] = (),
) -> list[m.Scenario]:
    """Keep scenarios whose id matches any ``patterns`` (shell wildcards) and that carry any of ``tags``."""

    def wanted(s: m.Scenario) -> bool:
        if patterns and not any(fnmatch.fnmatchcase(s.id, p) for p in patterns):
            return False
        if tags and not set(tags) & set(s.tags):
            return False
        return not any(fnmatch.fnmatchcase(s.id, p) for p in skip)

    return [s for s in scenarios if wanted(s)]
