"""Threshold gate: at the end of a run, evaluate ``--threshold`` and ``--slo`` options against
locust's stats, the generator's own lateness included, and set a non-zero exit code on any
breach (a capacity discovery judges its ``--slo`` per step instead:
:mod:`conformance.load.discovery`)."""

from __future__ import annotations

import logging

from locust import events
from locust.env import Environment
from locust.runners import STATE_STOPPED, STATE_STOPPING, LocalRunner, WorkerRunner

from conformance.load.thresholds import judge, parse_threshold, snapshot

__all__ = ["refuse_run", "say_last"]
logger = logging.getLogger("conformance.load")


def refuse_run(environment: Environment, problem: object) -> None:
    """Stop before any stream with one line and exit code 2 (an option, SLO or audio that cannot
    work), never a traceback per user or a run that streams nothing."""
    logger.error("%s", problem)
    environment.process_exit_code = 2
    if environment.runner is not None:
        environment.runner.quit()


def _criteria_texts(environment: Environment) -> list[str]:
    """The ``--threshold`` and ``--slo`` texts of the run."""
    options = environment.parsed_options
    return [*(getattr(options, "threshold", None) or []), *(getattr(options, "slo", None) or [])]


@events.test_start.add_listener
def _check_syntax(environment: Environment, **_: object) -> None:
    for text in _criteria_texts(environment):
        try:
            parse_threshold(text)
        except ValueError as exc:
            refuse_run(environment, exc)


# What the run's verdict says, printed when locust has printed its own tables: the last lines
# of the output are the answer (locust prints its tables after the quitting event).
_VERDICT: list[str] = []


def say_last(lines: list[str]) -> None:
    """Print ``lines`` after everything locust prints at the end of the run."""
    _VERDICT.extend(lines)


@events.quit.add_listener
def _print_the_verdict(exit_code: int, **_: object) -> None:
    if _VERDICT:
        print("\n".join(["", *_VERDICT, f"exit {exit_code}"]), flush=True)


@events.quitting.add_listener
def _gate(environment: Environment, **_: object) -> None:
    texts = _criteria_texts(environment)
    if (
        not texts
        or environment.process_exit_code == 2
        or isinstance(environment.runner, WorkerRunner)
        or getattr(environment, "discovery", None) is not None
    ):
        return  # a worker holds no run's statistics: its master judges them
    runner = environment.runner
    if isinstance(runner, LocalRunner) and runner.state not in (STATE_STOPPED, STATE_STOPPING):
        # Stopped by a signal (locust's SIGTERM handler quits without stopping the users first):
        # the streams in flight report what they measured before the criteria are judged.
        runner.stop()
    try:
        lines, failed = judge(texts, snapshot(environment.stats))  # type: ignore[arg-type]
    except ValueError:
        return
    inconclusive = any(line.startswith("inconclusive") for line in lines)
    verdict = (
        "INCONCLUSIVE: the load generator was late"
        if inconclusive
        else "FAIL: a criterion broke"
        if failed
        else "PASS: every criterion held"
    )
    say_last(["thresholds:", *(f"  {line}" for line in lines), f"verdict: {verdict}"])
    if failed:
        environment.process_exit_code = 1
