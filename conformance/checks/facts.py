"""What several checks derive from one trace, computed once per verdict: the Results that can be
read (and those that cannot, with why), which received frames a rule has already blamed, and where
the audio sent carries speech.

One cause, one finding: a frame that one rule blames (a reply to KeepAlive, a Results that ignores
multichannel, a result pushed ahead by a pause) is skipped by the rules that would otherwise blame
the same defect again under another name. A check that finds nothing where it needed frames says
what it could not read instead of denying that they came.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from conformance.engine.trace import Trace, WireEntry

__all__ = [
    "ResultRow",
    "Facts",
    "facts",
    "number",
    "speech_end",
    "unreadable_since",
    "RESPONSE",
    "TIME",
    "CHANNEL",
    "SCHEMA",
]

# What a rule blames a frame for; a check skips only the blame that would make it repeat a finding:
# a reply to KeepAlive is no MSG-1 matter, a clock pushed by a pause no RES-3 one, a merged
# channel no RES-1 one. A frame with a bad channel pair still has times worth judging.
RESPONSE, TIME, CHANNEL, SCHEMA = "response", "time", "channel", "schema"


def number(value: Any) -> float | None:
    """``value`` as a finite float, or None (booleans, NaN and infinities are not numbers here)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


class ResultRow(NamedTuple):
    """A readable Results message: its entry, body, channel and audio-time window."""

    entry: WireEntry
    body: dict[str, Any]
    lane: int
    start: float
    end: float

    @property
    def final(self) -> bool:
        """``is_final: true``."""
        return self.body.get("is_final") is True


@dataclass
class Facts:
    """Derived once per verdict; see the module docstring."""

    results: list[ResultRow]
    unreadable: list[tuple[WireEntry, str]]
    claims: dict[int, tuple[str, str]] = field(default_factory=dict)

    def claim(self, entry: WireEntry, rule_id: str, what: str) -> None:
        """Blame ``entry`` on ``rule_id`` for ``what`` (the first blame of a frame stays)."""
        self.claims.setdefault(entry.index, (rule_id, what))

    def claimed(
        self, entry: WireEntry, by_other_than: str, what: tuple[str, ...] = (RESPONSE, TIME, CHANNEL, SCHEMA)
    ) -> str | None:
        """The rule that blamed ``entry`` for one of ``what``, when it is not ``by_other_than``."""
        rule_id, kind = self.claims.get(entry.index, (None, None))
        return rule_id if rule_id is not None and rule_id != by_other_than and kind in what else None

    def rows(self, rule_id: str, skip: tuple[str, ...], *, final_only: bool = False) -> list[ResultRow]:
        """Readable Results, less those another rule than ``rule_id`` blamed for one of ``skip``."""
        return [r for r in self.results if (not final_only or r.final) and self.claimed(r.entry, rule_id, skip) is None]

    def owners(self) -> dict[int, str]:
        """Entry index -> the rule that blamed it."""
        return {index: rule_id for index, (rule_id, _) in self.claims.items()}

    def unread_note(self) -> str:
        """Why some Results could not be used, for a finding that rests on their absence."""
        if not self.unreadable:
            return ""
        entry, why = self.unreadable[0]
        more = f" and {len(self.unreadable) - 1} more" if len(self.unreadable) > 1 else ""
        return f"{len(self.unreadable)} frame(s) that may be Results could not be read (#{entry.index}: {why}{more}; see MSG-1)"


def _read(entry: WireEntry, body: dict[str, Any], lanes: int) -> ResultRow | str:
    """A row, or why ``body`` cannot be placed on a channel's audio clock."""
    start, duration = number(body.get("start")), number(body.get("duration"))
    if start is None or duration is None:
        return f"start {body.get('start')!r} and duration {body.get('duration')!r} are not both finite numbers"
    pair = body.get("channel_index")
    if isinstance(pair, list) and pair and isinstance(pair[0], int) and not isinstance(pair[0], bool):
        lane = pair[0]
    elif lanes == 1:
        lane = 0  # a mono stream has one channel, whatever the malformed index says
    else:
        return f"channel_index {pair!r} does not name one of the {lanes} channels"
    return ResultRow(entry, body, lane, start, start + duration)


def facts(trace: Trace) -> Facts:
    """The trace's facts, computed on first use while judging (judging resets ``trace.derived``)."""
    found = trace.derived.get("facts")
    if found is None:
        rows, unreadable = [], []
        for entry in trace.received():
            message = entry.message
            if message is None:
                continue
            if message.body is None:
                unreadable.append((entry, message.error or "not a JSON object"))  # it may have been a Results
            elif message.type == "Results":
                row = _read(entry, message.body, trace.lanes)
                if isinstance(row, str):
                    unreadable.append((entry, row))
                else:
                    rows.append(row)
        found = trace.derived["facts"] = Facts(rows, unreadable)
    return found


def unreadable_since(trace: Trace, index: int) -> str | None:
    """For a finding that a message never came: the frames after entry ``index`` that could not be
    read (one of them may have been it), named; None when every frame could be read."""
    frames = [e for e in trace.received() if e.index > index and e.message is not None and e.message.body is None]
    if not frames:
        return None
    return f"{len(frames)} frame(s) that could not be read arrived (#{frames[0].index}: {frames[0].message.error}; see MSG-1)"  # type: ignore[union-attr]


def speech_end(trace: Trace, audio_seconds: float) -> float:
    """Where the last speech in the first ``audio_seconds`` of audio sent ends (0 without speech)."""
    return max((min(end, audio_seconds) for start, end in trace.speech if start < audio_seconds), default=0.0)
