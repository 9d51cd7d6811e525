"""Capacity discovery: ``conformance load --discover`` (or ``locust -f loadtest/discover.py``).

Raises the number of concurrent streams in steps (``--discover-start``, ``--discover-step``,
``--discover-max``; each ramped at ``--discover-rate`` users/s and held ``--discover-hold``
seconds, the first ``--discover-settle`` of them not measured) and judges each step by the
``--slo`` criteria (default ``p95(final_latency) < 800ms`` and ``rate(failures) < 1%``; always
``p99(send_lateness) < 20ms``, so a saturated generator is never taken for a slow server). It stops
at the first step that breaks one and reports the highest concurrency that met them all, why the
next did not, and writes the CSV, chart and HTML page to ``--discover-report``.

Runs in one process or as a locust master with workers (the master's shape judges the workers'
reported statistics; a step in which no stream was measured makes the run inconclusive). Each
step's verdict is printed as it ends, the answer after locust's tables. Exit code: 0 a capacity was
found; 1 none (the first step broke an SLO), the generator was saturated, or nothing was
measured; 2 an option or SLO that does not parse.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from locust import LoadTestShape, events
from locust.env import Environment
from locust.runners import LocalRunner, WorkerRunner

from conformance._resources import package_version
from conformance.load import gc_pacing  # noqa: F401  (register the GC pacing)
from conformance.load.gate import refuse_run, say_last
from conformance.load.locustfile import SpeechStream
from conformance.load.options import add_discovery_options, step_plan
from conformance.load.report import step_line, summary, write_report
from conformance.load.steps import Discovery, OpenStreams, slos_from
from conformance.load.thresholds import snapshot

# The same user class as a plain run's: a worker started as `conformance load --worker`, with or
# without --discover, plays what a discovering master asks of it.
__all__ = ["SpeechStream", "CapacityDiscovery"]
logger = logging.getLogger("conformance.load.discovery")


def _discovery(environment: Environment) -> Discovery:
    """Built once when locust starts (before any stream), where a bad option is one line and exit 2."""
    return Discovery(
        step_plan(environment.parsed_options),
        slos_from(getattr(environment.parsed_options, "slo", None) or []),
        lambda: snapshot(environment.stats),  # type: ignore[arg-type]
    )


class CapacityDiscovery(LoadTestShape):
    """The steps of :class:`Discovery`, on the process that runs the shape (local or master); each
    step's verdict is printed as it ends (a discovery can run for most of an hour)."""

    def tick(self) -> tuple[int, float] | None:
        environment = self.runner.environment if self.runner else None
        discovery = getattr(environment, "discovery", None)
        if discovery is None:
            return None
        judged = len(discovery.steps)
        now = discovery.tick(self.get_run_time())
        for step in discovery.steps[judged:]:
            print(f"step {step_line(step)}", flush=True)
        return now


@events.init.add_listener
def _start(environment: Environment, **_: object) -> None:
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    try:
        discovery = _discovery(environment)
    except ValueError as exc:
        refuse_run(environment, exc)
        return
    environment.discovery = discovery  # type: ignore[attr-defined]
    plan = discovery.plan
    print(
        f"capacity discovery: {plan.start} to {plan.maximum} streams in steps of {plan.step}, {plan.hold:g}s each "
        f"(at most {discovery.duration() / 60:.1f} min); SLOs: {'; '.join(slo.text for slo in discovery.slos)}",
        flush=True,
    )


@events.quitting.add_listener
def _report(environment: Environment, **_: object) -> None:
    discovery: Discovery | None = getattr(environment, "discovery", None)
    if discovery is None or environment.process_exit_code == 2:
        return
    if not any(step.measured for step in discovery.steps):
        stopped = (
            "the run stopped first"
            if not discovery.steps
            else "no stream was measured: the workers played nothing (start them as `conformance load --worker` of this version)"
        )
        say_last([f"capacity discovery: inconclusive: no step measured a stream ({stopped}); no report written"])
        environment.process_exit_code = 1
        return
    first_429 = OpenStreams.at_first_429 if isinstance(environment.runner, LocalRunner) else None
    lines = summary(discovery, first_429)
    directory = Path(getattr(environment.parsed_options, "discover_report", "capacity-report"))
    try:
        written = write_report(discovery, directory, first_429, _about(environment))
    except OSError as exc:
        logger.error("cannot write the capacity report to %s: %s", directory, exc.strerror or exc)
        environment.process_exit_code = 1
        return
    say_last([*lines, f"report: {', '.join(str(path) for path in written)}"])
    breaking = discovery.breaking
    found = (
        discovery.finished
        and discovery.capacity is not None
        and not (breaking is not None and (breaking.generator_saturated or not breaking.measured))
    )
    environment.process_exit_code = 0 if found else 1


def _about(environment: Environment) -> list[tuple[str, str]]:
    """What the report was measured on: the endpoint, the scenario, when, and the generator."""
    options = environment.parsed_options
    scenario = getattr(options, "scenario", "") or "load.stream-finalize-close.1"
    began = time.strftime(
        "%Y-%m-%d %H:%M UTC", time.gmtime(environment.runner.stats.start_time if environment.runner else time.time())
    )
    return [
        ("endpoint", environment.host or ""),
        ("scenario", scenario),
        ("started", began),
        ("by", f"stt-conformance {package_version()}"),
    ]


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    add_discovery_options(parser)
