"""The ``conformance`` command: ``run``, ``client``, ``mock``, ``selftest``, ``rules`` and ``scenarios``.

Exit codes of ``run``: 0 no MUST rule failed; 1 a MUST rule failed (or a case could not be judged);
2 usage, scenario or configuration error; 3 target unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from conformance.catalog import load_catalog
from conformance.client.harness import PLACEHOLDERS, ClientHarness, ClientOptions, check_command
from conformance.client.live import LiveJudge
from conformance.client.recorder import Recorder
from conformance.client.scenario import DEFAULT_FLUSH_DELAY, ClientScenario, load_client_scenarios, select_client_scenarios
from conformance.engine.events import Event, FatalError, Interrupted, NonFatalError, RunFinished
from conformance.engine.record import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from conformance.run.case import AUTH_SCHEMES
from conformance.run.runner import RunOptions, Runner
from conformance.errors import ConformanceError, ConnectError, UsageError
from conformance.transport._common import TlsOptions, client_ssl_context
from conformance.mock.faults import FAULTS, parse_faults
from conformance.mock.server import MockConfig, MockServer
from conformance.mock.session import Behaviour
from conformance.protocol.messages import STATUS_PATH
from conformance.report.base import EventHandler
from conformance.report.console import ConsoleHandler
from conformance.report.json_report import JsonHandler
from conformance.report.junit import JunitHandler
from conformance.report.matrix import MatrixHandler
from conformance.report.traces import TraceHandler
from conformance.scenario import Timing, load_scenarios, parse_duration, select_scenarios
from conformance.scenario.model import Scenario
from conformance.selftest import run_selftest
from conformance.targets import target_url
from conformance.xfail import Expected, load_xfail

__all__ = ["main"]

def _positive(kind: type, *, zero: bool = False) -> object:
    def parse(text: str) -> object:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < 0 or (value == 0 and not zero) or value != value:
            raise argparse.ArgumentTypeError(f"{text!r} must be {'0 or more' if zero else 'greater than 0'}")
        return value

    return parse


def _non_negative(kind: type) -> object:
    return _positive(kind, zero=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conformance", description="Conformance suite for Deepgram-compatible live speech-to-text (/v1/listen).")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="play scenarios against an endpoint (default: the bundled mock)")
    run.add_argument("--host", dest="hosts", action="append", default=[], help="ws://, wss://, http(s):// URL or host:port; path defaults to /v1/listen. Repeat for a matrix of endpoints. Omit to start the bundled mock.")
    run.add_argument("--api-key", help="API key (default: $DEEPGRAM_API_KEY); sent as 'Authorization: Token', never printed")
    run.add_argument("-k", dest="patterns", action="append", default=[], metavar="PATTERN", help="run scenarios whose id matches (shell wildcards; repeatable)")
    run.add_argument("--tag", dest="tags", action="append", default=[], help="run scenarios with this tag (repeatable)")
    run.add_argument("--skip", action="append", default=[], metavar="PATTERN", help="skip scenarios whose id matches (repeatable)")
    run.add_argument("--scenario", dest="scenario_paths", action="append", default=[], type=Path, metavar="PATH", help="scenario file or folder instead of the bundled suite (repeatable)")
    run.add_argument("--xfail", type=Path, metavar="FILE", help="YAML list of expected failures ({scenario, rule, reason}); they do not fail the run")
    run.add_argument("--jobs", type=_positive(int), default=16, help="scenarios played at once (default 16)")
    run.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    run.add_argument("--json", type=Path, metavar="FILE", help="write the JSON report")
    run.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML matrix of endpoints × rules and scenarios")
    run.add_argument("--trace-dir", type=Path, default=Path("conformance-traces"), metavar="DIR", help="JSONL traces of failed scenarios (default ./conformance-traces)")
    run.add_argument("--time-scale", type=_positive(float), default=1.0, metavar="F", help="multiply every endpoint-timed duration (idle timeout, pauses, deadlines) by F; the bundled mock runs on the same scale")
    run.add_argument("--idle-timeout", type=_positive(float), default=10.0, metavar="SECONDS", help="the endpoint's idle timeout before scaling (default 10)")
    run.add_argument("-v", "--verbose", action="store_true", help="list every rule verdict, not only broken ones")
    run.add_argument("--cafile", help="PEM CA bundle to trust for wss:// (private CAs); default: the system store")
    run.add_argument("--insecure", action="store_true", help="skip TLS certificate verification (flagged in every report)")
    run.add_argument("--client-cert", help="PEM client certificate for mutual TLS")
    run.add_argument("--client-key", help="private key of --client-cert, when not inside it")
    run.add_argument("--auth-scheme", choices=AUTH_SCHEMES, default="token", help="send the key as 'Authorization: Token' (default), 'Bearer', or the 'token' subprotocol")
    run.add_argument("-H", "--header", dest="headers", action="append", default=[], metavar="'NAME: VALUE'", help="extra upgrade header, e.g. for ingress auth (repeatable; values are never printed)")
    run.add_argument("--wait-for-host", metavar="DURATION", help="retry reaching each --host (TCP, and TLS for wss) with backoff for up to DURATION, e.g. 60s")

    mock = commands.add_parser("mock", help="serve the reference mock of /v1/listen")
    mock.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    mock.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    mock.add_argument("--api-key", help="require this key (default: $DEEPGRAM_API_KEY if set, else no auth)")
    mock.add_argument("--time-scale", type=_positive(float), default=1.0, metavar="F", help="multiply the idle timeout by F")
    mock.add_argument("--idle-timeout", type=_positive(float), default=10.0, metavar="SECONDS", help="idle timeout before scaling (default 10)")
    mock.add_argument("--fault", dest="faults", action="append", default=[], metavar="NAME", help="inject a fault that breaks one rule (repeatable; see --list-faults)")
    mock.add_argument("--list-faults", action="store_true", help="list the injectable faults and exit")
    mock.add_argument("--max-streams", type=_positive(int), metavar="N", help="concurrent streams allowed; stream N+1 is rejected with 429")
    mock.add_argument("--tls-cert", help="serve wss:// with this PEM certificate (chain)")
    mock.add_argument("--tls-key", help="private key of --tls-cert, when not inside it")
    mock.add_argument("--tls-client-ca", help="require client certificates signed by this CA (mutual TLS)")
    mock.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto", help="event loop: uvloop when installed (pip install '.[fast]') unless asyncio is asked for")
    mock.add_argument("--judge-clients", action="store_true", help="judge every client connection by the client rules as it ends; Ctrl-C (or SIGTERM) prints the summary and exits 0/1")
    mock.add_argument("--junit", type=Path, metavar="FILE", help="with --judge-clients: write JUnit XML at the end")
    mock.add_argument("--json", type=Path, metavar="FILE", help="with --judge-clients: write the JSON report at the end")
    mock.add_argument("--trace-dir", type=Path, default=Path("conformance-traces"), metavar="DIR", help="with --judge-clients: JSONL traces of failed connections")
    mock.add_argument("-v", "--verbose", action="store_true", help="with --judge-clients: list every rule verdict")
    mock.add_argument("--hold-flush", type=_non_negative(float), metavar="SECONDS", help=f"answer CloseStream this much later (default {DEFAULT_FLUSH_DELAY:g} with --judge-clients, so a client that closes right after CloseStream loses the finals every time; else 0)")
    mock.add_argument("--hold-metadata", type=_non_negative(float), default=0.0, metavar="SECONDS", help="send Metadata this long after the results that flush a CloseStream (a slow server; C-CS-3)")
    mock.add_argument("--fail-after", type=_positive(float), metavar="SECONDS", help="close every stream 1011 NET-0000 once this much audio arrived (a server-side failure; see how the client reacts)")

    client = commands.add_parser(
        "client", help="judge a client program: run it against the record-and-judge mock (conformance client -- CMD ARGS...)",
        description="Starts the mock on a free port for each client scenario, runs COMMAND with DEEPGRAM_URL, DEEPGRAM_HOST, DEEPGRAM_API_KEY "
        "and the job (CONFORMANCE_AUDIO, CONFORMANCE_SECONDS, CONFORMANCE_PAUSE, CONFORMANCE_TIME_SCALE) in its environment, "
        f"substitutes {', '.join('{' + p + '}' for p in PLACEHOLDERS)} in its arguments, and judges every frame it sent by the client rules.",
    )
    client.add_argument("--scenario", dest="scenario_names", action="append", default=[], metavar="NAME", help="client scenario id or short name, wildcards allowed (repeatable; default: all; see --list)")
    client.add_argument("--scenario-file", dest="scenario_paths", action="append", default=[], type=Path, metavar="PATH", help="client scenario file or folder instead of the bundled ones")
    client.add_argument("--list", action="store_true", help="list the client scenarios and exit")
    client.add_argument("--api-key", help="the key the mock requires and hands over as DEEPGRAM_API_KEY (default: a random one); never printed")
    client.add_argument("--audio", type=Path, metavar="WAV", help="WAV handed over as CONFORMANCE_AUDIO (default: the bundled speech clip)")
    client.add_argument("--time-scale", type=_positive(float), default=1.0, metavar="F", help="multiply the mock's idle timeout and the scenario's pauses by F; the program gets CONFORMANCE_TIME_SCALE and must scale its own timers")
    client.add_argument("--idle-timeout", type=_positive(float), default=10.0, metavar="SECONDS", help="the mock's idle timeout before scaling (default 10)")
    client.add_argument("--timeout", type=_positive(float), metavar="SECONDS", help="stop the program after this long per scenario (default: the scenario's job plus 1idle+20s)")
    client.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    client.add_argument("--json", type=Path, metavar="FILE", help="write the JSON report")
    client.add_argument("--trace-dir", type=Path, default=Path("conformance-traces"), metavar="DIR", help="JSONL traces of failed scenarios (default ./conformance-traces)")
    client.add_argument("-v", "--verbose", action="store_true", help="list every rule verdict and show the program's output as it runs")
    client.add_argument("program", nargs=argparse.REMAINDER, metavar="-- COMMAND ARGS", help="the client program and its arguments, after '--'")

    selftest = commands.add_parser("selftest", help="mutation score: the suite must pass the clean mock and catch every injected fault")
    selftest.add_argument("--fault", dest="faults", action="append", default=[], metavar="NAME", help="only these faults (repeatable; default all)")
    selftest.add_argument("--time-scale", type=_positive(float), default=0.1, metavar="F", help="time scale of the mocks and the runs (default 0.1)")
    selftest.add_argument("--scenario", dest="scenario_paths", action="append", default=[], type=Path, metavar="PATH")

    rules = commands.add_parser("rules", help="list the rules catalog with the scenarios that test each rule")
    rules.add_argument("--scenario", dest="scenario_paths", action="append", default=[], type=Path, metavar="PATH")

    listing = commands.add_parser("scenarios", help="list scenarios")
    listing.add_argument("--scenario", dest="scenario_paths", action="append", default=[], type=Path, metavar="PATH")
    listing.add_argument("-k", dest="patterns", action="append", default=[], metavar="PATTERN")
    listing.add_argument("--tag", dest="tags", action="append", default=[])
    return parser


def _dispatch(handlers: list[EventHandler], event: Event) -> None:
    for handler in list(handlers):
        try:
            handler.handle_event(event)
        except Exception as exc:  # a reporter bug is a reporter error, never a verdict
            handlers.remove(handler)
            _dispatch(handlers, NonFatalError(message=f"reporter {type(handler).__name__} failed and was disabled: {exc}"))


async def _consume(events: AsyncIterator[Event], handlers: list[EventHandler]) -> int:
    """Feed ``events`` to ``handlers``; the exit code the run finished with."""
    exit_code = EXIT_USAGE
    try:
        async for event in events:
            _dispatch(handlers, event)
            if isinstance(event, (RunFinished, FatalError)):
                exit_code = event.exit_code
    except asyncio.CancelledError:
        _dispatch(handlers, Interrupted())
        raise
    return exit_code


def _reported(handlers: list[EventHandler], main: Coroutine[Any, Any, int], run: Callable[[Coroutine[Any, Any, int]], int] = asyncio.run) -> int:
    """Start ``handlers``, run ``main``, and shut the handlers down whatever happens."""
    for handler in handlers:
        handler.start()
    try:
        return run(main)
    finally:
        for handler in handlers:
            try:
                handler.shutdown()
            except Exception as exc:
                print(f"warning: reporter {type(handler).__name__} failed: {exc}", file=sys.stderr)


async def _play(scenarios: Sequence[Scenario], url: str, options: RunOptions, handlers: list[EventHandler]) -> int:
    return await _consume(Runner(scenarios, url, options).execute(), handlers)


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
        raise UsageError(f"TLS files unusable (--cafile/--client-cert/--client-key): {getattr(exc, 'strerror', None) or exc}") from exc
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


async def _run_async(args: argparse.Namespace, scenarios: Sequence[Scenario], handlers: list[EventHandler], expected: tuple[Expected, ...]) -> int:
    timing = Timing(idle_timeout=args.idle_timeout, scale=args.time_scale)
    api_key = args.api_key or os.environ.get("DEEPGRAM_API_KEY") or None
    if args.hosts:
        options = RunOptions(
            timing=timing, jobs=args.jobs, api_key=api_key, expected_failures=expected, tls=_tls(args),
            auth_scheme=args.auth_scheme, extra_headers=_headers(args.headers),
        )
        if args.wait_for_host:
            budget = parse_duration(args.wait_for_host).resolve(Timing())
            for host in args.hosts:
                await _wait_for(host, options, budget)
        return _worst_exit([await _play(scenarios, target_url(host), options, handlers) for host in args.hosts])
    # The embedded mock checks a key, so the handshake-auth scenarios run too.
    key = api_key or secrets.token_hex(16)
    config = MockConfig(api_key=key, time_scale=timing.scale, idle_timeout=timing.idle_timeout)
    async with MockServer(config) as mock:
        options = RunOptions(timing=timing, jobs=args.jobs, api_key=key, expected_failures=expected)
        return await _play(scenarios, mock.url, options, handlers)


def _handlers(args: argparse.Namespace) -> list[EventHandler]:
    several = len(args.hosts) > 1
    handlers: list[EventHandler] = [ConsoleHandler(verbose=args.verbose, trace_dir=str(args.trace_dir)), TraceHandler(args.trace_dir, per_target=several)]
    if args.junit:
        handlers.append(JunitHandler(args.junit))
    if args.json:
        handlers.append(JsonHandler(args.json))
    if several or args.html:
        handlers.append(MatrixHandler(sys.stdout, args.html, print_table=several))
    return handlers


def _cmd_run(args: argparse.Namespace) -> int:
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
    return _reported(handlers, _run_async(args, scenarios, handlers, expected))


async def _serve(config: MockConfig, judge_handlers: list[EventHandler] | None) -> int:
    """Serve until SIGINT or SIGTERM; with ``judge_handlers``, judge every client connection as it
    ends and return the exit code of those verdicts."""
    loop = asyncio.get_running_loop()
    timing = Timing(idle_timeout=config.idle_timeout, scale=config.time_scale)
    server = MockServer(config)
    judge: LiveJudge | None = None
    if judge_handlers is not None:
        recorder = Recorder("client.live", config.api_key, timing, loop.time, on_finished=lambda c: judge.connection_finished(c) if judge else None)
        server = MockServer(config, observe=recorder.connection)
    try:
        mock = await server.start()
    except ssl.SSLError as exc:
        raise UsageError(f"unusable TLS certificate or key: {exc}") from exc
    except OSError as exc:
        raise UsageError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from exc
    stop = loop.create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
    auth = "API key required" if config.api_key else "no auth"
    faults = f", faults: {', '.join(sorted(config.faults))}" if config.faults else ""
    print(f"conformance mock listening on {mock.url} (idle timeout {config.idle_timeout * config.time_scale:g}s, {auth}{faults}); Ctrl-C stops it", flush=True)
    if judge_handlers is not None:
        judge = LiveJudge(mock.url, timing, lambda event: _dispatch(judge_handlers, event))
    try:
        await stop
    finally:
        await mock.stop()
    return judge.finish() if judge is not None else EXIT_OK


def _cmd_mock(args: argparse.Namespace) -> int:
    if args.list_faults:
        for fault in FAULTS.values():
            print(f"{fault.name:30} breaks {fault.rule:6} {fault.description}")
        return 0
    faults = parse_faults(args.faults)
    api_key = args.api_key or os.environ.get("DEEPGRAM_API_KEY") or None
    if (args.tls_key or args.tls_client_ca) and not args.tls_cert:
        raise UsageError("--tls-key and --tls-client-ca need --tls-cert")
    hold_flush = args.hold_flush if args.hold_flush is not None else DEFAULT_FLUSH_DELAY if args.judge_clients else 0.0
    behaviour = Behaviour(hold_flush, args.hold_metadata, args.fail_after)
    config = MockConfig(args.host, args.port, api_key, args.time_scale, args.idle_timeout, faults, args.max_streams, args.tls_cert, args.tls_key, args.tls_client_ca, behaviour)
    if not args.judge_clients and (args.junit or args.json):
        raise UsageError("--junit and --json report client verdicts: add --judge-clients")
    if not args.judge_clients:
        return _event_loop_runner(args.loop)(_serve(config, None))
    handlers: list[EventHandler] = [ConsoleHandler(verbose=args.verbose, trace_dir=str(args.trace_dir)), TraceHandler(args.trace_dir)]
    handlers += [JunitHandler(args.junit)] if args.junit else []
    handlers += [JsonHandler(args.json)] if args.json else []
    return _reported(handlers, _serve(config, handlers), _event_loop_runner(args.loop))


def _event_loop_runner(choice: str):  # type: ignore[no-untyped-def]
    """``asyncio.run`` or ``uvloop.run``, as asked; ``auto`` takes uvloop when it is installed."""
    if choice == "asyncio":
        return asyncio.run
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise UsageError("--loop uvloop: uvloop is not installed (pip install 'stt-conformance[fast]')") from None
        return asyncio.run
    return uvloop.run


def _cmd_client(args: argparse.Namespace) -> int:
    scenarios = load_client_scenarios(args.scenario_paths)
    if args.list:
        for scenario in scenarios:
            print(f"{scenario.id.removeprefix('client.'):20} [{', '.join(scenario.rules)}] {scenario.title}")
        return 0
    scenarios = select_client_scenarios(scenarios, args.scenario_names)
    command = args.program[1:] if args.program[:1] == ["--"] else args.program
    check_command(command)
    if args.audio is not None and not args.audio.is_file():
        raise UsageError(f"--audio {args.audio}: no such file")
    api_key = args.api_key or None
    options = ClientOptions(
        timing=Timing(idle_timeout=args.idle_timeout, scale=args.time_scale), api_key=api_key,
        audio=args.audio.resolve() if args.audio else None, deadline=args.timeout, echo=sys.stderr if args.verbose else None,
    )
    handlers: list[EventHandler] = [ConsoleHandler(verbose=args.verbose, trace_dir=str(args.trace_dir)), TraceHandler(args.trace_dir)]
    if args.junit:
        handlers.append(JunitHandler(args.junit))
    if args.json:
        handlers.append(JsonHandler(args.json))
    return _reported(handlers, _consume(ClientHarness(scenarios, command, options).execute(), handlers))


def _cmd_selftest(args: argparse.Namespace) -> int:
    faults = sorted(parse_faults(args.faults))
    results = asyncio.run(run_selftest(load_scenarios(args.scenario_paths), Timing(scale=args.time_scale), faults))
    print(f"{'mock':30} {'breaks':7} {'caught':7} {'alone':6} rules flagged")
    for result in results:
        name = result.fault or "(clean)"
        breaks = FAULTS[result.fault].rule if result.fault else "-"
        flagged = ", ".join(sorted(result.flagged)) or "none"
        print(f"{name:30} {breaks:7} {'yes' if result.caught else 'NO':7} {'yes' if result.alone else 'NO':6} {flagged}")
        for error in result.errors:
            print(f"{'':53}error: {error}")
    mutants = [r for r in results if r.fault]
    caught, alone = sum(r.caught for r in mutants), sum(r.caught and r.alone for r in mutants)
    clean = results[0].caught
    print(f"\nmutation score: {caught}/{len(mutants)} faults caught on their rule ({100 * caught / max(1, len(mutants)):.0f} %), "
          f"{alone} of them alone (no other rule flagged); clean mock {'passes' if clean else 'FAILS'}")
    return 0 if clean and alone == len(mutants) else 1


def _cmd_rules(args: argparse.Namespace) -> int:
    scenarios: list[Scenario | ClientScenario] = [*load_scenarios(args.scenario_paths), *load_client_scenarios()]
    for rule in load_catalog():
        testing = [s.id for s in scenarios if rule.id in s.rules]
        print(f"{rule.id:10} {rule.level.value:6} {rule.side:6} {rule.statement}")
        print(f"{'':24}tested by: {', '.join(testing) if testing else '(no scenario yet)'}")
    return 0


def _cmd_scenarios(args: argparse.Namespace) -> int:
    for scenario in select_scenarios(load_scenarios(args.scenario_paths), args.patterns, args.tags):
        print(f"{scenario.id:32} [{', '.join(scenario.tags)}] {scenario.title}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = _parser().parse_args(argv)
    command = {"run": _cmd_run, "client": _cmd_client, "mock": _cmd_mock, "selftest": _cmd_selftest, "rules": _cmd_rules, "scenarios": _cmd_scenarios}[args.command]
    try:
        return command(args)
    except ConformanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
