"""Judge a finished :class:`~conformance.engine.trace.Trace` (pure functions, no I/O).

A check is a small function ``(ctx, trace, scenario) -> None`` registered with :func:`check`
for one rule. It raises :class:`RuleViolation` when the rule is broken, returns ``None`` when it
holds, returns :data:`NOT_APPLICABLE` when the trace has nothing to do with the rule, and raises
:class:`NotJudged` when the trace was meant to exercise the rule but could not. A plain ``assert``
in a check becomes a violation of the check's rule.

A verdict is only as good as what was exercised: :func:`grade` gives OK only where a rule was seen
to hold, NOT JUDGED (with the reason) where the run could not show it, and lets a finding that
something was missing give way when a rule it needs (``needs`` in the catalog) broke in the same
case, or when the frames it looked for were blamed on another rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance.catalog import Catalog, Level, load_catalog
from conformance.checks.ending import CLIENT, REQUESTED, Ending, Refusal, ending, refusals
from conformance.checks.facts import facts
from conformance.checks.harness import excused_finding, overran_window
from conformance.checks.violations import NotJudged, RuleViolation
from conformance.engine.trace import BROKEN, HELD, UNJUDGED, Outcome, Trace
from conformance.scenario.model import Scenario
from conformance.verdicts import HARNESS_LATE, RuleResult, Verdict, verdict_for

__all__ = [
    "check",
    "CheckContext",
    "NOT_APPLICABLE",
    "run_checks",
    "judge",
    "grade",
    "Item",
    "Evidence",
    "registered_checks",
    "RuleViolation",
    "NotJudged",
    "Verdict",
    "RuleResult",
]


def _carry_on() -> None:
    return None


@dataclass(frozen=True)
class CheckContext:
    """Tolerances the checks share, and who else may run while they judge.

    Args:
        time_slack: Audio-time tolerance for "no later than the audio sent" comparisons (seconds).
        coverage_slack: How far short of the speech sent the last final may end and still cover it.
        duration_slack: Tolerance of Metadata.duration against the audio sent.
        pause: Called between checks and between the messages a check validates: the load
            generator sends the audio then due on its other streams (judging one stream takes
            10-20 ms, and streams that end together would hold every other stream's audio back).
    """

    time_slack: float = 0.05
    coverage_slack: float = 0.25
    duration_slack: float = 0.1
    pause: Callable[[], None] = _carry_on


NOT_APPLICABLE: Any = object()
CheckFunction = Callable[[CheckContext, Trace, Scenario], Any]
_REGISTRY: list[tuple[str, CheckFunction]] = []
# Checks that blame frames run first, so the rules after them skip what is already blamed: a reply
# to KeepAlive is KA-1's (not MSG-1's), merged channels MC-1's (not RES-1's), results pushed by a
# pause KA-4's (not RES-2's), results ahead of the audio RES-2's (not IR-1's or RES-3's).
_CLAIMING_FIRST = ("KA-1", "MC-1", "KA-4", "RES-1", "RES-2")


def check(rule_id: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check of ``rule_id``."""

    def register(function: CheckFunction) -> CheckFunction:
        _REGISTRY.append((rule_id, function))
        return function

    return register


def registered_checks() -> list[tuple[str, CheckFunction]]:
    """Every registered (rule id, check), the frame-blaming ones first, importing the built-in
    check modules first."""
    from conformance.checks import closes, encodings, lifecycle, messages, timing, transcripts  # noqa: F401  (registration side effect)

    first = {rule: position for position, rule in enumerate(_CLAIMING_FIRST)}
    return sorted(_REGISTRY, key=lambda item: first.get(item[0], len(first)))


@dataclass(frozen=True)
class Item:
    """One piece of evidence about a rule.

    ``state`` is ``held``, ``broken`` or ``not judged``; see :class:`RuleViolation` for ``absence``
    and :class:`~conformance.engine.trace.Outcome` for ``control`` and ``seen``. ``lost``: a part
    of the rule could not be judged because its evidence could not be read or is another rule's
    finding; what held elsewhere then proves nothing about the rule as a whole.
    """

    state: str
    message: str
    frame: int | None = None
    absence: bool = False
    control: bool = False
    seen: tuple[int, ...] = ()
    lost: bool = False
    rests_on: tuple[str, ...] = ()


Evidence = dict[str, list[Item]]


def run_checks(trace: Trace, scenario: Scenario, ctx: CheckContext = CheckContext()) -> list[tuple[str, Item]]:
    """Run every check: ``(rule id, evidence)`` for each check that applied."""
    found: list[tuple[str, Item]] = []
    for rule_id, function in registered_checks():
        ctx.pause()
        try:
            if function(ctx, trace, scenario) is NOT_APPLICABLE:
                continue
        except RuleViolation as violation:
            found.append(
                (
                    rule_id,
                    Item(
                        BROKEN, violation.message, violation.frame_index, violation.absence, rests_on=violation.rests_on
                    ),
                )
            )
        except NotJudged as unjudged:
            found.append((rule_id, Item(UNJUDGED, unjudged.reason, lost=True)))
        except AssertionError as error:
            found.append((rule_id, Item(BROKEN, str(error) or f"{function.__name__} failed")))
        else:
            found.append((rule_id, Item(HELD, "held")))
    return found


def _outcome_item(outcome: Outcome, trace: Trace) -> Item:
    if outcome.state == UNJUDGED:
        text = f"step {outcome.step} ({outcome.expected}): {outcome.observed}"
    else:
        text = f"step {outcome.step}: expected {outcome.expected}; saw {outcome.observed}"
    overran = overran_window(trace, outcome) if outcome.state == BROKEN else None
    if overran is not None:
        return Item(UNJUDGED, f"{HARNESS_LATE}: {overran}, not the server; {text}", outcome.frame_index, lost=True)
    return Item(outcome.state, text, outcome.frame_index, outcome.absence, outcome.control, outcome.seen)


def judge(
    trace: Trace, scenario: Scenario, ctx: CheckContext = CheckContext(), catalog: Catalog | None = None
) -> list[RuleResult]:
    """Verdicts per rule from the automatic checks and the scenario's own expectations.

    Features the server refused make their rules UNIMPLEMENTED; the scenario's rules that nothing
    exercised are NOT JUDGED, with what ended the stream; a timing verdict the suite's own
    lateness could have decided is NOT JUDGED, saying how late it was (:mod:`.harness`).
    """
    trace.derived.clear()
    catalog = catalog or load_catalog()
    stream_end = ending(trace, scenario.feature, scenario.rules)
    evidence: Evidence = {}
    for rule_id, item in run_checks(trace, scenario, ctx):
        excuse = (
            excused_finding(trace, catalog[rule_id].timed, item.message, item.frame) if item.state == BROKEN else None
        )
        evidence.setdefault(rule_id, []).append(Item(UNJUDGED, excuse, item.frame, lost=True) if excuse else item)
    for outcome in trace.outcomes:
        evidence.setdefault(outcome.rule, []).append(_outcome_item(outcome, trace))
    results = grade(evidence, catalog, claims=facts(trace).owners())
    refused = list(refusals(trace))
    if stream_end.refusal is not None and stream_end.refusal not in refused:
        refused.append(stream_end.refusal)
    results = _unimplemented(results, refused, scenario.rules, catalog)
    return _with_unexercised(results, scenario.rules, _unexercised_reason(trace, stream_end), catalog)


def _unexercised_reason(trace: Trace, stream_end: Ending) -> str:
    """Why a scenario's rule got no evidence at all."""
    status = trace.handshake.status
    if trace.handshake.invalid is not None:
        return "not exercised: the server's answer to the upgrade was invalid (HS-1)"
    if status is None:
        return "not exercised: the connection never reached the upgrade"
    if status != 101:
        return f"not exercised: the upgrade was answered with HTTP {status}"
    if stream_end.close is None or stream_end.kind in (CLIENT, REQUESTED):
        return "not exercised: nothing in this run let it be judged"
    return f"not exercised: the stream ended first ({stream_end.describe()})"


def _unimplemented(
    results: list[RuleResult], refused: Iterable[Refusal], expected: tuple[str, ...], catalog: Catalog
) -> list[RuleResult]:
    """Rules of a feature the server refused become UNIMPLEMENTED, naming the refusal."""
    by_rule = {r.rule_id: r for r in results}
    for refusal in refused:
        for rule_id in refusal.rules:
            if rule_id in by_rule or rule_id in expected:
                by_rule[rule_id] = RuleResult(
                    rule_id, catalog[rule_id].level, Verdict.UNIMPLEMENTED, refusal.describe()
                )
    return _in_catalog_order(by_rule.values(), catalog)


def _with_unexercised(
    results: list[RuleResult], expected: Iterable[str], reason: str, catalog: Catalog
) -> list[RuleResult]:
    judged = {r.rule_id for r in results}
    extra = [
        RuleResult(rule, catalog[rule].level, Verdict.NOT_JUDGED, reason) for rule in expected if rule not in judged
    ]
    return _in_catalog_order([*results, *extra], catalog)


def _in_catalog_order(results: Iterable[RuleResult], catalog: Catalog) -> list[RuleResult]:
    order = {rule.id: i for i, rule in enumerate(catalog)}
    return sorted(results, key=lambda r: order.get(r.rule_id, len(order)))


def _blamed_elsewhere(item: Item, rule_id: str, claims: Mapping[int, str]) -> str | None:
    """For a finding that something never came: the rule that blamed every frame that did come."""
    owners = {claims.get(index) for index in item.seen}
    if item.seen and None not in owners and rule_id not in owners:
        return ", ".join(sorted(str(o) for o in owners))
    return None


def _grade_rule(rule_id: str, items: list[Item], level: Level, claims: Mapping[int, str]) -> RuleResult | None:
    """One rule's verdict from its evidence (None: only controls that held, no evidence)."""
    plain = []
    for item in (i for i in items if not i.control):
        owner = _blamed_elsewhere(item, rule_id, claims) if item.state == BROKEN and item.absence else None
        plain.append(
            Item(UNJUDGED, f"{item.message} — not judged: what did arrive is blamed on {owner}", item.frame, lost=True)
            if owner
            else item
        )
    broken = [i for i in plain if i.state == BROKEN]
    held = [i for i in plain if i.state == HELD]
    vetoes = [i for i in items if i.control and i.state == BROKEN] + [i for i in plain if i.lost]
    if broken:
        first = broken[0]
        more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
        message = first.message + more
        if level is Level.INFO:
            message = "differs from the description: " + message
        return RuleResult(rule_id, level, verdict_for(level, False), message, first.frame)
    if held and vetoes:
        veto = vetoes[0].message
        return RuleResult(
            rule_id, level, Verdict.NOT_JUDGED, veto if veto.startswith(HARNESS_LATE) else "not exercised: " + veto
        )
    if held:
        message = held[-1].message
        if level is Level.INFO:
            message = "as described: " + message
        return RuleResult(rule_id, level, verdict_for(level, True), message, held[-1].frame)
    reasons = [i for i in plain if i.state == UNJUDGED] or vetoes
    return RuleResult(rule_id, level, Verdict.NOT_JUDGED, reasons[0].message) if reasons else None


def grade(
    evidence: Evidence, catalog: Catalog | None = None, *, claims: Mapping[int, str] | None = None
) -> list[RuleResult]:
    """Verdicts from the evidence per rule, in catalog order.

    A rule with several items gets its worst verdict and the first failure's message; INFO rules
    say whether the behaviour is "as described" or "differs". A finding of absence gives way to
    NOT JUDGED when a rule the catalog says it ``needs`` broke (or was refused) in the same case.
    """
    catalog = catalog or load_catalog()
    graded = {}
    for rule_id, items in evidence.items():
        result = _grade_rule(rule_id, items, catalog[rule_id].level, claims or {})
        if result is not None:
            graded[rule_id] = result
    findings = {
        rule_id: [i for i in items if i.state == BROKEN and not i.control] for rule_id, items in evidence.items()
    }
    absent_only = {rule_id for rule_id, broken in findings.items() if all(i.absence for i in broken)}
    rests_on = {
        rule_id: tuple(dict.fromkeys(r for i in broken for r in i.rests_on)) for rule_id, broken in findings.items()
    }
    return _in_catalog_order(_demote_needing(graded, absent_only, catalog, rests_on).values(), catalog)


_DECODING = ("ENC-1", "ENC-2")


def _demote_needing(
    graded: dict[str, RuleResult],
    absent_only: set[str],
    catalog: Catalog,
    rests_on: Mapping[str, tuple[str, ...]],
) -> dict[str, RuleResult]:
    """Absence findings of rules whose prerequisites broke become NOT JUDGED (``needs`` lists a
    rule's prerequisites transitively, so one pass over the original verdicts suffices; ``rests_on``
    adds what a finding of this case rested on)."""
    failing = {rule_id: r for rule_id, r in graded.items() if r.verdict.broken or r.verdict is Verdict.UNIMPLEMENTED}
    demoted = dict(graded)
    for rule_id, result in graded.items():
        # Every server rule needs the frames to be readable: after a WS-1 break the client closed.
        needs = (*catalog[rule_id].needs, *rests_on.get(rule_id, ()), *(("WS-1",) if rule_id != "WS-1" else ()))
        need = next((failing[n] for n in needs if n in failing), None)
        # Audio the server did not decode explains every finding on it, not only what never came.
        undecoded = need is not None and need.rule_id in _DECODING and need.verdict.broken
        if result.verdict.broken and (rule_id in absent_only or undecoded) and need is not None:
            reason = f"not judged: it needs {need.rule_id}, which is {need.verdict.value} here; on its own it found: {result.message}"
            demoted[rule_id] = RuleResult(rule_id, result.level, Verdict.NOT_JUDGED, reason, result.frame_index)
    return demoted
