"""The full record of one case (Autobahn style) and how statuses become an exit code."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from conformance.engine.trace import Trace
from conformance.verdicts import RuleResult, Verdict

__all__ = [
    "Status",
    "CaseRecord",
    "exit_code_for",
    "status_from_results",
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_UNREACHABLE",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class Status(enum.Enum):
    """Outcome of a case as a whole."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    ERROR = "ERROR"
    SKIP = "SKIP"
    INTERRUPTED = "INTERRUPTED"
    XFAIL = "XFAIL"
    XPASS = "XPASS"


@dataclass
class CaseRecord:
    """Everything known about one scenario run; the JSON report is this, serialised."""

    id: str
    title: str
    description: str
    rules: tuple[str, ...]
    status: Status
    results: list[RuleResult] = field(default_factory=list)
    duration: float = 0.0
    trace: Trace | None = None
    error: str | None = None
    unreachable: bool = False
    path: str | None = None
    # How late the suite itself was at worst while playing the case: (seconds, in words).
    harness_lateness: tuple[float, str] | None = None

    @property
    def worst(self) -> Verdict:
        """The worst verdict among the rules judged."""
        return max((r.verdict for r in self.results), key=lambda v: v.rank, default=Verdict.OK)

    def failed(self) -> list[RuleResult]:
        """Rules that broke (FAILED or NON-STRICT)."""
        return [r for r in self.results if r.verdict in (Verdict.FAILED, Verdict.NON_STRICT)]


def status_from_results(results: Sequence[RuleResult]) -> Status:
    """FAILURE when any MUST rule failed, else SUCCESS."""
    return Status.FAILURE if any(r.verdict is Verdict.FAILED for r in results) else Status.SUCCESS


def exit_code_for(records: Sequence[CaseRecord]) -> int:
    """0 no MUST broken; 1 a MUST broken or a case could not be judged; 3 target unreachable;
    2 when no case ran at all (never success)."""
    statuses = {r.status for r in records}
    if Status.FAILURE in statuses:
        return EXIT_FAILED
    if any(r.unreachable for r in records):
        return EXIT_UNREACHABLE
    if Status.ERROR in statuses or Status.INTERRUPTED in statuses:
        return EXIT_FAILED
    if not statuses & {Status.SUCCESS, Status.XFAIL, Status.XPASS}:
        return EXIT_USAGE
    return EXIT_OK
