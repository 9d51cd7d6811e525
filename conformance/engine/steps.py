"""Scenario steps in progress: small runner objects that the player polls (sans-I/O).

Each runner returns the next action for the driver, or None when its step is over, and records
an :class:`~conformance.engine.trace.Outcome` for the rule its step carries.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jsonschema

from conformance.audio.pacing import Schedule
from conformance.engine.actions import Action, CloseSocket, Send, Wait
from conformance.engine.trace import Outcome, Trace, WireEntry
from conformance.protocol.messages import control
from conformance.scenario import model as m
from conformance.scenario.durations import Timing

if TYPE_CHECKING:
    from conformance.engine.plan import Plan

__all__ = ["StepContext", "StepRunner", "step_runner", "CLOSE_WAIT_SECONDS"]

CLOSE_WAIT_SECONDS = 5.0


@dataclass
class StepContext:
    plan: "Plan"
    trace: Trace
    cursors: dict[str, int] = field(default_factory=dict)
    closed: bool = False
    step_starts: list[float] = field(default_factory=list)

    @property
    def timing(self) -> Timing:
        return self.plan.timing


class StepRunner:
    """One step in progress. ``poll`` returns an action, or None when the step is over."""

    def __init__(self, label: str, ctx: StepContext, now: float) -> None:
        self.label, self.ctx, self.started = label, ctx, now

    def poll(self, now: float) -> Action | None:
        raise NotImplementedError

    def on_frame(self, entry: WireEntry, now: float) -> None:
        """A server frame arrived during this step."""

    def outcome(self, rule: str, passed: bool, expected: str, observed: str, now: float, frame: int | None = None) -> None:
        self.ctx.trace.outcomes.append(Outcome(self.label, rule, passed, expected, observed, round(now, 6), frame))


class _StreamRunner(StepRunner):
    def __init__(self, label: str, ctx: StepContext, now: float, step: m.Stream) -> None:
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
        index = self.index
        if index >= self.chunks or self.ctx.closed:
            return None
        due = self.schedule.due(index)
        if now < due:
            return Wait(due)
        last = index == self.chunks - 1
        frames = self.last_frames if last else self.chunk_frames
        cursors = self.ctx.cursors
        start = cursors.get(self.source, 0)
        cursors[self.source] = start + frames
        self.index = index + 1
        return Send(self.pcm.slice_frames(start, frames), True, due, None if last else self.schedule.due(index + 1))


class _SendRunner(StepRunner):
    def __init__(self, label: str, ctx: StepContext, now: float, payload: str | bytes) -> None:
        super().__init__(label, ctx, now)
        self.payload: str | bytes | None = payload

    def poll(self, now: float) -> Action | None:
        if self.ctx.closed or self.payload is None:
            return None
        payload, self.payload = self.payload, None
        return Send(payload, audio=isinstance(payload, bytes))


class _HoldRunner(StepRunner):
    """Pause or KeepAlive-only period: the stream must stay open when a rule is given."""

    def __init__(self, label: str, ctx: StepContext, now: float, step: m.Pause | m.KeepAlive) -> None:
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


class _ExpectRunner(StepRunner):
    def __init__(self, label: str, ctx: StepContext, now: float, step: m.Expect) -> None:
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


class _ExpectNoneRunner(StepRunner):
    def __init__(self, label: str, ctx: StepContext, now: float, step: m.ExpectNone) -> None:
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


class _ExpectCloseRunner(StepRunner):
    def __init__(self, label: str, ctx: StepContext, now: float, step: m.ExpectClose) -> None:
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


class _CloseRunner(StepRunner):
    def __init__(self, label: str, ctx: StepContext, now: float, step: m.Close) -> None:
        super().__init__(label, ctx, now)
        self.code: int | None = step.code
        self.deadline = now + CLOSE_WAIT_SECONDS

    def poll(self, now: float) -> Action | None:
        if self.ctx.closed or now >= self.deadline:
            return None
        if self.code is not None:
            code, self.code = self.code, None
            return CloseSocket(code)
        return Wait(self.deadline)


def step_runner(label: str, step: m.Step, ctx: StepContext, now: float) -> StepRunner:
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
