"""Judge clients that connect to a running mock by themselves (``conformance mock --judge-clients``):
a browser page, a phone app, a service that cannot be started as a command. Each connection is
judged by the client rules when it ends and reported as one case; the same event stream as
``conformance run`` feeds the reporters."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from conformance.catalog import load_catalog
from conformance.client.evidence import ClientConnection, ClientRun
from conformance.client.judge import judge_client
from conformance.client.scenario import ClientScenario
from conformance.engine.events import Event, RunFinished, RunStarted, ScenarioFinished
from conformance.engine.record import CaseRecord, Status, exit_code_for, status_from_results
from conformance.scenario.durations import Timing

__all__ = ["LiveJudge", "LIVE_SCENARIO"]

LIVE_SCENARIO = ClientScenario(
    id="client.live",
    title="A client connection to the mock",
    # C-ERR-1 needs the program's exit status, unknown for a client we did not start.
    rules=tuple(r.id for r in load_catalog() if r.side == "client" and r.id != "C-ERR-1"),
    description="Whatever the client chose to do, judged by every client rule it exercised.",
)


class LiveJudge:
    """Turns each finished connection into a judged case and hands the events to ``emit``.

    Args:
        target: The mock's URL, for the reports.
        timing: The mock's idle timeout and time scale.
        emit: Receives RunStarted now, ScenarioFinished per connection, RunFinished at :meth:`finish`.
    """

    def __init__(self, target: str, timing: Timing, emit: Callable[[Event], None]) -> None:
        self.timing = timing
        self.emit = emit
        self.records: list[CaseRecord] = []
        self.started = time.monotonic()
        self._numbers = itertools.count(1)
        emit(RunStarted(target=target, scenario_count=0, timing=timing, jobs=1, open_ended=True))

    def connection_finished(self, connection: ClientConnection) -> None:
        """Judge one connection (the recorder calls this when its TCP connection ends)."""
        if connection.trace.handshake.status is None:
            return  # a port probe or a health check, not a client stream
        number = next(self._numbers)
        run = ClientRun(LIVE_SCENARIO, self.timing, [connection], exit_status=None, process=False)
        record = CaseRecord(
            f"client.live.{number}",
            f"connection {number}: {connection.trace.handshake.url.split('?')[0] or '(no path)'}",
            LIVE_SCENARIO.description,
            LIVE_SCENARIO.rules,
            status_from_results([]),
        )
        record.trace = connection.trace
        record.results = judge_client(run)
        record.status = status_from_results(record.results)
        record.duration = connection.trace.close.t if connection.trace.close else 0.0
        self.records.append(record)
        self.emit(ScenarioFinished(record=record))
        # The reporters have its trace now; the summary needs the verdicts, the final JSON report
        # the evidence of findings only: a mock judging clients for days keeps a few kB each.
        connection.trace.compact()
        if record.status is Status.SUCCESS and not any(r.verdict.broken for r in record.results):
            record.trace = None

    def finish(self) -> int:
        """Emit RunFinished; the exit code of the connections judged so far (2 when there were none)."""
        code = exit_code_for(self.records)
        self.emit(RunFinished(records=tuple(self.records), exit_code=code, duration=time.monotonic() - self.started))
        return code
