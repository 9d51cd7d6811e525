"""The endpoints × cases and endpoints × rules matrix, as Autobahn shows agents × cases: so
"compatible with Deepgram" can be shown rule by rule. Console table and a self-contained HTML file."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from conformance.catalog import load_catalog
from conformance.engine.events import Event, RunFinished, RunStarted
from conformance.engine.record import CaseRecord
from conformance.redaction import printable, redact
from conformance.report.console import case_label, rule_summary

__all__ = ["Matrix", "MatrixHandler", "render_text", "render_html"]

_CELL_CLASS = {
    "OK": "ok",
    "PASS": "ok",
    "INFORMATIONAL": "info",
    "UNIMPLEMENTED": "info",
    "N/A": "info",
    "NOT JUDGED": "info",
    "N/J": "info",
    "XFAIL": "info",
    "XPASS": "warn",
    "NON-STRICT": "warn",
    "WARN": "warn",
    "FAILED": "bad",
    "FAIL": "bad",
    "ERROR": "bad",
    "SKIP": "none",
    "-": "none",
}


class Matrix:
    """Results of the same suite against several endpoints."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.records: dict[str, dict[str, CaseRecord]] = {}

    def add(self, target: str, records: Sequence[CaseRecord]) -> None:
        """Record one endpoint's run."""
        self.targets.append(target)
        self.records[target] = {r.id: r for r in records}

    def case_ids(self) -> list[str]:
        """Every case id seen, sorted."""
        return sorted({case for by_id in self.records.values() for case in by_id})

    def case_cell(self, target: str, case_id: str) -> tuple[str, str]:
        """(label, detail) of a case on an endpoint."""
        record = self.records[target].get(case_id)
        if record is None:
            return "-", "not run"
        broken = record.failed()
        label = case_label(record)
        detail = "; ".join(f"{r.rule_id}: {r.message}" for r in broken) or (record.error or "")
        return label, detail

    def rule_ids(self) -> list[str]:
        """Every rule judged on any endpoint, in catalog order."""
        order = {rule.id: i for i, rule in enumerate(load_catalog())}
        seen = {s.rule_id for target in self.targets for s in rule_summary(list(self.records[target].values()))}
        return sorted(seen, key=lambda r: order.get(r, len(order)))

    def rule_cell(self, target: str, rule_id: str) -> tuple[str, str]:
        """(worst verdict, where it broke) of a rule on an endpoint."""
        for summary in rule_summary(list(self.records[target].values())):
            if summary.rule_id == rule_id:
                return summary.verdict.value, ", ".join(summary.broken_in)
        return "-", "not judged"


def render_text(matrix: Matrix, stream: TextIO) -> None:
    """Print both matrices as fixed-width tables."""
    width = 14  # columns are numbered; the legend above the tables names the endpoints
    header = "".join(f"{i + 1:<{width + 2}}" for i in range(len(matrix.targets)))
    print("\nendpoints:", file=stream)
    for index, target in enumerate(matrix.targets, 1):
        print(f"  {index}  {printable(target)}", file=stream)
    print(f"\n{'rule':34}{header}", file=stream)
    for rule_id in matrix.rule_ids():
        cells = "".join(f"{matrix.rule_cell(t, rule_id)[0]:<{width + 2}}" for t in matrix.targets)
        print(f"{rule_id:34}{cells}", file=stream)
    print(f"\n{'scenario':34}{header}", file=stream)
    for case_id in matrix.case_ids():
        cells = "".join(f"{matrix.case_cell(t, case_id)[0]:<{width + 2}}" for t in matrix.targets)
        print(f"{case_id:34}{cells}", file=stream)


def _table(matrix: Matrix, title: str, rows: list[str], cell, describe) -> str:
    head = "".join(f"<th>{html.escape(t)}</th>" for t in matrix.targets)
    body = []
    for row in rows:
        cells = []
        for target in matrix.targets:
            label, detail = cell(target, row)
            cells.append(
                f'<td class="{_CELL_CLASS.get(label, "none")}" title="{html.escape(detail)}">{html.escape(label)}</td>'
            )
        body.append(
            f'<tr><th scope="row" title="{html.escape(describe(row))}">{html.escape(row)}</th>{"".join(cells)}</tr>'
        )
    return f"<h2>{html.escape(title)}</h2><table><tr><th></th>{head}</tr>{''.join(body)}</table>"


def render_html(matrix: Matrix) -> str:
    """A self-contained HTML page (inline CSS, no scripts); hover a cell for the evidence."""
    catalog = load_catalog()
    rules = _table(
        matrix,
        "Rules × endpoints",
        matrix.rule_ids(),
        matrix.rule_cell,
        lambda r: f"{catalog[r].level.value}: {catalog[r].statement}",
    )
    cases = _table(matrix, "Scenarios × endpoints", matrix.case_ids(), matrix.case_cell, lambda c: c)
    details = []
    for target in matrix.targets:
        for case_id in matrix.case_ids():
            label, detail = matrix.case_cell(target, case_id)
            if label in ("FAIL", "WARN", "ERROR", "XPASS"):
                details.append(
                    f"<li><b>{html.escape(target)}</b> · {html.escape(case_id)} · {html.escape(label)}: {html.escape(detail)}</li>"
                )
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
        "td,th{border:1px solid #ccc;padding:.3em .7em;text-align:left}td{text-align:center;font-weight:600}"
        ".ok{background:#c8f0c8}.warn{background:#fbe7a1}.bad{background:#f5b5b5}.info{background:#cfe3fa}.none{color:#888}"
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>stt-conformance matrix</title><style>{style}</style></head>'
        f"<body><h1>stt-conformance: {len(matrix.targets)} endpoint(s)</h1>{rules}{cases}"
        f"<h2>Broken rules</h2><ul>{''.join(details) or '<li>none</li>'}</ul></body></html>\n"
    )


class MatrixHandler:
    """Collects every run of a multi-endpoint invocation; prints and writes the matrix at the end."""

    def __init__(self, stream: TextIO, html_path: Path | None = None, *, print_table: bool = True) -> None:
        self.stream = stream
        self.html_path = html_path
        self.print_table = print_table
        self.matrix = Matrix()
        self._target: str | None = None

    def start(self) -> None:
        """Nothing to prepare."""

    def handle_event(self, event: Event) -> None:
        """Keep each run's records under its target."""
        if isinstance(event, RunStarted):
            self._target = event.target
        elif isinstance(event, RunFinished) and self._target is not None:
            self.matrix.add(self._target, event.records)

    def shutdown(self) -> None:
        """Print the table (several endpoints) and write the HTML file (if asked)."""
        if not self.matrix.targets:
            return
        if self.print_table:
            render_text(self.matrix, self.stream)
        if self.html_path is not None:
            self.html_path.parent.mkdir(parents=True, exist_ok=True)
            self.html_path.write_text(redact(render_html(self.matrix)), encoding="utf-8")
