"""Threshold gate: at the end of a run, evaluate ``--threshold`` options against locust's stats
and set a non-zero exit code on any breach."""

from __future__ import annotations

import logging

from locust import events
from locust.env import Environment

from loadtest.thresholds import evaluate, parse_threshold

__all__: list[str] = []
logger = logging.getLogger("loadtest.gate")


@events.test_start.add_listener
def _check_syntax(environment: Environment, **_: object) -> None:
    for text in getattr(environment.parsed_options, "threshold", []) or []:
        try:
            parse_threshold(text)
        except ValueError as exc:
            logger.error("%s", exc)
            environment.process_exit_code = 2
            if environment.runner is not None:
                environment.runner.quit()


@events.quitting.add_listener
def _gate(environment: Environment, **_: object) -> None:
    texts = getattr(environment.parsed_options, "threshold", []) or []
    if not texts or environment.process_exit_code == 2:
        return
    try:
        thresholds = [parse_threshold(text) for text in texts]
    except ValueError:
        return
    lines = evaluate(thresholds, environment.stats)
    print("\nthresholds:")
    for line in lines:
        print(f"  {line}")
    if any(line.startswith("FAIL") for line in lines):
        environment.process_exit_code = 1
