"""JUnit XML: one testcase per scenario. A FAILED rule is a <failure> naming the rule, what was
expected and what was seen; a harness problem is an <error>; NON-STRICT verdicts pass with a
property and a note in <system-out>, since JUnit has no "warning"."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from conformance.engine.events import Event, FatalError, RunFinished, RunStarted
from conformance.engine.record import CaseRecord, Status
from conformance.redaction import xml_safe
from conformance.verdicts import Verdict

__all__ = ["JunitWriter", "JunitHandler"]


class JunitWriter:
    """Builds the XML document, one <testsuite> per endpoint; pure apart from :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.root = ET.Element("testsuites")
        self.suite: ET.Element | None = None
        self.counts: dict[str, int] = {}
        self.total_time = 0.0

    def start_suite(self, target: str, *, tls_insecure: bool = False) -> None:
        """Begin the cases of one endpoint; an unverified TLS run says so in the suite's properties."""
        self._finish_suite()
        self.suite = ET.SubElement(self.root, "testsuite", name=f"stt-conformance {target}")
        if tls_insecure:
            properties = ET.SubElement(self.suite, "properties")
            ET.SubElement(
                properties, "property", name="tls_insecure", value="true: certificate verification was disabled"
            )
        self.counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        self.total_time = 0.0

    def _finish_suite(self) -> None:
        if self.suite is None:
            return
        for key, value in self.counts.items():
            self.suite.set(key, str(value))
        self.suite.set("time", f"{self.total_time:.3f}")

    def record_case(self, record: CaseRecord) -> None:
        """Add one scenario as a testcase of the current suite."""
        assert self.suite is not None, "start_suite() before record_case()"
        classname, _, _ = record.id.rpartition(".")
        case = ET.SubElement(
            self.suite, "testcase", classname=classname or record.id, name=record.id, time=f"{record.duration:.3f}"
        )
        self.counts["tests"] += 1
        self.total_time += record.duration
        if record.status is Status.FAILURE:
            failed = [r for r in record.results if r.verdict is Verdict.FAILED]
            first = failed[0]
            element = ET.SubElement(
                case,
                "failure",
                message=f"{first.rule_id} ({first.level.value}): {first.message}"[:1000],
                type=first.rule_id,
            )
            element.text = "\n".join(
                f"{r.verdict.value} {r.rule_id} ({r.level.value}): {r.message}" for r in record.failed()
            )
            self.counts["failures"] += 1
        elif record.status in (Status.ERROR, Status.INTERRUPTED):
            ET.SubElement(case, "error", message=record.error or "could not run", type=record.status.value)
            self.counts["errors"] += 1
        elif record.status in (Status.SKIP, Status.XFAIL):
            ET.SubElement(case, "skipped", message=record.error or "skipped")
            self.counts["skipped"] += 1
        properties = ET.SubElement(case, "properties")
        for result in record.results:
            ET.SubElement(properties, "property", name=result.rule_id, value=result.verdict.value)
        noted = (Verdict.NON_STRICT, Verdict.UNIMPLEMENTED, Verdict.NOT_JUDGED, Verdict.INFORMATIONAL)
        notes = [f"{r.verdict.value} {r.rule_id}: {r.message}" for r in record.results if r.verdict in noted]
        if record.status is Status.XPASS and record.error:
            notes.insert(0, record.error)
        if notes:
            ET.SubElement(case, "system-out").text = "\n".join(notes)

    def finish_run(self, duration: float, interrupted: str | None = None) -> None:
        """The suite's time is the run's wall time (cases play at once: their sum is no time at
        all); a run a signal stopped says so in the suite's properties."""
        assert self.suite is not None, "start_suite() before finish_run()"
        self.total_time = duration
        if interrupted:
            properties = self.suite.find("properties")
            if properties is None:
                properties = ET.Element("properties")
                self.suite.insert(0, properties)
            ET.SubElement(
                properties,
                "property",
                name="interrupted",
                value=f"{interrupted}: the cases that had not finished are errors",
            )

    def record_fatal(self, message: str) -> None:
        """A run that could not start: one errored testcase that says why, so CI sees a failure."""
        if self.suite is None:
            self.start_suite("(not started)")
        assert self.suite is not None
        case = ET.SubElement(self.suite, "testcase", classname="run", name="run", time="0.000")
        ET.SubElement(case, "error", message=message, type="FATAL")
        self.counts["tests"] += 1
        self.counts["errors"] += 1

    def close(self) -> None:
        """Write the file; peer text in it is redacted and stripped of what XML 1.0 cannot hold, so
        CI can always parse it."""
        self._finish_suite()
        for element in self.root.iter():
            element.attrib.update({name: xml_safe(value) for name, value in element.attrib.items()})
            if element.text:
                element.text = xml_safe(element.text)
        tree = ET.ElementTree(self.root)
        ET.indent(tree)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tree.write(self.path, encoding="utf-8", xml_declaration=True)


class JunitHandler:
    """Maps run events to :class:`JunitWriter` calls."""

    def __init__(self, path: Path) -> None:
        self.writer = JunitWriter(path)

    def start(self) -> None:
        """Nothing to prepare."""

    def handle_event(self, event: Event) -> None:
        """A suite per endpoint; its cases in id order once the run is over."""
        if isinstance(event, RunStarted):
            self.writer.start_suite(event.target, tls_insecure=event.tls_insecure)
        elif isinstance(event, RunFinished):
            for record in event.records:
                self.writer.record_case(record)
            self.writer.finish_run(event.duration, event.interrupted)
        elif isinstance(event, FatalError):
            self.writer.record_fatal(event.message)

    def shutdown(self) -> None:
        """Write the file, also after an interrupted run (with the cases it has)."""
        self.writer.close()
