"""Verdicts: a broken rule is a :class:`RuleViolation`, graded by the rule's level.

Vocabulary after Autobahn|Testsuite: OK, NON-STRICT (a SHOULD broken), INFORMATIONAL (behaviour the
spec leaves open, recorded), UNIMPLEMENTED (an optional feature is absent), FAILED (a MUST broken),
plus NOT JUDGED: the run was meant to exercise the rule but could not (the stream ended first, the
frames it needed were malformed, a rule it needs was broken), so no verdict is given.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from conformance.catalog import Level

__all__ = ["Verdict", "RuleViolation", "NotJudged", "RuleResult", "verdict_for"]


class Verdict(enum.Enum):
    """Per-rule verdict, ordered from best to worst by :attr:`rank`."""

    NOT_JUDGED = "NOT JUDGED"
    OK = "OK"
    INFORMATIONAL = "INFORMATIONAL"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    NON_STRICT = "NON-STRICT"
    FAILED = "FAILED"

    @property
    def rank(self) -> int:
        """Severity: higher is worse."""
        return list(Verdict).index(self)

    @property
    def broken(self) -> bool:
        """A rule was broken (FAILED or NON-STRICT)."""
        return self in (Verdict.FAILED, Verdict.NON_STRICT)


class RuleViolation(AssertionError):
    """A rule broken by the endpoint, found by a check or a scenario expectation.

    Args:
        rule_id: Catalog id, e.g. ``CS-2``.
        message: What was expected and what was seen, in one line.
        frame_index: The wire-log entry that shows it, when one does.
        absence: The finding is that something did *not* happen (no flush, no interim). Such a
            finding is only as good as the evidence that the thing could have happened: it gives
            way to NOT JUDGED when a rule it needs broke, or when the frames it looked for were
            malformed or blamed on another rule.
    """

    def __init__(self, rule_id: str, message: str, frame_index: int | None = None, *, absence: bool = False) -> None:
        super().__init__(f"[{rule_id}] {message}")
        self.rule_id = rule_id
        self.message = message
        self.frame_index = frame_index
        self.absence = absence

    @property
    def _unique_key(self) -> tuple[str, str]:
        return self.rule_id, self.message


class NotJudged(Exception):
    """Raised by a check whose rule the trace was meant to exercise but could not; ``reason`` says why."""

    def __init__(self, rule_id: str, reason: str) -> None:
        super().__init__(f"[{rule_id}] not judged: {reason}")
        self.rule_id = rule_id
        self.reason = reason


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
