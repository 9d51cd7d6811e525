"""``conformance load -t``: the run time counts from when the load starts.

Locust's own ``-t`` timer starts before the users' audio is encoded and the checks warmed up, which
takes seconds on a busy machine (``-t 25s`` gave 11.2 s of load there). ``conformance load`` hands
``-t`` over as :data:`~conformance.load.options.RUN_TIME_OPTION`, and :mod:`conformance.load.users`
starts this clock once it has prepared the streams.
"""

from __future__ import annotations

import logging

import gevent
from locust.env import Environment
from locust.runners import WorkerRunner

__all__ = ["start_the_clock"]
logger = logging.getLogger("conformance.load")


def start_the_clock(environment: Environment) -> None:
    """Stop the run ``-t`` seconds from now (on the process that runs the test, not a worker)."""
    seconds = getattr(environment.parsed_options, "conformance_run_time", 0)
    if not seconds or isinstance(environment.runner, WorkerRunner) or environment.process_exit_code == 2:
        return

    def stop() -> None:
        logger.info("run time of %ss of load reached, shutting down", seconds)
        runner = environment.runner
        if runner is None:
            return
        if getattr(environment.parsed_options, "headless", False):
            runner.quit()
        else:
            runner.stop()

    logger.info("run time: %ss of load, counted from now (the streams are ready)", seconds)
    gevent.spawn_later(seconds, stop)
