"""The vocabulary of outcomes: a :class:`Verdict` per rule and the :class:`RuleResult` that carries
it. Shared by the checks that produce verdicts, the records that keep them and the reports that
show them, so it depends on nothing but the catalog.

Vocabulary after Autobahn|Testsuite: OK, NON-STRICT (a SHOULD broken), INFORMATIONAL (behaviour the
spec leaves open, recorded), UNIMPLEMENTED (an optional feature is absent), FAILED (a MUST broken),
plus NOT JUDGED: the run was meant to exercise the rule but could not (the stream ended first, the
frames it needed were malformed, a rule it needs was broken), so no verdict is given.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from conformance.catalog import Level

__all__ = ["Verdict", "RuleResult", "verdict_for", "HARNESS_LATE"]

# Opens the message of every verdict not judged because the suite itself ran late (checks.harness):
# reports count them and say so, apart from what the server did.
HARNESS_LATE = "not judged for the suite's own lateness"


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
