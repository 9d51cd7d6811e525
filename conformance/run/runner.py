"""Play scenarios against one endpoint, concurrently, and yield the event stream.

The runner owns orchestration only: it plans each scenario, lets ``transport.aio`` play it,
judges the trace with :mod:`conformance.checks` and emits events. It never prints.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from conformance.checks import CheckContext
from conformance.engine.events import Event, FatalError, RunFinished, RunStarted, ScenarioFinished, ScenarioStarted
from conformance.engine.plan import Plan, Player, build_plan
from conformance.engine.record import EXIT_UNREACHABLE, CaseRecord, Status, exit_code_for
from conformance.engine.trace import Trace
from conformance.errors import AudioError, ConnectError
from conformance.protocol.schemas import load_message_schemas
from conformance.redaction import Redactor, hide
from conformance.run.case import auth_headers, auth_subprotocols, conclude, new_record, new_trace
from conformance.run.lateness import loop_lateness
from conformance.scenario.durations import Timing
from conformance.scenario.model import Scenario
from conformance.transport._common import TlsOptions, client_ssl_context
from conformance.transport.aio import Timeouts, describe_connect_error, run_player
from conformance.xfail import Expected

__all__ = ["RunOptions", "Runner", "TlsOptions", "scenario_url"]

_JUDGE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="conformance-judge")
# Traces with fewer server frames are judged on the loop (a real stream sends a few a second).
_JUDGE_INLINE_FRAMES = 500
_RATE_LIMIT_ATTEMPTS = 3
_RETRY_AFTER_CAP_SECONDS = 2.0


def _retry_after(headers: dict[str, str]) -> float:
    """Seconds to wait before retrying a 429: Retry-After when numeric, capped; else 1 s."""
    try:
        return min(_RETRY_AFTER_CAP_SECONDS, max(0.0, float(headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


@dataclass(frozen=True)
class RunOptions:
    """How to run.

    Args:
        timing: The endpoint's idle timeout and the time scale.
        jobs: Scenarios played at once.
        api_key: Sent as ``Authorization: Token KEY`` (never recorded).
        timeouts: Transport deadlines.
        check_context: Tolerances of the checks.
        audio_speed: Multiplies every stream's pace; only for self-tests against the mock.
        expected_failures: Entries of an ``--xfail`` file.
        tls: Trust and client certificates for wss:// endpoints.
        auth_scheme: ``token`` (Authorization: Token), ``bearer`` or ``subprotocol``.
        extra_headers: Sent on every upgrade (ingress auth); their values are never recorded.
        follow_redirects: Follow a 3xx answer to the upgrade (reported); else it is the answer.
    """

    timing: Timing = Timing()
    jobs: int = 16
    api_key: str | None = None
    timeouts: Timeouts = Timeouts()
    check_context: CheckContext = field(default_factory=CheckContext)
    audio_speed: float = 1.0
    expected_failures: tuple[Expected, ...] = ()
    tls: TlsOptions = TlsOptions()
    auth_scheme: str = "token"
    extra_headers: tuple[tuple[str, str], ...] = ()
    follow_redirects: bool = False


def scenario_url(base: str, scenario: Scenario) -> str:
    """The upgrade URL: ``base`` plus the scenario's query params (booleans as true/false)."""
    params = {
        k: ([_text(x) for x in v] if isinstance(v, list) else _text(v)) for k, v in scenario.connect.params.items()
    }
    query = urlencode(params, doseq=True)
    return f"{base}{'&' if '?' in base else '?'}{query}" if query else base


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class Runner:
    """Runs ``scenarios`` against the endpoint at ``url`` (ws:// or wss://, path included)."""

    def __init__(self, scenarios: Sequence[Scenario], url: str, options: RunOptions = RunOptions()) -> None:
        """Raises ``OSError`` or ``ssl.SSLError`` when a TLS file in ``options.tls`` is unusable."""
        self.scenarios = list(scenarios)
        self.url = url
        self.options = options
        self.ssl_context = client_ssl_context(options.tls) if url.startswith("wss://") else None
        hide(options.api_key, *(value for _, value in options.extra_headers))
        # Cases judged on the loop take turns, one per loop iteration (see play).
        self._judging = asyncio.Lock()

    async def execute(self) -> AsyncIterator[Event]:
        """Yield RunStarted, ScenarioStarted/Finished per case, then RunFinished (or FatalError)."""
        started = time.monotonic()
        insecure = self.ssl_context is not None and self.options.tls.insecure
        yield RunStarted(
            target=self.url,
            scenario_count=len(self.scenarios),
            timing=self.options.timing,
            jobs=self.options.jobs,
            tls_insecure=insecure,
        )
        problem = await self.unreachable()
        if problem:
            yield FatalError(message=problem, exit_code=EXIT_UNREACHABLE)
            return
        self._prepare()
        queue: asyncio.Queue[Event] = asyncio.Queue()
        gate = asyncio.Semaphore(max(1, self.options.jobs))
        tasks = [asyncio.create_task(self._case(s, gate, queue)) for s in self.scenarios]
        records: list[CaseRecord] = []
        try:
            while len(records) < len(tasks):
                event = await queue.get()
                if isinstance(event, ScenarioFinished):
                    records.append(event.record)
                yield event
        finally:
            for task in tasks:
                task.cancel()
        records.sort(key=lambda r: r.id)
        yield RunFinished(records=tuple(records), exit_code=exit_code_for(records), duration=time.monotonic() - started)

    def _prepare(self) -> None:
        """Encode every scenario's audio and check the message schemas before any case plays:
        encoding a container takes CPU seconds, and checking the schemas 0.1 s, that would
        otherwise delay the frames of the cases already playing (a scaled window is 0.2 s)."""
        load_message_schemas()
        for scenario in self.scenarios:
            try:
                build_plan(scenario, self.options.timing, self.options.audio_speed)
            except AudioError:
                pass  # play() reports it as the case's ERROR

    async def unreachable(self) -> str | None:
        """A one-line reason when nothing listens at the target, checked once before any case."""
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        try:
            async with asyncio.timeout(self.options.timeouts.open):
                # With wss the TLS handshake is part of reaching it: a certificate problem is one line here.
                _, writer = await asyncio.open_connection(parts.hostname, port, ssl=self.ssl_context)
            writer.close()
            await writer.wait_closed()
        except (OSError, TimeoutError) as exc:
            return f"cannot reach {parts.hostname}:{port}: {describe_connect_error(exc)}"
        return None

    async def _case(self, scenario: Scenario, gate: asyncio.Semaphore, queue: asyncio.Queue[Event]) -> None:
        async with gate:
            queue.put_nowait(ScenarioStarted(scenario_id=scenario.id, title=scenario.title))
            try:
                record = await self.play(scenario)
            except Exception as exc:  # a harness bug must cost one case, never hang the run
                record = CaseRecord(scenario.id, scenario.title, scenario.description, scenario.rules, Status.ERROR)
                record.error = self._redact(f"internal error: {type(exc).__name__}: {exc}")
            queue.put_nowait(ScenarioFinished(record=record))

    async def play(self, scenario: Scenario) -> CaseRecord:
        """Play and judge one scenario; never raises for endpoint or harness trouble."""
        record = new_record(scenario)
        if "api_key" in scenario.requires and not self.options.api_key:
            record.error = "skipped: needs an API key (--api-key or DEEPGRAM_API_KEY)"
            return record
        started = time.monotonic()
        try:
            plan = build_plan(scenario, self.options.timing, self.options.audio_speed)
        except AudioError as exc:
            record.status, record.error = Status.ERROR, str(exc)
            return record
        url = scenario_url(self.url, scenario)
        lateness = loop_lateness()
        try:
            trace = await self._play_with_retries(scenario, plan, url)
        except ConnectError as exc:
            record.status, record.error, record.unreachable = Status.ERROR, self._redact(str(exc)), True
            record.duration = time.monotonic() - started
            return record
        record.duration = time.monotonic() - started
        if trace.origin is not None:
            origin = trace.origin
            trace.harness_stalls = [
                (due - origin, ran - origin) for due, ran in lateness.stalls(origin, asyncio.get_running_loop().time())
            ]
        args = (record, trace, scenario, self.options.check_context, self.options.expected_failures)
        if trace.received_frames < _JUDGE_INLINE_FRAMES:
            # Cases that end together would otherwise be judged back to back (tens of ms each)
            # before the loop reads a socket again, and the cases still playing would see their
            # frames late: holding the turn across one iteration lets the loop read in between.
            async with self._judging:
                conclude(*args)
                await asyncio.sleep(0)
        else:
            # A flood takes seconds to judge (schema validation of every frame): in a thread, so
            # the cases still playing keep their handshakes and KeepAlives on time. Not every
            # trace: a thread competing for the GIL delays each wake-up of the loop by up to a
            # switch interval, which costs a run of ordinary traces more than judging them inline.
            await asyncio.get_running_loop().run_in_executor(_JUDGE, conclude, *args)
        return record

    def _redact(self, text: str) -> str:
        return Redactor([self.options.api_key or "", *(value for _, value in self.options.extra_headers)])(text)

    async def _play_with_retries(self, scenario: Scenario, plan: Plan, url: str) -> Trace:
        """Play once; a 429 at the handshake is retried after Retry-After (capped), a few times,
        so a momentary limit is not mistaken for a refusal."""
        for attempt in range(1, _RATE_LIMIT_ATTEMPTS + 1):
            options = self.options
            trace = new_trace(
                scenario,
                plan,
                url,
                options.timing,
                options.api_key,
                [value for _, value in options.extra_headers],
                options.auth_scheme,
            )
            await run_player(
                Player(plan, trace),
                url,
                headers=auth_headers(scenario, options.api_key, options.auth_scheme, dict(options.extra_headers)),
                subprotocols=auth_subprotocols(scenario, options.api_key, options.auth_scheme),
                ssl_context=self.ssl_context,
                timeouts=options.timeouts,
                follow_redirects=options.follow_redirects,
            )
            if (
                trace.handshake.status != 429
                or attempt == _RATE_LIMIT_ATTEMPTS
                or scenario.connect.expect_rejected is not None
            ):
                return trace
            await asyncio.sleep(_retry_after(trace.handshake.headers))
        raise AssertionError("unreachable: the loop returns on its last attempt")
