"""Keep a locust worker from stalling every stream each time its master changes the user count.

On every spawn message a worker (locust 2.47, ``WorkerRunner.handle_message``) rebuilds locust's
whole argument parser once per option the master sent, to tell custom options from its own:
about 200 ms with the hub blocked, so every stream on the worker sends its audio that much late
at each step of a capacity discovery (measured: p99 send lateness 180-220 ms at the step change
with two workers, 2 ms without a step change), and the discovery would wrongly call the generator
saturated. The defaults it rebuilds cannot change within a run: they are computed once here.
"""

from __future__ import annotations

import functools

from locust import argument_parser

__all__: list[str] = []

_defaults = functools.cache(argument_parser.default_args_dict)


def _default_args_dict() -> dict:
    return dict(_defaults())


argument_parser.default_args_dict = _default_args_dict
