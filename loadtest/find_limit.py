"""Rate-limit discovery: ``locust -f loadtest/find_limit.py --headless --host ws://HOST:PORT``.

Opens long-lived real-time streams one at a time (``--limit-step`` seconds apart, up to
``--limit-max`` streams) and stops at the first handshake rejected with 429, reporting how many
streams were open at that moment: the endpoint's concurrency limit. Run it in one process (no
workers): the count of open streams is per process.
"""

from __future__ import annotations

from locust import LoadTestShape, events
from locust.env import Environment

from loadtest.users import OpenStreams, StreamingUser

HOLD_OPEN = "loadtest/scenarios/hold_open.yaml"


class HeldStream(StreamingUser):
    """A stream that stays open for minutes, so concurrency only grows during the ramp."""

    scenario = HOLD_OPEN


class FindLimit(LoadTestShape):
    """One more user every ``--limit-step`` seconds until the first 429 (or ``--limit-max``)."""

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        step = getattr(options, "limit_step", 0.5)
        ceiling = getattr(options, "limit_max", 1000)
        if OpenStreams.at_first_429 is not None:
            return None
        users = 1 + int(self.get_run_time() / step)
        if users > ceiling + 1:
            return None
        return users, 100.0


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:  # type: ignore[no-untyped-def]
    parser.add_argument("--limit-step", type=float, default=0.5, help="seconds between new streams while searching the limit")
    parser.add_argument("--limit-max", type=int, default=1000, help="give up after this many concurrent streams")


@events.quitting.add_listener
def _report(environment: Environment, **_: object) -> None:
    if OpenStreams.at_first_429 is None:
        print(f"\nno rate limiting up to {environment.parsed_options.limit_max} concurrent streams")
        environment.process_exit_code = 1
        return
    print(f"\nrate limit: the first 429 came with {OpenStreams.at_first_429} concurrent streams open")
    environment.process_exit_code = 0
