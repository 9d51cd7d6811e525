"""``conformance mock`` (serve, optionally judging every client that connects) and
``conformance client`` (judge a client program against the mock)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import ssl
import sys
from typing import Any

from conformance.audio.source import check_wav
from conformance.cli.processes import serve_processes
from conformance.cli.reporting import consume, dispatch, reported
from conformance.client.harness import ClientHarness, ClientOptions, check_command
from conformance.client.live import LiveJudge
from conformance.client.recorder import Recorder
from conformance.client.scenario import DEFAULT_FLUSH_DELAY, load_client_scenarios, select_client_scenarios
from conformance.engine.record import EXIT_OK
from conformance.errors import AudioError, UsageError
from conformance.mock.faults import FAULTS, parse_faults
from conformance.mock.server import MockConfig, MockServer
from conformance.mock.session import Behaviour
from conformance.mock.streams import StreamCount
from conformance.redaction import hide
from conformance.report.base import EventHandler
from conformance.report.console import ConsoleHandler
from conformance.report.json_report import JsonHandler
from conformance.report.junit import JunitHandler
from conformance.report.traces import TraceHandler
from conformance.scenario import Timing

__all__ = ["cmd_mock", "cmd_client"]


async def _serve(
    config: MockConfig, judge_handlers: list[EventHandler] | None, count: StreamCount | None = None, ready: Any = None
) -> int:
    """Serve until SIGINT or SIGTERM; with ``judge_handlers``, judge every client connection as it
    ends and return the exit code of those verdicts. ``count`` and ``ready``: one of the processes
    of ``--processes`` (the streams counted with the others; ``ready`` set once listening)."""
    loop = asyncio.get_running_loop()
    timing = Timing(idle_timeout=config.idle_timeout, scale=config.time_scale)
    server = MockServer(config, count=count)
    judge: LiveJudge | None = None
    if judge_handlers is not None:
        recorder = Recorder(
            "client.live",
            config.api_key,
            timing,
            loop.time,
            on_finished=lambda c: judge.connection_finished(c) if judge else None,
        )
        server = MockServer(config, observe=recorder.connection)
    try:
        mock = await server.start(reuse_port=ready is not None)
    except ssl.SSLError as exc:
        raise UsageError(f"unusable TLS certificate or key: {exc}") from exc
    except OSError as exc:
        raise UsageError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from exc
    stop = loop.create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: None if stop.done() else stop.set_result(None))
    if ready is not None:
        ready.set()
    else:
        auth = "API key required" if config.api_key else "no auth"
        faults = f", faults: {', '.join(sorted(config.faults))}" if config.faults else ""
        capacity = f", modelled capacity {config.capacity} streams" if config.capacity else ""
        print(
            f"conformance mock listening on {mock.url} (idle timeout {config.idle_timeout * config.time_scale:g}s, {auth}{faults}{capacity}); Ctrl-C stops it",
            flush=True,
        )
    if judge_handlers is not None:
        judge = LiveJudge(mock.url, timing, lambda event: dispatch(judge_handlers, event))
    try:
        await stop
    finally:
        await mock.stop()
    return judge.finish() if judge is not None else EXIT_OK


async def _serve_process(config: MockConfig, count: StreamCount, ready: Any) -> int:
    return await _serve(config, None, count, ready)


def cmd_mock(args: argparse.Namespace) -> int:
    if args.list_faults:
        for fault in FAULTS.values():
            print(f"{fault.name:30} breaks {fault.rule:6} {fault.description}")
        return 0
    faults = parse_faults(args.faults)
    if args.api_key is not None and not args.api_key.strip():
        raise UsageError(
            "--api-key is empty: give the key the mock should require, or leave the option out for no auth"
        )
    api_key = args.api_key or os.environ.get("DEEPGRAM_API_KEY") or None
    hide(api_key)
    if args.api_key is None and api_key:
        print("conformance mock: requiring the key in $DEEPGRAM_API_KEY (--api-key KEY requires another)", flush=True)
    if (args.tls_key or args.tls_client_ca) and not args.tls_cert:
        raise UsageError("--tls-key and --tls-client-ca need --tls-cert")
    hold_flush = args.hold_flush if args.hold_flush is not None else DEFAULT_FLUSH_DELAY if args.judge_clients else 0.0
    behaviour = Behaviour(hold_flush, args.hold_metadata, args.fail_after)
    config = MockConfig(
        args.host,
        args.port,
        api_key,
        args.time_scale,
        args.idle_timeout,
        faults,
        args.max_streams,
        args.tls_cert,
        args.tls_key,
        args.tls_client_ca,
        behaviour,
        capacity=args.capacity,
    )
    if not args.judge_clients and (args.junit or args.json):
        raise UsageError("--junit and --json report client verdicts: add --judge-clients")
    if args.processes > 1:
        if args.judge_clients:
            raise UsageError("--judge-clients judges in one process: leave out --processes")
        return serve_processes(config, args.processes, _serve_process, _event_loop_runner(args.loop))
    if not args.judge_clients:
        return _event_loop_runner(args.loop)(_serve(config, None))
    handlers: list[EventHandler] = [
        ConsoleHandler(
            verbose=args.verbose, trace_dir=str(args.trace_dir), reports=[str(p) for p in (args.json, args.junit) if p]
        ),
        TraceHandler(args.trace_dir),
    ]
    handlers += [JunitHandler(args.junit)] if args.junit else []
    handlers += [JsonHandler(args.json)] if args.json else []
    return reported(handlers, _serve(config, handlers), _event_loop_runner(args.loop))


def _event_loop_runner(choice: str):
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


def cmd_client(args: argparse.Namespace) -> int:
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
    if args.audio is not None:
        try:
            check_wav(str(args.audio))
        except (AudioError, OSError) as exc:
            raise UsageError(f"--audio: {getattr(exc, 'strerror', None) or exc}") from None
    api_key = args.api_key or None
    options = ClientOptions(
        timing=Timing(idle_timeout=args.idle_timeout, scale=args.time_scale),
        api_key=api_key,
        audio=args.audio.resolve() if args.audio else None,
        deadline=args.timeout,
        echo=sys.stderr if args.verbose else None,
    )
    handlers: list[EventHandler] = [
        ConsoleHandler(
            verbose=args.verbose, trace_dir=str(args.trace_dir), reports=[str(p) for p in (args.json, args.junit) if p]
        ),
        TraceHandler(args.trace_dir),
    ]
    if args.junit:
        handlers.append(JunitHandler(args.junit))
    if args.json:
        handlers.append(JsonHandler(args.json))
    return reported(handlers, consume(ClientHarness(scenarios, command, options).execute(), handlers))
