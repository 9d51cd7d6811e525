"""Plans and the sans-I/O player: what to send when, and what each received frame means.

:class:`Player` never touches a socket or a clock. A driver (``transport.aio`` or a test with a
fake clock) runs the websockets-style loop::

    action = player.next_action(now)      # Send / Wait / CloseSocket / Done
    ...perform it...
    player.frame_received(payload, now)   # or player.connection_closed(...)

Steps become small runner objects; each records an :class:`~conformance.engine.trace.Outcome`
for the rule it carries. Repeats are unrolled into labelled steps such as ``3.1#2``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from conformance.audio.pacing import Schedule
from conformance.audio.source import Pcm, load_source
from conformance.engine.trace import Outcome, Trace, WireEntry
from conformance.errors import AudioError
from conformance.protocol.messages import control
from conformance.scenario import model as m
from conformance.scenario.durations import Timing

__all__ = ["Plan", "Player", "Send", "Wait", "CloseSocket", "Done", "Action", "build_plan"]

_CLOSE_WAIT_SECONDS = 5.0
_DEADLINE_MARGIN_SECONDS = 15.0


@dataclass(frozen=True)
class Send:
    """Send ``payload`` now (text when ``str``); ``due`` is its planned time for paced audio."""

    payload: str | bytes
    audio: bool = False
    due: float | None = None


@dataclass(frozen=True)
class Wait:
    """Receive until ``until`` (driver clock), then ask again."""

    until: float


@dataclass(frozen=True)
class CloseSocket:
    """Start the client-side WebSocket close."""

    code: int


@dataclass(frozen=True)
class Done:
    """The plan is finished."""


Action = Send | Wait | CloseSocket | Done


@dataclass(frozen=True)
class Plan:
    """A scenario made concrete for one run: timing resolved, steps unrolled, audio at hand."""

    scenario: m.Scenario
    timing: Timing
    steps: tuple[tuple[str, m.Step], ...]
    sample_rate: int
    channels: int
    audio_speed: float = 1.0

    @property
    def lanes(self) -> int:
        """Result streams the server should produce: channels when multichannel, else 1."""
        return self.channels if self.scenario.connect.multichannel else 1

    def audio(self, source: str) -> Pcm:
        """The source as linear16 in this plan's format."""
        return load_source(source, self.sample_rate, self.channels)

    def max_seconds(self) -> float:
        """An upper bound on the wall time the plan can take, used as the run's hard deadline."""
        total = _DEADLINE_MARGIN_SECONDS
        for _, step in self.steps:
            if isinstance(step, m.Stream):
                seconds = step.seconds or self.audio(step.source).seconds
                total += seconds / (step.realtime * self.audio_speed)
            elif isinstance(step, (m.KeepAlive, m.Pause, m.ExpectNone)):
                total += step.duration.resolve(self.timing)
            elif isinstance(step, (m.Expect, m.ExpectClose)):
                total += step.within.resolve(self.timing)
            elif isinstance(step, m.Close):
                total += _CLOSE_WAIT_SECONDS
        return total


def _unroll(steps: tuple[m.Step, ...], prefix: str = "") -> Iterator[tuple[str, m.Step]]:
    for number, step in enumerate(steps, 1):
        label = f"{prefix}{number}"
        if isinstance(step, m.Repeat):
            for turn in range(1, step.times + 1):
                yield from _unroll(step.steps, f"{label}#{turn}.")
        else:
            yield label, step


def build_plan(scenario: m.Scenario, timing: Timing, audio_speed: float = 1.0) -> Plan:
    """Resolve ``scenario`` for a run; ``audio_speed`` multiplies every stream's pace (self-tests
    against the mock only: real endpoints get the scenario's own pace).

    Raises:
        AudioError: the declared encoding is not linear16, or an audio source cannot be loaded.
    """
    encoding = scenario.connect.params.get("encoding", "linear16")
    streams = [s for _, s in _unroll(scenario.steps) if isinstance(s, m.Stream)]
    if streams and encoding != "linear16":
        raise AudioError(f"{scenario.id}: audio is generated as linear16 only, but the scenario declares encoding={encoding}")
    plan = Plan(scenario, timing, tuple(_unroll(scenario.steps)), scenario.connect.sample_rate, scenario.connect.channels, audio_speed)
    for step in streams:
        plan.audio(step.source)
    return plan


# -- step runners ------------------------------------------------------------------------------


@dataclass
class _Context:
    plan: Plan
    trace: Trace
    cursors: dict[str, int] = field(default_factory=dict)
    closed: bool = False
    step_starts: list[float] = field(default_factory=list)

    @property
    def timing(self) -> Timing:
        return self.plan.timing


class _Runner:
    """One step in progress. ``poll`` returns an action, or None when the step is over."""

    def __init__(self, label: str, ctx: _Context, now: float) -> None:
        self.label, self.ctx, self.started = label, ctx, now

    def poll(self, now: float) -> Action | None:
        raise NotImplementedError

    def on_frame(self, entry: WireEntry, now: float) -> None:
        """A server frame arrived during this step."""

    def outcome(self, rule: str, passed: bool, expected: str, observed: str, now: float, frame: int | None = None) -> None:
        self.ctx.trace.outcomes.append(Outcome(self.label, rule, passed, expected, observed, round(now, 6), frame))


class _StreamRunner(_Runner):
    def __init__(self, label: str, ctx: _Context, now: float, step: m.Stream) -> None:
        super().__init__(label, ctx, now)
        self.pcm = ctx.plan.audio(step.source)
        self.chunk_frames = max(1, round(step.chunk.audio_seconds() * self.pcm.sample_rate))
        total = round(step.seconds * self.pcm.sample_rate) if step.seconds else self.pcm.frames - ctx.cursors.get(step.source, 0) % self.pcm.frames
        self.chunks = -(-total // self.chunk_frames)
        self.last_frames = total - (self.chunks - 1) * self.chunk_frames
        self.schedule = Schedule(now, self.chunk_frames / self.pcm.sample_rate / (step.realtime * ctx.plan.audio_speed))
        self.source = step.source
        self.index = 0

    def poll(self, now: float) -> Action | None:
        if self.ctx.closed or self.index >= self.chunks:
            return None
        due = self.schedule.due(self.index)
        if now < due:
            return Wait(due)
        frames = self.last_frames if self.index == self.chunks - 1 else self.chunk_frames
        start = self.ctx.cursors.get(self.source, 0)
        self.ctx.cursors[self.source] = start + frames
        self.index += 1
        return Send(self.pcm.slice_frames(start, frames), audio=True, due=due)


class _SendRunner(_Runner):
    def __init__(self, label: str, ctx: _Context, now: float, payload: str | bytes) -> None:
        super().__init__(label, ctx, now)
        self.payload: str | bytes | None = payload

    def poll(self, now: float) -> Action | None:
        if self.ctx.closed or self.payload is None:
            return None
        payload, self.payload = self.payload, None
        return Send(payload, audio=isinstance(payload, bytes))


class _HoldRunner(_Runner):
    """Pause or KeepAlive-only period: the stream must stay open when a rule is given."""

    def __init__(self, label: str, ctx: _Context, now: float, step: m.Pause | m.KeepAlive) -> None:
        super().__init__(label, ctx, now)
        self.rule = step.rule
        self.end = now + step.duration.resolve(ctx.timing)
        self.every = step.every.resolve(ctx.timing) if isinstance(step, m.KeepAlive) else None
        self.next_keepalive = now + self.every if self.every else None
        self.kind = "KeepAlive-only period" if self.every else "pause"

    def poll(self, now: float) -> Action | None:
        if self.ctx.closed:
            self._judge(now)
            return None
        if self.next_keepalive is not None and self.next_keepalive <= min(now, self.end):
            self.next_keepalive += self.every or 0
            return Send(control("KeepAlive"))
        if now >= self.end:
            self._judge(now)
            return None
        return Wait(min(self.end, self.next_keepalive or self.end))

    def _judge(self, now: float) -> None:
        if self.rule is None:
            return
        planned = self.end - self.started
        close = self.ctx.trace.close
        if close is not None and close.t < self.end:
            observed = f"{close.describe()}, {close.t - self.started:.3f}s into the {planned:.3f}s {self.kind}"
            self.outcome(self.rule, False, f"stream open through the {planned:.3f}s {self.kind}", observed, now)
        else:
            self.outcome(self.rule, True, f"stream open through the {planned:.3f}s {self.kind}", "stream stayed open", now)


def _matches(entry: WireEntry, kind: str | None, validator: jsonschema.protocols.Validator | None) -> bool:
    message = entry.message
    if message is None or message.body is None:
        return False
    if kind is not None and message.type != kind:
        return False
    return validator is None or validator.is_valid(message.body)


def _validator(fragment: dict[str, Any] | None) -> jsonschema.protocols.Validator | None:
    return jsonschema.Draft202012Validator(fragment) if fragment is not None else None


def _describe_wanted(kind: str | None, fragment: dict[str, Any] | None) -> str:
    what = kind or "any message"
    return f"{what} matching {json.dumps(fragment, separators=(',', ':'))}" if fragment else what


class _ExpectRunner(_Runner):
    def __init__(self, label: str, ctx: _Context, now: float, step: m.Expect) -> None:
        super().__init__(label, ctx, now)
        self.step = step
        self.deadline = now + step.within.resolve(ctx.timing)
        self.validator = _validator(step.match)
        self.seen: list[WireEntry] = []
        self.found: WireEntry | None = None
        if step.since_previous and len(ctx.step_starts) >= 2:
            for entry in ctx.trace.received():
                if entry.t >= ctx.step_starts[-2]:
                    self.on_frame(entry, now)

    def on_frame(self, entry: WireEntry, now: float) -> None:
        if self.found is None:
            self.seen.append(entry)
            if _matches(entry, self.step.type, self.validator):
                self.found = entry

    def poll(self, now: float) -> Action | None:
        wanted = _describe_wanted(self.step.type, self.step.match)
        expected = f"{wanted} within {self.deadline - self.started:.3f}s" + (f" ({self.step.description})" if self.step.description else "")
        if self.found is not None:
            self.outcome(self.step.rule, True, expected, self.found.describe(), now, self.found.index)
            return None
        if self.ctx.closed or now >= self.deadline:
            self.outcome(self.step.rule, False, expected, self._observed(), now)
            return None
        return Wait(self.deadline)

    def _observed(self) -> str:
        same = [e for e in self.seen if e.message is not None and e.message.type == self.step.type]
        parts = [f"{len(self.seen)} message(s) in the window, {len(same)} of type {self.step.type}"]
        if same and self.validator is not None:
            error = next(iter(self.validator.iter_errors(same[-1].message.body)), None)  # type: ignore[union-attr]
            if error is not None:
                where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
                parts.append(f"last one fails at {where}: {error.message[:120]}")
        close = self.ctx.trace.close
        if close is not None:
            parts.append(close.describe())
        return "; ".join(parts)


class _ExpectNoneRunner(_Runner):
    def __init__(self, label: str, ctx: _Context, now: float, step: m.ExpectNone) -> None:
        super().__init__(label, ctx, now)
        self.step = step
        self.end = now + step.duration.resolve(ctx.timing)
        self.validator = _validator(step.match)
        self.offender: WireEntry | None = None

    def on_frame(self, entry: WireEntry, now: float) -> None:
        counts_everything = self.step.type is None and self.step.match is None
        if self.offender is None and (counts_everything or _matches(entry, self.step.type, self.validator)):
            self.offender = entry

    def poll(self, now: float) -> Action | None:
        expected = f"no {_describe_wanted(self.step.type, self.step.match)} for {self.end - self.started:.3f}s"
        if self.offender is not None:
            self.outcome(self.step.rule, False, expected, self.offender.describe(), now, self.offender.index)
            return None
        if self.ctx.closed or now >= self.end:
            self.outcome(self.step.rule, True, expected, "none arrived", now)
            return None
        return Wait(self.end)


class _ExpectCloseRunner(_Runner):
    def __init__(self, label: str, ctx: _Context, now: float, step: m.ExpectClose) -> None:
        super().__init__(label, ctx, now)
        self.step = step
        self.deadline = now + step.within.resolve(ctx.timing)

    def _expected(self) -> str:
        parts = ["server closes"]
        if self.step.codes:
            parts.append("with " + " or ".join(map(str, self.step.codes)))
        if self.step.reason:
            parts.append(f"reason matching /{self.step.reason}/i")
        parts.append(f"within {self.deadline - self.started:.3f}s")
        return " ".join(parts) + (f" ({self.step.description})" if self.step.description else "")

    def poll(self, now: float) -> Action | None:
        close = self.ctx.trace.close
        if close is None:
            if now >= self.deadline:
                self.outcome(self.step.rule, False, self._expected(), f"still open after {now - self.started:.3f}s", now)
                return None
            return Wait(self.deadline)
        ok = close.by == "server" and close.t <= self.deadline + 1e-9
        ok = ok and (not self.step.codes or close.code in self.step.codes)
        ok = ok and (not self.step.reason or re.search(self.step.reason, close.reason, re.IGNORECASE) is not None)
        self.outcome(self.step.rule, ok, self._expected(), close.describe(), now)
        return None


class _CloseRunner(_Runner):
    def __init__(self, label: str, ctx: _Context, now: float, step: m.Close) -> None:
        super().__init__(label, ctx, now)
        self.code: int | None = step.code
        self.deadline = now + _CLOSE_WAIT_SECONDS

    def poll(self, now: float) -> Action | None:
        if self.ctx.closed or now >= self.deadline:
            return None
        if self.code is not None:
            code, self.code = self.code, None
            return CloseSocket(code)
        return Wait(self.deadline)


def _runner(label: str, step: m.Step, ctx: _Context, now: float) -> _Runner:
    if isinstance(step, m.Stream):
        return _StreamRunner(label, ctx, now, step)
    if isinstance(step, m.SendJson):
        return _SendRunner(label, ctx, now, json.dumps(step.message, separators=(",", ":")))
    if isinstance(step, m.SendRaw):
        return _SendRunner(label, ctx, now, step.data.decode() if step.opcode == "text" else step.data)
    if isinstance(step, (m.Pause, m.KeepAlive)):
        return _HoldRunner(label, ctx, now, step)
    if isinstance(step, m.Expect):
        return _ExpectRunner(label, ctx, now, step)
    if isinstance(step, m.ExpectNone):
        return _ExpectNoneRunner(label, ctx, now, step)
    if isinstance(step, m.ExpectClose):
        return _ExpectCloseRunner(label, ctx, now, step)
    assert isinstance(step, m.Close), f"unrolled plans hold no {type(step).__name__}"
    return _CloseRunner(label, ctx, now, step)


# -- the player --------------------------------------------------------------------------------


class Player:
    """Plays a :class:`Plan` against whatever the driver reports, recording into a :class:`Trace`."""

    def __init__(self, plan: Plan, trace: Trace) -> None:
        self.plan = plan
        self.trace = trace
        self._ctx = _Context(plan, trace)
        self._next_step = 0
        self._current: _Runner | None = None
        self._finished = False

    @property
    def finished(self) -> bool:
        """Whether :meth:`next_action` has returned :class:`Done`."""
        return self._finished

    def handshake_accepted(self, status: int, headers: dict[str, str], subprotocol: str | None, now: float) -> None:
        """The upgrade succeeded."""
        hs = self.trace.handshake
        hs.status, hs.headers, hs.subprotocol, hs.t = status, headers, subprotocol, now
        rejected = self.plan.scenario.connect.expect_rejected
        if rejected is not None:
            expected = f"handshake rejected with HTTP {' or '.join(map(str, rejected.statuses))}"
            self.trace.outcomes.append(Outcome("connect", rejected.rule, False, expected, f"HTTP {status}: the upgrade succeeded", now))
            self._finished = True

    def handshake_rejected(self, status: int, headers: dict[str, str], body: str, now: float) -> None:
        """The upgrade failed with an HTTP status; judged against ``expect_rejected`` if any."""
        hs = self.trace.handshake
        hs.status, hs.headers, hs.body, hs.t = status, headers, self.trace.redact(body), now
        self._finished = True
        self._ctx.closed = True
        rejected = self.plan.scenario.connect.expect_rejected
        detail = headers.get("dg-error") or body[:160]
        observed = f"HTTP {status}" + (f": {self.trace.redact(detail)}" if detail else "")
        if rejected is None:
            return
        expected = f"handshake rejected with HTTP {' or '.join(map(str, rejected.statuses))}"
        self.trace.outcomes.append(Outcome("connect", rejected.rule, status in rejected.statuses, expected, observed, now))
        if rejected.error_details_rule:
            problem = _rejection_details_problem(headers, body)
            expected = "dg-error header and JSON body {err_code, err_msg, request_id}"
            self.trace.outcomes.append(Outcome("connect", rejected.error_details_rule, problem is None, expected, problem or "present", now))

    def next_action(self, now: float) -> Action:
        """What the driver must do next."""
        while not self._finished:
            if self._current is None:
                if self._next_step >= len(self.plan.steps):
                    self._finished = True
                    break
                label, step = self.plan.steps[self._next_step]
                self._next_step += 1
                self._ctx.step_starts.append(now)
                self._current = _runner(label, step, self._ctx, now)
            action = self._current.poll(now)
            if action is not None:
                return action
            self._current = None
        return Done()

    def frame_sent(self, action: Send, now: float) -> None:
        """Record a frame the driver has just sent for ``action``."""
        kind = "text" if isinstance(action.payload, str) else "binary"
        label = self._current.label if self._current else None
        self.trace.record_sent(kind, action.payload, now, audio=action.audio, due=action.due, step=label)

    def frame_received(self, payload: str | bytes, now: float) -> None:
        """Record a server frame and let the current step judge it."""
        entry = self.trace.record_received(payload, now, self._current.label if self._current else None)
        if self._current is not None:
            self._current.on_frame(entry, now)

    def connection_closed(self, by: str, code: int | None, reason: str, now: float) -> None:
        """The connection ended; later sends are skipped, expectations judge what they saw."""
        self.trace.record_close(by, code, reason, now)
        self._ctx.closed = True


def _rejection_details_problem(headers: dict[str, str], body: str) -> str | None:
    if not headers.get("dg-error"):
        return "no dg-error header"
    try:
        parsed = json.loads(body)
    except ValueError:
        return f"body is not JSON: {body[:80]!r}"
    missing = [k for k in ("err_code", "err_msg", "request_id") if not isinstance(parsed, dict) or k not in parsed]
    return f"JSON body lacks {', '.join(missing)}" if missing else None
