"""A worker asked to play users it does not have says so in one line and plays nothing.

A locust worker (2.47) that gets a spawn message naming a user class it lacks (a worker of another
version, or started with another locustfile) dies on a ``KeyError`` traceback per message, and its
master waits on a worker that never reports. Here the worker logs which classes it was asked for
and which it has, and stays idle: the master measures nothing from it, and a discovery whose steps
measured nothing calls the run inconclusive.
"""

from __future__ import annotations

import logging
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

__all__: list[str] = []
logger = logging.getLogger("conformance.load")


@events.init.add_listener
def _refuse_unknown_classes(environment: Environment, **_: object) -> None:
    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        return
    start = runner.start_worker

    def start_worker(user_classes_count: dict[str, int], **kwargs: Any) -> None:
        unknown = sorted(set(user_classes_count) - set(runner.user_classes_by_name))
        if unknown:
            logger.error(
                "this worker cannot play %s (it has %s): start it as `conformance load --worker` of the master's version",
                ", ".join(unknown),
                ", ".join(sorted(runner.user_classes_by_name)) or "none",
            )
            return
        start(user_classes_count, **kwargs)

    runner.start_worker = start_worker  # type: ignore[method-assign]
