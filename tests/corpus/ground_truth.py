"""Compare the suite's verdicts with the verdicts written by hand (``tests/corpus/*.yaml``), and count
how far they agree: precision and recall over broken rules, false alarms, misses, vacuous passes.

An expectation file lists, per case, the verdict of every rule that must not come out OK; any
other rule the case judges must be OK. INFO rules are written ``INFORMATIONAL as described`` or
``INFORMATIONAL differs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conformance.engine.record import CaseRecord
from conformance.verdicts import Verdict

HERE = Path(__file__).resolve().parent
_BROKEN = ("FAILED", "NON-STRICT")
_UNJUDGED = ("NOT JUDGED", "UNIMPLEMENTED")


def load(name: str) -> dict[str, Any]:
    """An expectation file of this folder."""
    return yaml.safe_load((HERE / f"{name}.yaml").read_text(encoding="utf-8"))


def shown(verdict: Verdict, message: str) -> str:
    """A verdict as the expectation files write it."""
    if verdict is Verdict.INFORMATIONAL:
        return "INFORMATIONAL " + ("differs" if message.startswith("differs") else "as described")
    return verdict.value


@dataclass
class Agreement:
    """Verdicts compared over (case, rule) pairs."""

    pairs: int = 0
    mismatches: list[str] = field(default_factory=list)
    true_positive: int = 0
    predicted_positive: int = 0
    actual_positive: int = 0
    false_alarms: int = 0
    misses: int = 0
    vacuous_passes: int = 0
    unjudged_agreed: int = 0

    @property
    def precision(self) -> float:
        return self.true_positive / self.predicted_positive if self.predicted_positive else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive / self.actual_positive if self.actual_positive else 1.0

    def add(self, other: Agreement) -> None:
        for name in (
            "pairs",
            "true_positive",
            "predicted_positive",
            "actual_positive",
            "false_alarms",
            "misses",
            "vacuous_passes",
            "unjudged_agreed",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.mismatches += other.mismatches

    def summary(self) -> str:
        return (
            f"{self.pairs} verdicts: precision {self.precision:.3f}, recall {self.recall:.3f} over {self.actual_positive} broken rules; "
            f"{self.false_alarms} false alarms, {self.misses} misses, {self.vacuous_passes} vacuous passes, "
            f"{self.unjudged_agreed} NOT JUDGED/UNIMPLEMENTED as expected; {len(self.mismatches)} mismatches"
        )


def _pair(agreement: Agreement, where: str, expected: str, actual: str) -> None:
    agreement.pairs += 1
    broken_expected, broken_actual = expected in _BROKEN, actual in _BROKEN
    agreement.actual_positive += broken_expected
    agreement.predicted_positive += broken_actual
    if expected == actual:
        agreement.true_positive += broken_expected
        agreement.unjudged_agreed += expected in _UNJUDGED
        return
    agreement.mismatches.append(f"{where}: expected {expected}, got {actual}")
    agreement.false_alarms += broken_actual
    agreement.misses += broken_expected
    agreement.vacuous_passes += expected in _UNJUDGED and actual in ("OK", "INFORMATIONAL as described")


def compare(
    expected: dict[str, dict[str, Any]],
    records: Sequence[CaseRecord],
    *,
    label: str = "",
    statuses: dict[str, str] | None = None,
) -> Agreement:
    """Every (case, rule) verdict and every case status against the expectations."""
    agreement = Agreement()
    by_id = {record.id: record for record in records}
    for case_id in sorted(set(expected) | set(by_id)):
        record, wanted = by_id.get(case_id), expected.get(case_id)
        if record is None or wanted is None:
            agreement.mismatches.append(
                f"{label}{case_id}: {'expected but not run' if record is None else 'run but not expected'}"
            )
            continue
        actual = {r.rule_id: shown(r.verdict, r.message) for r in record.results}
        for rule in sorted(set(actual) | set(wanted)):
            _pair(agreement, f"{label}{case_id} {rule}", wanted.get(rule, "OK"), actual.get(rule, "absent"))
        status = (statuses or {}).get(case_id) or ("FAILURE" if "FAILED" in wanted.values() else "SUCCESS")
        if record.status.value != status:
            agreement.mismatches.append(
                f"{label}{case_id}: expected status {status}, got {record.status.value} ({record.error})"
            )
    return agreement


def details(records: Iterable[CaseRecord]) -> str:
    """Every verdict that is not OK, to read beside the mismatches."""
    return "\n".join(
        f"  {r.id} {v.rule_id} {v.verdict.value}: {v.message[:200]}"
        for r in records
        for v in r.results
        if v.verdict is not Verdict.OK
    )
