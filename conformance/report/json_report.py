"""The JSON report: the run's summary and every case record, written at the end of the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.engine.events import Event, FatalError, RunFinished, RunStarted
from conformance.redaction import redact_tree
from conformance.report.console import harness_summary, rule_summary
from conformance.report.serialize import record_to_json

__all__ = ["JsonHandler", "run_document"]


def run_document(started: RunStarted, finished: RunFinished) -> dict[str, Any]:
    """One endpoint's run as a JSON-ready dict."""
    return {
        "target": started.target,
        "tls_insecure": started.tls_insecure,
        "time_scale": started.timing.scale,
        "idle_timeout_s": started.timing.idle_timeout,
        "exit_code": finished.exit_code,
        "interrupted": finished.interrupted,
        "duration_s": round(finished.duration, 3),
        "harness_lateness": _harness(finished),
        "rules": [
            {
                "rule": s.rule_id,
                "level": s.level,
                "verdict": s.verdict.value,
                "cases": s.cases,
                "broken_in": s.broken_in,
            }
            for s in rule_summary(finished.records)
        ],
        "cases": [record_to_json(r) for r in finished.records],
    }


def _harness(finished: RunFinished) -> dict[str, Any]:
    summary = harness_summary(finished.records)
    return {
        "worst_ms": round(summary.worst * 1000, 1),
        "where": summary.where or None,
        "case": summary.case,
        "not_judged_for_it": summary.not_judged,
    }


class JsonHandler:
    """Writes ``{"tool", "runs": [one document per endpoint]}`` to ``path`` at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.runs: list[dict[str, Any]] = []
        self._started: RunStarted | None = None

    def start(self) -> None:
        """Nothing to prepare."""

    def handle_event(self, event: Event) -> None:
        """Keep each finished run."""
        if isinstance(event, RunStarted):
            self._started = event
        elif isinstance(event, RunFinished) and self._started is not None:
            self.runs.append(run_document(self._started, event))
        elif isinstance(event, FatalError):
            # A run that could not start still leaves a report that says why (CI reads it).
            target = self._started.target if self._started is not None else None
            self.runs.append(
                {"target": target, "exit_code": event.exit_code, "error": event.message, "rules": [], "cases": []}
            )

    def shutdown(self) -> None:
        """Write the report (nothing when no run finished)."""
        if not self.runs:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = redact_tree({"tool": "stt-conformance", "runs": self.runs})
        self.path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
