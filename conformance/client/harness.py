"""Run a client program against the record-and-judge mock, one client scenario at a time, and
yield the same event stream as :class:`~conformance.run.runner.Runner`, so every reporter of
``conformance run`` (console, JUnit, JSON, traces) renders client runs too.

Per scenario: a fresh mock on a free port with the scenario's provocations; the program started
in its own process group with the URL and the job in its environment (and ``{placeholders}`` in
its arguments); a deadline, after which the whole group is stopped; then the recording judged.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shlex
import shutil
import signal
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from conformance._resources import data_path
from conformance.client.evidence import ClientRun
from conformance.client.judge import judge_client
from conformance.client.progress import progress
from conformance.client.recorder import Recorder
from conformance.client.scenario import ClientScenario
from conformance.engine.events import Event, RunFinished, RunStarted, ScenarioFinished, ScenarioStarted
from conformance.engine.record import CaseRecord, Status, exit_code_for, status_from_results
from conformance.engine.trace import Trace
from conformance.errors import UsageError
from conformance.mock.server import MockConfig, MockServer
from conformance.mock.session import Behaviour
from conformance.redaction import hide
from conformance.scenario.durations import Timing
from conformance.verdicts import Verdict

__all__ = ["ClientOptions", "ClientHarness", "PLACEHOLDERS", "check_command"]

PLACEHOLDERS = ("url", "host", "port", "audio", "seconds", "pause", "time_scale")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_OUTPUT_TAIL_BYTES = 4096
_STOP_GRACE_SECONDS = 3.0
# After the program exits, the mock may still be finishing the closing handshake of its sockets.
_SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class ClientOptions:
    """How to run the program.

    Args:
        timing: The mock's idle timeout and time scale (the program gets CONFORMANCE_TIME_SCALE).
        api_key: The key the mock requires and hands over as DEEPGRAM_API_KEY; None: a random one.
        audio: The WAV handed over as CONFORMANCE_AUDIO (default: the bundled speech clip).
        deadline: Seconds the program may run per scenario; None: the scenario's own.
        echo: Where to copy the program's output as it runs, line-prefixed; None: keep it quiet.
    """

    timing: Timing = Timing()
    api_key: str | None = None
    audio: Path | None = None
    deadline: float | None = None
    echo: TextIO | None = None


def check_command(command: Sequence[str]) -> None:
    """Fail early, with one line, when the program cannot be started.

    Raises:
        UsageError: no command, or its executable is not found or not executable.
    """
    if not command:
        raise UsageError("no client command: write it after '--', e.g. conformance client -- node app.js")
    program = command[0]
    if os.sep in program:
        if not os.path.isfile(program) or not os.access(program, os.X_OK):
            raise UsageError(f"cannot run {program!r}: not an executable file")
    elif shutil.which(program) is None:
        raise UsageError(f"cannot run {program!r}: not found on PATH")


class ClientHarness:
    """Plays ``scenarios`` with the client program ``command``."""

    def __init__(
        self, scenarios: Sequence[ClientScenario], command: Sequence[str], options: ClientOptions = ClientOptions()
    ) -> None:
        self.scenarios = list(scenarios)
        self.command = list(command)
        self.options = options

    async def execute(self) -> AsyncIterator[Event]:
        """Yield RunStarted, ScenarioStarted/Finished per scenario, then RunFinished."""
        started = time.monotonic()
        target = f"client `{shlex.join(self.command)}`"
        yield RunStarted(target=target, scenario_count=len(self.scenarios), timing=self.options.timing, jobs=1)
        records = []
        for scenario in self.scenarios:
            yield ScenarioStarted(scenario_id=scenario.id, title=scenario.title)
            try:
                record = await self.play(scenario)
            except UsageError:
                raise
            except Exception as exc:  # a harness bug must cost one case, never the run
                record = CaseRecord(scenario.id, scenario.title, scenario.description, scenario.rules, Status.ERROR)
                record.error = f"internal error: {type(exc).__name__}: {exc}"
            records.append(record)
            yield ScenarioFinished(record=record)
        yield RunFinished(records=tuple(records), exit_code=exit_code_for(records), duration=time.monotonic() - started)

    async def play(self, scenario: ClientScenario) -> CaseRecord:
        """Run the program once under ``scenario`` and judge what it sent."""
        timing, loop = self.options.timing, asyncio.get_running_loop()
        key = self.options.api_key or secrets.token_hex(16)
        hide(key)  # the program may print it; its output reaches the reports
        recorder = Recorder(scenario.id, key, timing, loop.time)
        behaviour = Behaviour(
            scenario.server.flush_delay, scenario.server.metadata_delay, scenario.server.error_after_audio
        )
        config = MockConfig(api_key=key, time_scale=timing.scale, idle_timeout=timing.idle_timeout, behaviour=behaviour)
        run = ClientRun(scenario, timing)
        async with MockServer(config, observe=recorder.connection) as mock:
            url = mock.url
            await self._run_program(run, mock, key)
            settle_until = time.monotonic() + _SETTLE_SECONDS
            while not recorder.all_closed() and time.monotonic() < settle_until:
                await asyncio.sleep(0.05)
        run.connections = recorder.connections
        return self._record(run, url)

    def _environment(self, scenario: ClientScenario, url: str, port: int, key: str) -> dict[str, str]:
        timing = self.options.timing
        return {
            "DEEPGRAM_URL": url,
            "DEEPGRAM_HOST": f"ws://127.0.0.1:{port}",
            "DEEPGRAM_API_KEY": key,
            "CONFORMANCE_AUDIO": str(self.options.audio or data_path("audio", "speech_en.wav")),
            "CONFORMANCE_SECONDS": f"{scenario.job.audio_seconds:g}",
            "CONFORMANCE_PAUSE": f"{scenario.job.pause.resolve(timing):g}",
            "CONFORMANCE_TIME_SCALE": f"{timing.scale:g}",
            "CONFORMANCE_SCENARIO": scenario.id,
        }

    async def _run_program(self, run: ClientRun, mock: MockServer, key: str) -> None:
        handed = self._environment(run.scenario, mock.url, mock.port, key)
        values = {
            "url": handed["DEEPGRAM_URL"],
            "host": handed["DEEPGRAM_HOST"],
            "port": str(mock.port),
            "audio": handed["CONFORMANCE_AUDIO"],
            "seconds": handed["CONFORMANCE_SECONDS"],
            "pause": handed["CONFORMANCE_PAUSE"],
            "time_scale": handed["CONFORMANCE_TIME_SCALE"],
        }
        argv = [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in self.command]
        deadline = self.options.deadline or run.scenario.deadline_seconds(self.options.timing)
        started = time.monotonic()
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, **handed},
                start_new_session=True,
            )
        except OSError as exc:
            raise UsageError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
        assert process.stdout is not None
        tail = bytearray()
        reader = asyncio.create_task(self._collect(process.stdout, tail))
        try:
            async with asyncio.timeout(deadline):
                run.exit_status = await process.wait()
        except TimeoutError:
            run.stopped_at = asyncio.get_running_loop().time()
            await _stop(process)
        finally:
            await _stop(process)
            await asyncio.wait([reader], timeout=_STOP_GRACE_SECONDS)
            reader.cancel()
        run.duration = time.monotonic() - started
        run.output = tail.decode(errors="replace").replace(key, "***")

    async def _collect(self, stream: asyncio.StreamReader, tail: bytearray) -> None:
        """Keep the output's tail; copy it to ``echo`` as it comes."""
        while chunk := await stream.read(65536):
            tail.extend(chunk)
            del tail[:-_OUTPUT_TAIL_BYTES]
            if self.options.echo is not None:
                key = self.options.api_key
                text = chunk.decode(errors="replace")
                self.options.echo.write(text.replace(key, "***") if key else text)
                self.options.echo.flush()

    def _record(self, run: ClientRun, url: str) -> CaseRecord:
        scenario = run.scenario
        record = CaseRecord(
            scenario.id,
            scenario.title,
            scenario.description,
            scenario.rules,
            Status.SUCCESS,
            path=str(scenario.path) if scenario.path else None,
        )
        record.duration = run.duration
        record.trace = _shown_trace(run)
        record.results = judge_client(run)
        record.status = status_from_results(record.results)
        problems = _job_problems(run, record, url)
        if problems:
            last_words = run.output.strip().splitlines()[-1][:200] if run.output.strip() else "(no output)"
            record.status = Status.ERROR
            record.error = "; ".join(problems) + f"; last output: {last_words}"
        return record


def _shown_trace(run: ClientRun) -> Trace | None:
    """The connection the reports show: the first stream opened, else the first connection."""
    shown = run.accepted or run.connections
    return shown[0].trace if shown else None


def _job_problems(run: ClientRun, record: CaseRecord, url: str) -> list[str]:
    """Why the case cannot pass although no MUST rule broke: the program did not do its job (and no
    rule explains why), or hung. A hang after the server's 1011 is C-ERR-1's finding instead."""
    done = progress(run)
    exit_text = f"exit status {run.exit_status}" if run.exit_status is not None else "still running"
    hang_judged = any(r.rule_id == "C-ERR-1" and r.verdict is not Verdict.NOT_JUDGED for r in record.results)
    problems = []
    if not run.connections:
        problems.append(f"the client never connected to {url} (DEEPGRAM_URL); {exit_text}")
    elif not done.done and record.status is not Status.FAILURE:
        problems.append(f"the program did not do its job: {done.describe()}; {exit_text} after {run.duration:.1f}s")
    if run.exit_status is None and not hang_judged:
        problems.append(f"still running at the deadline ({run.duration:.1f}s): stopped")
    return problems


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM to the program's whole process group, SIGKILL if it lingers; children left behind
    by a program that already exited are killed outright."""
    if process.returncode is not None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            async with asyncio.timeout(_STOP_GRACE_SECONDS):
                await process.wait()
            return
        except TimeoutError:
            continue
