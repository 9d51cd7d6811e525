"""Steps that wait for the server: ``expect``, ``expect_none`` and ``expect_close`` (sans-I/O).

An expectation is judged only when the scenario exercised what it waits for: after a client action
that was never played (the stream had ended), or on a stream that closed during an ``expect_none``
window, it records NOT JUDGED with the reason. A window counts from the step's start, or from the
client's last frame (``from: last_sent``) for timeouts, so a missing message never lends its
window to the next step.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from conformance.engine.actions import Action, Wait
from conformance.engine.steps import StepContext, StepRunner
from conformance.engine.trace import BROKEN, HELD, UNJUDGED, WireEntry
from conformance.scenario import model as m

__all__ = ["expectation_runner"]


def _matches(entry: WireEntry, kinds: tuple[str, ...] | None, validator: jsonschema.protocols.Validator | None) -> bool:
    message = entry.message
    if message is None or message.body is None:
        return False
    if kinds is not None and message.type not in kinds:
        return False
    return validator is None or validator.is_valid(message.body)


def _validator(fragment: dict[str, Any] | None) -> jsonschema.protocols.Validator | None:
    return jsonschema.Draft202012Validator(fragment) if fragment is not None else None


def _describe_wanted(kinds: tuple[str, ...] | None, fragment: dict[str, Any] | None) -> str:
    what = " or ".join(kinds) if kinds else "any message"
    return f"{what} matching {json.dumps(fragment, separators=(',', ':'))}" if fragment else what


class _Waiting(StepRunner):
    """An expectation: knows whether it can be judged and where its window starts."""

    def __init__(self, label: str, ctx: StepContext, now: float, anchor: str = "step") -> None:
        super().__init__(label, ctx, now)
        self.cut = ctx.cut
        origin = ctx.last_sent() if anchor == "last_sent" else None
        self.origin = origin if origin is not None else now
        self.anchor_text = "of the client's last frame" if anchor == "last_sent" else ""

    def window(self, seconds: float) -> str:
        return f"within {seconds:.3f}s" + (f" {self.anchor_text}" if self.anchor_text else "")


class _ExpectRunner(_Waiting):
    def __init__(self, label: str, ctx: StepContext, now: float, step: m.Expect) -> None:
        super().__init__(label, ctx, now, step.anchor)
        self.step = step
        self.deadline = self.origin + step.within.resolve(ctx.timing)
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
            if _matches(entry, self.step.types, self.validator):
                self.found = entry

    def poll(self, now: float) -> Action | None:
        step = self.step
        wanted = _describe_wanted(step.types, step.match)
        expected = f"{wanted} {self.window(self.deadline - self.origin)}" + (
            f" ({step.description})" if step.description else ""
        )
        if self.cut is not None:
            self.outcome(step.rule, UNJUDGED, expected, self.cut, now, control=step.control)
            return None
        if self.found is not None:
            self.outcome(step.rule, HELD, expected, self.found.describe(), now, self.found.index, control=step.control)
            return None
        if self.ctx.closed or now >= self.deadline:
            # A frame that could not be read may have been the awaited one: whoever blames it owns this absence.
            unreadable = [e for e in self.seen if e.message is not None and e.message.body is None]
            same = tuple(e.index for e in [*self._same_type(), *unreadable])
            deadline = None if self.ctx.closed and now < self.deadline else self.deadline
            self.outcome(
                step.rule,
                BROKEN,
                expected,
                self._observed(),
                now,
                absence=True,
                control=step.control,
                seen=same,
                deadline=deadline,
                opened=self.origin,
                awaited=step.types,
            )
            return None
        return Wait(self.deadline)

    def _same_type(self) -> list[WireEntry]:
        return [e for e in self.seen if e.message is not None and e.message.type in self.step.types]

    def _observed(self) -> str:
        same = self._same_type()
        kinds = " or ".join(self.step.types)
        parts = [f"{len(self.seen)} message(s) in the window, {len(same)} of type {kinds}"]
        if same and self.validator is not None:
            error = next(iter(self.validator.iter_errors(same[-1].message.body)), None)  # type: ignore[union-attr]
            if error is not None:
                where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
                parts.append(f"last one (#{same[-1].index}) fails at {where}: {error.message[:120]}")
        close = self.ctx.trace.close
        if close is not None:
            parts.append(close.describe())
        return "; ".join(parts)


class _ExpectNoneRunner(_Waiting):
    def __init__(self, label: str, ctx: StepContext, now: float, step: m.ExpectNone) -> None:
        super().__init__(label, ctx, now)
        self.step = step
        self.end = now + step.duration.resolve(ctx.timing)
        self.validator = _validator(step.match)
        self.offender: WireEntry | None = None

    def on_frame(self, entry: WireEntry, now: float) -> None:
        counts_everything = self.step.type is None and self.step.match is None
        kinds = (self.step.type,) if self.step.type else None
        if self.offender is None and (counts_everything or _matches(entry, kinds, self.validator)):
            self.offender = entry

    def poll(self, now: float) -> Action | None:
        step = self.step
        expected = (
            f"no {_describe_wanted((step.type,) if step.type else None, step.match)} for {self.end - self.started:.3f}s"
        )
        if step.description:
            expected += f" ({step.description})"
        if self.cut is not None:
            self.outcome(step.rule, UNJUDGED, expected, self.cut, now)
            return None
        if self.offender is not None:
            self.outcome(step.rule, BROKEN, expected, self.offender.describe(), now, self.offender.index)
            return None
        close = self.ctx.trace.close
        if self.ctx.closed and close is not None and close.t < self.end:
            # Silence on a closed stream proves nothing.
            reason = f"not exercised: the stream ended {max(0.0, close.t - self.started):.3f}s into the window ({close.describe()})"
            self.outcome(step.rule, UNJUDGED, expected, reason, now)
            return None
        if now >= self.end:
            self.outcome(step.rule, HELD, expected, "none arrived", now)
            return None
        return Wait(self.end)


class _ExpectCloseRunner(_Waiting):
    def __init__(self, label: str, ctx: StepContext, now: float, step: m.ExpectClose) -> None:
        super().__init__(label, ctx, now, step.anchor)
        self.step = step
        self.deadline = self.origin + step.within.resolve(ctx.timing)

    def _expected(self) -> str:
        parts = ["server closes"]
        if self.step.codes:
            parts.append("with " + " or ".join(map(str, self.step.codes)))
        if self.step.reason:
            parts.append(f"reason matching /{self.step.reason}/i")
        parts.append(self.window(self.deadline - self.origin))
        return " ".join(parts) + (f" ({self.step.description})" if self.step.description else "")

    def poll(self, now: float) -> Action | None:
        step, close = self.step, self.ctx.trace.close
        if self.cut is not None:
            self.outcome(step.rule, UNJUDGED, self._expected(), self.cut, now, control=step.control)
            return None
        if close is None:
            if now >= self.deadline:
                self.outcome(
                    step.rule,
                    BROKEN,
                    self._expected(),
                    "still open when the window ended",
                    now,
                    absence=True,
                    control=step.control,
                    deadline=self.deadline,
                    opened=self.origin,
                )
                return None
            return Wait(self.deadline)
        # A dropped connection is a close too (an unclean one), unless a code or reason is asked.
        by_server = close.by == "server" or (close.by == "transport" and not step.codes and not step.reason)
        ok = by_server and close.t <= self.deadline + 1e-9
        ok = ok and (not step.codes or close.code in step.codes)
        ok = ok and (not step.reason or re.search(step.reason, close.reason, re.IGNORECASE) is not None)
        late = close.t > self.deadline + 1e-9
        self.outcome(
            step.rule,
            HELD if ok else BROKEN,
            self._expected(),
            close.describe(),
            now,
            absence=late,
            control=step.control,
            deadline=self.deadline if late else None,
            opened=self.origin,
        )
        return None


def expectation_runner(label: str, step: m.Step, ctx: StepContext, now: float) -> StepRunner | None:
    """The runner of a step that waits for the server, or None for a step that acts."""
    if isinstance(step, m.Expect):
        return _ExpectRunner(label, ctx, now, step)
    if isinstance(step, m.ExpectNone):
        return _ExpectNoneRunner(label, ctx, now, step)
    if isinstance(step, m.ExpectClose):
        return _ExpectCloseRunner(label, ctx, now, step)
    return None
