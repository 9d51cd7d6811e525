"""Verdicts: a broken rule is a :class:`RuleViolation`, graded by the rule's level.

Vocabulary after Autobahn|Testsuite: OK, NON-STRICT (a SHOULD broken), INFORMATIONAL (behaviour the
spec leaves open, recorded), UNIMPLEMENTED (an optional feature is absent), FAILED (a MUST broken).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from conformance.catalog import Level

__all__ = ["Verdict", "RuleViolation", "RuleResult", "verdict_for"]


class Verdict(enum.Enum):
    """Per-rule verdict, ordered from best to worst by :attr:`rank`."""

    OK = "OK"
    INFORMATIONAL = "INFORMATIONAL"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    NON_STRICT = "NON-STRICT"
    FAILED = "FAILED"

    @property
    def rank(self) -> int:
        """Severity: higher is worse."""
        return list(Verdict).index(self)


class RuleViolation(AssertionError):
    """A rule broken by the endpoint, found by a check or a scenario expectation.

    Args:
        rule_id: Catalog id, e.g. ``CS-2``.
        message: What was expected and what was seen, in one line.
        frame_index: The wire-log entry that shows it, when one does.
    """

    def __init__(self, rule_id: str, message: str, frame_index: int | None = None) -> None:
        super().__init__(f"[{rule_id}] {message}")
        self.rule_id = rule_id
        self.message = message
        self.frame_index = frame_index

    @property
    def _unique_key(self) -> tuple[str, str]:
        return self.rule_id, self.message


@dataclass(frozen=True)
class RuleResult:
    """The verdict on one rule in one scenario, with the evidence."""

    rule_id: str
    level: Level
    verdict: Verdict
    message: str
    frame_index: int | None = None


def verdict_for(level: Level, passed: bool) -> Verdict:
    """Map a rule's level and whether it held to a verdict (INFO rules are always recorded)."""
    if level is Level.INFO:
        return Verdict.INFORMATIONAL
    if passed:
        return Verdict.OK
    return Verdict.FAILED if level is Level.MUST else Verdict.NON_STRICT
