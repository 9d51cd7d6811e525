"""The argument parser of the ``conformance`` command."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance._resources import package_version
from conformance.client.harness import PLACEHOLDERS
from conformance.client.scenario import DEFAULT_FLUSH_DELAY
from conformance.run.case import AUTH_SCHEMES

__all__ = ["build_parser"]


def _positive(kind: type, *, zero: bool = False) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < 0 or (value == 0 and not zero) or value != value:
            raise argparse.ArgumentTypeError(f"{text!r} must be {'0 or more' if zero else 'greater than 0'}")
        return value

    return parse


def _non_negative(kind: type) -> Callable[[str], Any]:
    return _positive(kind, zero=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conformance", description="Conformance suite for Deepgram-compatible live speech-to-text (/v1/listen)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="play scenarios against an endpoint (default: the bundled mock)")
    run.add_argument(
        "--host",
        dest="hosts",
        action="append",
        default=[],
        help="ws://, wss://, http(s):// URL or host:port; path defaults to /v1/listen. Repeat for a matrix of endpoints. Omit to start the bundled mock.",
    )
    run.add_argument(
        "--api-key", help="API key (default: $DEEPGRAM_API_KEY); sent as 'Authorization: Token', never printed"
    )
    run.add_argument(
        "-k",
        dest="patterns",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run scenarios whose id matches (shell wildcards; repeatable)",
    )
    run.add_argument(
        "--tag",
        dest="tags",
        action="append",
        default=[],
        metavar="TAG",
        help="run scenarios with this tag (repeatable)",
    )
    run.add_argument(
        "--skip", action="append", default=[], metavar="PATTERN", help="skip scenarios whose id matches (repeatable)"
    )
    run.add_argument(
        "--scenario",
        dest="scenario_paths",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="scenario file or folder instead of the bundled suite (repeatable)",
    )
    run.add_argument(
        "--xfail",
        type=Path,
        metavar="FILE",
        help="YAML list of expected failures ({scenario, rule, reason}); they do not fail the run",
    )
    run.add_argument("--jobs", type=_positive(int), default=16, help="scenarios played at once (default 16)")
    run.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    run.add_argument("--json", type=Path, metavar="FILE", help="write the JSON report")
    run.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="write a self-contained HTML matrix of endpoints × rules and scenarios",
    )
    run.add_argument(
        "--trace-dir",
        type=Path,
        default=Path("conformance-traces"),
        metavar="DIR",
        help="JSONL traces of failed scenarios (default ./conformance-traces)",
    )
    run.add_argument(
        "--time-scale",
        type=_positive(float),
        default=1.0,
        metavar="F",
        help="multiply every endpoint-timed duration (idle timeout, pauses, deadlines) by F; the bundled mock runs on the same scale",
    )
    run.add_argument(
        "--idle-timeout",
        type=_positive(float),
        default=10.0,
        metavar="SECONDS",
        help="the endpoint's idle timeout before scaling (default 10)",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="list every rule verdict, not only broken ones")
    run.add_argument("--cafile", help="PEM CA bundle to trust for wss:// (private CAs); default: the system store")
    run.add_argument(
        "--insecure", action="store_true", help="skip TLS certificate verification (flagged in every report)"
    )
    run.add_argument("--client-cert", help="PEM client certificate for mutual TLS")
    run.add_argument("--client-key", help="private key of --client-cert, when not inside it")
    run.add_argument(
        "--auth-scheme",
        choices=AUTH_SCHEMES,
        default="token",
        help="send the key as 'Authorization: Token' (default), 'Bearer', or the 'token' subprotocol",
    )
    run.add_argument(
        "--follow-redirects",
        action="store_true",
        help="follow a 3xx answer to the upgrade (each case says where it led); by default a redirect is reported as the answer",
    )
    run.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra upgrade header, e.g. for ingress auth (repeatable; values are never printed)",
    )
    run.add_argument(
        "--wait-for-host",
        metavar="DURATION",
        help="retry reaching each --host (TCP, and TLS for wss) with backoff for up to DURATION, e.g. 60s",
    )

    mock = commands.add_parser("mock", help="serve the reference mock of /v1/listen")
    mock.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    mock.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    mock.add_argument("--api-key", help="require this key (default: $DEEPGRAM_API_KEY if set, else no auth)")
    mock.add_argument(
        "--time-scale", type=_positive(float), default=1.0, metavar="F", help="multiply the idle timeout by F"
    )
    mock.add_argument(
        "--idle-timeout",
        type=_positive(float),
        default=10.0,
        metavar="SECONDS",
        help="idle timeout before scaling (default 10)",
    )
    mock.add_argument(
        "--fault",
        dest="faults",
        action="append",
        default=[],
        metavar="NAME",
        help="inject a fault that breaks one rule (repeatable; see --list-faults)",
    )
    mock.add_argument("--list-faults", action="store_true", help="list the injectable faults and exit")
    mock.add_argument(
        "--max-streams",
        type=_positive(int),
        metavar="N",
        help="concurrent streams allowed (across --processes); stream N+1 is rejected with 429",
    )
    mock.add_argument(
        "--capacity",
        type=_positive(int),
        metavar="N",
        help="model a deployment that processes N real-time streams: beyond N open streams (across "
        "--processes), results fall behind their audio more every second",
    )
    mock.add_argument(
        "--processes",
        type=_positive(int),
        default=1,
        metavar="N",
        help="serve from N processes on one port (SO_REUSEPORT), for load tests that need more than one core",
    )
    mock.add_argument("--tls-cert", help="serve wss:// with this PEM certificate (chain)")
    mock.add_argument("--tls-key", help="private key of --tls-cert, when not inside it")
    mock.add_argument("--tls-client-ca", help="require client certificates signed by this CA (mutual TLS)")
    mock.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop: uvloop when installed (pip install '.[fast]') unless asyncio is asked for",
    )
    mock.add_argument(
        "--judge-clients",
        action="store_true",
        help="judge every client connection by the client rules as it ends; Ctrl-C (or SIGTERM) prints the summary and exits 0/1",
    )
    mock.add_argument("--junit", type=Path, metavar="FILE", help="with --judge-clients: write JUnit XML at the end")
    mock.add_argument(
        "--json", type=Path, metavar="FILE", help="with --judge-clients: write the JSON report at the end"
    )
    mock.add_argument(
        "--trace-dir",
        type=Path,
        default=Path("conformance-traces"),
        metavar="DIR",
        help="with --judge-clients: JSONL traces of failed connections",
    )
    mock.add_argument("-v", "--verbose", action="store_true", help="with --judge-clients: list every rule verdict")
    mock.add_argument(
        "--hold-flush",
        type=_non_negative(float),
        metavar="SECONDS",
        help=f"answer CloseStream this much later (default {DEFAULT_FLUSH_DELAY:g} with --judge-clients, so "
        "a client that closes right after CloseStream loses the finals every time; else 0)",
    )
    mock.add_argument(
        "--hold-metadata",
        type=_non_negative(float),
        default=0.0,
        metavar="SECONDS",
        help="send Metadata this long after the results that flush a CloseStream (a slow server; C-CS-3)",
    )
    mock.add_argument(
        "--fail-after",
        type=_positive(float),
        metavar="SECONDS",
        help="close every stream 1011 NET-0000 once this much audio arrived (a server-side failure; see how the client reacts)",
    )

    client = commands.add_parser(
        "client",
        help="judge a client program: run it against the record-and-judge mock (conformance client -- CMD ARGS...)",
        description="Starts the mock on a free port for each client scenario, runs COMMAND with DEEPGRAM_URL, DEEPGRAM_HOST, DEEPGRAM_API_KEY "
        "and the job (CONFORMANCE_AUDIO, CONFORMANCE_SECONDS, CONFORMANCE_PAUSE, CONFORMANCE_TIME_SCALE) in its environment, "
        f"substitutes {', '.join('{' + p + '}' for p in PLACEHOLDERS)} in its arguments, and judges every frame it sent by the client rules.",
    )
    client.add_argument(
        "--scenario",
        dest="scenario_names",
        action="append",
        default=[],
        metavar="NAME",
        help="client scenario id or short name, wildcards allowed (repeatable; default: all; see --list)",
    )
    client.add_argument(
        "--scenario-file",
        dest="scenario_paths",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="client scenario file or folder instead of the bundled ones",
    )
    client.add_argument("--list", action="store_true", help="list the client scenarios and exit")
    client.add_argument(
        "--api-key",
        help="the key the mock requires and hands over as DEEPGRAM_API_KEY (default: a random one); never printed",
    )
    client.add_argument(
        "--audio",
        type=Path,
        metavar="WAV",
        help="WAV handed over as CONFORMANCE_AUDIO (default: the bundled speech clip)",
    )
    client.add_argument(
        "--time-scale",
        type=_positive(float),
        default=1.0,
        metavar="F",
        help="multiply the mock's idle timeout and the scenario's pauses by F; the program gets CONFORMANCE_TIME_SCALE and must scale its own timers",
    )
    client.add_argument(
        "--idle-timeout",
        type=_positive(float),
        default=10.0,
        metavar="SECONDS",
        help="the mock's idle timeout before scaling (default 10)",
    )
    client.add_argument(
        "--timeout",
        type=_positive(float),
        metavar="SECONDS",
        help="stop the program after this long per scenario (default: the scenario's job plus 1idle+20s)",
    )
    client.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    client.add_argument("--json", type=Path, metavar="FILE", help="write the JSON report")
    client.add_argument(
        "--trace-dir",
        type=Path,
        default=Path("conformance-traces"),
        metavar="DIR",
        help="JSONL traces of failed scenarios (default ./conformance-traces)",
    )
    client.add_argument(
        "-v", "--verbose", action="store_true", help="list every rule verdict and show the program's output as it runs"
    )
    client.add_argument(
        "program",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND ARGS",
        help="the client program and its arguments, after '--'",
    )

    commands.add_parser(
        "load",
        add_help=False,
        help="load test with locust and the bundled locustfile: conformance load [locust options] [--slo EXPR] [--discover ...] (--help lists them)",
    )

    selftest = commands.add_parser(
        "selftest", help="mutation score: the suite must pass the clean mock and catch every injected fault"
    )
    selftest.add_argument(
        "--fault",
        dest="faults",
        action="append",
        default=[],
        metavar="NAME",
        help="only these faults (repeatable; default all)",
    )
    selftest.add_argument(
        "--time-scale",
        type=_positive(float),
        default=0.1,
        metavar="F",
        help="time scale of the mocks and the runs (default 0.1)",
    )
    selftest.add_argument(
        "--scenario",
        dest="scenario_paths",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="scenario file or folder instead of the bundled suite (repeatable)",
    )

    rules = commands.add_parser("rules", help="list the rules catalog with the scenarios that test each rule")
    rules.add_argument(
        "--scenario",
        dest="scenario_paths",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="scenario file or folder instead of the bundled suite (repeatable)",
    )

    listing = commands.add_parser("scenarios", help="list scenarios")
    listing.add_argument(
        "--scenario",
        dest="scenario_paths",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="scenario file or folder instead of the bundled suite (repeatable)",
    )
    listing.add_argument(
        "-k",
        dest="patterns",
        action="append",
        default=[],
        metavar="PATTERN",
        help="scenarios whose id matches (shell wildcards; repeatable)",
    )
    listing.add_argument(
        "--tag", dest="tags", action="append", default=[], metavar="TAG", help="scenarios with this tag (repeatable)"
    )
    return parser
