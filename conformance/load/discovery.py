"""Capacity discovery: ``conformance load --discover`` (or ``locust -f loadtest/discover.py``).

Raises the number of concurrent streams in steps (``--discover-start``, ``--discover-step``,
``--discover-max``; each ramped at ``--discover-rate`` users/s and held ``--discover-hold``
seconds, the first ``--discover-settle`` of them not measured) and judges each step by the
``--slo`` criteria (default ``p95(final_latency) < 800ms`` and ``rate(failures) < 1%``; always
``p99(send_lateness) < 20ms``, so a saturated generator is never taken for a slow server). It stops
at the first step that breaks one and reports the highest concurrency that met them all, why the
next did not, and writes the CSV, chart and HTML page to ``--discover-report``.

Runs in one process or as a locust master with workers (the master's shape judges the workers'
reported statistics). Exit code: 0 a capacity was found; 1 none (the first step broke an SLO) or
the generator was saturated; 2 an option or SLO that does not parse.
"""

from __future__ import annotations

import logging
from pathlib import Path

from locust import LoadTestShape, events
from locust.env import Environment
from locust.runners import LocalRunner, WorkerRunner

from conformance.load import gc_pacing  # noqa: F401  (register the GC pacing)
from conformance.load.gate import refuse_run
from conformance.load.report import summary, write_report
from conformance.load.steps import Discovery, OpenStreams, StepPlan, slos_from
from conformance.load.thresholds import snapshot
from conformance.load.users import StreamingUser

__all__ = ["DiscoveryStream", "CapacityDiscovery"]
logger = logging.getLogger("conformance.load.discovery")


class DiscoveryStream(StreamingUser):
    """A stream per iteration (``--scenario``, default: speech, Finalize, CloseStream)."""


def _plan(environment: Environment) -> StepPlan:
    options = environment.parsed_options
    hold = float(getattr(options, "discover_hold", 60.0))
    settle = getattr(options, "discover_settle", None)
    step = int(getattr(options, "discover_step", 10))
    return StepPlan(
        start=int(getattr(options, "discover_start", 0) or step), step=step, maximum=int(getattr(options, "discover_max", 1000)),
        hold=hold, settle=hold / 4 if settle is None else float(settle), rate=float(getattr(options, "discover_rate", 10.0)),
    )


def _discovery(environment: Environment) -> Discovery:
    """Built once when locust starts (before any stream), where a bad option is one line and exit 2."""
    return Discovery(_plan(environment), slos_from(getattr(environment.parsed_options, "slo", None) or []), lambda: snapshot(environment.stats))


class CapacityDiscovery(LoadTestShape):
    """The steps of :class:`Discovery`, on the process that runs the shape (local or master)."""

    def tick(self) -> tuple[int, float] | None:
        environment = self.runner.environment if self.runner else None
        discovery = getattr(environment, "discovery", None)
        if discovery is None:
            return None
        return discovery.tick(self.get_run_time())


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
    print(f"capacity discovery: {plan.start} to {plan.maximum} streams in steps of {plan.step}, {plan.hold:g}s each "
          f"(at most {discovery.duration() / 60:.1f} min); SLOs: {'; '.join(slo.text for slo in discovery.slos)}", flush=True)


@events.quitting.add_listener
def _report(environment: Environment, **_: object) -> None:
    discovery: Discovery | None = getattr(environment, "discovery", None)
    if discovery is None or environment.process_exit_code == 2:
        return
    if not discovery.steps:
        print("\ncapacity discovery: no step completed (the run stopped first)")
        environment.process_exit_code = 1
        return
    first_429 = OpenStreams.at_first_429 if isinstance(environment.runner, LocalRunner) else None
    print()
    for line in summary(discovery, first_429):
        print(line)
    directory = Path(getattr(environment.parsed_options, "discover_report", "capacity-report"))
    try:
        written = write_report(discovery, directory, first_429)
    except OSError as exc:
        logger.error("cannot write the capacity report to %s: %s", directory, exc.strerror or exc)
        environment.process_exit_code = 1
        return
    print(f"report: {', '.join(str(path) for path in written)}")
    breaking = discovery.breaking
    found = discovery.finished and discovery.capacity is not None and not (breaking is not None and breaking.generator_saturated)
    environment.process_exit_code = 0 if found else 1


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:  # type: ignore[no-untyped-def]
    group = parser.add_argument_group("capacity discovery")
    group.add_argument("--discover-start", type=int, default=0, help="concurrent streams of the first step (default: --discover-step)")
    group.add_argument("--discover-step", type=int, default=10, help="streams added per step (default 10)")
    group.add_argument("--discover-max", type=int, default=1000, help="stop after the step with this many streams (default 1000)")
    group.add_argument("--discover-hold", type=float, default=60.0, help="seconds each step holds its concurrency (default 60)")
    group.add_argument("--discover-settle", type=float, default=None, help="seconds at the start of each hold not measured (default: a quarter of the hold)")
    group.add_argument("--discover-rate", type=float, default=10.0, help="new streams per second while ramping to a step (default 10)")
    group.add_argument("--discover-report", default="capacity-report", help="folder for capacity.csv, .png, .svg and .html (default capacity-report)")
