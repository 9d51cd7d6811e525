"""``StreamingUser``: a locust user that plays one scenario per iteration through the same engine
as ``conformance run`` (plan → paced driver → trace → checks), and fires each measurement as a
locust request event with a real time."""

from __future__ import annotations

import dataclasses
import os
import time
from functools import lru_cache
from pathlib import Path

import gevent
from gevent import GreenletExit
from locust import User, constant, events, task
from locust.env import Environment

from conformance.audio.formats import DEFAULT_CHUNK_SECONDS, declared_format
from conformance.audio.source import check_wav
from conformance.checks import CheckContext
from conformance.engine.plan import Plan, Player, build_plan
from conformance.errors import ConformanceError, ConnectError
from conformance.load import spawn_stall  # noqa: F401  (a worker must not stall its streams at each spawn message)
from conformance.load.gate import refuse_run
from conformance.load.metrics import Sample, ends_by_server, interrupted_samples, measure, stream_samples
from conformance.load.options import add_stream_options
from conformance.load.run_time import start_the_clock
from conformance.load.steps import OpenStreams
from conformance.load.thresholds import REQUEST_TYPE
from conformance.redaction import hide, printable
from conformance.run.case import auth_headers, auth_subprotocols, conclude, new_record, new_trace
from conformance.run.runner import scenario_url
from conformance.scenario import Timing, load_scenario, load_scenarios, parse_duration
from conformance.scenario import model as m
from conformance.targets import target_url
from conformance.transport._common import TlsOptions, client_ssl_context
from conformance.transport.paced import run_paced, shared_pacer
from conformance.transport.sync import Timeouts

__all__ = ["StreamingUser", "DEFAULT_SCENARIO"]

LOAD_SCENARIOS = Path(__file__).parent / "scenarios"
DEFAULT_SCENARIO = str(LOAD_SCENARIOS / "stream_finalize_close.yaml")
# After a rejected handshake a user backs off briefly instead of hammering the endpoint.
_REJECTED_BACKOFF_SECONDS = 1.0


def _headers(values: list[str]) -> dict[str, str]:
    """``--header 'Name: value'`` options (checked by ``conformance load`` before locust started)."""
    return {name.strip(): value.strip() for name, _, value in (header.partition(":") for header in values)}


class StreamFailure(Exception):
    """A classified failure; its text is the failure's name and short reason."""


def _scenario_file(name: str) -> m.Scenario:
    """A YAML path, a load scenario's id (``load.telephony-mulaw.1``) or a suite scenario's id."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        return load_scenario(path)
    bundled = [load_scenario(p) for p in sorted(LOAD_SCENARIOS.glob("*.yaml"))]
    matches = [s for s in [*bundled, *load_scenarios()] if s.id == name]
    if not matches:
        raise ConformanceError(
            f"--scenario {name!r}: neither a YAML file nor a bundled scenario id (load scenarios: "
            f"{', '.join(s.id for s in bundled)}; `conformance scenarios` lists the suite's)"
        )
    return matches[0]


@dataclasses.dataclass(frozen=True)
class AudioOptions:
    """What the command line changes in the scenario's audio (empty: the scenario's own)."""

    audio: str = ""
    chunk: str = ""
    realtime: float = 0.0
    encoding: str = ""
    sample_rate: int = 0
    channels: int = 0
    audio_format: str = ""

    @classmethod
    def parse(cls, options: object) -> AudioOptions:
        return cls(*(getattr(options, field.name, field.default) or field.default for field in dataclasses.fields(cls)))  # type: ignore[arg-type]


def _override_audio(scenario: m.Scenario, options: AudioOptions) -> m.Scenario:
    """The scenario with the audio the options ask for: another WAV, encoding, rate, channels, or
    a container sent without ``encoding`` (``--audio-format`` alone), framed the way that format's
    real clients frame it unless ``--chunk`` says otherwise."""
    params = dict(scenario.connect.params)
    for name, value in (
        ("encoding", options.encoding),
        ("sample_rate", options.sample_rate),
        ("channels", options.channels),
    ):
        if value:
            params[name] = value
    audio = scenario.audio
    if options.audio_format:
        if not options.encoding:
            for name in ("encoding", "sample_rate", "channels"):
                params.pop(name, None)
        audio = m.AudioSpec(options.audio_format, options.sample_rate or None, options.channels or None)
    chunk = options.chunk
    if not chunk and (options.encoding or options.audio_format):
        name = options.audio_format or declared_format(params).name
        chunk = f"{DEFAULT_CHUNK_SECONDS.get(name, 0.02)}s"

    def adjust(step: m.Step) -> m.Step:
        if isinstance(step, m.Repeat):
            return dataclasses.replace(step, steps=tuple(adjust(s) for s in step.steps))
        if not isinstance(step, m.Stream):
            return step
        changes: dict[str, object] = {}
        if options.audio:
            check_wav(options.audio)
            changes["source"] = str(Path(options.audio).resolve())
        if chunk:
            changes["chunk"] = parse_duration(chunk)
        if options.realtime:
            changes["realtime"] = options.realtime
        return dataclasses.replace(step, **changes)  # type: ignore[arg-type]

    connect = dataclasses.replace(scenario.connect, params=params)
    return dataclasses.replace(scenario, connect=connect, audio=audio, steps=tuple(adjust(s) for s in scenario.steps))


@lru_cache(maxsize=8)
def _plan(name: str, options: AudioOptions, scale: float) -> Plan:
    """One plan per option set, shared by every user of the process (the audio is loaded and
    encoded once).

    Judging an empty trace once here imports the checks and compiles the message schemas, which
    would otherwise stall every running stream (~40 ms) when the first stream ends.

    Raises:
        ConformanceError: the scenario or the audio asked for cannot be played (one line).
    """
    scenario = _override_audio(_scenario_file(name), options)
    plan = build_plan(scenario, Timing(scale=scale))
    conclude(new_record(scenario), new_trace(scenario, plan, "ws://warm-up/v1/listen", plan.timing, None), scenario)
    return plan


class StreamingUser(User):
    """Plays ``scenario`` (``--scenario``, default: speech, Finalize, CloseStream) in a loop.

    Subclasses may pin ``scenario`` to a path or id. Options: :mod:`conformance.load.options`
    (the API key, from ``--api-key`` or ``DEEPGRAM_API_KEY``, and header values are never printed).
    """

    abstract = True
    wait_time = constant(0)
    scenario: str | None = None

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        name = self.scenario or getattr(options, "scenario", None) or DEFAULT_SCENARIO
        self.plan = _plan(name, AudioOptions.parse(options), getattr(options, "time_scale", 1.0))
        self.per_result = not getattr(options, "no_result_latency", False)
        self.api_key = getattr(options, "api_key", "") or os.environ.get("DEEPGRAM_API_KEY") or None
        self.auth_scheme = getattr(options, "auth_scheme", "token") or "token"
        self.headers = _headers(getattr(options, "header", None) or [])
        hide(self.api_key, *self.headers.values())
        self.url = scenario_url(target_url(self.host or ""), self.plan.scenario)
        tls = TlsOptions(
            getattr(options, "cafile", "") or None,
            getattr(options, "insecure", False),
            getattr(options, "client_cert", "") or None,
            getattr(options, "client_key", "") or None,
        )
        self.ssl_context = client_ssl_context(tls) if self.url.startswith("wss://") else None

    def _fire(self, sample: Sample) -> None:
        # Failure text comes from the server (dg-error, close reasons) and lands in locust's
        # console, error report and CSVs: redacted and made printable here.
        self.environment.events.request.fire(
            request_type=REQUEST_TYPE,
            name=sample.name,
            response_time=sample.ms,
            response_length=0,
            exception=StreamFailure(printable(sample.failure)) if sample.failure else None,
            context={},
        )

    @task
    def stream(self) -> None:
        """One stream: play, judge, fire the measurements."""
        scenario = self.plan.scenario
        trace = new_trace(
            scenario, self.plan, self.url, self.plan.timing, self.api_key, list(self.headers.values()), self.auth_scheme
        )
        opened = False
        started = time.monotonic()

        def on_open() -> None:
            nonlocal opened
            opened = True
            OpenStreams.opened(started, time.monotonic())

        try:
            run_paced(
                Player(self.plan, trace),
                self.url,
                headers=auth_headers(scenario, self.api_key, self.auth_scheme, self.headers),
                subprotocols=auth_subprotocols(scenario, self.api_key, self.auth_scheme),
                ssl_context=self.ssl_context,
                timeouts=Timeouts(),
                on_open=on_open,
            )
        except ConnectError as exc:
            self._fire(Sample("connect", 0.001, f"unreachable: {trace.redact(str(exc))}"))
            gevent.sleep(_REJECTED_BACKOFF_SECONDS)
            return
        except GreenletExit:
            # The run is ending with this stream in flight: measured and classified, never dropped.
            for sample in interrupted_samples(trace, time.monotonic() - started, self.per_result):
                self._fire(sample)
            raise
        finally:
            if opened:
                OpenStreams.closed()
        if trace.handshake.status == 429:
            OpenStreams.rejected(time.monotonic())
        # Streams end in bursts; between the steps of judging one, the pacer sends what is due.
        measured = measure(trace, self.per_result)
        shared_pacer().serve_due()
        record = new_record(scenario)
        conclude(record, trace, scenario, CheckContext(pause=shared_pacer().serve_due))
        shared_pacer().serve_due()
        samples = stream_samples(trace, record, measured)
        for sample in samples:
            self._fire(sample)
        shared_pacer().serve_due()
        if ends_by_server(samples):
            gevent.sleep(_REJECTED_BACKOFF_SECONDS)


@events.test_start.add_listener
def _check_audio(environment: Environment, **_: object) -> None:
    """A scenario or audio that cannot be played is one line and exit 2 before any stream, never
    a traceback per user or a run that streams nothing. Once the streams are ready, ``-t``'s
    clock starts (:mod:`conformance.load.run_time`)."""
    options = environment.parsed_options
    if options is None:
        return
    try:
        _plan(
            getattr(options, "scenario", None) or DEFAULT_SCENARIO,
            AudioOptions.parse(options),
            getattr(options, "time_scale", 1.0),
        )
    except ConformanceError as exc:
        refuse_run(environment, exc)
        return
    start_the_clock(environment)  # -t counts from here: the streams are ready


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    add_stream_options(parser)
