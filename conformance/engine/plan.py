"""Plans and the sans-I/O player: what to send when, and what each received frame means.

:class:`Player` never touches a socket or a clock. A driver (``transport.aio`` or a test with a
fake clock) runs the websockets-style loop::

    action = player.next_action(now)      # Send / Wait / CloseSocket / Done
    ...perform it...
    player.frame_received(payload, now)   # or player.connection_closed(...)

Steps become small runner objects (:mod:`conformance.engine.steps` for those that act,
:mod:`conformance.engine.expectations` for those that wait for the server); each records an
:class:`~conformance.engine.trace.Outcome` for the rule it carries. Repeats are unrolled into
labelled steps such as ``3.1#2``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from conformance.audio.encode import Unit, encoded_container, encoded_raw, wav_header
from conformance.audio.formats import AudioFormat, declared_format
from conformance.audio.source import Pcm, load_source
from conformance.engine.actions import Action, CloseSocket, Done, Send, Wait
from conformance.engine.expectations import expectation_runner
from conformance.engine.steps import CLOSE_WAIT_SECONDS, StepContext, StepRunner, acting_runner
from conformance.engine.trace import BROKEN, HELD, UNJUDGED, Outcome, Trace
from conformance.errors import AudioError
from conformance.protocol.messages import parse_json
from conformance.protocol.params import RAW_SAMPLE_BYTES
from conformance.scenario import model as m
from conformance.scenario.durations import Timing

__all__ = ["Plan", "Player", "Send", "Wait", "CloseSocket", "Done", "Action", "build_plan"]

_DEADLINE_MARGIN_SECONDS = 15.0
# Answers that refuse the credentials, not the request: 401, 402 (no credit), 403.
_CREDENTIALS_REFUSED = (401, 402, 403)


@dataclass(frozen=True)
class Plan:
    """A scenario made concrete for one run: timing resolved, steps unrolled, audio at hand."""

    scenario: m.Scenario
    timing: Timing
    steps: tuple[tuple[str, m.Step], ...]
    fmt: AudioFormat
    audio_speed: float = 1.0

    @property
    def sample_rate(self) -> int:
        return self.fmt.sample_rate

    @property
    def channels(self) -> int:
        return self.fmt.channels

    @property
    def lanes(self) -> int:
        """Result streams the server should produce: channels when multichannel, else 1."""
        return self.channels if self.scenario.connect.multichannel else 1

    def audio(self, source: str) -> Pcm:
        """The source as linear16 at this plan's rate and channels (where its speech is)."""
        return load_source(source, self.sample_rate, self.channels)

    @property
    def audio_is_probe(self) -> bool:
        """The scenario names a format its declaration contradicts on purpose: its audio frames
        are probes (what they provoke is judged by the scenario's steps, not as a server's fault)."""
        return self.scenario.audio.format is not None and self.fmt.contradicts

    def raw(self, source: str) -> Pcm:
        """The source as the headerless samples this plan sends."""
        return encoded_raw(source, self.fmt)

    def header(self) -> bytes:
        """What precedes the first headerless frame (a WAV header; nothing for raw encodings)."""
        return wav_header(self.fmt) if self.fmt.name == "wav" else b""

    def container(self, source: str) -> tuple[Unit, ...]:
        """The one container stream of everything this plan streams from ``source``."""
        return encoded_container(source, self.fmt, self._frames(source))

    def last_stream(self, source: str) -> str | None:
        """The label of the plan's last stream step of ``source``."""
        return next(
            (label for label, step in reversed(self.steps) if isinstance(step, m.Stream) and step.source == source),
            None,
        )

    def _frames(self, source: str) -> int:
        pcm, total = self.audio(source), 0
        for _, step in self.steps:
            if isinstance(step, m.Stream) and step.source == source:
                total += round(step.seconds * pcm.sample_rate) if step.seconds else pcm.frames - total % pcm.frames
        return total

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
                total += CLOSE_WAIT_SECONDS
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
        AudioError: the suite cannot produce the audio declared, or an audio source cannot be loaded.
    """
    steps = tuple(_unroll(scenario.steps))
    streams = [s for _, s in steps if isinstance(s, m.Stream)]
    try:
        # A plan that streams nothing still declares its channels (CS-4 compares Metadata with them).
        connect = scenario.connect
        fmt = (
            declared_format(connect.params, scenario.audio.overrides())
            if streams
            else AudioFormat("linear16", connect.sample_rate, connect.channels, None)
        )
    except AudioError as exc:
        raise AudioError(f"{scenario.id}: {exc}") from None
    plan = Plan(scenario, timing, steps, fmt, audio_speed)
    for step in streams:
        if fmt.raw or fmt.name == "wav":
            plan.raw(step.source)
        else:
            plan.container(step.source)
    return plan


# -- the player --------------------------------------------------------------------------------


class Player:
    """Plays a :class:`Plan` against whatever the driver reports, recording into a :class:`Trace`."""

    def __init__(self, plan: Plan, trace: Trace) -> None:
        self.plan = plan
        self.trace = trace
        self._ctx = StepContext(plan, trace)
        self._next_step = 0
        self._current: StepRunner | None = None
        self._finished = False

    @property
    def finished(self) -> bool:
        """Whether :meth:`next_action` has returned :class:`Done`."""
        return self._finished

    def handshake_accepted(self, status: int, headers: dict[str, str], subprotocol: str | None, now: float) -> None:
        """The upgrade succeeded."""
        hs = self.trace.handshake
        hs.status, hs.headers, hs.t = status, self._redacted(headers), now
        hs.subprotocol = self.trace.redact(subprotocol) if subprotocol else subprotocol
        rejected = self.plan.scenario.connect.expect_rejected
        if rejected is not None:
            expected = f"handshake rejected with HTTP {' or '.join(map(str, rejected.statuses))}"
            self.trace.outcomes.append(
                Outcome("connect", rejected.rule, BROKEN, expected, f"HTTP {status}: the upgrade succeeded", now)
            )
            self._finished = True

    def handshake_rejected(self, status: int, headers: dict[str, str], body: str, now: float) -> None:
        """The upgrade failed with an HTTP status; judged against ``expect_rejected`` if any."""
        hs = self.trace.handshake
        headers, body = self._redacted(headers), self.trace.redact(body)
        hs.status, hs.headers, hs.body, hs.t = status, headers, body, now
        self._finished = True
        self._ctx.closed = True
        rejected = self.plan.scenario.connect.expect_rejected
        detail = headers.get("dg-error") or body[:160]
        observed = f"HTTP {status}" + (f": {detail}" if detail else "")
        if rejected is None:
            return
        expected = f"handshake rejected with HTTP {' or '.join(map(str, rejected.statuses))}"
        if status in _CREDENTIALS_REFUSED and status not in rejected.statuses:
            # The endpoint looked at the credentials first and refused them: what it would say of
            # the rest of the request is unknown (a wrong key, or the rule's own form of it).
            reason = f"not judged: the credentials were refused first ({observed}), so the request's other faults went unseen"
            self.trace.outcomes.append(Outcome("connect", rejected.rule, UNJUDGED, expected, reason, now))
            return
        self.trace.outcomes.append(
            Outcome("connect", rejected.rule, HELD if status in rejected.statuses else BROKEN, expected, observed, now)
        )
        if rejected.error_details_rule:
            problem = _rejection_details_problem(headers, body)
            expected = "dg-error header and JSON body {err_code, err_msg, request_id}"
            self.trace.outcomes.append(
                Outcome(
                    "connect",
                    rejected.error_details_rule,
                    BROKEN if problem else HELD,
                    expected,
                    problem or "present",
                    now,
                )
            )

    def handshake_invalid(self, problem: str, headers: dict[str, str], now: float) -> None:
        """The server answered the upgrade, but not with a response the client can accept (the
        connection never opened, so ``status`` stays None)."""
        hs = self.trace.handshake
        hs.headers, hs.invalid, hs.t = self._redacted(headers), self.trace.redact(problem), now
        self._finished = True
        self._ctx.closed = True

    def _redacted(self, headers: dict[str, str]) -> dict[str, str]:
        return {self.trace.redact(name): self.trace.redact(value) for name, value in headers.items()}

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
                self._current = expectation_runner(label, step, self._ctx, now) or acting_runner(
                    label, step, self._ctx, now
                )
            action = self._current.poll(now)
            if action is not None:
                return action
            self._current = None
        return Done()

    def frame_sent(self, action: Send, now: float) -> None:
        """Record a frame the driver has just sent for ``action``."""
        payload = action.payload
        label = self._current.label if self._current else None
        if action.audio and isinstance(payload, bytes) and not action.probe:
            self.trace.record_audio(payload, now, action.due, label, action.seconds)
            return
        # A raw probe counts as the audio time its bytes would be in the declared format.
        fmt = self.plan.fmt
        seconds = action.seconds or len(payload) / (fmt.sample_rate * fmt.channels * RAW_SAMPLE_BYTES.get(fmt.name, 2))
        entry = self.trace.record_sent(
            "text" if isinstance(payload, str) else "binary",
            payload,
            now,
            audio=action.audio,
            due=action.due,
            step=label,
            seconds=seconds,
        )
        if action.probe:
            self.trace.probes.add(entry.index)

    def frame_received(self, payload: str | bytes, now: float) -> None:
        """Record a server frame and let the current step judge it."""
        entry = self.trace.record_received(payload, now, self._current.label if self._current else None)
        if entry is None:
            # Past what a trace may hold: judging what was kept is all that can be done.
            if self.trace.error is None:
                self.trace.error = (
                    f"{self.trace.overflow}; the suite stopped the stream there and judged only the frames before"
                )
            self._finished = True
            return
        if self._current is not None:
            self._current.on_frame(entry, now)

    def connection_closed(
        self, by: str, code: int | None, reason: str, now: float, violation: str | None = None
    ) -> None:
        """The connection ended (``violation``: the client closed it because a server frame broke
        RFC 6455 or the frame size bound); later sends are skipped, expectations judge what they saw."""
        self.trace.record_close(by, code, reason, now, violation)
        self._ctx.closed = True


def _rejection_details_problem(headers: dict[str, str], body: str) -> str | None:
    if not headers.get("dg-error"):
        return "no dg-error header"
    parsed, error = parse_json(body)
    if error is not None:
        return f"body is {error}: {body[:80]!r}"
    missing = [k for k in ("err_code", "err_msg", "request_id") if not isinstance(parsed, dict) or k not in parsed]
    return f"JSON body lacks {', '.join(missing)}" if missing else None
