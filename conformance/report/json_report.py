"""The JSON report: the run's summary and every case record, written at the end of the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.engine.events import Event, RunFinished, RunStarted
from conformance.report.console import rule_summary
from conformance.report.serialize import record_to_json

__all__ = ["JsonHandler", "report_document"]


def report_document(started: RunStarted | None, finished: RunFinished) -> dict[str, Any]:
    """The report as a JSON-ready dict."""
    return {
        "tool": "stt-conformance",
        "target": started.target if started else None,
        "time_scale": started.timing.scale if started else None,
        "idle_timeout_s": started.timing.idle_timeout if started else None,
        "exit_code": finished.exit_code,
        "duration_s": round(finished.duration, 3),
        "rules": [
            {"rule": s.rule_id, "level": s.level, "verdict": s.verdict.value, "cases": s.cases, "broken_in": s.broken_in}
            for s in rule_summary(finished.records)
        ],
        "cases": [record_to_json(r) for r in finished.records],
    }


class JsonHandler:
    """Writes :func:`report_document` to ``path`` when the run finishes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started: RunStarted | None = None
        self.finished: RunFinished | None = None

    def start(self) -> None:
        """Nothing to prepare."""

    def handle_event(self, event: Event) -> None:
        """Keep the events the report needs."""
        if isinstance(event, RunStarted):
            self.started = event
        elif isinstance(event, RunFinished):
            self.finished = event

    def shutdown(self) -> None:
        """Write the report (nothing when the run never finished)."""
        if self.finished is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(report_document(self.started, self.finished), indent=2) + "\n", encoding="utf-8")
