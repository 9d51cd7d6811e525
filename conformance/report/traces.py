"""JSONL trace files: one per failed or errored scenario, to attach to a bug report."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.engine.events import Event, ScenarioFinished
from conformance.engine.record import Status
from conformance.report.serialize import trace_lines

__all__ = ["TraceHandler"]


class TraceHandler:
    """Writes ``<dir>/<scenario id>.jsonl`` as each failed case finishes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.written: list[Path] = []

    def start(self) -> None:
        """Nothing to prepare: the folder is made on the first failure."""

    def handle_event(self, event: Event) -> None:
        """Dump the trace of a FAILURE or ERROR case."""
        if not isinstance(event, ScenarioFinished) or event.record.status not in (Status.FAILURE, Status.ERROR):
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{event.record.id}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for line in trace_lines(event.record):
                out.write(json.dumps(line, default=str) + "\n")
        self.written.append(path)

    def shutdown(self) -> None:
        """Nothing to release."""
