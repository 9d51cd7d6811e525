"""Judge a finished :class:`~conformance.engine.trace.Trace` (pure functions, no I/O).

A check is a small function ``(ctx, trace, scenario) -> None`` registered with :func:`check`
for one rule. It raises :class:`RuleViolation` when the rule is broken, returns ``None`` when it
holds, and returns :data:`NOT_APPLICABLE` when the trace never exercised the rule. A plain
``assert`` in a check becomes a violation of the check's rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.catalog import Catalog, Level, load_catalog
from conformance.checks.violations import RuleResult, RuleViolation, Verdict, verdict_for
from conformance.engine.trace import Trace
from conformance.scenario.model import Scenario

__all__ = ["check", "CheckContext", "NOT_APPLICABLE", "run_checks", "judge", "grade", "Evidence", "registered_checks", "RuleViolation", "Verdict", "RuleResult"]


@dataclass(frozen=True)
class CheckContext:
    """Tolerances the checks share.

    Args:
        time_slack: Audio-time tolerance for "no later than the audio sent" comparisons (seconds).
        coverage_slack: How far short of the audio sent the last final may end and still cover it.
        duration_slack: Tolerance of Metadata.duration against the audio sent.
    """

    time_slack: float = 0.05
    coverage_slack: float = 0.25
    duration_slack: float = 0.1


NOT_APPLICABLE: Any = object()
CheckFunction = Callable[[CheckContext, Trace, Scenario], Any]
_REGISTRY: list[tuple[str, CheckFunction]] = []


def check(rule_id: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check of ``rule_id``."""

    def register(function: CheckFunction) -> CheckFunction:
        _REGISTRY.append((rule_id, function))
        return function

    return register


def registered_checks() -> list[tuple[str, CheckFunction]]:
    """Every registered (rule id, check), importing the built-in check modules first."""
    from conformance.checks import lifecycle, messages, timing  # noqa: F401  (registration side effect)

    return list(_REGISTRY)


def run_checks(trace: Trace, scenario: Scenario, ctx: CheckContext = CheckContext()) -> list[tuple[str, RuleViolation | None]]:
    """Run every applicable check: ``(rule id, violation or None)`` per check that applied."""
    results: list[tuple[str, RuleViolation | None]] = []
    for rule_id, function in registered_checks():
        try:
            if function(ctx, trace, scenario) is NOT_APPLICABLE:
                continue
        except RuleViolation as violation:
            results.append((rule_id, violation))
        except AssertionError as error:
            results.append((rule_id, RuleViolation(rule_id, str(error) or f"{function.__name__} failed")))
        else:
            results.append((rule_id, None))
    return results


def judge(trace: Trace, scenario: Scenario, ctx: CheckContext = CheckContext(), catalog: Catalog | None = None) -> list[RuleResult]:
    """Verdicts per rule from the automatic checks and the scenario's own expectations.

    A rule judged several times gets its worst verdict; its message is the first failure's.
    """
    catalog = catalog or load_catalog()
    evidence: Evidence = {}
    for rule_id, violation in run_checks(trace, scenario, ctx):
        if violation is None:
            evidence.setdefault(rule_id, []).append((True, "held", None))
        else:
            evidence.setdefault(rule_id, []).append((False, violation.message, violation.frame_index))
    for outcome in trace.outcomes:
        text = f"step {outcome.step}: expected {outcome.expected}; saw {outcome.observed}"
        evidence.setdefault(outcome.rule, []).append((outcome.passed, text, outcome.frame_index))
    return grade(evidence, catalog)


Evidence = dict[str, list[tuple[bool, str, int | None]]]


def grade(evidence: Evidence, catalog: Catalog | None = None) -> list[RuleResult]:
    """Verdicts from ``(held, message, frame index)`` items per rule, in catalog order.

    A rule with several items gets its worst verdict and the first failure's message; INFO rules
    say whether the behaviour is "as described" or "differs".
    """
    catalog = catalog or load_catalog()
    results = []
    for rule_id, items in evidence.items():
        level = catalog[rule_id].level
        failures = [item for item in items if not item[0]]
        passed, message, frame = failures[0] if failures else items[-1]
        if failures and len(failures) > 1:
            message += f" (and {len(failures) - 1} more)"
        if level is Level.INFO:
            message = ("as described: " if passed else "differs from the description: ") + message
        results.append(RuleResult(rule_id, level, verdict_for(level, passed), message, frame))
    order = {rule.id: i for i, rule in enumerate(catalog)}
    return sorted(results, key=lambda r: order.get(r.rule_id, len(order)))
