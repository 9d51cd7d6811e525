"""Checks on every server frame: format, schema, channel indexes, request ids."""

from __future__ import annotations

from conformance.checks import NOT_APPLICABLE, CheckContext, check
from conformance.checks.facts import CHANNEL, RESPONSE, SCHEMA, facts
from conformance.checks.violations import NotJudged, RuleViolation
from conformance.engine.trace import Trace
from conformance.protocol.messages import OVERSIZE_FRAME, SERVER_TYPES
from conformance.protocol.schemas import load_message_schemas
from conformance.scenario.model import Scenario

__all__ = [
    "frames_follow_rfc6455",
    "server_messages_valid",
    "no_binary_frames",
    "channel_index_consistent",
    "request_id_header",
    "request_ids_agree",
    "upgrade_succeeds",
]


def _raise_first(rule_id: str, problems: list[tuple[int, str]]) -> None:
    if problems:
        index, message = problems[0]
        more = f" (and {len(problems) - 1} more frame(s))" if len(problems) > 1 else ""
        raise RuleViolation(rule_id, message + more, index)


def _channel_pair_path(kind: str, path: str) -> bool:
    """Whether a schema problem lies in the message's [channel, total] pair."""
    field = "$.channel_index" if kind == "Results" else "$.channel"
    return path == field or path.startswith(field + "[")


@check("MSG-1")
def server_messages_valid(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """MSG-1 (MUST): every server text frame is a known message type that validates against its
    schema (frames another rule already blamed, such as a reply to KeepAlive, are that rule's)."""
    schemas, found = load_message_schemas(), facts(trace)
    problems: list[tuple[int, str]] = []
    checked: dict[tuple[str, str | None], list] = {}
    texts = [e for e in trace.received() if e.kind == "text"]
    if not texts:
        return NOT_APPLICABLE
    for entry in texts:
        message = entry.message
        assert message is not None, "received text frames are always decoded"
        if found.claimed(entry, "MSG-1", (RESPONSE,)):
            continue
        if message.body is None:
            problems.append(
                (
                    entry.index,
                    f"server text frame #{entry.index} at {entry.t:.3f}s is {message.error}: {(entry.text or '')[:160]!r}",
                )
            )
        elif message.type not in SERVER_TYPES:
            problems.append(
                (
                    entry.index,
                    f"frame #{entry.index} has type {message.type!r}; expected one of {', '.join(SERVER_TYPES)}: {entry.describe()}",
                )
            )
        else:
            # A flood repeats the same few frames: validate each distinct text once.
            key = (message.type, entry.text)
            schema_problems = checked.get(key)
            if schema_problems is None:
                ctx.pause()
                schema_problems = checked[key] = schemas.problems(message.type, message.body)
            if found.claimed(entry, "MSG-1", (CHANNEL,)):
                # RES-1 already blamed this frame's channel pair; what else is wrong stays MSG-1's.
                schema_problems = [p for p in schema_problems if not _channel_pair_path(message.type, p.path)]
            if schema_problems:
                problems.append(
                    (entry.index, f"{message.type} frame #{entry.index} violates its schema at {schema_problems[0]}")
                )
    by_index = {e.index: e for e in texts}
    for index, _ in problems:
        found.claim(by_index[index], "MSG-1", SCHEMA)
    _raise_first("MSG-1", problems)
    return None


@check("WS-1")
def frames_follow_rfc6455(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """WS-1 (MUST): the client's WebSocket parser found no server frame breaking RFC 6455 (the
    client then closes 1002/1007 itself, so the stream rules have nothing to judge past it)."""
    if trace.handshake.status != 101:
        return NOT_APPLICABLE
    close = trace.close
    if close is not None and close.violation is not None and not close.violation.startswith(OVERSIZE_FRAME):
        code = f" with {close.code}" if close.code is not None else ""
        raise RuleViolation(
            "WS-1", f"the server sent {close.violation}: the client closed the connection{code} at {close.t:.3f}s"
        )
    return None


@check("MSG-2")
def no_binary_frames(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """MSG-2 (MUST): the server never sends binary frames."""
    if trace.handshake.status != 101:
        return NOT_APPLICABLE
    binary = [(e.index, f"server sent a binary frame: {e.describe()}") for e in trace.received() if e.kind == "binary"]
    _raise_first("MSG-2", binary)
    return None


def _pair_problem(value: object, lanes: int) -> str | None:
    if not (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return f"{value!r} is not [channel, total]"
    channel, total = value
    if total != lanes:
        return f"{value!r} says {total} channel(s) but the stream has {lanes} result stream(s)"
    if not 0 <= channel < total:
        return f"{value!r} has channel {channel} outside [0, {total})"
    return None


@check("RES-1")
def channel_index_consistent(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """RES-1 (MUST): channel_index / channel is [c, n], 0 <= c < n, n = channels if multichannel else 1."""
    found = facts(trace)
    problems: list[tuple[int, str]] = []
    seen = False
    for entry, body in trace.messages():
        field = {"Results": "channel_index", "UtteranceEnd": "channel", "SpeechStarted": "channel"}.get(
            str(body.get("type"))
        )
        if field is None or field not in body or found.claimed(entry, "RES-1", (CHANNEL,)):
            continue
        seen = True
        problem = _pair_problem(body[field], trace.lanes)
        if problem:
            found.claim(entry, "RES-1", CHANNEL)
            problems.append((entry.index, f"{body['type']} frame #{entry.index}: {field} {problem}"))
    if not seen:
        return NOT_APPLICABLE
    _raise_first("RES-1", problems)
    return None


@check("HS-2")
def request_id_header(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """HS-2 (SHOULD): the 101 response carries dg-request-id."""
    if trace.handshake.status != 101:
        return NOT_APPLICABLE
    if not trace.handshake.headers.get("dg-request-id"):
        raise RuleViolation("HS-2", "the 101 response has no dg-request-id header")
    return None


@check("CS-5")
def request_ids_agree(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """CS-5 (SHOULD): Metadata.request_id, every Results.metadata.request_id and dg-request-id agree."""
    ids: list[tuple[int | None, str, str]] = []
    header = trace.handshake.headers.get("dg-request-id")
    if header:
        ids.append((None, "dg-request-id header", header))
    for entry, body in trace.messages():
        if body.get("type") == "Results" and isinstance(body.get("metadata"), dict):
            ids.append(
                (entry.index, f"Results #{entry.index} metadata.request_id", str(body["metadata"].get("request_id")))
            )
        elif body.get("type") == "Metadata":
            ids.append((entry.index, f"Metadata #{entry.index} request_id", str(body.get("request_id"))))
    if len(ids) < 2:
        if "CS-5" in scenario.rules and trace.handshake.status == 101:
            raise NotJudged(
                "CS-5", f"fewer than two request ids to compare ({', '.join(where for _, where, _ in ids) or 'none'})"
            )
        return NOT_APPLICABLE
    _, first_where, first = ids[0]
    for index, where, value in ids[1:]:
        if value != first:
            raise RuleViolation("CS-5", f"{where} is {value!r} but {first_where} is {first!r}", index)
    return None


@check("HS-1")
def upgrade_succeeds(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """HS-1 (MUST): the upgrade with valid credentials and params succeeds with a valid 101."""
    if trace.handshake.invalid is not None:
        raise RuleViolation(
            "HS-1",
            f"the server answered the upgrade to {trace.handshake.url}, but not validly: {trace.handshake.invalid}",
        )
    if scenario.connect.expect_rejected is not None or trace.handshake.status is None:
        return NOT_APPLICABLE
    if trace.handshake.status != 101:
        detail = trace.handshake.headers.get("dg-error") or trace.handshake.body[:160]
        hint = (
            " (retried; if the endpoint's concurrency limit is below --jobs, lower --jobs)"
            if trace.handshake.status == 429
            else ""
        )
        raise RuleViolation(
            "HS-1",
            f"the upgrade to {trace.handshake.url} was rejected with HTTP {trace.handshake.status}"
            + (f": {detail}" if detail else "")
            + hint,
        )
    return None
