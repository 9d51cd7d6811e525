"""JSONL trace files: one per scenario with a finding (FAILED, NON-STRICT, UNIMPLEMENTED) or an
error, to attach to a bug report: the evidence of a SHOULD finding or a refusal is needed as much
as that of a broken MUST."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conformance.engine.events import Event, RunStarted, ScenarioFinished
from conformance.engine.record import CaseRecord, Status
from conformance.redaction import redact_tree
from conformance.report.serialize import trace_lines
from conformance.verdicts import Verdict

__all__ = ["TraceHandler", "has_finding"]


def _slug(target: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", target.split("://", 1)[-1]).strip("_")


def has_finding(record: CaseRecord) -> bool:
    """A FAILURE or ERROR, or any rule broken or refused (a WARN or N/A case)."""
    if record.status in (Status.FAILURE, Status.ERROR):
        return True
    return any(r.verdict.broken or r.verdict is Verdict.UNIMPLEMENTED for r in record.results)


class TraceHandler:
    """Writes ``<dir>/<scenario id>.jsonl`` as each case with a finding finishes; with ``per_target``
    (several endpoints in one invocation) under ``<dir>/<endpoint>/``."""

    def __init__(self, directory: Path, *, per_target: bool = False) -> None:
        self.directory = directory
        self.per_target = per_target
        self.written: list[Path] = []
        self._folder = directory

    def start(self) -> None:
        """Nothing to prepare: the folder is made on the first failure."""

    def handle_event(self, event: Event) -> None:
        """Dump the trace of a case with a finding or an error."""
        if isinstance(event, RunStarted) and self.per_target:
            self._folder = self.directory / _slug(event.target)
        if not isinstance(event, ScenarioFinished) or not has_finding(event.record):
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self._folder / f"{event.record.id}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for line in trace_lines(event.record):
                out.write(json.dumps(redact_tree(line), default=str) + "\n")
        self.written.append(path)

    def shutdown(self) -> None:
        """Nothing to release."""
