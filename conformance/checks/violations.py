"""A broken rule is a :class:`RuleViolation`, graded by the rule's level into a
:class:`~conformance.verdicts.Verdict`; a rule the trace should have exercised but could not is
:class:`NotJudged`."""

from __future__ import annotations

__all__ = ["RuleViolation", "NotJudged"]


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
        rests_on: Rules this one finding of absence rests on, beyond the rule's own ``needs`` in
            the catalog: where the thing could only have come through what another rule judges
            (audio after a Finalize transcribed only by the CloseStream flush), it gives way when
            that rule broke.
    """

    def __init__(
        self,
        rule_id: str,
        message: str,
        frame_index: int | None = None,
        *,
        absence: bool = False,
        rests_on: tuple[str, ...] = (),
    ) -> None:
        super().__init__(f"[{rule_id}] {message}")
        self.rule_id = rule_id
        self.message = message
        self.frame_index = frame_index
        self.absence = absence
        self.rests_on = rests_on

    @property
    def _unique_key(self) -> tuple[str, str]:
        return self.rule_id, self.message


class NotJudged(Exception):
    """Raised by a check whose rule the trace was meant to exercise but could not; ``reason`` says why."""

    def __init__(self, rule_id: str, reason: str) -> None:
        super().__init__(f"[{rule_id}] not judged: {reason}")
        self.rule_id = rule_id
        self.reason = reason
