"""One case from setup to verdict, without I/O: the parts that the asyncio runner and the
synchronous locust users share, so both play and judge scenarios the same way."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace

from conformance.catalog import load_catalog
from conformance.checks import CheckContext, judge
from conformance.checks.harness import worst_lateness
from conformance.engine.plan import Plan
from conformance.engine.record import CaseRecord, Status, status_from_results
from conformance.engine.trace import Handshake, Trace
from conformance.protocol.messages import OVERSIZE_FRAME
from conformance.scenario.durations import Timing
from conformance.scenario.model import Scenario
from conformance.verdicts import RuleResult, Verdict
from conformance.xfail import Expected, apply_xfail

__all__ = [
    "new_record",
    "new_trace",
    "credentials_form",
    "auth_headers",
    "auth_subprotocols",
    "conclude",
    "AUTH_SCHEMES",
]

# Statuses that mean the endpoint lacks an optional feature (with `feature:` scenarios).
_FEATURE_REFUSED = (400, 405)
# Rejections that say "you may not" rather than "this is wrong": we cannot judge the protocol.
_NOT_JUDGEABLE = (401, 402, 403)


def new_record(scenario: Scenario) -> CaseRecord:
    """A record for ``scenario`` before it runs (status SKIP until it does)."""
    return CaseRecord(
        scenario.id,
        scenario.title,
        scenario.description,
        scenario.rules,
        Status.SKIP,
        path=str(scenario.path) if scenario.path else None,
    )


def new_trace(
    scenario: Scenario,
    plan: Plan,
    url: str,
    timing: Timing,
    api_key: str | None,
    hidden: Sequence[str] = (),
    scheme: str = "token",
) -> Trace:
    """An empty trace for one attempt; the key and ``hidden`` values are redacted from everything recorded."""
    trace = Trace(
        scenario.id,
        timing,
        plan.channels,
        plan.lanes,
        plan.sample_rate,
        Handshake(url),
        secrets=[api_key or "", *hidden],
    )
    trace.handshake.url = trace.redact(url)
    trace.handshake.credentials = credentials_form(scenario, api_key, scheme)
    return trace


def credentials_form(scenario: Scenario, api_key: str | None, scheme: str = "token") -> str:
    """How the upgrade presents credentials, without the secret: ``Authorization: Token``, ..."""
    if scenario.connect.auth == "none" or (scenario.connect.auth == "default" and not api_key):
        return "none"
    if scenario.connect.auth == "invalid":
        return "Authorization: Token (a wrong key, on purpose)"
    return "Sec-WebSocket-Protocol: token, KEY" if scheme == "subprotocol" else f"Authorization: {scheme.capitalize()}"


AUTH_SCHEMES = ("token", "bearer", "subprotocol")


def auth_headers(
    scenario: Scenario, api_key: str | None, scheme: str = "token", extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Request headers as the scenario asks: the run's key (``Authorization: Token`` or
    ``Bearer``), none, or a wrong one; plus ``extra`` headers (ingress auth). With the
    ``subprotocol`` scheme the key travels in :func:`auth_subprotocols` instead."""
    headers = dict(extra or {})
    if scenario.connect.auth == "invalid":
        headers["Authorization"] = f"Token invalid-{secrets.token_hex(8)}"
    elif scenario.connect.auth == "default" and api_key and scheme != "subprotocol":
        headers["Authorization"] = f"{scheme.capitalize()} {api_key}"
    return headers


def auth_subprotocols(scenario: Scenario, api_key: str | None, scheme: str = "token") -> list[str]:
    """``["token", KEY]`` for browser-style gateways (contract.md §4.1), else nothing."""
    if scheme == "subprotocol" and scenario.connect.auth == "default" and api_key:
        return ["token", api_key]
    return []


def conclude(
    record: CaseRecord,
    trace: Trace,
    scenario: Scenario,
    check_context: CheckContext = CheckContext(),
    expected: Sequence[Expected] = (),
) -> None:
    """Judge ``trace`` into ``record``: verdicts, status, and the reasons a case is ERROR,
    UNIMPLEMENTED, XFAIL or XPASS."""
    record.trace = trace
    close = trace.close
    if (
        close is not None
        and close.violation is not None
        and close.violation.startswith(OVERSIZE_FRAME)
        and not trace.error
    ):
        trace.error = (
            f"the server sent {close.violation}; the stream cannot be judged past a frame the suite did not read"
        )
    record.results = judge(trace, scenario, check_context)
    late = worst_lateness(trace)
    record.harness_lateness = (late.seconds, late.describe()) if late is not None else None
    record.status = status_from_results(record.results)
    _unjudgeable(record, trace, scenario)
    _unimplemented(record, trace, scenario)
    if trace.error:
        record.status, record.error = Status.ERROR, trace.error
    _redact(record, trace)
    trace.compact()
    apply_xfail(record, expected)


def _redact(record: CaseRecord, trace: Trace) -> None:
    """Checks quote decoded values (``'Token KEY' is not of type 'number'``): hide the key there too."""
    record.results = [replace(r, message=trace.redact(r.message)) for r in record.results]
    for outcome in trace.outcomes:
        outcome.expected, outcome.observed = trace.redact(outcome.expected), trace.redact(outcome.observed)
    if record.error:
        record.error = trace.redact(record.error)


def _unimplemented(record: CaseRecord, trace: Trace, scenario: Scenario) -> None:
    """An endpoint that refuses an optional feature lacks it; that is not a broken rule."""
    status = trace.handshake.status
    if scenario.feature is None or scenario.connect.expect_rejected is not None or status not in _FEATURE_REFUSED:
        return
    detail = trace.handshake.headers.get("dg-error") or trace.handshake.body[:120]
    message = f"the endpoint refused feature {scenario.feature!r}: HTTP {status}" + (f" ({detail})" if detail else "")
    catalog = load_catalog()
    record.results = [RuleResult(rule, catalog[rule].level, Verdict.UNIMPLEMENTED, message) for rule in scenario.rules]
    record.status = Status.SUCCESS


def _rejection_hint(status: int, credentials: str) -> str:
    """What a 401/402/403/5xx tells the user to do; a 403 may be the form of the credentials too."""
    if status == 401:
        if credentials == "none":
            return "pass --api-key or set DEEPGRAM_API_KEY"
        return (
            f"the key, presented as {credentials}, was not accepted: check it, or whether the endpoint "
            "wants another form (--auth-scheme token|bearer|subprotocol)"
        )
    if status == 402:
        return "the project has no credit"
    if status == 403:
        form = (
            f", or the endpoint does not take credentials presented as {credentials} (--auth-scheme)"
            if credentials != "none"
            else ""
        )
        return f"the key lacks access to what this scenario asks for (model, feature){form}"
    return "the endpoint failed"


def _unjudgeable(record: CaseRecord, trace: Trace, scenario: Scenario) -> None:
    status = trace.handshake.status
    if status is not None and 300 <= status < 400:
        where = trace.handshake.headers.get("location", "nowhere (no Location header)")
        record.status = Status.ERROR
        record.error = (
            f"the endpoint redirected the upgrade (HTTP {status}) to {where}; not followed, since "
            "the suite would judge another origin: point --host there, or pass --follow-redirects"
        )
        record.results = [r for r in record.results if r.rule_id != "HS-1"]
        return
    if scenario.connect.expect_rejected is not None or status is None or status == 101:
        return
    if status in _NOT_JUDGEABLE or status >= 500:
        detail = trace.handshake.headers.get("dg-error") or trace.handshake.body[:120]
        hint = _rejection_hint(status, trace.handshake.credentials)
        record.status = Status.ERROR
        record.error = f"handshake rejected with HTTP {status}" + (f" ({detail})" if detail else "") + f": {hint}"
        record.results = [r for r in record.results if r.rule_id != "HS-1"]
