"""Judge a client run: every client rule it exercised, and the scenario's rules it did not, with
why (NOT JUDGED), or UNIMPLEMENTED for a provocation the client skipped."""

from __future__ import annotations

from conformance.catalog import load_catalog
from conformance.checks import NOT_APPLICABLE, Evidence, Item, grade
from conformance.checks.violations import NotJudged, RuleViolation
from conformance.client.checks import Noted, keepalive_limit, registered_client_checks
from conformance.client.evidence import ClientRun
from conformance.client.progress import progress
from conformance.engine.trace import BROKEN, HELD, UNJUDGED
from conformance.verdicts import RuleResult, Verdict

__all__ = ["judge_client"]


def _unexercised(run: ClientRun, results: list[RuleResult]) -> list[RuleResult]:
    """UNIMPLEMENTED for a scenario's job the program did not do (it ignored CONFORMANCE_PAUSE,
    or stopped before the server's error), so a skipped provocation is never a silent pass."""
    catalog, judged, extra = load_catalog(), {r.rule_id for r in results}, []
    scenario = run.scenario
    if scenario.job.pause.resolve(run.timing) > 0 and "C-KA-2" not in judged:
        extra.append(
            RuleResult(
                "C-KA-2",
                catalog["C-KA-2"].level,
                Verdict.UNIMPLEMENTED,
                f"the client made no pause longer than {keepalive_limit(run):.2f}s; it was asked for "
                f"{scenario.job.pause.resolve(run.timing):g}s (CONFORMANCE_PAUSE)",
            )
        )
    if scenario.server.error_after_audio is not None and "C-ERR-1" not in judged:
        sent = max((c.trace.audio_seconds for c in run.accepted), default=0.0)
        extra.append(
            RuleResult(
                "C-ERR-1",
                catalog["C-ERR-1"].level,
                Verdict.UNIMPLEMENTED,
                f"the server fails after {scenario.server.error_after_audio:g}s of audio, but the client sent only {sent:.2f}s",
            )
        )
    return extra


def _unjudged_reason(run: ClientRun) -> str:
    """Why a rule of the scenario got no evidence."""
    if not run.process:
        return "not exercised: the connection never did what the rule is about"
    done = progress(run)
    if done.done:
        return "not exercised: the program did its job without doing what the rule is about"
    return f"not exercised: the program did not do its job ({done.describe()})"


def judge_client(run: ClientRun) -> list[RuleResult]:
    """Verdicts on every client rule the run exercised, in catalog order; the scenario's rules
    it did not exercise are NOT JUDGED (or UNIMPLEMENTED: a provocation the client skipped).

    A check that returns :class:`Noted` held and says what it saw.
    """
    evidence: Evidence = {}
    for rule_id, function in registered_client_checks():
        try:
            outcome = function(run)
        except RuleViolation as violation:
            evidence.setdefault(rule_id, []).append(
                Item(BROKEN, violation.message, violation.frame_index, violation.absence)
            )
            continue
        except NotJudged as unjudged:
            evidence.setdefault(rule_id, []).append(Item(UNJUDGED, unjudged.reason))
            continue
        if outcome is NOT_APPLICABLE:
            continue
        message = outcome if isinstance(outcome, Noted) else "held"
        evidence.setdefault(rule_id, []).append(Item(HELD, message))
    catalog = load_catalog()
    results = grade(evidence)
    results += _unexercised(run, results)
    judged = {r.rule_id for r in results}
    reason = _unjudged_reason(run)
    results += [
        RuleResult(rule, catalog[rule].level, Verdict.NOT_JUDGED, reason)
        for rule in run.scenario.rules
        if rule not in judged
    ]
    order = {rule.id: i for i, rule in enumerate(catalog)}
    return sorted(results, key=lambda r: order[r.rule_id])
