"""Scenario steps in progress: small runner objects that the player polls (sans-I/O).

Each runner returns the next action for the driver, or None when its step is over, and records
an :class:`~conformance.engine.trace.Outcome` for the rule its step carries. This module holds the
steps that act (stream, send, hold still, close); :mod:`conformance.engine.expectations` those
that wait for the server.

Once the server has ended the stream, the client actions still to come are never played, and a
step that would judge what they provoke records NOT JUDGED instead of a verdict: one cause, one
finding (see :meth:`StepContext.skip`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conformance.audio.pacing import Schedule
from conformance.engine.actions import Action, CloseSocket, Send, Wait
from conformance.engine.trace import BROKEN, HELD, SENT, UNJUDGED, Outcome, Trace, WireEntry, late_keepalive
from conformance.protocol.messages import control
from conformance.scenario import model as m
from conformance.scenario.durations import Timing

if TYPE_CHECKING:
    from conformance.engine.plan import Plan

__all__ = ["StepContext", "StepRunner", "acting_runner", "CLOSE_WAIT_SECONDS"]

CLOSE_WAIT_SECONDS = 5.0


@dataclass
class StepContext:
    plan: Plan
    trace: Trace
    cursors: dict[str, int] = field(default_factory=dict)
    closed: bool = False
    step_starts: list[float] = field(default_factory=list)
    cut: str | None = None
    # How far the stream's audio has got: a WAV header sent; a container's writes sent, and the
    # audio seconds they carry.
    header_sent: bool = False
    container_unit: int = 0
    container_seconds: float = 0.0

    @property
    def timing(self) -> Timing:
        return self.plan.timing

    def skip(self, label: str, what: str) -> None:
        """Step ``label`` (``what`` it would have done) cannot be played: the stream has ended.
        The first skipped step is why the expectations after it are not judged."""
        if self.cut is None:
            close = self.trace.close
            ended = close.describe() if close is not None else "the connection ended"
            self.cut = f"not exercised: the stream had ended ({ended}) before step {label} ({what})"

    def last_sent(self) -> float | None:
        """When the client's last frame went out."""
        return next((e.t for e in reversed(self.trace.entries) if e.direction == SENT), None)


class StepRunner:
    """One step in progress. ``poll`` returns an action, or None when the step is over."""

    def __init__(self, label: str, ctx: StepContext, now: float) -> None:
        self.label, self.ctx, self.started = label, ctx, now

    def poll(self, now: float) -> Action | None:
        raise NotImplementedError

    def on_frame(self, entry: WireEntry, now: float) -> None:
        """A server frame arrived during this step."""

    def outcome(
        self, rule: str, state: str, expected: str, observed: str, now: float, frame: int | None = None, **extra: object
    ) -> None:
        self.ctx.trace.outcomes.append(
            Outcome(self.label, rule, state, expected, observed, round(now, 6), frame, **extra)  # type: ignore[arg-type]
        )


class _StreamRunner(StepRunner):
    """Headerless audio (and WAV, its header on the stream's first frame): ``chunk`` of audio
    per frame, frame ``i`` due at ``i × chunk`` of audio time from the step's start."""

    def __init__(self, label: str, ctx: StepContext, now: float, step: m.Stream) -> None:
        super().__init__(label, ctx, now)
        pcm = ctx.plan.audio(step.source)
        self.encoded = ctx.plan.raw(step.source)
        self.rate = pcm.sample_rate
        self.chunk_frames = max(1, round(step.chunk.audio_seconds() * self.rate))
        start = ctx.cursors.get(step.source, 0)
        total = round(step.seconds * self.rate) if step.seconds else pcm.frames - start % pcm.frames
        self.chunks = -(-total // self.chunk_frames)
        self.last_frames = total - (self.chunks - 1) * self.chunk_frames
        self.schedule = Schedule(now, self.chunk_frames / self.rate / (step.realtime * ctx.plan.audio_speed))
        self.source = step.source
        self.seconds = total / self.rate
        self.index = 0
        self.probe = ctx.plan.audio_is_probe
        offset = ctx.trace.audio_seconds
        ctx.trace.speech.extend((offset + a, offset + b) for a, b in pcm.speech_between(start, total))

    def poll(self, now: float) -> Action | None:
        index = self.index
        if index >= self.chunks:
            return None
        if self.ctx.closed:
            # Audio that contradicts its declaration is a probe: ending the stream is the answer.
            if not self.probe:
                self.ctx.skip(
                    self.label, f"stream {self.seconds:g}s of {self.source}; {index} of {self.chunks} frames sent"
                )
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
        payload = self.encoded.slice_frames(start, frames)
        if not self.ctx.header_sent:
            self.ctx.header_sent = True
            payload = self.ctx.plan.header() + payload
        return Send(payload, True, due, None if last else self.schedule.due(index + 1), self.probe, frames / self.rate)


class _ContainerRunner(StepRunner):
    """A container stream (FLAC, Ogg/Opus, WebM/Opus): the plan's one encoded stream, continued
    across stream steps, its writes grouped into frames of at least ``chunk`` of audio; a frame
    is due when the audio before it is due, so the pace follows decoded audio time."""

    def __init__(self, label: str, ctx: StepContext, now: float, step: m.Stream) -> None:
        super().__init__(label, ctx, now)
        plan = ctx.plan
        pcm = plan.audio(step.source)
        self.units = plan.container(step.source)
        self.chunk = step.chunk.audio_seconds()
        self.pace = step.realtime * plan.audio_speed
        self.source = step.source
        self.probe = plan.audio_is_probe
        start = ctx.cursors.get(step.source, 0)
        frames = round(step.seconds * pcm.sample_rate) if step.seconds else pcm.frames - start % pcm.frames
        ctx.cursors[step.source] = start + frames
        self.seconds = frames / pcm.sample_rate
        # The last stream step of a source also sends what the muxer writes at the end.
        self.target = math.inf if plan.last_stream(step.source) == label else ctx.container_seconds + self.seconds
        self.sent = 0.0
        self.frames = 0
        offset = ctx.trace.audio_seconds
        ctx.trace.speech.extend((offset + a, offset + b) for a, b in pcm.speech_between(start, frames))

    def _next_chunk(self) -> tuple[bytes, float] | None:
        ctx, units = self.ctx, self.units
        taken, seconds = [], 0.0
        goal = min(self.target, ctx.container_seconds + self.chunk - 1e-9)
        while ctx.container_unit < len(units) and (ctx.container_seconds < goal or not seconds):
            unit = units[ctx.container_unit]
            if ctx.container_seconds >= self.target - 1e-9 and unit.seconds:
                break
            ctx.container_unit += 1
            ctx.container_seconds += unit.seconds
            taken.append(unit.data)
            seconds += unit.seconds
        return (b"".join(taken), seconds) if taken else None

    def poll(self, now: float) -> Action | None:
        if self.ctx.closed:
            if not self.probe:
                self.ctx.skip(
                    self.label,
                    f"stream {self.seconds:g}s of {self.source}; {self.sent:.3f}s sent in {self.frames} frames",
                )
            return None
        due = self.started + self.sent / self.pace
        if now < due:
            return Wait(due)
        chunk = self._next_chunk()
        if chunk is None:
            return None
        payload, seconds = chunk
        self.sent += seconds
        self.frames += 1
        then = self.started + self.sent / self.pace if self._more() else None
        return Send(payload, True, due, then, self.probe, seconds)

    def _more(self) -> bool:
        ctx = self.ctx
        if ctx.container_unit >= len(self.units):
            return False
        return ctx.container_seconds < self.target - 1e-9 or not self.units[ctx.container_unit].seconds


class _SendRunner(StepRunner):
    def __init__(self, label: str, ctx: StepContext, now: float, payload: str | bytes, *, probe: bool) -> None:
        super().__init__(label, ctx, now)
        self.payload: str | bytes | None = payload
        self.probe = probe

    def poll(self, now: float) -> Action | None:
        if self.payload is None:
            return None
        if self.ctx.closed:
            self.ctx.skip(self.label, f"send {_describe_payload(self.payload)}")
            return None
        payload, self.payload = self.payload, None
        return Send(payload, audio=isinstance(payload, bytes), probe=self.probe)


def _describe_payload(payload: str | bytes) -> str:
    if isinstance(payload, bytes):
        return f"a binary frame of {len(payload)} B"
    return payload if len(payload) <= 60 else payload[:60] + "…"


class _HoldRunner(StepRunner):
    """Pause or KeepAlive-only period: the stream must stay open when a rule is given."""

    def __init__(self, label: str, ctx: StepContext, now: float, step: m.Pause | m.KeepAlive) -> None:
        super().__init__(label, ctx, now)
        self.rule = step.rule
        self.end = now + step.duration.resolve(ctx.timing)
        self.every = step.every.resolve(ctx.timing) if isinstance(step, m.KeepAlive) else None
        self.next_keepalive = now + self.every if self.every else None
        self.kind = "KeepAlive-only period" if self.every else "pause"
        self.began_closed = ctx.closed
        if self.every and not ctx.closed:
            ctx.trace.keepalive_periods.append((now, self.end, self.every))

    def poll(self, now: float) -> Action | None:
        if self.began_closed:
            self.ctx.skip(self.label, f"a {self.end - self.started:.3f}s {self.kind}")
            if self.rule is not None:
                self.outcome(
                    self.rule, UNJUDGED, self._expected(), self.ctx.cut or "not exercised: the stream had ended", now
                )
            return None
        if self.ctx.closed:
            self._judge(now)
            return None
        if self.next_keepalive is not None and self.next_keepalive <= min(now, self.end):
            due, self.next_keepalive = self.next_keepalive, self.next_keepalive + (self.every or 0)
            return Send(control("KeepAlive"), due=due)
        if now >= self.end:
            self._judge(now)
            return None
        return Wait(min(self.end, self.next_keepalive or self.end))

    def _expected(self) -> str:
        return f"stream open through the {self.end - self.started:.3f}s {self.kind}"

    def _judge(self, now: float) -> None:
        if self.rule is None:
            return
        close = self.ctx.trace.close
        if close is not None and close.t < self.end:
            observed = (
                f"{close.describe()}, {close.t - self.started:.3f}s into the {self.end - self.started:.3f}s {self.kind}"
            )
            late = late_keepalive(self.ctx.trace.entries, self.started, self.every, close.t) if self.every else None
            if late is not None:
                reason = (
                    f"not judged: {observed}, but the suite itself had sent nothing for {late:.3f}s "
                    f"(KeepAlive planned every {self.every:.3f}s): a loaded machine, not the server"
                )
                self.outcome(self.rule, UNJUDGED, self._expected(), reason, now)
                return
            self.outcome(self.rule, BROKEN, self._expected(), observed, now)
        else:
            self.outcome(self.rule, HELD, self._expected(), "stream stayed open", now)


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


def acting_runner(label: str, step: m.Step, ctx: StepContext, now: float) -> StepRunner:
    """The runner of a step that acts (stream, send, pause, KeepAlive, close)."""
    if isinstance(step, m.Stream):
        return (
            _StreamRunner(label, ctx, now, step)
            if ctx.plan.fmt.raw or ctx.plan.fmt.name == "wav"
            else _ContainerRunner(label, ctx, now, step)
        )
    if isinstance(step, m.SendJson):
        return _SendRunner(label, ctx, now, json.dumps(step.message, separators=(",", ":")), probe=False)
    if isinstance(step, m.SendRaw):
        # Raw text is judged by what it says (malformed JSON is ERR-1's); raw binary is a probe.
        return _SendRunner(
            label, ctx, now, step.data.decode() if step.opcode == "text" else step.data, probe=step.opcode == "binary"
        )
    if isinstance(step, (m.Pause, m.KeepAlive)):
        return _HoldRunner(label, ctx, now, step)
    assert isinstance(step, m.Close), f"not an acting step: {type(step).__name__}"
    return _CloseRunner(label, ctx, now, step)
