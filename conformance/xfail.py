"""Expected failures for a real deployment: ``--xfail FILE``.

The file is YAML, a list of entries::

    - scenario: "finalize.channel.*"   # id, shell wildcards allowed
      rule: FIN-3                      # optional: only this rule; default any rule
      reason: multichannel Finalize lands in v2

A case whose every broken rule is listed becomes XFAIL and does not fail the run. A listed case
whose listed rule holds becomes XPASS, reported so the entry can be removed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from conformance.catalog import load_catalog
from conformance.engine.record import CaseRecord, Status
from conformance.errors import UsageError
from conformance.verdicts import Verdict

__all__ = ["Expected", "load_xfail", "apply_xfail"]

_BROKEN = (Verdict.FAILED, Verdict.NON_STRICT)


@dataclass(frozen=True)
class Expected:
    """One expected failure."""

    scenario: str
    rule: str | None
    reason: str

    def covers(self, case_id: str, rule_id: str | None = None) -> bool:
        """Whether this entry is about ``case_id`` (and ``rule_id`` when given)."""
        return fnmatch.fnmatchcase(case_id, self.scenario) and (
            self.rule is None or rule_id is None or rule_id == self.rule
        )


def load_xfail(path: Path) -> list[Expected]:
    """Read an expected-failure file.

    Raises:
        UsageError: unreadable file, not a list, an entry without ``scenario``, or an unknown rule id.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except OSError as exc:
        raise UsageError(f"--xfail {path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise UsageError(f"--xfail {path}: {where}YAML syntax error: {getattr(exc, 'problem', None) or exc}") from exc
    if not isinstance(document, list):
        raise UsageError(f"--xfail {path}: expected a list of entries with 'scenario', 'rule' and 'reason'")
    catalog = load_catalog()
    entries = []
    for index, item in enumerate(document):
        if not isinstance(item, dict) or not isinstance(item.get("scenario"), str):
            raise UsageError(f"--xfail {path}: entry {index} needs a 'scenario' id or pattern")
        rule = item.get("rule")
        if rule is not None and rule not in catalog:
            raise UsageError(f"--xfail {path}: entry {index}: unknown rule {rule!r}.{catalog.suggest(str(rule))}")
        entries.append(Expected(item["scenario"], rule, str(item.get("reason", ""))))
    return entries


def apply_xfail(record: CaseRecord, expected: Sequence[Expected]) -> None:
    """Turn a FAILURE whose broken rules are all expected into XFAIL, and a listed pass into XPASS."""
    entries = [e for e in expected if e.covers(record.id)]
    if not entries or record.status not in (Status.SUCCESS, Status.FAILURE):
        return
    broken = [r for r in record.results if r.verdict in _BROKEN]
    covered = [r for r in broken if any(e.covers(record.id, r.rule_id) for e in entries)]
    reasons = "; ".join(sorted({e.reason for e in entries if e.reason})) or "listed in --xfail"
    if broken and len(covered) == len(broken):
        record.status, record.error = Status.XFAIL, f"expected failure: {reasons}"
    elif not covered and record.status is Status.SUCCESS:
        record.status, record.error = Status.XPASS, f"expected to fail but passed: {reasons}"
