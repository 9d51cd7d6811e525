"""JSONL trace files: one per failed or errored scenario, to attach to a bug report."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conformance.engine.events import Event, RunStarted, ScenarioFinished
from conformance.engine.record import Status
from conformance.report.serialize import trace_lines

__all__ = ["TraceHandler"]


def _slug(target: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", target.split("://", 1)[-1]).strip("_")


class TraceHandler:
    """Writes ``<dir>/<scenario id>.jsonl`` as each failed case finishes; with ``per_target``
    (several endpoints in one invocation) under ``<dir>/<endpoint>/``."""

    def __init__(self, directory: Path, *, per_target: bool = False) -> None:
        self.directory = directory
        self.per_target = per_target
        self.written: list[Path] = []
        self._folder = directory

    def start(self) -> None:
        """Nothing to prepare: the folder is made on the first failure."""

    def handle_event(self, event: Event) -> None:
        """Dump the trace of a FAILURE or ERROR case."""
        if isinstance(event, RunStarted) and self.per_target:
            self._folder = self.directory / _slug(event.target)
        if not isinstance(event, ScenarioFinished) or event.record.status not in (Status.FAILURE, Status.ERROR):
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self._folder / f"{event.record.id}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for line in trace_lines(event.record):
                out.write(json.dumps(line, default=str) + "\n")
        self.written.append(path)

    def shutdown(self) -> None:
        """Nothing to release."""
