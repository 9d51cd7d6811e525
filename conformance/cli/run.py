"""``conformance run``: the suite against one or several endpoints (or the bundled mock)."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from conformance.cli.reporting import consume, dispatch, interrupting_signal, reported
from conformance.engine.events import FatalError, RunStarted
from conformance.engine.record import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from conformance.errors import ConnectError, UsageError
from conformance.mock.server import MockConfig, MockServer
from conformance.protocol.messages import STATUS_PATH
from conformance.report.base import EventHandler
from conformance.report.console import ConsoleHandler
from conformance.report.json_report import JsonHandler
from conformance.report.junit import JunitHandler
from conformance.report.matrix import MatrixHandler
from conformance.report.traces import TraceHandler
from conformance.run.runner import Runner, RunOptions
from conformance.scenario import Timing, load_scenarios, parse_duration, select_scenarios
from conformance.scenario.model import Scenario
from conformance.targets import target_url
from conformance.transport._common import TlsOptions, client_ssl_context
from conformance.xfail import Expected, load_xfail

__all__ = ["cmd_run"]


async def _play(scenarios: Sequence[Scenario], url: str, options: RunOptions, handlers: list[EventHandler]) -> int:
    return await consume(Runner(scenarios, url, options).execute(), handlers)


def _worst_exit(codes: Sequence[int]) -> int:
    """Across endpoints: a broken MUST rule outranks unreachable, which outranks usage."""
    for code in (EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE):
        if code in codes:
            return code
    return EXIT_OK


def _headers(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    headers = []
    for value in values:
        name, colon, content = value.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            raise UsageError(f"-H expects 'Name: value', got {name.strip() or value[:20]!r}…")
        headers.append((name.strip(), content.strip()))
    return tuple(headers)


def _tls(args: argparse.Namespace) -> TlsOptions:
    tls = TlsOptions(args.cafile, args.insecure, args.client_cert, args.client_key)
    try:
        client_ssl_context(tls)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(
            f"TLS files unusable (--cafile/--client-cert/--client-key): {getattr(exc, 'strerror', None) or exc}"
        ) from exc
    return tls


def _status_problem(host: str, context: ssl.SSLContext | None) -> str | None:
    """For http(s) hosts: why GET /v1/status says "not ready" (None when ready or absent)."""
    parts = urlsplit(host)
    url = urlunsplit((parts.scheme, parts.netloc, STATUS_PATH, "", ""))
    try:
        with urllib.request.urlopen(url, timeout=5, context=context if parts.scheme == "https" else None) as response:  # noqa: S310 (http/https only)
            return None if response.status == 200 else f"GET {STATUS_PATH} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return None if exc.code == 404 else f"GET {STATUS_PATH} answered {exc.code}"
    except (OSError, ValueError) as exc:
        return f"GET {STATUS_PATH} failed: {getattr(exc, 'reason', exc)}"


async def _wait_for(host: str, options: RunOptions, budget: float) -> None:
    """Retry reaching ``host`` with backoff until it answers or ``budget`` seconds pass: TCP (and
    TLS for wss), then, for http(s) hosts, ``GET /v1/status`` when the deployment has one.

    Raises:
        ConnectError: still not ready at the end, with what was last seen.
    """
    url = target_url(host)
    probe = Runner([], url, options)
    deadline, delay = time.monotonic() + budget, 0.25
    while True:
        problem = await probe.unreachable()
        if problem is None and host.lower().startswith(("http://", "https://")):
            problem = await asyncio.to_thread(_status_problem, host, probe.ssl_context)
        if problem is None:
            return
        if time.monotonic() + delay > deadline:
            raise ConnectError(f"{url} not ready after {budget:g}s; last: {problem}")
        print(f"waiting for {url}: {problem}", file=sys.stderr, flush=True)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


async def _run_async(
    args: argparse.Namespace,
    scenarios: Sequence[Scenario],
    handlers: list[EventHandler],
    expected: tuple[Expected, ...],
) -> int:
    timing = Timing(idle_timeout=args.idle_timeout, scale=args.time_scale)
    api_key = args.api_key or os.environ.get("DEEPGRAM_API_KEY") or None
    if args.hosts:
        options = RunOptions(
            timing=timing,
            jobs=args.jobs,
            api_key=api_key,
            expected_failures=expected,
            tls=_tls(args),
            auth_scheme=args.auth_scheme,
            extra_headers=_headers(args.headers),
            follow_redirects=args.follow_redirects,
        )
        if args.wait_for_host:
            budget = parse_duration(args.wait_for_host).resolve(Timing())
            for host in args.hosts:
                try:
                    await _wait_for(host, options, budget)
                except ConnectError as exc:
                    # Every run writes its reports, also one that never got to play.
                    dispatch(
                        handlers,
                        RunStarted(
                            target=target_url(host), scenario_count=len(scenarios), timing=timing, jobs=args.jobs
                        ),
                    )
                    dispatch(handlers, FatalError(message=str(exc), exit_code=EXIT_UNREACHABLE))
                    return EXIT_UNREACHABLE
        codes = []
        for host in args.hosts:
            codes.append(await _play(scenarios, target_url(host), options, handlers))
            signum = interrupting_signal()
            if signum is not None:
                return 128 + signum
        return _worst_exit(codes)
    # The embedded mock checks a key, so the handshake-auth scenarios run too.
    key = api_key or secrets.token_hex(16)
    config = MockConfig(api_key=key, time_scale=timing.scale, idle_timeout=timing.idle_timeout)
    async with MockServer(config) as mock:
        options = RunOptions(timing=timing, jobs=args.jobs, api_key=key, expected_failures=expected)
        return await _play(scenarios, mock.url, options, handlers)


def _handlers(args: argparse.Namespace) -> list[EventHandler]:
    several = len(args.hosts) > 1
    reports = [str(path) for path in (args.json, args.junit, args.html) if path]
    handlers: list[EventHandler] = [
        ConsoleHandler(verbose=args.verbose, trace_dir=str(args.trace_dir), reports=reports),
        TraceHandler(args.trace_dir, per_target=several),
    ]
    if args.junit:
        handlers.append(JunitHandler(args.junit))
    if args.json:
        handlers.append(JsonHandler(args.json))
    if several or args.html:
        handlers.append(MatrixHandler(sys.stdout, args.html, print_table=several))
    return handlers


def cmd_run(args: argparse.Namespace) -> int:
    scenarios = select_scenarios(load_scenarios(args.scenario_paths), args.patterns, args.tags, args.skip)
    if not scenarios:
        raise UsageError("no scenario matches the selection (-k / --tag / --skip); `conformance scenarios` lists them")
    for host in args.hosts:
        target_url(host)
    _headers(args.headers)
    _tls(args)
    if args.wait_for_host:
        try:
            parse_duration(args.wait_for_host)
        except ValueError as exc:
            raise UsageError(f"--wait-for-host: {exc}") from None
    expected = tuple(load_xfail(args.xfail)) if args.xfail else ()
    handlers = _handlers(args)
    return reported(handlers, _run_async(args, scenarios, handlers, expected))
