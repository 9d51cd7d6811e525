"""The options ``conformance load`` adds to locust's, declared once: the locustfiles register them
on locust's parser, and ``conformance load`` checks them before locust starts (pure: no locust,
no gevent), so a mistake is one line and exit 2 within a second, never a traceback per user or a
run that idles until ``-t`` ends.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any

from conformance.audio.formats import FORMAT_OF_ENCODING, FORMATS
from conformance.load.steps import StepPlan, slos_from
from conformance.load.thresholds import parse_threshold

__all__ = [
    "add_stream_options",
    "add_discovery_options",
    "preflight",
    "parse_timespan",
    "AUTH_SCHEMES",
    "RUN_TIME_OPTION",
]

AUTH_SCHEMES = ("token", "bearer", "subprotocol")
# `conformance load -t` becomes this: the run time counts from when the load starts, not from
# before the locustfile's audio is encoded (locust's own -t lost seconds of load on a busy machine).
RUN_TIME_OPTION = "--conformance-run-time"
_TIMESPAN = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def parse_timespan(text: str) -> int:
    """Seconds in locust's ``-t`` format: ``90``, ``90s``, ``5m``, ``1h30m``.

    Raises:
        ValueError: another format, or zero.
    """
    text = text.strip().lower()
    if text.isdigit():
        seconds = int(text)
    else:
        match = _TIMESPAN.match(text)
        if not match or not text:
            raise ValueError(f"-t {text!r}: write e.g. 90s, 5m or 1h30m")
        seconds = 3600 * int(match["h"] or 0) + 60 * int(match["m"] or 0) + int(match["s"] or 0)
    if seconds <= 0:
        raise ValueError(f"-t {text!r}: the run needs some time")
    return seconds


def _add(parser: Any, locust: bool, *flags: str, secret: bool = False, ui: bool = True, **kwargs: Any) -> None:
    """``parser.add_argument`` with locust's extra keywords only on locust's parser."""
    if locust:
        kwargs.update({"is_secret": True} if secret else {})
        kwargs.update({} if ui else {"include_in_web_ui": False})
    parser.add_argument(*flags, **kwargs)


def add_stream_options(parser: Any, *, locust: bool = True) -> None:
    """What every streaming user reads: the scenario, its audio, the endpoint's credentials and
    TLS, and the pass/fail criteria."""
    _add(
        parser,
        locust,
        "--scenario",
        default="",
        help="scenario YAML path or bundled id to play per stream (default: load.stream-finalize-close.1)",
    )
    _add(parser, locust, "--audio", default="", help="16-bit PCM WAV to stream instead of the scenario's audio sources")
    _add(
        parser,
        locust,
        "--encoding",
        default="",
        help=f"declare and stream this encoding: {', '.join(FORMAT_OF_ENCODING)}",
    )
    _add(
        parser,
        locust,
        "--sample-rate",
        type=int,
        default=0,
        help="declare and stream at this rate, e.g. 8000 (default: the scenario's)",
    )
    _add(
        parser,
        locust,
        "--channels",
        type=int,
        default=0,
        help="declare and stream this many channels (default: the scenario's)",
    )
    _add(
        parser,
        locust,
        "--audio-format",
        default="",
        help=f"stream this format; without --encoding a container sent as browsers do, undeclared: {', '.join(FORMATS)}",
    )
    _add(
        parser,
        locust,
        "--chunk",
        default="",
        help="audio per binary frame, e.g. 20ms (default: the scenario's; 250ms for webm-opus)",
    )
    _add(
        parser,
        locust,
        "--realtime",
        type=float,
        default=0.0,
        help="pace as a multiple of real time (default: the scenario's, 1.0)",
    )
    _add(
        parser,
        locust,
        "--time-scale",
        type=float,
        default=1.0,
        help="scale of endpoint-timed durations (for a mock run with --time-scale)",
    )
    _add(
        parser, locust, "--api-key", default="", secret=True, help="API key (default: $DEEPGRAM_API_KEY); never printed"
    )
    _add(
        parser,
        locust,
        "--auth-scheme",
        default="token",
        choices=AUTH_SCHEMES,
        help="send the key as 'Authorization: Token' (default), 'Bearer', or the 'token' subprotocol",
    )
    _add(
        parser,
        locust,
        "--header",
        action="append",
        default=[],
        secret=True,
        ui=False,
        metavar="'NAME: VALUE'",
        help="extra upgrade header, e.g. for ingress auth (repeatable; values are never printed)",
    )
    _add(parser, locust, "--cafile", default="", help="PEM CA bundle to trust for wss:// (default: the system store)")
    _add(parser, locust, "--client-cert", default="", help="PEM client certificate for mutual TLS")
    _add(parser, locust, "--client-key", default="", help="private key of --client-cert, when not inside it")
    _add(parser, locust, "--insecure", action="store_true", default=False, help="skip TLS certificate verification")
    _add(
        parser,
        locust,
        "--no-result-latency",
        action="store_true",
        default=False,
        help="no final/interim/speech_final latency events, one per Results message (fewer events in very large runs)",
    )
    _add(
        parser,
        locust,
        "--threshold",
        action="append",
        default=[],
        ui=False,
        help="pass/fail rule for headless runs, e.g. 'p95(final_latency) < 800ms' (repeatable)",
    )
    _add(
        parser,
        locust,
        "--slo",
        action="append",
        default=[],
        ui=False,
        help="service-level objective, e.g. 'p95(final_latency) < 800ms': judged per step with --discover, else at the end like --threshold (repeatable)",
    )
    _add(parser, locust, RUN_TIME_OPTION, type=int, default=0, ui=False, help=argparse.SUPPRESS)


def add_discovery_options(parser: Any) -> None:
    """The steps of ``--discover`` (:class:`conformance.load.steps.StepPlan`)."""
    group = parser.add_argument_group("capacity discovery (with --discover)")
    group.add_argument(
        "--discover-start", type=int, default=0, help="concurrent streams of the first step (default: --discover-step)"
    )
    group.add_argument("--discover-step", type=int, default=10, help="streams added per step (default 10)")
    group.add_argument(
        "--discover-max", type=int, default=1000, help="stop after the step with this many streams (default 1000)"
    )
    group.add_argument(
        "--discover-hold", type=float, default=60.0, help="seconds each step holds its concurrency (default 60)"
    )
    group.add_argument(
        "--discover-settle",
        type=float,
        default=None,
        help="seconds at the start of each hold not measured (default: a quarter of the hold)",
    )
    group.add_argument(
        "--discover-rate", type=float, default=10.0, help="new streams per second while ramping to a step (default 10)"
    )
    group.add_argument(
        "--discover-report",
        default="capacity-report",
        help="folder for capacity.csv, .png, .svg and .html (default capacity-report)",
    )


def step_plan(options: Any) -> StepPlan:
    """The discovery's steps from parsed options.

    Raises:
        ValueError: steps that cannot run.
    """
    hold = float(getattr(options, "discover_hold", 60.0))
    settle = getattr(options, "discover_settle", None)
    step = int(getattr(options, "discover_step", 10))
    return StepPlan(
        start=int(getattr(options, "discover_start", 0) or step),
        step=step,
        maximum=int(getattr(options, "discover_max", 1000)),
        hold=hold,
        settle=hold / 4 if settle is None else float(settle),
        rate=float(getattr(options, "discover_rate", 10.0)),
    )


class _Refusal(argparse.ArgumentParser):
    """An argparse parser whose errors are a ValueError, not an exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ValueError(message)


def _preflight_parser() -> _Refusal:
    parser = _Refusal(add_help=False, allow_abbrev=False)
    add_stream_options(parser, locust=False)
    add_discovery_options(parser)
    parser.add_argument("--host", default="")
    parser.add_argument("-H", dest="short_host", default=None)
    parser.add_argument("-t", "--run-time", default=None)
    parser.add_argument("--headless", action="store_true")
    parser.add_argument("--autostart", action="store_true")
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--web-host", default=None)
    return parser


def preflight(arguments: Sequence[str], *, discover: bool) -> list[str]:
    """Check ``conformance load ARGUMENTS`` (less ``--discover``) before locust starts, and return
    locust's arguments: ``-t`` as :data:`RUN_TIME_OPTION`, and locust's web UI on 127.0.0.1
    unless ``--web-host`` says otherwise.

    Raises:
        ValueError: a mistake, in one line that names the option.
    """
    options, _ = _preflight_parser().parse_known_args(list(arguments))
    if options.short_host is not None:
        raise ValueError(
            "-H is ambiguous here (locust's --host, but a header in `conformance run`): write --host URL for the endpoint, --header 'Name: value' for a header"
        )
    if not options.host and not options.worker:
        raise ValueError(
            "no --host: give the endpoint to load, e.g. --host ws://localhost:8080 (workers take it from their master)"
        )
    for text in [*options.threshold, *options.slo]:
        parse_threshold(text)
    if discover:
        step_plan(options)
        slos_from(options.slo)
    for header in options.header:
        name, colon, _ = header.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            raise ValueError(f"--header expects 'Name: value', got {name.strip()[:20] or header[:20]!r}")
    if options.client_key and not options.client_cert:
        raise ValueError("--client-key needs --client-cert")
    locust_arguments = list(arguments)
    if options.run_time is not None:
        seconds = parse_timespan(options.run_time)
        if not (options.headless or options.autostart):
            raise ValueError("-t needs --headless (or --autostart): in the web UI the run lasts until you stop it")
        locust_arguments = _without_run_time(locust_arguments) + [RUN_TIME_OPTION, str(seconds)]
    if options.web_host is None and not options.headless and not options.worker:
        locust_arguments += ["--web-host", "127.0.0.1"]
    return locust_arguments


def _without_run_time(arguments: list[str]) -> list[str]:
    kept, skip = [], False
    for argument in arguments:
        if skip:
            skip = False
        elif argument in ("-t", "--run-time"):
            skip = True
        elif not argument.startswith(("--run-time=", "-t=")) and not (
            argument.startswith("-t") and argument[2:3].isdigit()
        ):
            kept.append(argument)
    return kept
